#!/usr/bin/env bash
# http_headers.sh: --mode http (the default) rewrites every request head and
# nothing else. Behind tlsterm sits tests/tools/recorder.py, which saves the
# exact bytes each backend connection received, so every check compares
# what the backend got with what the client sent:
#  - X-Forwarded-For/-Proto/-Port are added (curl, and a python TLS client);
#  - client-sent copies of the headers tlsterm owns (mixed case) are removed,
#    every other byte of the head is unchanged, the added lines come last;
#  - --xff append keeps the client's X-Forwarded-For values and appends ours;
#    --forwarded adds Forwarded: for=...;proto=https;host=...;
#  - 100 keep-alive requests on one connection and 5 pipelined requests in
#    one TLS write are each rewritten, answered in order;
#  - a chunked body that looks like a request passes byte-exact; a chunked
#    response too, and HEAD, 204 and 304 answers keep keep-alive in step;
#  - Expect: 100-continue works through tlsterm;
#  - --hsts adds Strict-Transport-Security once, never a second one;
#  - an IPv6 client's address is its X-Forwarded-For (skipped without ::1).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"


gen_certs
start_recorder
mapfile -t certs < <(cert_args)
v6=0
if have_ipv6; then v6=1; fi

# Instance A: the defaults (--xff replace, no Forwarded, no HSTS).
port_a=$(free_port)
listen_a=(--listen "127.0.0.1:$port_a")
[ "$v6" = 1 ] && listen_a+=(--listen "[::1]:$port_a")
start_tlsterm "${listen_a[@]}" --backend "127.0.0.1:$REC_PORT" "${certs[@]}" \
  --workers 2 --drain-timeout 2s
pid_a=$TLSTERM_PID log_a=$TLSTERM_LOG

# Instance B: --xff append --forwarded --hsts 60.
port_b=$(free_port)
listen_b=(--listen "127.0.0.1:$port_b")
[ "$v6" = 1 ] && listen_b+=(--listen "[::1]:$port_b")
start_tlsterm "${listen_b[@]}" --backend "127.0.0.1:$REC_PORT" "${certs[@]}" \
  --workers 2 --drain-timeout 2s --xff append --forwarded --hsts 60
pid_b=$TLSTERM_PID log_b=$TLSTERM_LOG

# The python TLS client. `hh.py CASE PORT` runs one scenario and checks it;
# it prints "FAIL: ..." and exits 1 on the first mismatch. `hh.py headers
# FILE` prints the headers of a recorder JSON answer as "Name: value" lines.
cat >"$T/hh.py" <<'PY'
import hashlib, json, os, socket, ssl, sys, time

CA = os.environ["HH_CA"]
REC = os.environ["HH_REC"]
DEADLINE = time.monotonic() + 40  # no scenario may take longer


def die(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        die(msg)


def connect(port, host="127.0.0.1"):
    ctx = ssl.create_default_context(cafile=CA)
    raw = socket.create_connection((host, port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)


class Reader:
    def __init__(self, s):
        self.s, self.buf = s, bytearray()

    def fill(self):
        check(time.monotonic() < DEADLINE, "scenario took too long")
        data = self.s.recv(65536)
        check(data, "connection closed early; have %r" % bytes(self.buf[:200]))
        self.buf += data

    def until(self, delim):
        while delim not in self.buf:
            check(len(self.buf) < 1 << 20, "no %r in 1 MiB" % delim)
            self.fill()
        i = self.buf.index(delim) + len(delim)
        out = bytes(self.buf[:i])
        del self.buf[:i]
        return out

    def exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def response(self):
        """Next final response: (status, [(name, value)], body, raw head);
        interim (1xx) responses are skipped."""
        while True:
            head = self.until(b"\r\n\r\n")
            lines = head[:-4].decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ")[1])
            hdrs = [tuple(x.strip() for x in l.split(":", 1)) for l in lines[1:]]
            if status >= 200:
                break
        cl = [v for n, v in hdrs if n.lower() == "content-length"]
        check(len(cl) == 1, "response without one Content-Length: %r" % head)
        return status, hdrs, self.exact(int(cl[0])), head


def echo(body):
    return json.loads(body)


def recorded(conn):
    with open(os.path.join(REC, "conn-%d.bin" % conn), "rb") as f:
        return f.read()


def head_lines(head):
    """CRLF-terminated lines of a head, without the final empty line."""
    assert head.endswith(b"\r\n\r\n")
    return [l + b"\r\n" for l in head[:-4].split(b"\r\n")]


OWNED = [b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-port", b"forwarded",
         b"x-client-verify", b"x-client-subject", b"x-client-fingerprint-sha256",
         b"x-client-cert"]


def name(line):
    return line.split(b":", 1)[0].lower()


def added_lines(port, ip="127.0.0.1"):
    return {b"X-Forwarded-For: " + ip.encode() + b"\r\n",
            b"X-Forwarded-Proto: https\r\n",
            b"X-Forwarded-Port: %d\r\n" % port}


def check_rewrite(sent, got, added, keep_xff_anywhere=False, what="head"):
    """got (the head the backend saw) must be sent minus the owned header
    lines, byte-exact, then exactly the `added` lines (any order), then the
    blank line. With keep_xff_anywhere, X-Forwarded-For lines are compared
    separately by the caller (--xff append may merge them)."""
    s_lines, g_lines = head_lines(sent), head_lines(got)
    if keep_xff_anywhere:
        g_lines = [l for l in g_lines if name(l) != b"x-forwarded-for"]
    kept = [l for l in s_lines if name(l) not in OWNED]
    check(g_lines[:len(kept)] == kept,
          "%s: the client's lines were not kept byte-exact:\nsent %r\ngot  %r" % (what, sent, got))
    tail = g_lines[len(kept):]
    check(len(tail) == len(added) and set(tail) == added,
          "%s: added lines %r, want %r (in any order)" % (what, tail, sorted(added)))


def xff_values(head):
    vals = []
    for l in head_lines(head):
        if name(l) == b"x-forwarded-for":
            vals.append(l.split(b":", 1)[1].strip().decode())
    return vals


def exchange(s, rd, req):
    s.sendall(req)
    return rd.response()


def backend_head(conn, request_line):
    """The head the backend saw on conn that starts with request_line (the
    first line of a request the client sent; each is unique here)."""
    data = recorded(conn)
    start = data.find(request_line)
    check(start >= 0, "backend connection %d never got %r" % (conn, request_line))
    check(data.find(request_line, start + 1) < 0, "backend got %r twice" % request_line)
    return data[start:data.index(b"\r\n\r\n", start) + 4]


def first_line(req):
    return req[:req.index(b"\r\n") + 2]


def case_strip(port):
    head = (b"GET /strip/p?q=1&r=%20x HTTP/1.1\r\n"
            b"Host: localhost\r\n"
            b"x-forwarded-for: 6.6.6.6\r\n"
            b"User-Agent: hh/1 (test)\r\n"
            b"X-FORWARDED-PROTO: http\r\n"
            b"X-Odd:   spaced   value  \r\n"
            b"forwarded: for=6.6.6.6;proto=http\r\n"
            b"x-ClIeNt-VeRiFy: SUCCESS\r\n"
            b"X-Forwarded-Port: 1\r\n"
            b"X-Client-Subject: CN=evil\r\n"
            b"X-CLIENT-FINGERPRINT-SHA256: 00ff\r\n"
            b"x-client-cert: abc\r\n"
            b"X-Forwarded-Host: keep.me\r\n"
            b"X-Forwarded-Forx: keep-similar-name\r\n"
            b"X-Empty:\r\n"
            b"X-Tab:\tvalue\twith tab\r\n"
            b"Accept: */*\r\n"
            b"\r\n")
    s = connect(port)
    rd = Reader(s)
    status, hdrs, body, _ = exchange(s, rd, head)
    check(status == 200, "status %d" % status)
    e = echo(body)
    got = recorded(e["conn"])
    check(got.endswith(b"\r\n\r\n") and got.count(b"\r\n\r\n") == 1,
          "backend got more than one head: %r" % got)
    check_rewrite(head, got, added_lines(port))
    check(not any(n.lower() == "strict-transport-security" for n, _ in hdrs),
          "Strict-Transport-Security without --hsts: %r" % hdrs)
    s.close()
    print("stripped 8 owned headers (mixed case), added 3, rest byte-exact")


def case_append(port):
    s = connect(port)
    rd = Reader(s)
    # 1: one client X-Forwarded-For line; other owned headers still go.
    h1 = (b"GET /append/1 HTTP/1.1\r\nHost: localhost\r\n"
          b"X-Forwarded-For: 10.0.0.1, 10.0.0.2\r\nx-forwarded-proto: http\r\n"
          b"Forwarded: for=6.6.6.6\r\nX-Client-Verify: SUCCESS\r\nX-Keep: 1\r\n\r\n")
    # 2: two X-Forwarded-For lines, Host with a port (quoted in Forwarded).
    h2 = (b"GET /append/2 HTTP/1.1\r\nHost: localhost:%d\r\n"
          b"x-forwarded-for: 10.0.0.1\r\nX-Keep: 2\r\n"
          b"X-FORWARDED-FOR: 10.0.0.2, 10.0.0.3\r\n\r\n" % port)
    # 3: none: ours alone.
    h3 = b"GET /append/3 HTTP/1.1\r\nHost: localhost\r\n\r\n"
    # 4: HTTP/1.0 without Host: Forwarded's host= is the SNI name.
    h4 = b"GET /append/4 HTTP/1.0\r\nX-Keep: 4\r\n\r\n"
    cases = [(h1, ["10.0.0.1, 10.0.0.2"], "localhost"),
             (h2, ["10.0.0.1", "10.0.0.2, 10.0.0.3"], '"localhost:%d"' % port),
             (h3, [], "localhost"),
             (h4, [], "localhost")]
    conn = None
    for i, (h, client_xff, host) in enumerate(cases):
        status, hdrs, body, _ = exchange(s, rd, h)
        check(status == 200, "request %d: status %d" % (i + 1, status))
        e = echo(body)
        conn = conn or e["conn"]
        check(e["conn"] == conn, "request %d went to another backend connection" % (i + 1))
        got = backend_head(conn, first_line(h))
        fwd = b"Forwarded: for=127.0.0.1;proto=https;host=%s\r\n" % host.encode()
        check_rewrite(h, got, {b"X-Forwarded-Proto: https\r\n",
                               b"X-Forwarded-Port: %d\r\n" % port, fwd},
                      keep_xff_anywhere=True, what="request %d" % (i + 1))
        want = ", ".join(client_xff + ["127.0.0.1"])
        have = xff_values(got)
        check(", ".join(have) == want and have[-1].endswith("127.0.0.1"),
              "request %d: X-Forwarded-For values %r, want %r" % (i + 1, have, want))
        sts = [v for n, v in hdrs if n.lower() == "strict-transport-security"]
        check(sts == ["max-age=60"], "request %d: --hsts 60 gave %r" % (i + 1, sts))
    s.close()
    print("append: client values kept and ours appended; Forwarded for/proto/host")


def case_keepalive(port):
    s = connect(port)
    rd = Reader(s)
    conn = None
    body = b"\r\nX-Forwarded-For: 6.6.6.6\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"
    posts = 0
    for i in range(100):
        if i % 10 == 9:
            req = (b"POST /ka/%d HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n"
                   % (i, len(body)) + body)
            posts += 1
        else:
            req = b"GET /ka/%d HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n" % i
        status, _, rbody, _ = exchange(s, rd, req)
        check(status == 200, "request %d: status %d" % (i, status))
        e = echo(rbody)
        conn = conn or e["conn"]
        check(e["conn"] == conn, "request %d on another backend connection" % i)
        check(e["target"] == "/ka/%d" % i, "request %d: answer for %s" % (i, e["target"]))
        xff = [v for n, v in e["headers"] if n.lower() == "x-forwarded-for"]
        check(xff == ["127.0.0.1"], "request %d: X-Forwarded-For %r" % (i, xff))
        if i % 10 == 9:
            check(e["body_sha256"] == hashlib.sha256(body).hexdigest(),
                  "request %d: body changed" % i)
    s.close()
    data = recorded(conn)
    n_xff = data.count(b"\r\nX-Forwarded-For: 127.0.0.1\r\n")
    n_proto = data.count(b"\r\nX-Forwarded-Proto: https\r\n")
    n_port = data.count(b"\r\nX-Forwarded-Port: %d\r\n" % port)
    # The POST bodies carry one 6.6.6.6 each; every GET's copy was removed.
    n_evil = data.count(b"X-Forwarded-For: 6.6.6.6")
    check(n_xff == 100 and n_proto == 100 and n_port == 100,
          "backend saw XFF %d, Proto %d, Port %d times, want 100 each" % (n_xff, n_proto, n_port))
    check(n_evil == posts, "client X-Forwarded-For seen %d times, want %d (in bodies)" % (n_evil, posts))
    print("100 keep-alive requests on one connection, each rewritten")


def case_pipeline(port):
    body = b"0123456789" * 30
    reqs = [b"GET /pipe/1 HTTP/1.1\r\nHost: localhost\r\n\r\n",
            b"POST /pipe/2 HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n" % len(body) + body,
            b"GET /pipe/3 HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-Proto: http\r\n\r\n",
            b"GET /pipe/4?delay_ms=100 HTTP/1.1\r\nHost: localhost\r\n\r\n",
            b"GET /pipe/5 HTTP/1.1\r\nHost: localhost\r\n\r\n"]
    s = connect(port)
    rd = Reader(s)
    s.sendall(b"".join(reqs))  # one write: one TLS record
    conn = None
    for i in range(5):
        status, _, rbody, _ = rd.response()
        check(status == 200, "pipelined %d: status %d" % (i + 1, status))
        e = echo(rbody)
        conn = conn or e["conn"]
        check(e["target"].startswith("/pipe/%d" % (i + 1)) and e["n"] == i + 1,
              "answer %d is for %s (n=%d): out of order" % (i + 1, e["target"], e["n"]))
        xff = [v for n, v in e["headers"] if n.lower() == "x-forwarded-for"]
        proto = [v for n, v in e["headers"] if n.lower() == "x-forwarded-proto"]
        check(xff == ["127.0.0.1"] and proto == ["https"],
              "pipelined %d: XFF %r Proto %r" % (i + 1, xff, proto))
    for i, r in enumerate(reqs):
        head = r[:r.index(b"\r\n\r\n") + 4]
        check_rewrite(head, backend_head(conn, first_line(r)), added_lines(port), what="pipelined %d" % (i + 1))
    check(recorded(conn).count(b"X-Forwarded-For: 127.0.0.1\r\n") == 5, "not 5 rewrites")
    s.close()
    print("5 pipelined requests in one write: answered in order, each rewritten")


def case_chunked(port):
    head = (b"POST /chunked HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n")
    payload = [b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n",
               os.urandom(3000), b"\r\n0\r\n\r\n"]
    body = (b"%x;ext=1\r\n" % len(payload[0]) + payload[0] + b"\r\n"
            + b"%X\r\n" % len(payload[1]) + payload[1] + b"\r\n"
            + b"%x\r\n" % len(payload[2]) + payload[2] + b"\r\n"
            + b"0\r\nX-Trailer: yes\r\n\r\n")
    after = b"GET /after HTTP/1.1\r\nHost: localhost\r\n\r\n"
    s = connect(port)
    rd = Reader(s)
    s.sendall(head)
    time.sleep(0.05)
    # The body in odd pieces, so chunk framing spans TLS records.
    for i in range(0, len(body), 777):
        s.sendall(body[i:i + 777])
    status, _, rbody, _ = rd.response()
    check(status == 200, "chunked upload: status %d" % status)
    e = echo(rbody)
    joined = b"".join(payload)
    check(e["body_len"] == len(joined) and e["body_sha256"] == hashlib.sha256(joined).hexdigest(),
          "chunked body changed: backend got %d bytes" % e["body_len"])
    check(e["trailers"] == [["X-Trailer", "yes"]], "trailers %r" % e["trailers"])
    status, _, rbody2, _ = exchange(s, rd, after)
    e2 = echo(rbody2)
    check(status == 200 and e2["target"] == "/after" and e2["conn"] == e["conn"],
          "request after the chunked one: %d %r" % (status, e2))
    data = recorded(e["conn"])
    got_head = data[:data.index(b"\r\n\r\n") + 4]
    check_rewrite(head, got_head, added_lines(port), what="chunked head")
    check(data[len(got_head):len(got_head) + len(body)] == body,
          "the chunked body (framing, extension, trailer) is not byte-exact")
    check_rewrite(after, data[len(got_head) + len(body):], added_lines(port), what="after head")
    s.close()
    print("chunked body with a request-lookalike passed byte-exact; next request rewritten")


def case_responses(port):
    """Responses pass untouched and keep-alive stays in step after HEAD,
    204, 304 and a chunked response (extensions, trailer)."""
    s = connect(port)
    rd = Reader(s)
    after = b"GET /after-%s HTTP/1.1\r\nHost: localhost\r\n\r\n"
    s.sendall(b"HEAD /h HTTP/1.1\r\nHost: localhost\r\n\r\n" + after % b"head")
    head = rd.until(b"\r\n\r\n")
    check(head.startswith(b"HTTP/1.1 200 ") and b"Content-Length: " in head, "HEAD: %r" % head)
    status, _, body, _ = rd.response()
    check(status == 200 and echo(body)["target"] == "/after-head", "after HEAD: %d %r" % (status, body[:100]))
    for st in (b"204", b"304"):
        s.sendall(b"GET /status/%s HTTP/1.1\r\nHost: localhost\r\n\r\n" % st + after % st)
        head = rd.until(b"\r\n\r\n")
        check(head.startswith(b"HTTP/1.1 " + st + b" "), "want a %s: %r" % (st, head))
        status, _, body, _ = rd.response()
        check(status == 200 and echo(body)["target"] == "/after-" + st.decode(),
              "after a %s: %d %r" % (st, status, body[:100]))
    s.sendall(b"GET /chunked-resp HTTP/1.1\r\nHost: localhost\r\n\r\n" + after % b"chunked")
    head = rd.until(b"\r\n\r\n")
    check(b"\r\nTransfer-Encoding: chunked\r\n" in head, "chunked response head: %r" % head)
    raw, decoded = b"", b""
    while True:
        line = rd.until(b"\r\n")
        raw += line
        size = int(line.split(b";")[0], 16)
        if size == 0:
            while True:
                t = rd.until(b"\r\n")
                raw += t
                if t == b"\r\n":
                    break
            break
        piece = rd.exact(size + 2)
        raw += piece
        decoded += piece[:-2]
    # The recorder's framing, rebuilt from the decoded body: tlsterm must
    # have passed it byte for byte.
    want = b"".join(b"%x;n=%d\r\n" % (len(decoded[i:i + 100]), i) + decoded[i:i + 100] + b"\r\n"
                    for i in range(0, len(decoded), 100)) + b"0\r\nX-Done: yes\r\n\r\n"
    check(raw == want, "chunked response body changed on the way")
    check(echo(decoded)["target"] == "/chunked-resp", "chunked response: %r" % decoded[:100])
    status, _, body, _ = rd.response()
    check(status == 200 and echo(body)["target"] == "/after-chunked", "after the chunked response")
    s.close()
    print("HEAD, 204, 304 and a chunked response (byte-exact) keep keep-alive in step")


def case_headers(path):
    with open(path, "rb") as f:
        for n, v in echo(f.read())["headers"]:
            print("%s: %s" % (n, v))


case = sys.argv[1]
if case == "headers":
    case_headers(sys.argv[2])
else:
    globals()["case_" + case](int(sys.argv[2]))
PY

export HH_CA=$CERTS/ca.pem HH_REC=$T/rec
hh() { "$PYTHON3" "$T/hh.py" "$@"; }

# count_line FILE LINE: how many header lines of a recorder answer are LINE.
count_line() { hh headers "$1" | grep -cxF -- "$2" || true; }

# want_lines FILE N LINE...: each LINE is a header line of the recorder
# answer in FILE exactly N times, else the test fails.
want_lines() {
  local file=$1 n=$2 line
  shift 2
  for line in "$@"; do
    [ "$(count_line "$file" "$line")" = "$n" ] ||
      fail "$file: want '$line' $n time(s) among the headers the backend got: $(hh headers "$file")"
  done
}

# one_header FILE NAME VALUE: the response head in FILE (curl -D) has
# exactly one NAME header, and its value is VALUE.
one_header() {
  local n
  n=$(grep -ci "^$2:" "$1" || true)
  if [ "$n" != 1 ] || ! grep -qix "$2: $3"$'\r' "$1"; then
    fail "want exactly one '$2: $3' in the response: $(cat "$1")"
  fi
}

# 1. curl: the three headers are added with the right values.
tcurl "$port_a" /curl -o "$T/curl1.json" 2>"$T/curl1.err" || fail "curl failed: $(cat "$T/curl1.err")"
want_lines "$T/curl1.json" 1 "X-Forwarded-For: 127.0.0.1" "X-Forwarded-Proto: https" \
  "X-Forwarded-Port: $port_a"
pass "curl: X-Forwarded-For/-Proto/-Port added"

# Three URLs on one curl connection: each request rewritten.
u="https://localhost:$port_a"
curl -sS --max-time 20 --cacert "$CERTS/ca.pem" --resolve "localhost:$port_a:127.0.0.1" \
  -H 'X-Forwarded-For: 6.6.6.6' -H 'x-forwarded-proto: http' \
  -o "$T/ka1.json" "$u/k1" -o "$T/ka2.json" "$u/k2" -o "$T/ka3.json" "$u/k3" \
  -v 2>"$T/ka.err" || fail "curl keep-alive failed: $(cat "$T/ka.err")"
grep -q "Re-using existing connection" "$T/ka.err" || fail "curl did not reuse its connection"
for i in 1 2 3; do
  want_lines "$T/ka$i.json" 1 "X-Forwarded-For: 127.0.0.1" "X-Forwarded-Proto: https"
  want_lines "$T/ka$i.json" 0 "X-Forwarded-For: 6.6.6.6" "X-Forwarded-Proto: http"
done
pass "curl: 3 requests on one connection, each rewritten, client XFF/XFP replaced"

# 2. The python client: exact bytes.
for c in strip keepalive pipeline chunked responses; do
  out=$(hh "$c" "$port_a") || fail "$c: $out"
  pass "$c: $out"
done
out=$(hh append "$port_b") || fail "append: $out"
pass "--xff append --forwarded --hsts 60: $out"

# 3. Expect: 100-continue through tlsterm: curl gets the backend's
#    100 Continue (with --expect100-timeout 10 a missing one would stall
#    curl for 10 s) and the body arrives whole.
head -c 200000 /dev/urandom >"$T/upload.bin"
t0=$(date +%s%N)
tcurl "$port_a" /continue -H 'Expect: 100-continue' --expect100-timeout 10 \
  --data-binary "@$T/upload.bin" -H 'Content-Type: application/octet-stream' \
  -o "$T/cont.json" -v 2>"$T/cont.err" || fail "100-continue: curl failed: $(cat "$T/cont.err")"
ms=$((($(date +%s%N) - t0) / 1000000))
grep -q '^< HTTP/1.1 100 Continue' "$T/cont.err" ||
  fail "100-continue: curl never saw '100 Continue': $(grep '^[<>]' "$T/cont.err")"
grep -q '^< HTTP/1.1 200' "$T/cont.err" || fail "100-continue: no final 200"
[ "$ms" -lt 8000 ] || fail "100-continue: took $ms ms (did curl wait out its timeout?)"
want_sha=$(sha256sum "$T/upload.bin" | cut -d' ' -f1)
"$PYTHON3" - "$T/cont.json" "$want_sha" <<'PY' || fail "100-continue: backend's view is wrong: $(cat "$T/cont.json")"
import json, sys
e = json.load(open(sys.argv[1]))
sys.exit(0 if e["continue_sent"] and e["body_len"] == 200000 and e["body_sha256"] == sys.argv[2] else 1)
PY
pass "Expect: 100-continue: 100 relayed, 200 KB body intact ($ms ms)"

# 4. HSTS: B adds it once; /hsts keeps the backend's own and gets no second.
tcurl "$port_b" /plain -D "$T/hsts1.h" -o /dev/null || fail "hsts: curl failed"
one_header "$T/hsts1.h" Strict-Transport-Security max-age=60
tcurl "$port_b" /hsts -D "$T/hsts2.h" -o /dev/null || fail "hsts: curl /hsts failed"
one_header "$T/hsts2.h" Strict-Transport-Security max-age=123
tcurl "$port_a" /plain -D "$T/hsts3.h" -o /dev/null || fail "hsts: curl to A failed"
! grep -qi '^strict-transport-security:' "$T/hsts3.h" || fail "HSTS added without --hsts: $(cat "$T/hsts3.h")"
pass "--hsts 60 added once, not duplicated, absent by default"

# 5. IPv6: a client on ::1 is X-Forwarded-For: ::1 and, with --forwarded,
#    for="[::1]" (RFC 7239: quoted, bracketed).
if [ "$v6" = 1 ]; then
  curl -sS --max-time 20 --cacert "$CERTS/ca.pem" "https://[::1]:$port_a/v6" -o "$T/v6a.json" 2>"$T/v6.err" ||
    fail "curl over ::1 failed: $(cat "$T/v6.err")"
  want_lines "$T/v6a.json" 1 "X-Forwarded-For: ::1" "X-Forwarded-Port: $port_a"
  curl -sS --max-time 20 --cacert "$CERTS/ca.pem" "https://[::1]:$port_b/v6" -o "$T/v6b.json" 2>"$T/v6.err" ||
    fail "curl over ::1 to B failed: $(cat "$T/v6.err")"
  want_lines "$T/v6b.json" 1 "X-Forwarded-For: ::1" \
    "Forwarded: for=\"[::1]\";proto=https;host=\"[::1]:$port_b\""
  pass "IPv6 client: X-Forwarded-For ::1, Forwarded for=\"[::1]\""
else
  echo "# no ::1 here: IPv6 case skipped"
fi

TLSTERM_PID=$pid_a TLSTERM_LOG=$log_a assert_alive
TLSTERM_PID=$pid_b TLSTERM_LOG=$log_b assert_alive
