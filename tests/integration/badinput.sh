#!/usr/bin/env bash
# badinput.sh: bad TLS input costs only its own connection. Each case runs
# while normal clients make requests (a new TLS connection and a request
# every 100 ms; every one must succeed within 5 s), and after each case
# tlsterm is alive, serves a curl request, and its resident memory is back
# within RSS_TOLERANCE_KIB (8 MiB) of the baseline taken after a warm-up
# (see floods.sh for why 8 MiB; the cases here hold at most ~500
# connections at once). With --handshake-timeout 3s:
#  - garbage instead of a ClientHello (1, 5, 100 bytes, 16 KiB, 64 KiB):
#    not TLS is refused as soon as 5 bytes are in; incomplete input is
#    closed at the client's FIN at once, or at the handshake timeout;
#  - SSLv2-style hellos: refused at once;
#  - truncation: every prefix of a TLS 1.3 ClientHello, every record and
#    field boundary of a TLS 1.2 one, every prefix of the client's second
#    flight (TLS 1.2: CKE, CCS, Finished; TLS 1.3: CCS, Finished), each then
#    FIN (closed within 2 s) or silence (closed at 3 s, +CUT_SLACK at most);
#  - a whole TLS 1.2 and TLS 1.3 handshake and request, one byte per write:
#    the request succeeds;
#  - records over 2^14 + 2048 bytes (before and after the handshake) and
#    handshake messages claiming 16 MiB: closed, without reading on;
#  - 1000 extra extensions (openssl s_client -serverinfo: the handshake
#    and a request succeed) and 500 / 3000 (raw: a ServerHello);
#  - server_name of 60 KB (refused), a 255-byte label (s_client: handshake
#    and request succeed), a 300-byte label and 63 labels of 63 bytes (raw:
#    a ServerHello);
#  - TLS 1.2 renegotiation (s_client "R"): refused with a no_renegotiation
#    alert, the client gives up; TLS 1.3 KeyUpdate (s_client "k") closes
#    that connection (a documented limit) and nothing else.
# Environment: RSS_TOLERANCE_KIB, CUT_SLACK (3).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

tol_kib=${RSS_TOLERANCE_KIB:-8192}
slack=${CUT_SLACK:-3}
hs_timeout=3

san_memory_bound
gen_certs
start_backend --listen 127.0.0.1:0
port=$(free_port)
mapfile -t certs < <(cert_args)
start_tlsterm --listen "127.0.0.1:$port" --backend "127.0.0.1:$BACKEND_PORT" "${certs[@]}" \
  --workers 2 --handshake-timeout "${hs_timeout}s" --drain-timeout 2s --log-level info

BAD=$TOOLS/badclient.py

# Warm-up: 300 TLS connections open at once (fills both workers' session
# pools), then closed; the baseline is taken after.
warm_up 300
base=$(rss_kib "$TLSTERM_PID")
pass "warm-up: 300 connections; baseline VmRSS $base KiB"

# after WHAT: the checks that follow every case: the probe's requests all
# succeeded, tlsterm is alive and serves curl, and VmRSS is back within the
# tolerance (waiting up to 10 s). Prints the figures.
after() {
  local what=$1 i rss body
  probe_stop "$what"
  assert_alive
  body=$(tcurl "$port" /hello) || fail "$what: a curl request afterwards failed"
  [ "$body" = "hello from backend" ] || fail "$what: wrong body afterwards: $body"
  for ((i = 0; i < 100; i++)); do
    rss=$(rss_kib "$TLSTERM_PID")
    [ "$rss" -le $((base + tol_kib)) ] && break
    sleep 0.1
  done
  if [ "$rss" -gt $((base + tol_kib)) ] && [ -z "$SANITIZER" ]; then
    fail "$what: VmRSS $rss KiB, baseline $base KiB (tolerance $tol_kib KiB)"
  fi
  echo "# $what: $PROBE; curl ok; VmRSS $rss KiB (baseline $base)"
}

# bad CASE: run badclient.py CASE alongside the probe; its "ok" lines are
# passes, a FAIL line fails the test.
bad() {
  local c=$1 status=0 t0 ms
  probe_start
  t0=$(date +%s%N)
  "$PYTHON3" "$BAD" "$c" --port "$port" --cafile "$CERTS/ca.pem" --hs-timeout "$hs_timeout" \
    --slack "$slack" >"$T/bad.$c" 2>&1 || status=$?
  ms=$((($(date +%s%N) - t0) / 1000000))
  while IFS= read -r line; do
    case $line in
      "ok "*) pass "${line#ok }" ;;
      *) echo "$line" ;;
    esac
  done <"$T/bad.$c"
  [ "$status" = 0 ] || fail "$c: $(grep -m1 '^FAIL' "$T/bad.$c" || tail -n 5 "$T/bad.$c")"
  after "$c (${ms} ms)"
}

bad garbage
bad sslv2
bad truncate
bad bytewise
bad oversized
bad extensions
bad sni

# s_client CASE ARGS...: openssl s_client with a request on stdin that asks
# the server to close after; $T/sc.out gets everything it printed.
req=$'GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'
sc_request() {
  (
    printf '%s' "$req"
    sleep 1.5
  ) | sclient "$port" -servername "${SNI:-localhost}" -ign_eof "$@" >"$T/sc.out" || true
  grep -q '^hello from backend' "$T/sc.out"
}

# 1000 empty extensions of unknown types in a real handshake.
probe_start
types=$(seq -s, 10000 10999)
sc_request -tls1_3 -serverinfo "$types" ||
  fail "ClientHello with 1000 extra extensions: no answer: $(tail -n 20 "$T/sc.out")"
pass "openssl s_client -serverinfo with 1000 extension types (TLS 1.3): handshake and request succeed"
sc_request -tls1_2 -serverinfo "$types" ||
  fail "TLS 1.2 ClientHello with 1000 extra extensions: no answer: $(tail -n 20 "$T/sc.out")"
pass "openssl s_client -serverinfo with 1000 extension types (TLS 1.2): handshake and request succeed"
after "s_client extensions"

# The longest server_name label OpenSSL sends: 255 bytes.
probe_start
SNI=$(printf 'l%.0s' $(seq 255)) sc_request -tls1_3 ||
  fail "255-byte SNI label: no answer: $(tail -n 20 "$T/sc.out")"
pass "openssl s_client -servername with one 255-byte label: handshake (default certificate) and request succeed"
after "s_client long SNI"

# sc_command KEY OUT ARGS...: openssl s_client makes a keep-alive request,
# then a second later is told KEY; $T/OUT gets everything it printed. True
# if the request succeeded.
sc_command() {
  local key=$1 out=$2
  shift 2
  (
    printf 'GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n'
    sleep 1
    printf '%s\n' "$key"
    sleep 1.5
  ) | sclient "$port" "$@" -servername localhost >"$T/$out" || true
  grep -q '^hello from backend' "$T/$out"
}

# TLS 1.2 renegotiation: s_client's "R" asks for it after a request; the
# server refuses (no_renegotiation) and the client gives up. Then "k", a
# TLS 1.3 KeyUpdate, which mbedTLS 3.6 takes as an unexpected message.
probe_start
sc_command R reneg.out -tls1_2 || fail "renegotiation: the first request failed: $(tail -n 20 "$T/reneg.out")"
grep -q '^RENEGOTIATING' "$T/reneg.out" || fail "renegotiation: s_client did not try: $(tail -n 20 "$T/reneg.out")"
grep -q 'no renegotiation' "$T/reneg.out" ||
  fail "renegotiation was not refused with no_renegotiation: $(tail -n 20 "$T/reneg.out")"
wait_log_line 'msg="TLS error: read: client sent a fatal alert' 40 || true
pass "TLS 1.2 renegotiation (s_client R): refused, $(grep -m1 -o '[^:]*:no renegotiation' "$T/reneg.out");" \
  "log: $(grep -m1 -o 'msg="TLS error: read: client sent a fatal alert[^"]*"' "$TLSTERM_LOG" || echo none)"
sc_command k ku.out -tls1_3 || fail "KeyUpdate: the first request failed: $(tail -n 20 "$T/ku.out")"
grep -q '^KEYUPDATE' "$T/ku.out" || fail "KeyUpdate: s_client did not send it: $(tail -n 20 "$T/ku.out")"
wait_log_line 'msg="TLS error: read: unexpected message' 40 ||
  fail "KeyUpdate: no 'unexpected message' in the log (has mbedTLS learnt KeyUpdate? update the docs)"
pass "TLS 1.3 KeyUpdate (s_client k): that connection is closed ('unexpected message', the documented limit)"
after "renegotiation and KeyUpdate"

if grep 'level=error' "$TLSTERM_LOG" >"$T/errors"; then
  fail "error-level log lines: $(head -n 5 "$T/errors")"
fi
pass "still alive and serving; no error-level log lines"
stop_tlsterm 10
