#!/usr/bin/env bash
# drain.sh: graceful shutdown.
#  - SIGTERM during a slow 16 MiB download: tlsterm stops accepting at once,
#    the download still completes with the right SHA-256, then tlsterm exits
#    0 within --drain-timeout;
#  - with --drain-timeout 1s, a stuck connection (handshake done, no
#    request) does not hold the exit back: exit 0 in about 1 s;
#  - SIGINT is handled like SIGTERM;
#  - keep-alive connections end at their next request boundary, not at the
#    drain timeout: an idle one is closed (close_notify) at once, one with a
#    response in flight gets all of it and is then closed, one that has
#    answered nothing yet answers the request it gets after the signal, then
#    closes; tlsterm exits long before --drain-timeout 20s.
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

# 2. --drain-timeout 1s with a stuck connection: exit 0 in about 1 s. It has
# sent no request, so draining waits for one (see 4) until the timeout.
port=$(free_port)
start_tlsterm --listen "127.0.0.1:$port" --backend "127.0.0.1:$BACKEND_PORT" "${certs[@]}" \
  --workers 2 --drain-timeout 1s --idle-timeout 60s
"$PYTHON3" - "$port" "$CERTS/ca.pem" "$T/idle.ready" <<'PY' &
import socket, ssl, sys, time
port, ca, ready = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname="localhost")
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

# 4. Keep-alive connections end between requests.
# ka.py MODE PORT CA READY GO: one keep-alive connection; READY is written
# once it is in place for the signal, and the client then waits (at most
# 10 s) for the file GO before its next step. Prints one result line.
#   idle:  GET /hello, READY; then wait for the server to close.
#   busy:  GET /hello, then GET /slow/200000?ms=2500, READY at its first
#          byte; read it whole (prints its SHA-256), then GET /hello again,
#          which must meet a closed connection (no byte of a response).
#   fresh: handshake, READY, wait for GO; GET /hello; then wait for the
#          server to close.
cat >"$T/ka.py" <<'PY'
import hashlib, os, socket, ssl, sys, time
mode, port, ca, ready, go = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                    server_hostname="localhost")
buf = b""

def response(on_first_byte=None):
    """One response with a Content-Length; None if the connection closed
    before its first byte."""
    global buf
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            if buf:
                sys.exit("closed in a response head: %r" % buf)
            return None
        buf += d
        if on_first_byte:
            on_first_byte()
            on_first_byte = None
    head, _, buf = buf.partition(b"\r\n\r\n")
    n = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0])
    while len(buf) < n:
        d = s.recv(65536)
        if not d:
            sys.exit("closed after %d of %d body bytes" % (len(buf), n))
        buf += d
    body, buf = buf[:n], buf[n:]
    return body

def get(path):
    s.sendall(b"GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path)
    return response()

def mark_ready():
    open(ready, "w").write("ready\n")

def wait_go():
    for _ in range(200):
        if os.path.exists(go):
            return
        time.sleep(0.05)
    sys.exit("no go")

def closed_by_server():
    try:
        return s.recv(1) == b""   # close_notify: the ssl module returns b""
    except ssl.SSLEOFError:
        return True
    except (socket.timeout, TimeoutError):
        return False

if mode == "idle":
    assert get(b"/hello") == b"hello from backend\n"
    mark_ready()
    print("idle: closed by the server" if closed_by_server() else "idle: still open after 10 s")
elif mode == "busy":
    assert get(b"/hello") == b"hello from backend\n"
    s.sendall(b"GET /slow/200000?ms=2500 HTTP/1.1\r\nHost: localhost\r\n\r\n")
    body = response(on_first_byte=mark_ready)
    wait_go()
    try:
        again = get(b"/hello")
    except (ssl.SSLEOFError, ConnectionError):
        again = None
    print("busy: %d bytes sha256=%s; next request: %s" % (
        len(body), hashlib.sha256(body).hexdigest(),
        "closed, no response" if again is None else "answered"))
elif mode == "fresh":
    mark_ready()
    wait_go()
    ok = get(b"/hello") == b"hello from backend\n"
    print("fresh: %s; then %s" % ("answered" if ok else "wrong answer",
          "closed by the server" if closed_by_server() else "still open after 10 s"))
PY
port=$(free_port)
start_tlsterm --listen "127.0.0.1:$port" --backend "127.0.0.1:$BACKEND_PORT" "${certs[@]}" \
  --workers 2 --drain-timeout 20s --idle-timeout 60s
ka=()
for mode in idle busy fresh; do
  "$PYTHON3" "$T/ka.py" "$mode" "$port" "$CERTS/ca.pem" "$T/ka-$mode.ready" "$T/go" >"$T/$mode.out" 2>&1 &
  ka+=($!)
  track_pid "$!"
done
for mode in idle busy fresh; do
  wait_file "$T/ka-$mode.ready" 10 || fail "keep-alive client '$mode' not ready: $(cat "$T/$mode.out")"
done
t0=$(date +%s%N)
kill -TERM "$TLSTERM_PID"
sleep 0.3 # the workers have the signal: the go is for after it
touch "$T/go"
want=$("$PYTHON3" "$TOOLS/backend.py" --digest-bytes 200000)
i=0
for mode in idle busy fresh; do
  wait_exit "${ka[$i]}" 15 || fail "keep-alive client '$mode' still running 15 s after SIGTERM"
  [ "$EXIT_STATUS" = 0 ] || fail "keep-alive client '$mode' failed: $(cat "$T/$mode.out")"
  i=$((i + 1))
done
[ "$(cat "$T/idle.out")" = "idle: closed by the server" ] || fail "$(cat "$T/idle.out")"
[ "$(cat "$T/busy.out")" = "busy: 200000 bytes sha256=$want; next request: closed, no response" ] ||
  fail "$(cat "$T/busy.out") (want sha256=$want)"
[ "$(cat "$T/fresh.out")" = "fresh: answered; then closed by the server" ] || fail "$(cat "$T/fresh.out")"
wait_exit "$TLSTERM_PID" 10 || fail "tlsterm still running 10 s after SIGTERM with only keep-alive connections"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$EXIT_STATUS" = 0 ] || fail "tlsterm exited $EXIT_STATUS, want 0"
! grep -q 'drain timeout' "$TLSTERM_LOG" || fail "keep-alive connections held tlsterm until the drain timeout"
pass "keep-alive at SIGTERM: idle closed at once, busy finished its response then closed, fresh answered then closed; exit 0 after $ms ms (--drain-timeout 20s)"
