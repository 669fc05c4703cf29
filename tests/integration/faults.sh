#!/usr/bin/env bash
# faults.sh: bad peers hurt only their own connection.
#  - backend down: in --mode tcp the client is closed cleanly and fast, in
#    the default http mode it gets a fast 502; the log says "backend
#    connect failed" with a reason;
#  - garbage, an SSLv2-style hello, oversized records and broken handshakes
#    get an alert or a close while a normal client carries on;
#  - a stalled handshake is cut at --handshake-timeout, an idle connection
#    at --idle-timeout;
#  - afterwards tlsterm still serves.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

gen_certs
backend_port=$(free_port) # nothing listens here yet
port=$(free_port)
mapfile -t certs < <(cert_args)
start_tlsterm --listen "127.0.0.1:$port" --backend "127.0.0.1:$backend_port" "${certs[@]}" \
  --workers 2 --handshake-timeout 1s --idle-timeout 2s --backend-connect-timeout 2s \
  --drain-timeout 2s --log-level info

# A raw-socket client for the fault cases. Each case prints one line:
#   CASE outcome=eof|alert|reset|timeout|open elapsed=SECONDS
# "alert" means a TLS alert record arrived before EOF.
cat >"$T/faultclient.py" <<'PY'
import os, socket, ssl, struct, sys, time

port, ca, case = int(sys.argv[1]), sys.argv[2], sys.argv[3]
WAIT = 10.0  # never wait longer than this for the server to act


def client_hello(version=ssl.TLSVersion.TLSv1_3):
    """A real ClientHello from OpenSSL, as bytes."""
    ctx = ssl.create_default_context(cafile=ca)
    ctx.maximum_version = version
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def sslv2_hello():
    # SSLv2-compatible CLIENT-HELLO offering TLS 1.2 (RFC 5246 appendix E.2).
    specs = bytes.fromhex("00002f" "000035" "00000a")
    challenge = os.urandom(16)
    body = struct.pack("!BHHHH", 1, 0x0303, len(specs), 0, len(challenge)) + specs + challenge
    return struct.pack("!H", 0x8000 | len(body)) + body


def wait_close(s, start):
    """Read until EOF; return (outcome, seconds since start)."""
    s.settimeout(0.2)
    got = b""
    while time.monotonic() - start < WAIT:
        try:
            data = s.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return "reset", time.monotonic() - start
        if not data:
            return ("alert" if got[:1] == b"\x15" or b"\x15\x03" in got else "eof"), time.monotonic() - start
        got += data
    return "open", time.monotonic() - start


def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s


def send_then_wait(payload):
    s = connect()
    start = time.monotonic()
    try:
        s.sendall(payload)
    except (BrokenPipeError, ConnectionResetError):
        return "reset", time.monotonic() - start
    return wait_close(s, start)


def run(case):
    if case == "plaintext-http":
        return send_then_wait(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    if case == "random-bytes":
        return send_then_wait(b"\x42" + os.urandom(4095))
    if case == "sslv2-hello":
        return send_then_wait(sslv2_hello())
    if case == "oversized-record":
        return send_then_wait(b"\x16\x03\x01\xff\xff" + os.urandom(1000))
    if case == "garbage-handshake":
        return send_then_wait(b"\x16\x03\x01\x00\x64" + os.urandom(100))
    if case == "alert-first":
        return send_then_wait(b"\x15\x03\x03\x00\x02\x02\x28")
    if case == "hello-then-garbage":
        # A real ClientHello, then a garbage record instead of the client's
        # Finished: the handshake must fail on the server side.
        s = connect()
        start = time.monotonic()
        s.sendall(client_hello())
        time.sleep(0.2)
        try:
            s.sendall(b"\x17\x03\x03\x00\x40" + os.urandom(64))
        except (BrokenPipeError, ConnectionResetError):
            return "reset", time.monotonic() - start
        return wait_close(s, start)
    if case == "hello-then-reset":
        # Abort with RST in the middle of the handshake.
        s = connect()
        s.sendall(client_hello())
        time.sleep(0.1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        return "sent", 0.0
    if case == "connect-close":
        connect().close()
        return "sent", 0.0
    # Stalls: the server must cut these at --handshake-timeout.
    if case == "silent":
        s = connect()
        return wait_close(s, time.monotonic())
    if case == "half-hello":
        hello = client_hello()
        s = connect()
        start = time.monotonic()
        s.sendall(hello[: len(hello) // 2])
        return wait_close(s, start)
    if case == "hello-no-finished":
        s = connect()
        start = time.monotonic()
        s.sendall(client_hello())
        return wait_close(s, start)
    # Idle after a complete handshake: cut at --idle-timeout.
    if case in ("idle-after-request", "idle-no-request"):
        ctx = ssl.create_default_context(cafile=ca)
        s = ctx.wrap_socket(connect(), server_hostname="localhost")
        if case == "idle-after-request":
            s.sendall(b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n")
            want = b"hello from backend\n"
            got = b""
            while not got.endswith(want):
                data = s.recv(4096)
                if not data:
                    raise SystemExit("EOF before the response")
                got += data
        start = time.monotonic()
        s.settimeout(0.2)
        while time.monotonic() - start < WAIT:
            try:
                data = s.recv(4096)
            except socket.timeout:
                continue
            except ssl.SSLError as e:  # a close without close_notify
                return "eof-unclean(%s)" % e.reason, time.monotonic() - start
            except ConnectionResetError:
                return "reset", time.monotonic() - start
            if not data:
                return "eof", time.monotonic() - start
        return "open", time.monotonic() - start
    raise SystemExit("unknown case " + case)


outcome, elapsed = run(case)
print("%s outcome=%s elapsed=%.2f" % (case, outcome, elapsed))
PY

fault() { "$PYTHON3" "$T/faultclient.py" "$port" "$CERTS/ca.pem" "$1"; }

# field LINE KEY: the value of KEY=... in LINE.
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }

# ms_between LOW HIGH SECONDS: LOW <= SECONDS <= HIGH.
between() { awk -v lo="$1" -v hi="$2" -v x="$3" 'BEGIN { exit !(x >= lo && x <= hi) }'; }

# 1. Backend down, --mode tcp: curl fails fast (not a hang) with a clean
#    close (close_notify then EOF: curl's "Empty reply from server", exit
#    52), and the log has a warn/error "backend connect failed" line with a
#    reason. A second tlsterm for this; the main one is restored after.
main_pid=$TLSTERM_PID main_log=$TLSTERM_LOG
tcp_port=$(free_port)
start_tlsterm --listen "127.0.0.1:$tcp_port" --backend "127.0.0.1:$backend_port" "${certs[@]}" \
  --mode tcp --workers 1 --backend-connect-timeout 2s --drain-timeout 2s --log-level info
t0=$(date +%s%N)
status=0
tcurl "$tcp_port" /hello -o /dev/null 2>"$T/down.err" || status=$?
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$status" != 0 ] || fail "backend down, yet the request succeeded"
[ "$ms" -lt 5000 ] || fail "backend down: curl took $ms ms (hang?)"
[ "$status" = 52 ] || fail "backend down: curl exit $status, want 52 (empty reply after a clean close): $(cat "$T/down.err")"
for ((i = 0; i < 40; i++)); do
  grep -q 'msg="backend connect failed"' "$TLSTERM_LOG" && break
  sleep 0.05
done
line=$(grep 'msg="backend connect failed"' "$TLSTERM_LOG" | head -n 1 || true)
[ -n "$line" ] || fail 'backend down: no msg="backend connect failed" in the log'
grep -Eq 'level=(warn|error)' <<<"$line" || fail "backend connect failed is not at warn/error: $line"
grep -Eqi 'reason="[^"]*refused[^"]*"' <<<"$line" || fail "backend connect failed without reason=\"...refused...\": $line"
pass "backend down, --mode tcp: curl exit 52 after $ms ms; log: $line"
stop_tlsterm 10
TLSTERM_PID=$main_pid TLSTERM_LOG=$main_log

# Backend down, default (http) mode: a fast "HTTP/1.1 502" with
# Connection: close, and the same log line.
t0=$(date +%s%N)
tcurl "$port" /hello -D "$T/down502.h" -o /dev/null 2>"$T/down502.err" ||
  fail "backend down, http mode: curl exit $?: $(cat "$T/down502.err")"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 5000 ] || fail "backend down, http mode: curl took $ms ms (hang?)"
head -n 1 "$T/down502.h" | grep -q '^HTTP/1.1 502 ' ||
  fail "backend down, http mode: want HTTP/1.1 502, got: $(cat "$T/down502.h")"
grep -qix 'connection: close'$'\r' "$T/down502.h" || fail "502 without Connection: close: $(cat "$T/down502.h")"
for ((i = 0; i < 40; i++)); do
  grep -q 'msg="backend connect failed"' "$TLSTERM_LOG" && break
  sleep 0.05
done
grep -q 'msg="backend connect failed"' "$TLSTERM_LOG" || fail 'backend down, http mode: no msg="backend connect failed" in the log'
pass "backend down, http mode: HTTP/1.1 502 after $ms ms"

# The backend comes up on that port: the next request goes through.
start_backend --listen "127.0.0.1:$backend_port"
body=$(tcurl "$port" /hello) || fail "request after the backend came up failed"
[ "$body" = "hello from backend" ] || fail "wrong body after the backend came up: $body"
pass "backend up: requests go through again"

# 2. Garbage instead of a ClientHello, run in parallel with normal requests:
#    each bad connection is answered with an alert or closed within the
#    wait, and every normal request still succeeds.
garbage_cases="plaintext-http random-bytes sslv2-hello oversized-record garbage-handshake
  alert-first hello-then-garbage hello-then-reset connect-close"
pids=()
for c in $garbage_cases; do
  fault "$c" >"$T/fault.$c" 2>&1 &
  pids+=($!)
  track_pid "$!"
done
for ((i = 0; i < 5; i++)); do
  body=$(tcurl "$port" /hello) || fail "normal request $i failed while garbage was being sent"
  [ "$body" = "hello from backend" ] || fail "normal request $i: wrong body: $body"
done
for p in "${pids[@]}"; do
  wait_exit "$p" 20 || fail "a fault client did not finish"
done
for c in $garbage_cases; do
  out=$(cat "$T/fault.$c")
  outcome=$(field "$out" outcome)
  case $outcome in
    eof | alert | reset | sent) pass "$out" ;;
    *) fail "$c: not closed by tlsterm: $out" ;;
  esac
done
assert_alive

# 3. Stalled handshakes are cut at --handshake-timeout 1s: not at once (the
#    timer does it, not a parse error) and well within 3 s.
for c in silent half-hello hello-no-finished; do
  out=$(fault "$c") || fail "$c: client failed: $out"
  outcome=$(field "$out" outcome)
  elapsed=$(field "$out" elapsed)
  case $outcome in eof | alert | reset) ;; *) fail "$c: not cut: $out" ;; esac
  between 0.7 3.0 "$elapsed" || fail "$c: cut after ${elapsed}s, want about 1s (--handshake-timeout 1s)"
  pass "$out"
done

# 4. An idle connection after the handshake is cut at --idle-timeout 2s,
#    with or without a request before.
for c in idle-after-request idle-no-request; do
  out=$(fault "$c") || fail "$c: client failed: $out"
  outcome=$(field "$out" outcome)
  elapsed=$(field "$out" elapsed)
  [ "$outcome" != open ] || fail "$c: idle connection still open after 10 s: $out"
  between 1.5 4.5 "$elapsed" || fail "$c: cut after ${elapsed}s, want about 2s (--idle-timeout 2s)"
  pass "$out"
done

# 5. After all this, tlsterm is alive and serves a normal request.
assert_alive
body=$(tcurl "$port" /hello) || fail "final request failed"
[ "$body" = "hello from backend" ] || fail "final request: wrong body: $body"
if grep -E 'level=error' "$TLSTERM_LOG" | grep -v 'backend connect failed' >"$T/errors"; then
  echo "# error-level lines (not failing the test):"
  cat "$T/errors"
fi
pass "still alive and serving"
