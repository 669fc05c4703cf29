#!/usr/bin/env bash
# http_errors.sh: the responses tlsterm itself sends in --mode http, and the
# access log. Each error arrives over TLS as exactly one response with the
# exact status line, "Connection: close" and a matching Content-Length,
# then the connection closes (close_notify, then EOF), while a keep-alive
# connection making requests at the same time is not disturbed:
#   400  a garbage request line (also right after a good request in the
#        same write: that one is answered first); an obs-fold header line;
#        Content-Length together with Transfer-Encoding (never forwarded)
#   431  a head of 2049 bytes with --max-header-size 2048 (in one write and
#        split over three); 2048 bytes passes
#   501  Transfer-Encoding: gzip
#   408  half a head, then nothing, with --request-timeout 1s (an idle
#        keep-alive connection between requests is not cut)
#   502  backend down; backend answers garbage
#   504  backend silent with --backend-timeout 1s; backend connect hanging
#        with --backend-connect-timeout 1s (skipped where loopback cannot
#        be made to hang)
# A backend that closes mid-response makes the client connection close
# WITHOUT close_notify (python: SSLEOFError; curl: exit 18/56), never a
# short body presented as complete; a body delimited by the backend's close
# arrives whole with close_notify. --access-log FILE has one line per
# request with method, path, status and the exact byte counts; --access-log
# - writes to stdout.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"


gen_certs
start_recorder
mapfile -t certs < <(cert_args)

# The python TLS client: `he.py CASE PORT [ARGS]` runs one case, prints one
# result line, or "FAIL: ..." and exits 1.
cat >"$T/he.py" <<'PY'
import hashlib, json, os, re, socket, ssl, sys, threading, time

sys.path.insert(0, os.environ["HE_TOOLS"])
import tlsclient  # noqa: E402

CA = os.environ["HE_CA"]
REC = os.environ["HE_REC"]


WHAT = []  # what is being checked, for the failure message


def die(msg):
    print("FAIL: " + " / ".join(WHAT + [msg]))
    sys.stdout.flush()
    os._exit(1)


def check(cond, msg):
    if not cond:
        die(msg)


def connect(port):
    return tlsclient.connect(port, CA)


read_to_close = tlsclient.read_to_close


def split_response(data):
    i = data.find(b"\r\n\r\n")
    check(i >= 0, "no complete response head in %r" % data[:300])
    lines = data[:i].decode("latin-1").split("\r\n")
    hdrs = [tuple(x.strip() for x in l.split(":", 1)) for l in lines[1:]]
    return lines[0], hdrs, data[i + 4:]


def hval(hdrs, name):
    return [v for n, v in hdrs if n.lower() == name.lower()]


REASON = {400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large",
          501: "Not Implemented", 502: "Bad Gateway", 504: "Gateway Timeout"}


def expect_error(status, chunks, gap=0.05, lo=0.0, hi=5.0, skip_first=False):
    """Send chunks on a new connection, then expect exactly one error
    response `status` with Connection: close and a clean close, within
    [lo, hi] seconds of the last chunk. With skip_first, the first chunk is
    a complete request whose normal answer comes first."""
    s = connect(PORT)
    for i, c in enumerate(chunks):
        if i:
            time.sleep(gap)
        try:
            s.sendall(c)
        except (BrokenPipeError, ConnectionResetError):
            die("%d: tlsterm reset the connection while we were still sending" % status)
    t0 = time.monotonic()
    data, how = read_to_close(s)
    el = time.monotonic() - t0
    check(data or how != "open", "want %d: nothing came in %.0f s, the connection is still open"
          % (status, el))
    if skip_first:
        line, hdrs, rest = split_response(data)
        check(line.startswith("HTTP/1.1 200 "), "first request: %r" % data[:200])
        data = rest[int(hval(hdrs, "Content-Length")[0]):]
    line, hdrs, body = split_response(data)
    want = "HTTP/1.1 %d %s" % (status, REASON[status])
    check(line == want, "status line %r, want %r" % (line, want))
    check([v.lower() for v in hval(hdrs, "Connection")] == ["close"],
          "%d without one 'Connection: close': %r" % (status, hdrs))
    cl = hval(hdrs, "Content-Length")
    check(len(cl) == 1 and int(cl[0]) == len(body),
          "%d: Content-Length %r but %d body bytes follow (anything after the response?)"
          % (status, cl, len(body)))
    check(how == "clean", "%d: the connection ended '%s', want close_notify then EOF" % (status, how))
    check(lo <= el <= hi, "%d came after %.2f s, want %.1f-%.1f s" % (status, el, lo, hi))
    s.close()
    return "%s, Connection: close, closed cleanly after %.2f s" % (line, el)


def normal_request(s, buf, i):
    s.sendall(b"GET /normal/%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % i)
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        check(d, "normal connection closed")
        buf += d
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    cl = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1))
    while len(rest) < cl:
        d = s.recv(65536)
        check(d, "normal connection closed mid-body")
        rest += d
    buf[:] = rest[cl:]
    check(head.startswith(b"HTTP/1.1 200 "), "normal request %d: %r" % (i, head[:100]))
    e = json.loads(rest[:cl])
    check(e["target"] == "/normal/%d" % i and ["X-Forwarded-For", "127.0.0.1"] in e["headers"],
          "normal request %d: wrong answer %r" % (i, e))


def alongside(fn):
    """Run fn in a thread while a keep-alive connection makes a request
    every 50 ms; every one of them must succeed. Returns fn's result."""
    s = connect(PORT)
    buf = bytearray()
    normal_request(s, buf, 0)
    out = {}

    def run():
        out["r"] = fn()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    i = 1
    end = time.monotonic() + 20
    while t.is_alive() and time.monotonic() < end:
        normal_request(s, buf, i)
        i += 1
        time.sleep(0.05)
    t.join(1)
    check(not t.is_alive(), "case did not finish in 20 s")
    normal_request(s, buf, i)
    s.close()
    return "%s; %d concurrent requests fine" % (out["r"], i)


def head_of(size, target=b"/size"):
    """A GET head of exactly `size` bytes, CRLFCRLF included."""
    start = b"GET " + target + b" HTTP/1.1\r\nHost: localhost\r\nX-Pad: "
    pad = size - len(start) - 4
    h = start + b"p" * pad + b"\r\n\r\n"
    assert len(h) == size
    return h


def backend_saw(needle):
    return tlsclient.backend_saw(REC, needle)


def ok_through(chunks, target, gap=0.05):
    s = connect(PORT)
    for i, c in enumerate(chunks):
        if i:
            time.sleep(gap)
        s.sendall(c)
    s.sendall(b"GET /after HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    data, how = read_to_close(s)
    check(data.startswith(b"HTTP/1.1 200 "), "%s: not passed: %r" % (target, data[:200]))
    check(data.count(b"HTTP/1.1 200 ") == 2, "%s: want 2 answers: %r" % (target, data[:300]))
    check(b'"target": "%s"' % target in data, "%s: backend did not answer it" % target)
    return "passed"


def case(name):
    if name == "bad-line":
        return alongside(lambda: expect_error(400, [b"this is not http\r\n\r\n"]))
    if name == "pipelined-400":
        # A good request and a bad one in one write: the good one is
        # answered first, then the 400.
        return alongside(lambda: expect_error(
            400, [b"GET /ok HTTP/1.1\r\nHost: localhost\r\n\r\nGARBAGE\r\n\r\n"], skip_first=True))
    if name == "obs-fold":
        r = alongside(lambda: expect_error(
            400, [b"GET /fold HTTP/1.1\r\nHost: localhost\r\nX-Fold: a\r\n b\r\n\r\n"]))
        check(not backend_saw(b"/fold"), "the obs-fold request reached the backend")
        return r
    if name == "cl-te":
        r = alongside(lambda: expect_error(
            400, [b"POST /smuggle HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"]))
        check(not backend_saw(b"/smuggle"), "the CL+TE request reached the backend")
        return r
    if name == "te-gzip":
        r = alongside(lambda: expect_error(
            501, [b"POST /gz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n\r\n"]))
        check(not backend_saw(b"/gz"), "the gzip request reached the backend")
        return r
    if name == "431":
        h = head_of(int(ARGS[0]) + 1, b"/over")
        r1 = alongside(lambda: expect_error(431, [h]))
        third = len(h) // 3
        r2 = expect_error(431, [h[:third], h[third:2 * third], h[2 * third:]])
        check(not backend_saw(b"/over"), "the oversized head reached the backend")
        h = head_of(int(ARGS[0]), b"/under")
        ok_through([h], b"/under")
        ok_through([h[:third], h[third:2 * third], h[2 * third:]], b"/under")
        return "%d bytes: %s; in 3 writes: 431 too; %d bytes passes (both ways)" % (
            len(h) + 1, r1, len(h))
    if name == "408":
        # After a complete request on the connection, then as the very
        # first bytes after the handshake (while tlsterm may still be
        # connecting to the backend).
        WHAT[:] = ["half a head after a complete request"]
        r = alongside(lambda: expect_error(
            408, [b"GET /first HTTP/1.1\r\nHost: localhost\r\n\r\n",
                  b"GET /half HTTP/1.1\r\nHost: loc"], gap=0.3, lo=0.7, hi=3.0, skip_first=True))
        WHAT[:] = ["half a head as the first bytes after the handshake"]
        r = alongside(lambda: expect_error(
            408, [b"GET /half HTTP/1.1\r\nHost: loc"], lo=0.7, hi=3.0))
        WHAT[:] = []
        # An idle keep-alive connection has begun no head: not a 408.
        s = connect(PORT)
        buf = bytearray()
        normal_request(s, buf, 1)
        time.sleep(1.8)
        normal_request(s, buf, 2)
        s.close()
        return r + "; keep-alive idle 1.8 s between requests not cut"
    if name == "502-garbage":
        return alongside(lambda: expect_error(
            502, [b"GET /garbage HTTP/1.1\r\nHost: localhost\r\n\r\n"]))
    if name == "502-down":
        r = expect_error(502, [b"GET /down HTTP/1.1\r\nHost: localhost\r\n\r\n"], hi=3.0)
        expect_error(502, [b"GET /down2 HTTP/1.1\r\nHost: localhost\r\n\r\n"], hi=3.0)
        return r + " (twice)"
    if name == "504-silent":
        # As with 408: on a connection that has had a response, and as the
        # very first request.
        WHAT[:] = ["/silent after a complete request"]
        r = alongside(lambda: expect_error(
            504, [b"GET /first HTTP/1.1\r\nHost: localhost\r\n\r\n",
                  b"GET /silent HTTP/1.1\r\nHost: localhost\r\n\r\n"], gap=0.3, lo=0.7, hi=3.0,
            skip_first=True))
        WHAT[:] = ["/silent as the first request after the handshake"]
        r = alongside(lambda: expect_error(
            504, [b"GET /silent HTTP/1.1\r\nHost: localhost\r\n\r\n"], lo=0.7, hi=3.0))
        WHAT[:] = []
        return r
    if name == "504-connect":
        # The connect timer runs from the handshake, a little before our send.
        return expect_error(504, [b"GET /hang HTTP/1.1\r\nHost: localhost\r\n\r\n"], lo=0.5, hi=3.0)
    if name == "close-mid":
        def one():
            s = connect(PORT)
            s.sendall(b"GET /close-mid HTTP/1.1\r\nHost: localhost\r\n\r\n")
            data, how = read_to_close(s)
            line, hdrs, body = split_response(data)
            check(line == "HTTP/1.1 200 OK", "close-mid: %r" % line)
            check(hval(hdrs, "Content-Length") == ["100000"], "close-mid: %r" % hdrs)
            check(body == b"x" * 1000, "close-mid: %d body bytes, want the backend's 1000" % len(body))
            check(how in ("unclean", "reset"),
                  "close-mid: the truncated response ended '%s', want no close_notify" % how)
            return "1000 of 100000 bytes, then the connection ended '%s' (no close_notify)" % how
        return alongside(one)
    if name == "nolength":
        s = connect(PORT)
        s.sendall(b"GET /nolength?n=100000 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        data, how = read_to_close(s)
        line, hdrs, body = split_response(data)
        want = (b"0123456789abcdef" * 6250)[:100000]
        check(line == "HTTP/1.1 200 OK" and not hval(hdrs, "Content-Length"), "nolength: %r" % data[:200])
        check(body == want, "nolength: %d body bytes, want 100000" % len(body))
        check(how == "clean", "nolength: the close-delimited body ended '%s', want close_notify" % how)
        return "100000-byte close-delimited body whole, then close_notify"
    if name == "accesslog":
        # Three requests on one connection, with exactly known bytes.
        s = connect(PORT)
        lport = s.getsockname()[1]
        body = os.urandom(5000)
        reqs = [b"GET /al/get HTTP/1.1\r\nHost: localhost\r\n\r\n",
                b"POST /al/post HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5000\r\n\r\n" + body,
                b"GET /status/404 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"]
        got = []
        for r in reqs[:2]:
            s.sendall(r)
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += s.recv(65536)
            cl = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", buf).group(1))
            while len(buf) < buf.index(b"\r\n\r\n") + 4 + cl:
                buf += s.recv(65536)
            got.append(buf)
        s.sendall(reqs[2])
        data, how = read_to_close(s)
        got.append(data)
        want = [("GET", "/al/get", 200), ("POST", "/al/post", 200), ("GET", "/status/404", 404)]
        pat = (r'^ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z worker=(\d+) conn=(\d+) '
               r'client=127\.0\.0\.1:(\d+) tls=TLSv1\.3 cipher=(\S+) resumed=no sni=localhost '
               r'method=(\S+) path="([^"]*)" status=(\d+) in=(\d+) out=(\d+) ms=(\d+)$')
        end = time.monotonic() + 5
        while True:
            lines = open(ARGS[0]).read().splitlines()
            mine = [l for l in lines if re.search(r' path="/(al/|status/404)', l)]
            if len(mine) >= 3 or time.monotonic() > end:
                break
            time.sleep(0.05)
        check(len(mine) == 3, "want 3 access-log lines for this connection, have %r" % mine)
        conns = set()
        for (m, p, st), line, r, g in zip(want, mine, reqs, got):
            x = re.match(pat, line)
            check(x, "access-log line not in the documented format: %r" % line)
            check((x.group(6), x.group(7), int(x.group(8))) == (m, p, st),
                  "want method=%s path=%s status=%d: %r" % (m, p, st, line))
            check(int(x.group(4)) == lport, "client port %s, the client's is %d: %r" % (x.group(4), lport, line))
            check(int(x.group(9)) == len(r), "in=%s, the client sent %d bytes: %r" % (x.group(9), len(r), line))
            check(int(x.group(10)) == len(g), "out=%s, the client got %d bytes: %r" % (x.group(10), len(g), line))
            conns.add((x.group(2), x.group(3)))
        check(len(conns) == 1, "one connection logged under several worker/conn ids: %r" % conns)
        return "3 lines, method/path/status right, in= and out= exact, client port %d" % lport
    die("unknown case " + name)


PORT = int(sys.argv[2])
ARGS = sys.argv[3:]
print(case(sys.argv[1]))
PY

export HE_CA=$CERTS/ca.pem HE_REC=$T/rec HE_TOOLS=$TOOLS
he() { "$PYTHON3" "$T/he.py" "$@"; }

# E: a working backend, small limits, short timeouts, an access log file.
port=$(free_port)
start_tlsterm --listen "127.0.0.1:$port" --backend "127.0.0.1:$REC_PORT" "${certs[@]}" \
  --workers 2 --drain-timeout 2s --max-header-size 2048 --request-timeout 1s \
  --backend-timeout 1s --access-log "$T/access.log"

for c in bad-line pipelined-400 obs-fold cl-te te-gzip 408 502-garbage 504-silent close-mid nolength; do
  out=$(he "$c" "$port") || fail "$c: $out"
  pass "$c: $out"
done
out=$(he 431 "$port" 2048) || fail "431: $out"
pass "--max-header-size 2048: $out"

# curl's view of the truncated and the close-delimited responses.
status=0
tcurl "$port" /close-mid -o "$T/closemid.out" 2>"$T/closemid.err" || status=$?
case $status in
  18 | 56) pass "close-mid: curl exit $status ($(tr -d '\n' <"$T/closemid.err"))" ;;
  0) fail "close-mid: curl exit 0 for a response cut after 1000 of 100000 bytes" ;;
  *) fail "close-mid: curl exit $status, want 18 or 56: $(cat "$T/closemid.err")" ;;
esac
tcurl "$port" '/nolength?n=300000' -o "$T/nolength.out" 2>"$T/nolength.err" ||
  fail "nolength: curl exit $?: $(cat "$T/nolength.err")"
[ "$(stat -c %s "$T/nolength.out")" = 300000 ] || fail "nolength: curl got $(stat -c %s "$T/nolength.out") bytes"
pass "nolength: curl exit 0, 300000 bytes"

out=$(he accesslog "$port" "$T/access.log") || fail "access log: $out"
pass "--access-log FILE: $out"
# Requests that got an error from tlsterm after being parsed are logged too.
for pair in '/silent 504' '/garbage 502' '/close-mid 200'; do
  read -r p st <<<"$pair"
  n=$(grep -c " method=GET path=\"$p\" status=$st " "$T/access.log" || true)
  [ "$n" -ge 1 ] || fail "access log: no 'path=\"$p\" status=$st' line: $(grep "path=\"$p\"" "$T/access.log" || true)"
done
bad=$(grep -Ev '^ts=[0-9T:.-]+Z worker=[0-9]+ conn=[0-9]+ client=[0-9.]+:[0-9]+ tls=TLSv1\.[23] cipher=[^ ]+ resumed=(yes|no) sni=[^ ]* method=[^ ]+ path="[^"]*" status=[0-9]+ in=[0-9]+ out=[0-9]+ ms=[0-9]+$' \
  "$T/access.log" || true)
[ -z "$bad" ] || fail "access log lines not in the documented format: $bad"
! grep -q 'path="/normal/' "$TLSTERM_LOG" || fail "access-log lines went to the error log"
pass "access log: 504, 502 and the cut response logged; every line well-formed ($(wc -l <"$T/access.log") lines)"
assert_alive
stop_tlsterm 10

# D: backend down: 502, twice, and tlsterm carries on.
down_port=$(free_port)
port=$(free_port)
start_tlsterm --listen "127.0.0.1:$port" --backend "127.0.0.1:$down_port" "${certs[@]}" \
  --workers 1 --drain-timeout 2s
out=$(he 502-down "$port") || fail "502-down: $out"
pass "backend down: $out"
assert_alive
stop_tlsterm 10

# H: a backend whose connect hangs: faultload.py's blackhole, a listener
# with backlog 0 that never accepts, its queue filled, so that Linux drops
# further SYNs and a connect neither succeeds nor fails. If this host
# accepts them anyway, the tool exits 1 and the case is skipped.
"$PYTHON3" "$TOOLS/faultload.py" blackhole --port-file "$T/blackhole.port" 2>>"$T/blackhole.log" &
bh_pid=$!
track_pid "$bh_pid"
bh_port=
for ((i = 0; i < 300; i++)); do
  [ -s "$T/blackhole.port" ] && read -r bh_port <"$T/blackhole.port" && break
  kill -0 "$bh_pid" 2>/dev/null || break
  sleep 0.05
done
[ -n "$bh_port" ] || ! kill -0 "$bh_pid" 2>/dev/null ||
  hard_error "blackhole did not start: $(cat "$T/blackhole.log")"
if [ -n "$bh_port" ]; then
  port=$(free_port)
  start_tlsterm --listen "127.0.0.1:$port" --backend "127.0.0.1:$bh_port" "${certs[@]}" \
    --workers 1 --drain-timeout 2s --backend-connect-timeout 1s
  out=$(he 504-connect "$port") || fail "504-connect: $out"
  pass "--backend-connect-timeout 1s: $out"
  assert_alive
  stop_tlsterm 10
else
  echo "# a full listen queue does not make connect hang here: 504-connect case skipped"
fi

# S: --access-log - writes the lines to stdout, not to the error log.
port=$(free_port)
start_tlsterm --listen "127.0.0.1:$port" --backend "127.0.0.1:$REC_PORT" "${certs[@]}" \
  --workers 1 --drain-timeout 2s --access-log -
out_file=${TLSTERM_LOG%.log}.out
tcurl "$port" /to-stdout -o /dev/null || fail "curl for the stdout access log failed"
for ((i = 0; i < 100; i++)); do
  grep -q 'path="/to-stdout" status=200 ' "$out_file" && break
  sleep 0.05
done
grep -q ' method=GET path="/to-stdout" status=200 ' "$out_file" ||
  fail "--access-log -: no line on stdout: $(cat "$out_file")"
! grep -q 'path="/to-stdout"' "$TLSTERM_LOG" || fail "--access-log -: the line also went to stderr"
pass "--access-log - writes to stdout"
stop_tlsterm 10

# T: a backend that accepts and closes at once, before the first request
# reaches it: the request that comes after gets a 502, not a connection
# closed without a response (clients do not retry a first request).
cat >"$T/closer.py" <<'PY'
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
open(sys.argv[1], "w").write("%d\n" % s.getsockname()[1])
s.settimeout(30)
try:
    while True:
        c, _ = s.accept()
        c.close()
except socket.timeout:
    pass
PY
"$PYTHON3" "$T/closer.py" "$T/closer.port" &
track_pid "$!"
wait_file "$T/closer.port" 10 || hard_error "the closing backend did not start"
read -r closer_port <"$T/closer.port"
port=$(free_port)
start_tlsterm --listen "127.0.0.1:$port" --backend "127.0.0.1:$closer_port" "${certs[@]}" \
  --workers 1 --drain-timeout 2s
cat >"$T/late.py" <<'PY'
import socket, ssl, sys, time
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                    server_hostname="localhost")
time.sleep(0.5)  # the backend connection is up and closed by now
s.sendall(b"GET /late HTTP/1.1\r\nHost: localhost\r\n\r\n")
data = b""
try:
    while True:
        d = s.recv(4096)
        if not d:
            break
        data += d
except (ssl.SSLError, ConnectionError):
    pass
print(data.split(b"\r\n")[0].decode(errors="replace") or "no response")
PY
out=$("$PYTHON3" "$T/late.py" "$port" "$CERTS/ca.pem")
[ "$out" = "HTTP/1.1 502 Bad Gateway" ] ||
  fail "backend closed before the first request: the request got '$out', want a 502"
grep -q 'msg="backend closed before the first request"' "$TLSTERM_LOG" ||
  fail "no 'backend closed before the first request' log line"
pass "backend closed before the first request: the request gets $out"
stop_tlsterm 10
