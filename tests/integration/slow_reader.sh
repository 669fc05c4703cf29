#!/usr/bin/env bash
# slow_reader.sh: backpressure. Clients that read a 64 MiB response very
# slowly must not make tlsterm buffer it: its resident memory may grow by
# less than RSS_BOUND_KIB (8 MiB) while the backend has 64 MiB to push.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

size=$((64 * 1024 * 1024))
read_seconds=${SLOW_READ_SECONDS:-5}
bound_kib=${RSS_BOUND_KIB:-8192}

gen_certs
start_backend --listen 127.0.0.1:0
port=$(free_port)
mapfile -t certs < <(cert_args)
san_memory_bound # ASan: no quarantine, so RSS follows what tlsterm holds
start_tlsterm --listen "127.0.0.1:$port" --backend "127.0.0.1:$BACKEND_PORT" "${certs[@]}" \
  --workers 2 --drain-timeout 2s

# Warm up both TLS versions (a few full-speed transfers) so one-time
# allocations are in the baseline.
for v in 1.2 1.3 1.2 1.3; do
  tcurl "$port" /bytes/4194304 --tlsv"$v" --tls-max "$v" -o /dev/null ||
    fail "warm-up download over TLS $v failed"
done

# slow_client VERSION OUT: read /bytes/64MiB 16 KiB at a time with a 16 KiB
# receive buffer, sleeping 50 ms between reads, for $read_seconds; then
# close. Writes the byte count it read to OUT.
slow_client() {
  "$PYTHON3" - "$port" "$CERTS/ca.pem" "$1" "$size" "$read_seconds" "$2" <<'PY'
import socket, ssl, sys, time
port, ca, version, size, seconds, out = sys.argv[1:]
ctx = ssl.create_default_context(cafile=ca)
v = ssl.TLSVersion.TLSv1_3 if version == "1.3" else ssl.TLSVersion.TLSv1_2
ctx.minimum_version = ctx.maximum_version = v
raw = socket.socket()
raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
raw.settimeout(10)
raw.connect(("127.0.0.1", int(port)))
s = ctx.wrap_socket(raw, server_hostname="localhost")
s.sendall(b"GET /bytes/%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % int(size))
got = 0
deadline = time.monotonic() + float(seconds)
while time.monotonic() < deadline:
    data = s.recv(16384)
    if not data:
        sys.exit("EOF after %d bytes" % got)
    got += len(data)
    time.sleep(0.05)
open(out, "w").write("%d\n" % got)
s.close()
PY
}

rss_base=$(rss_kib "$TLSTERM_PID")
slow_client 1.3 "$T/read.13" 2>"$T/slow.13.err" &
c13=$!
track_pid "$c13"
slow_client 1.2 "$T/read.12" 2>"$T/slow.12.err" &
c12=$!
track_pid "$c12"

# Sample tlsterm's RSS every 100 ms while the clients read (bounded).
rss_max=$rss_base
for ((i = 0; i < (read_seconds + 10) * 10; i++)); do
  kill -0 "$c13" 2>/dev/null || kill -0 "$c12" 2>/dev/null || break
  r=$(rss_kib "$TLSTERM_PID") || fail "tlsterm died during the slow read"
  if [ "$r" -gt "$rss_max" ]; then rss_max=$r; fi
  sleep 0.1
done
wait_exit "$c13" 5 || fail "TLS 1.3 slow client did not finish"
[ "$EXIT_STATUS" = 0 ] || fail "TLS 1.3 slow client failed: $(cat "$T/slow.13.err")"
wait_exit "$c12" 5 || fail "TLS 1.2 slow client did not finish"
[ "$EXIT_STATUS" = 0 ] || fail "TLS 1.2 slow client failed: $(cat "$T/slow.12.err")"

# The clients made progress, but read only a small part of the body: the
# rest was held back by backpressure, not buffered in tlsterm.
read13=$(cat "$T/read.13")
read12=$(cat "$T/read.12")
echo "# read: TLS 1.3 $read13 bytes, TLS 1.2 $read12 bytes of $size each"
for n in "$read13" "$read12"; do
  [ "$n" -gt 0 ] || fail "a slow client read nothing"
  [ "$n" -lt $((size / 4)) ] || fail "a slow client read $n bytes: too fast for the test to mean anything"
done

growth=$((rss_max - rss_base))
echo "# tlsterm VmRSS: base ${rss_base} KiB, max ${rss_max} KiB, growth ${growth} KiB (bound ${bound_kib} KiB)"
[ "$growth" -lt "$bound_kib" ] ||
  fail "tlsterm RSS grew by $growth KiB with two slow readers (bound $bound_kib KiB): no backpressure"
pass "RSS growth $growth KiB < $bound_kib KiB"

# tlsterm still serves after the slow clients went away mid-response.
body=$(tcurl "$port" /hello) || fail "request after the slow readers failed"
[ "$body" = "hello from backend" ] || fail "request after the slow readers: wrong body: $body"
assert_alive
