#!/usr/bin/env bash
# admin.sh: --admin, the plain-HTTP /healthz and /metrics endpoint served by
# the control thread, against the real binary on loopback.
#  - start-up: --admin on a port in use, and a bad --admin value, exit 2
#    with one line naming --admin;
#  - GET /healthz is 200 "ok"; other paths 404, other methods 405; a
#    stalled request is closed at --handshake-timeout without an answer;
#  - GET /metrics is Prometheus text (HELP/TYPE lines, the histogram
#    complete) and its counters move by exactly the traffic run between two
#    scrapes: 5 HTTPS requests on 5 new connections (one of them TLS 1.2),
#    one failed handshake (garbage bytes: decode_error), one request the
#    backend drops
#    after reading it (502); then a refused backend connect moves
#    backend_connect_errors_total by one;
#  - during a drain (SIGTERM with a slow download still running) /healthz
#    answers 503 "draining"; tlsterm then exits 0.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

gen_certs
mapfile -t certs < <(cert_args)
bport=$(free_port)
start_backend --listen "127.0.0.1:$bport"
backend_pid=$BACKEND_PID

port=$(free_port)
aport=$(free_port)
base=(--backend "127.0.0.1:$bport" "${certs[@]}" --workers 2 --drain-timeout 10s
  --handshake-timeout 2s)

# acurl PATH [curl args...]: plain HTTP to the admin port; prints the body
# (newline-terminated) and then the status.
acurl() {
  local path=$1
  shift
  curl -sS --max-time 10 -w '%{http_code}\n' "$@" "http://127.0.0.1:$aport$path"
}

# metric FILE NAME{LABELS}: the value of one sample line (exact name and
# labels), or "missing".
metric() {
  awk -v k="$2" '$1 == k { print $2; found = 1 } END { if (!found) print "missing" }' "$1"
}

# metric_sum FILE NAME: the sum of every sample of NAME (any labels).
metric_sum() {
  awk -v k="$2" 'index($1, k "{") == 1 || $1 == k { s += $2 } END { print s + 0 }' "$1"
}

scrape() {
  curl -sS --max-time 10 -D "$1.head" -o "$1" "http://127.0.0.1:$aport/metrics" ||
    fail "scrape of /metrics failed"
}

# --- start-up errors ---------------------------------------------------------

expect_exit2 "--admin not an address" '^tlsterm: --admin' \
  --listen "127.0.0.1:$port" --admin nonsense "${base[@]}"

start_tlsterm --listen "127.0.0.1:$port" --admin "127.0.0.1:$aport" "${base[@]}"
wait_port 127.0.0.1 "$aport" 10 "$TLSTERM_PID" || fail "admin port $aport not up"
grep -q "admin (/healthz, /metrics) on 127\.0\.0\.1:$aport" "$TLSTERM_LOG" ||
  fail "no start-up line for --admin: $(cat "$TLSTERM_LOG")"

# The running tlsterm holds $aport: a second one may not share it.
main_port=$port
port=$(free_port)
expect_exit2 "--admin on a port in use" "^tlsterm: --admin 127\\.0\\.0\\.1:$aport: .*in use" \
  --listen "127.0.0.1:$port" --admin "127.0.0.1:$aport" "${base[@]}"
port=$main_port

# --- /healthz, 404, 405, stalls ------------------------------------------------

out=$(acurl /healthz -D "$T/hz.head")
[ "$out" = $'ok\n200' ] || fail "/healthz: got $(printf %q "$out"), want ok and 200"
grep -qi '^connection: close' "$T/hz.head" || fail "/healthz: no Connection: close"
pass "/healthz: 200 ok"
out=$(acurl '/healthz?verbose=1')
[ "$out" = $'ok\n200' ] || fail "/healthz?query: got $(printf %q "$out")"
out=$(acurl /nope)
[ "${out##*$'\n'}" = 404 ] || fail "/nope: got $(printf %q "$out"), want 404"
out=$(acurl /metrics -X POST -d x=1)
[ "${out##*$'\n'}" = 405 ] || fail "POST /metrics: got $(printf %q "$out"), want 405"
pass "other paths 404, other methods 405"

"$PYTHON3" - "$aport" <<'PY' || fail "stalled admin request"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
t0 = time.monotonic()
s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x")
out = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    out += d
secs = time.monotonic() - t0
if out or not 1.5 <= secs <= 5:
    sys.exit("closed after %.2f s with %r, want about 2 s and nothing" % (secs, out[:100]))
PY
pass "a stalled admin request is closed at --handshake-timeout, unanswered"

# --- /metrics: exactly the traffic in between ---------------------------------

scrape "$T/m1"
grep -qi '^content-type: text/plain; version=0\.0\.4' "$T/m1.head" ||
  fail "/metrics: content type $(grep -i '^content-type' "$T/m1.head")"
for name in connections_open connections_total handshakes_total handshake_failures_total \
  tls_version_total tls_cipher_total bytes_in_total bytes_out_total \
  backend_connect_errors_total backend_timeouts_total http_responses_total \
  request_duration_seconds reloads_total last_reload_failed \
  last_reload_success_timestamp_seconds config_generation; do
  grep -q "^# HELP tlsterm_$name " "$T/m1" || fail "/metrics: no HELP for tlsterm_$name"
  grep -q "^# TYPE tlsterm_$name " "$T/m1" || fail "/metrics: no TYPE for tlsterm_$name"
done
for w in 0 1; do
  [ "$(metric "$T/m1" "tlsterm_connections_open{worker=\"$w\"}")" != missing ] ||
    fail "/metrics: no connections_open for worker $w"
done
pass "/metrics: Prometheus text with HELP and TYPE for every metric"

for i in 1 2 3 4; do
  tcurl "$port" /hello >"$T/hello.$i" 2>"$T/curl.err" || fail "request $i failed: $(cat "$T/curl.err")"
done
tcurl "$port" /hello --tls-max 1.2 >"$T/hello.5" 2>"$T/curl.err" ||
  fail "TLS 1.2 request failed: $(cat "$T/curl.err")"
"$PYTHON3" - "$port" <<'PY' || fail "garbage client"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"\x16\x03\x01\x00\x05garbage-not-a-hello" + b"\x00" * 64)
try:
    while s.recv(4096):
        pass
except ConnectionResetError:
    pass
PY
# The backend "crashes" mid-request: it reads the request head, then closes
# without answering, so tlsterm owes that request a 502. (A backend that
# refuses the connection is checked below: its 502 may go out before the
# request is read, when it is no exchange at all.)
kill -TERM "$backend_pid"
wait_exit "$backend_pid" 10 || hard_error "the backend did not stop"
"$PYTHON3" - "$bport" "$T/closer.ready" <<'PY' 2>>"$T/closer.log" &
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(4)
open(sys.argv[2], "w").write("1")
s.settimeout(30)
c, _ = s.accept()
c.settimeout(10)
head = b""
while b"\r\n\r\n" not in head:
    d = c.recv(4096)
    if not d:
        break
    head += d
c.close()
s.close()
PY
closer=$!
track_pid "$closer"
wait_file "$T/closer.ready" 10 || hard_error "the closing backend did not start: $(cat "$T/closer.log")"
code=$(tcurl "$port" /crash -o /dev/null -w '%{http_code}' 2>"$T/curl.err") || true
[ "$code" = 502 ] || fail "with the backend closing: got $code, want 502: $(cat "$T/curl.err")"
wait_exit "$closer" 10 || hard_error "the closing backend did not exit"

# Gauges settle once the closes have run on the workers.
for ((i = 0; i < 100; i++)); do
  scrape "$T/m2"
  [ "$(metric_sum "$T/m2" tlsterm_connections_open)" = 0 ] && break
  sleep 0.05
done

bad=()
# check NAME{LABELS} DELTA: sample moved by exactly DELTA.
check() {
  local a b
  a=$(metric "$T/m1" "$1")
  b=$(metric "$T/m2" "$1")
  if [ "$a" = missing ] || [ "$b" = missing ]; then
    bad+=("$1 missing")
  elif [ "$(awk -v a="$a" -v b="$b" 'BEGIN { print b - a }')" != "$2" ]; then
    bad+=("$1: $a -> $b, want +$2")
  fi
}
check_sum() {
  local d
  d=$(($(metric_sum "$T/m2" "$1") - $(metric_sum "$T/m1" "$1")))
  [ "$d" = "$2" ] || bad+=("sum of $1 moved by $d, want +$2")
}
check_sum tlsterm_connections_total 7
check_sum tlsterm_connections_open 0
check 'tlsterm_handshakes_total{result="full"}' 6
check 'tlsterm_handshakes_total{result="resumed"}' 0
check 'tlsterm_handshake_failures_total{reason="decode_error"}' 1
check_sum tlsterm_handshake_failures_total 1
check_sum tlsterm_tls_cipher_total 6
check 'tlsterm_tls_cipher_total{cipher="other"}' 0
check 'tlsterm_handshake_failures_total{reason="timeout"}' 0
check 'tlsterm_tls_version_total{version="TLSv1.2"}' 1
check 'tlsterm_tls_version_total{version="TLSv1.3"}' 5
check tlsterm_backend_connect_errors_total 0
check tlsterm_backend_timeouts_total 0
check 'tlsterm_http_responses_total{class="2xx"}' 5
check 'tlsterm_http_responses_total{class="4xx"}' 0
check 'tlsterm_http_responses_total{class="5xx"}' 1
check tlsterm_request_duration_seconds_count 6
check 'tlsterm_request_duration_seconds_bucket{le="+Inf"}' 6
for k in bytes_in_total bytes_out_total; do
  a=$(metric "$T/m1" "tlsterm_$k")
  b=$(metric "$T/m2" "tlsterm_$k")
  [ "$b" -gt "$a" ] 2>/dev/null || bad+=("tlsterm_$k did not grow: $a -> $b")
done
# Buckets are cumulative, end at the count, and the sum is positive.
"$PYTHON3" - "$T/m2" <<'PY' || bad+=("histogram: $(cat "$T/hist.err" 2>/dev/null)")
import sys
les, prev = [], -1
for line in open(sys.argv[1]):
    if line.startswith("tlsterm_request_duration_seconds_bucket{le="):
        le = line.split('"')[1]
        v = int(line.split()[1])
        assert v >= prev, line
        prev = v
        les.append(le)
    elif line.startswith("tlsterm_request_duration_seconds_count "):
        count = int(line.split()[1])
    elif line.startswith("tlsterm_request_duration_seconds_sum "):
        total = float(line.split()[1])
want = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]
assert les == want, les
assert prev == count and total >= 0, (prev, count, total)
PY
if [ ${#bad[@]} -gt 0 ]; then
  fail "/metrics did not move by the traffic: $(printf '%s; ' "${bad[@]}")"
fi
pass "/metrics moved by exactly: 7 connections, 6 full handshakes (1 TLS 1.2), 1 failure, 5 2xx, 1 502"

# Nothing listens on the backend port: the connect is refused, a 502.
code=$(tcurl "$port" /down -o /dev/null -w '%{http_code}' 2>"$T/curl.err") || true
[ "$code" = 502 ] || fail "with the backend down: got $code, want 502: $(cat "$T/curl.err")"
cp "$T/m2" "$T/m1"
for ((i = 0; i < 100; i++)); do
  scrape "$T/m2"
  [ "$(metric_sum "$T/m2" tlsterm_connections_open)" = 0 ] && break
  sleep 0.05
done
bad=()
check_sum tlsterm_connections_total 1
check tlsterm_backend_connect_errors_total 1
check 'tlsterm_handshakes_total{result="full"}' 1
check 'tlsterm_http_responses_total{class="2xx"}' 0
if [ ${#bad[@]} -gt 0 ]; then
  fail "/metrics for a refused backend connect: $(printf '%s; ' "${bad[@]}")"
fi
pass "/metrics: a refused backend connect counts in backend_connect_errors_total"

# --- /healthz during a drain -----------------------------------------------------

start_backend --listen "127.0.0.1:$bport"
tcurl "$port" '/slow/200000?ms=4000' -o "$T/slow.out" 2>"$T/slow.err" &
slow=$!
track_pid "$slow"
for ((i = 0; i < 100; i++)); do
  scrape "$T/m3"
  [ "$(metric_sum "$T/m3" tlsterm_connections_open)" -ge 1 ] && break
  sleep 0.05
done
[ "$(metric_sum "$T/m3" tlsterm_connections_open)" -ge 1 ] ||
  fail "the slow download never showed in connections_open"
kill -TERM "$TLSTERM_PID"
out=
for ((i = 0; i < 40; i++)); do
  out=$(acurl /healthz 2>/dev/null) || true
  [ "$out" = $'draining\n503' ] && break
  sleep 0.05
done
[ "$out" = $'draining\n503' ] || fail "/healthz during a drain: got $(printf %q "$out"), want draining and 503"
kill -0 "$TLSTERM_PID" 2>/dev/null || fail "tlsterm exited before /healthz was checked"
scrape "$T/m4"
[ "$(metric_sum "$T/m4" tlsterm_connections_open)" -ge 1 ] ||
  fail "/metrics during a drain: no open connection"
pass "/healthz is 503 draining while a download drains; /metrics still served"
wait_exit "$slow" 20 || fail "the slow download did not finish"
[ "$EXIT_STATUS" = 0 ] || fail "the slow download failed during the drain: $(cat "$T/slow.err")"
wait_exit "$TLSTERM_PID" 20 || fail "tlsterm did not exit after the drain"
[ "$EXIT_STATUS" = 0 ] || fail "tlsterm exited $EXIT_STATUS after the drain"
! port_open 127.0.0.1 "$aport" || fail "the admin port is still open after exit"
pass "tlsterm drained and exited 0"
