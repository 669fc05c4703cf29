#!/usr/bin/env bash
# limits.sh: request heads just under and just over every limit of --mode
# http, while normal clients make requests (a new TLS connection and a
# request every 100 ms, each must succeed). Over a limit, the answer is
# exactly one "HTTP/1.1 <status> <reason>" with Connection: close, then a
# clean close, and nothing reaches the backend; under it, the backend
# answers 200.
#  - --max-header-size (request line and headers, CRLFCRLF included) at
#    1024 (its minimum), 16384 (the default) and 1048576 (its maximum):
#    a head of exactly the limit passes, one byte more is 431, in one write
#    and in pieces; 1023 and 1048577 are refused at start (exit 2);
#  - header lines: 100 pass, 101 are 431 (however short);
#  - the request line alone: a target that brings the head to the limit
#    passes, one byte more is 431; the access log keeps the first 256
#    bytes of a long target;
#  - chunk sizes and Content-Length: 2^64 - 1 is taken (forwarded), 2^64
#    is 400; 16 hex digits of chunk size with leading zeros are taken; a
#    chunk size that is not hex is 400; the 400 comes at once although the
#    request's head has reached the backend already;
#  - pipelining: 16, 17 and 64 requests in one write are all answered, in
#    order; with a slow backend, exactly 16 reach it before the first
#    response completes;
#  - --request-timeout 2s: a head trickled in over ~1.2 s passes; one that
#    would take ~5 s gets 408 at 2 s (the deadline is not moved by each
#    byte), not at 5.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

gen_certs
start_backend --listen 127.0.0.1:0
start_recorder
mapfile -t certs < <(cert_args)

cat >"$T/lim.py" <<'PY'
import glob, hashlib, json, os, re, socket, ssl, sys, time

sys.path.insert(0, os.environ["LIM_TOOLS"])
import tlsclient  # noqa: E402

CA = os.environ["LIM_CA"]
REC = os.environ.get("LIM_REC", "")
PORT = int(sys.argv[2])
ARGS = sys.argv[3:]
REASON = {400: "Bad Request", 408: "Request Timeout",
          431: "Request Header Fields Too Large"}


def die(msg):
    print("FAIL: " + msg)
    sys.stdout.flush()
    os._exit(1)


def connect():
    return tlsclient.connect(PORT, CA)


read_to_close = tlsclient.read_to_close


def responses(data):
    """[(status line, headers dict, body)] of the complete responses."""
    out = []
    while data:
        i = data.find(b"\r\n\r\n")
        if i < 0:
            die("incomplete response head: %r" % data[:200])
        lines = data[:i].decode("latin-1").split("\r\n")
        hdrs = {}
        for l in lines[1:]:
            k, v = l.split(":", 1)
            hdrs.setdefault(k.strip().lower(), []).append(v.strip())
        n = int(hdrs.get("content-length", ["0"])[0])
        out.append((lines[0], hdrs, data[i + 4:i + 4 + n]))
        data = data[i + 4 + n:]
    return out


def send(chunks, gap=0.05):
    s = connect()
    t = time.monotonic()
    for i, c in enumerate(chunks):
        if i:
            time.sleep(gap)
        try:
            s.sendall(c)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            die("reset while sending")
    t_last = time.monotonic()
    data, how = read_to_close(s)
    s.close()
    return data, how, t_last - t, time.monotonic() - t_last


def expect_error(status, chunks, gap=0.05, hi=2.0):
    data, how, _, el = send(chunks, gap)
    r = responses(data)
    want = "HTTP/1.1 %d %s" % (status, REASON[status])
    if len(r) != 1 or r[0][0] != want:
        die("want exactly one %r, got %r (after %.1f s)" % (want, data[:300], el))
    if el > hi:
        die("%d came %.2f s after the last byte, want at once" % (status, el))
    if r[0][1].get("connection") != ["close"]:
        die("%d without Connection: close: %r" % (status, r[0][1]))
    if how != "clean":
        die("%d: the connection ended %s, want close_notify then EOF" % (status, how))
    return el


def expect_ok(chunks, gap=0.05, target=b"/hello"):
    """chunks end with a request; a second one asking to close follows."""
    data, how, _, _ = send(chunks + [b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"], gap)
    r = responses(data)
    if len(r) != 2 or not all(x[0].startswith("HTTP/1.1 200 ") for x in r):
        die("want two 200s, got %r" % data[:300])
    return r


def head(size, target=b"/hello", nlines=1, extra=b""):
    """A GET head of exactly `size` bytes: padding spread over nlines
    X-Pad header lines."""
    start = b"GET " + target + b" HTTP/1.1\r\nHost: localhost\r\n" + extra
    fixed = len(start) + 4 + nlines * len(b"X-Pad-00: \r\n") - 2
    pad = size - fixed
    if pad < nlines:
        die("head of %d bytes cannot hold %d lines" % (size, nlines))
    per = [pad // nlines + (1 if i < pad % nlines else 0) for i in range(nlines)]
    lines = b"\r\n".join(b"X-Pad-%02d: " % i + b"p" * n for i, n in enumerate(per))
    h = start + lines + b"\r\n\r\n"
    assert len(h) == size, (len(h), size)
    return h


def thirds(b):
    n = len(b) // 3
    return [b[:n], b[n:2 * n], b[2 * n:]]


def no_answer(request, what, want):
    """REQUEST goes out and nothing comes back within 1.5 s: it has been
    forwarded (WANT says what is expected instead of an answer)."""
    s = connect()
    s.sendall(request)
    s.settimeout(1.5)
    try:
        d = s.recv(4096)
    except socket.timeout:
        d = None
    s.close()
    if d is not None:
        die("%s got an answer %r; want it %s" % (what, d[:100], want))


def case(name):
    if name == "head-size":
        limit = int(ARGS[0])
        nl = max(1, limit // 60000)  # backend.py takes lines up to 64 KiB
        under, over = head(limit, nlines=nl), head(limit + 1, nlines=nl)
        expect_ok([under])
        expect_ok(thirds(under))
        expect_error(431, [over])
        expect_error(431, thirds(over))
        return "%d bytes: 200 (one write and three); %d bytes: 431 (both ways)" % (limit, limit + 1)
    if name == "header-count":
        h100 = b"GET /hello HTTP/1.1\r\nHost: localhost\r\n" + b"".join(b"a%d:\r\n" % i for i in range(99)) + b"\r\n"
        h101 = b"GET /hello HTTP/1.1\r\nHost: localhost\r\n" + b"".join(b"a%d:\r\n" % i for i in range(100)) + b"\r\n"
        expect_ok([h100])
        expect_error(431, [h101])
        expect_error(431, thirds(h101))
        return "100 header lines (%d bytes): 200; 101 (%d bytes): 431" % (len(h100), len(h101))
    if name == "request-line":
        limit = int(ARGS[0])
        base = b"GET /hello? HTTP/1.1\r\nHost: localhost\r\n\r\n"
        n = limit - len(base)
        under = base.replace(b"?", b"?" + b"q" * n)
        over = base.replace(b"?", b"?" + b"q" * (n + 1))
        assert len(under) == limit
        expect_ok([under])
        expect_error(431, [over])
        return "request line of %d bytes (head %d): 200; one byte more: 431" % (
            under.index(b"\r\n"), len(under))
    if name == "chunked":
        def post(size_line, body):
            return (b"POST /sha256 HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + size_line + b"\r\n" + body)
        # Leading zeros: 16 and 20 hex digits of a small size.
        r = expect_ok([post(b"0" * 15 + b"5", b"hello\r\n0\r\n\r\n")])
        e = json.loads(r[0][2])
        if e["body_len"] != 5 or e["body_sha256"] != hashlib.sha256(b"hello").hexdigest():
            die("chunked with a 16-digit size: backend saw %r" % e)
        zeros = "16-digit chunk size: forwarded, body intact"
        # The largest size llhttp takes, and one more; a size that is not
        # hex. The head has gone to the backend already: the 400 must not
        # wait for a response that cannot come.
        expect_error(400, [post(b"10000000000000000", b"x")])
        expect_error(400, [post(b"zz", b"hello\r\n0\r\n\r\n")])
        data, how, _, el = send([b"GET /first HTTP/1.1\r\nHost: localhost\r\n\r\n" + post(b"zz", b"x")])
        r = responses(data)
        if [x[0][:12] for x in r] != ["HTTP/1.1 200", "HTTP/1.1 400"] or el > 2.0:
            die("a good request, then a bad chunk size: got %r after %.1f s" % ([x[0] for x in r], el))
        no_answer(post(b"ffffffffffffffff", b"x" * 100), "chunk size 2^64-1",
                  "forwarded and waiting for the body")
        return ("%s; chunk size 2^64-1 forwarded (no answer); 2^64 and 'zz': 400 at once (also after"
                " a pipelined good request, answered first)" % zeros)
    if name == "content-length":
        no_answer(b"POST /sha256 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 18446744073709551615\r\n\r\nxx",
                  "Content-Length 2^64-1", "forwarded")
        expect_error(400, [b"POST /sha256 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 18446744073709551616\r\n\r\n"])
        return "Content-Length 2^64-1 forwarded (no answer), 2^64: 400"
    if name == "pipeline":
        out = []
        for n in (16, 17, 64):
            reqs = b"".join(b"GET /p/%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % i for i in range(n - 1))
            reqs += b"GET /p/%d HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % (n - 1)
            data, how, _, _ = send([reqs])
            r = responses(data)
            targets = [re.search(rb'"target": "([^"]*)"', x[2]).group(1) for x in r]
            if targets != [b"/p/%d" % i for i in range(n)] or how != "clean":
                die("%d pipelined: got %d answers %r, ended %s" % (n, len(r), targets[:5], how))
            out.append(str(n))
        # A slow backend: only 16 may be forwarded before a response.
        tag = b"slow%d" % os.getpid()
        s = connect()
        reqs = b"".join(b"GET /%s/%d?delay_ms=250 HTTP/1.1\r\nHost: localhost\r\n\r\n" % (tag, i)
                        for i in range(17))
        s.sendall(reqs)
        time.sleep(0.15)
        seen = 0
        for f in glob.glob(os.path.join(REC, "conn-*.bin")):
            with open(f, "rb") as fh:
                seen = max(seen, fh.read().count(b"GET /" + tag + b"/"))
        s.settimeout(20)
        got = b""
        while got.count(b"HTTP/1.1 200 ") < 17:
            d = s.recv(65536)
            if not d:
                die("slow pipeline: closed after %d answers" % got.count(b"HTTP/1.1 200 "))
            got += d
        s.close()
        if seen != 16:
            die("17 pipelined to a slow backend: %d forwarded before the first response, want 16" % seen)
        return ("%s pipelined in one write: all answered in order; 17 to a slow backend: 16 forwarded "
                "at once, the 17th after the first response" % "/".join(out))
    if name == "request-timeout":
        h = b"GET /hello HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"s" * 8 + b"\r\n\r\n"
        # Under: the head trickles in 12 pieces 0.1 s apart (~1.2 s).
        step = (len(h) + 11) // 12
        pieces = [h[i:i + step] for i in range(0, len(h), step)]
        data, how, sending, _ = send(pieces + [b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"], 0.1)
        r = responses(data)
        if len(r) != 2 or not all(x[0].startswith("HTTP/1.1 200 ") for x in r):
            die("head trickled over %.1f s: want two 200s, got %r" % (sending, data[:200]))
        under = sending
        # Over: one byte every 0.1 s of a 50-byte head would take 5 s.
        s = connect()
        h = b"GET /hello HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"s" * 8 + b"\r\n\r\n"
        t0 = time.monotonic()
        data = b""
        how = "open"
        s.settimeout(0.1)
        for i in range(len(h) - 1):
            try:
                s.sendall(h[i:i + 1])
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                break
            try:
                d = s.recv(65536)
                if not d:
                    how = "clean"
                    break
                data += d
                if b"\r\n\r\n" in data:
                    break
            except socket.timeout:
                pass
            except ssl.SSLError:
                how = "ssl-error"
                break
        el = time.monotonic() - t0
        more, how = read_to_close(s)
        data += more
        s.close()
        r = responses(data)
        if len(r) != 1 or r[0][0] != "HTTP/1.1 408 Request Timeout" or how != "clean":
            die("head trickled past --request-timeout: got %r, ended %s" % (data[:200], how))
        if not 1.7 <= el <= 3.5:
            die("408 came %.2f s after the head began, want 2 s" % el)
        return "head complete after %.1f s: 200; head trickled 1 byte/0.1 s: 408 after %.2f s" % (under, el)
    if name == "accesslog":
        target = b"/hello?" + b"t" * 400
        expect_ok([b"GET " + target + b" HTTP/1.1\r\nHost: localhost\r\n\r\n"])
        log = ARGS[0]
        for _ in range(40):
            with open(log, "rb") as f:
                lines = [l for l in f.read().split(b"\n") if b"path=\"/hello?ttt" in l]
            if lines:
                break
            time.sleep(0.05)
        if not lines:
            die("no access-log line for the long target")
        p = re.search(rb'path="([^"]*)"', lines[-1]).group(1)
        if p != target[:256]:
            die("access log path is %d bytes, want the first 256 of %d" % (len(p), len(target)))
        return "a %d-byte target is logged as its first 256 bytes" % len(target)
    die("unknown case " + name)


print(case(sys.argv[1]))
PY

lim() {
  LIM_CA=$CERTS/ca.pem LIM_REC=$T/rec LIM_TOOLS=$TOOLS "$PYTHON3" "$T/lim.py" "$@"
}

# run CASE ARGS...: one lim.py case; its line is a pass.
run() {
  local out
  out=$(lim "$1" "$port" "${@:2}") || fail "$1: $out"
  pass "$1: $out"
}

port=$(free_port)
expect_exit2 "--max-header-size 1023" '^tlsterm: --max-header-size' --listen "127.0.0.1:$port" \
  --backend "127.0.0.1:$BACKEND_PORT" "${certs[@]}" --max-header-size 1023
expect_exit2 "--max-header-size 1048577" '^tlsterm: --max-header-size' --listen "127.0.0.1:$port" \
  --backend "127.0.0.1:$BACKEND_PORT" "${certs[@]}" --max-header-size 1048577

# The default limits (16384-byte heads, 100 header lines), the maximum and
# the minimum --max-header-size, each on its own tlsterm.
for limit in default 1048576 1024; do
  port=$(free_port)
  args=()
  [ "$limit" = default ] || args=(--max-header-size "$limit")
  start_tlsterm --listen "127.0.0.1:$port" --backend "127.0.0.1:$BACKEND_PORT" "${certs[@]}" \
    --workers 2 --drain-timeout 2s "${args[@]}"
  probe_start
  size=${limit/default/16384}
  run head-size "$size"
  # (The backend takes request lines up to 64 KiB only.)
  [ "$limit" = 1048576 ] || run request-line "$size"
  probe_stop "--max-header-size $limit"
  echo "# alongside: $PROBE"
  assert_alive
  stop_tlsterm 10
done

# Header lines, bodies, pipelining, --request-timeout and the access log,
# against the recording backend (which takes any number of header lines).
port=$(free_port)
start_tlsterm --listen "127.0.0.1:$port" --backend "127.0.0.1:$REC_PORT" "${certs[@]}" \
  --workers 2 --drain-timeout 2s --request-timeout 2s --access-log "$T/access.log"
probe_start --any-body
run header-count
run chunked
run content-length
run pipeline
run request-timeout
run accesslog "$T/access.log"
probe_stop "header lines, bodies, pipelining, timeout, access log"
echo "# alongside: $PROBE"
assert_alive
stop_tlsterm 10
