#!/usr/bin/env bash
# drain.sh: graceful shutdown.
#  - SIGTERM during a slow 16 MiB download: tlsterm stops accepting at once,
#    the download still completes with the right SHA-256, then tlsterm exits
#    0 within --drain-timeout;
#  - with --drain-timeout 1s, a stuck idle connection does not hold the exit
#    back: exit 0 within about 2 s;
#  - SIGINT is handled like SIGTERM.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

size=$((16 * 1024 * 1024))

gen_certs
start_backend --listen 127.0.0.1:0
mapfile -t certs < <(cert_args)
want=$("$PYTHON3" "$TOOLS/backend.py" --digest-bytes "$size")

# A TLS client that reads /bytes/N at about 3 MiB/s with a small receive
# buffer, writes its progress to $T/progress, and prints
# "bytes=N sha256=HEX" when the body is complete.
cat >"$T/slowdown.py" <<'PY'
import hashlib, os, socket, ssl, sys, time
port, ca, size, progress = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
raw = socket.socket()
raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
raw.settimeout(20)
raw.connect(("127.0.0.1", port))
s = ctx.wrap_socket(raw, server_hostname="localhost")
s.sendall(b"GET /bytes/%d HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % size)
f = s.makefile("rb")
status = f.readline()
if b" 200 " not in status:
    sys.exit("bad status: %r" % status)
length = None
while True:
    line = f.readline()
    if line in (b"\r\n", b""):
        break
    k, _, v = line.partition(b":")
    if k.strip().lower() == b"content-length":
        length = int(v)
h = hashlib.sha256()
got = 0
deadline = time.monotonic() + 60
while got < length and time.monotonic() < deadline:
    data = f.read(min(65536, length - got))
    if not data:
        break
    h.update(data)
    got += len(data)
    with open(progress + ".tmp", "w") as p:
        p.write("%d\n" % got)
    os.replace(progress + ".tmp", progress)
    time.sleep(0.016)
print("bytes=%d sha256=%s" % (got, h.hexdigest()))
PY

# 1. SIGTERM in the middle of a slow download.
port=$(free_port)
start_tlsterm --listen "127.0.0.1:$port" --backend "127.0.0.1:$BACKEND_PORT" "${certs[@]}" \
  --workers 2 --drain-timeout 30s
"$PYTHON3" "$T/slowdown.py" "$port" "$CERTS/ca.pem" "$size" "$T/progress" >"$T/download.out" 2>&1 &
client=$!
track_pid "$client"

# progress: bytes the download client has read so far.
progress() { cat "$T/progress" 2>/dev/null || echo 0; }

# Wait until 1 MiB has arrived, so the signal lands mid-transfer.
for ((i = 0; i < 200; i++)); do
  [ "$(progress)" -ge 1048576 ] && break
  kill -0 "$client" 2>/dev/null || fail "download ended early: $(cat "$T/download.out")"
  sleep 0.05
done
[ "$(progress)" -ge 1048576 ] || fail "download made no progress"
kill -TERM "$TLSTERM_PID"
t_term=$SECONDS

# New connections are refused within 3 s of the signal.
wait_port_closed 127.0.0.1 "$port" 3 || fail "still accepting connections 3 s after SIGTERM"
pass "listener closed after SIGTERM"
[ "$(progress)" -lt "$size" ] || fail "the download finished before the listener closed; the test proves nothing"

# The in-flight download completes, intact.
wait_exit "$client" 40 || fail "the download did not finish within 40 s"
[ "$EXIT_STATUS" = 0 ] || fail "download client failed: $(cat "$T/download.out")"
read -r got_bytes got_sum <<<"$(sed 's/bytes=\([0-9]*\) sha256=\([0-9a-f]*\)/\1 \2/' "$T/download.out")"
[ "$got_bytes" = "$size" ] || fail "download after SIGTERM: $got_bytes bytes, want $size"
[ "$got_sum" = "$want" ] || fail "download after SIGTERM: SHA-256 $got_sum, want $want"
pass "in-flight download completed after SIGTERM, SHA-256 matches"

# With its last connection gone, tlsterm exits 0, well within the 30 s
# drain timeout.
wait_exit "$TLSTERM_PID" 5 || fail "tlsterm still running 5 s after its last connection finished"
[ "$EXIT_STATUS" = 0 ] || fail "tlsterm exited $EXIT_STATUS after draining, want 0"
[ $((SECONDS - t_term)) -lt 30 ] || fail "tlsterm took $((SECONDS - t_term)) s to drain"
pass "exit 0 after drain ($((SECONDS - t_term)) s)"

# 2. --drain-timeout 1s with a stuck idle connection: exit 0 in about 1 s.
port=$(free_port)
start_tlsterm --listen "127.0.0.1:$port" --backend "127.0.0.1:$BACKEND_PORT" "${certs[@]}" \
  --workers 2 --drain-timeout 1s --idle-timeout 60s
"$PYTHON3" - "$port" "$CERTS/ca.pem" "$T/idle.ready" <<'PY' &
import socket, ssl, sys, time
port, ca, ready = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname="localhost")
s.sendall(b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n")
s.recv(4096)
open(ready, "w").write("ready\n")
s.settimeout(30)
try:
    s.recv(4096)  # hold the connection open until the server closes it
except (OSError, ssl.SSLError):
    pass
PY
idle=$!
track_pid "$idle"
wait_file "$T/idle.ready" 10 || fail "idle client did not connect"
t0=$(date +%s%N)
kill -TERM "$TLSTERM_PID"
wait_exit "$TLSTERM_PID" 5 || fail "tlsterm with a stuck connection still running 5 s after SIGTERM (--drain-timeout 1s)"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$EXIT_STATUS" = 0 ] || fail "tlsterm exited $EXIT_STATUS after the drain timeout, want 0"
[ "$ms" -le 3000 ] || fail "exit took $ms ms with --drain-timeout 1s"
pass "stuck connection: exit 0 after $ms ms (--drain-timeout 1s)"

# 3. SIGINT drains and exits 0 too.
port=$(free_port)
start_tlsterm --listen "127.0.0.1:$port" --backend "127.0.0.1:$BACKEND_PORT" "${certs[@]}" \
  --workers 2 --drain-timeout 1s
body=$(tcurl "$port" /hello) || fail "request before SIGINT failed"
[ "$body" = "hello from backend" ] || fail "wrong body before SIGINT: $body"
kill -INT "$TLSTERM_PID"
wait_exit "$TLSTERM_PID" 5 || fail "tlsterm still running 5 s after SIGINT"
[ "$EXIT_STATUS" = 0 ] || fail "tlsterm exited $EXIT_STATUS on SIGINT, want 0"
pass "SIGINT: exit 0"
