#!/usr/bin/env bash
# resume.sh: session tickets resume on every reconnect, over TLS 1.3 and
# TLS 1.2, whichever of the 4 workers (SO_REUSEPORT) takes the connection:
# every reconnect must resume, and the debug log must show resumed
# handshakes on at least two different workers (cross-worker resumption).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

reconnects=${RESUME_RECONNECTS:-40}

gen_certs
start_backend --listen 127.0.0.1:0
port=$(free_port)
mapfile -t certs < <(cert_args)
start_tlsterm --listen "127.0.0.1:$port" --backend "127.0.0.1:$BACKEND_PORT" "${certs[@]}" \
  --workers 4 --log-level debug --drain-timeout 2s

# connect VERSION SESS_IN SESS_OUT: one connection that fetches /hello, so
# TLS 1.3 tickets (sent after the handshake) are received and saved.
connect() {
  local v=$1 sin=$2 sout=$3
  local args=(-servername localhost -tls"$v" -ign_eof -sess_out "$sout")
  if [ -n "$sin" ]; then args+=(-sess_in "$sin"); fi
  http_get /hello | sclient "$port" "${args[@]}"
}

for v in 1_3 1_2; do
  name="TLS ${v/_/.}"
  sess=$T/sess.$v
  out=$(connect "$v" "" "$sess") || fail "$name: first connection failed: $out"
  grep -q "^New, TLSv${v/_/.}," <<<"$out" || fail "$name: first connection not a new $name session: $out"
  grep -q "hello from backend" <<<"$out" || fail "$name: first response missing: $out"
  [ -s "$sess" ] || fail "$name: no session ticket was saved"

  # Every reconnect offers the newest ticket it has and must be resumed
  # ("Reused"), and must still relay the response.
  for ((i = 1; i <= reconnects; i++)); do
    rm -f "$sess.next"
    out=$(connect "$v" "$sess" "$sess.next") || fail "$name: reconnect $i failed: $out"
    grep -q "^Reused, TLSv${v/_/.}," <<<"$out" ||
      fail "$name: reconnect $i was not resumed: $(grep -E '^(New|Reused),' <<<"$out" || echo "$out")"
    grep -q "hello from backend" <<<"$out" || fail "$name: reconnect $i: response missing: $out"
    # Keep the newest ticket when the server issued one.
    if [ -s "$sess.next" ]; then mv "$sess.next" "$sess"; fi
  done
  pass "$name: $reconnects of $reconnects reconnects resumed"
done

# The debug log has one "handshake done" line per handshake; the resumed
# ones must come from at least two workers. Poll briefly: log lines are
# written by the worker threads.
want=$((2 * reconnects))
for ((i = 0; i < 40; i++)); do
  n=$(grep 'msg="handshake done"' "$TLSTERM_LOG" | grep -c 'resumed=yes' || true)
  [ "$n" -ge "$want" ] && break
  sleep 0.05
done
[ "$n" -ge "$want" ] || fail "log shows $n resumed handshakes, want at least $want"
workers=$(grep 'msg="handshake done"' "$TLSTERM_LOG" | grep 'resumed=yes' |
  grep -o 'worker=[0-9]*' | sort -u | tr '\n' ' ')
nworkers=$(wc -w <<<"$workers")
[ "$nworkers" -ge 2 ] ||
  fail "resumed handshakes only on '$workers' (want at least 2 workers: cross-worker resumption)"
pass "resumed handshakes on workers: $workers"
fresh=$(grep 'msg="handshake done"' "$TLSTERM_LOG" | grep -c 'resumed=no' || true)
[ "$fresh" -ge 2 ] || fail "log shows $fresh full handshakes, want at least 2 (one per version)"
assert_alive
