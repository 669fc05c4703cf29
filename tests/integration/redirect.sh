#!/usr/bin/env bash
# redirect.sh: --redirect-listen, the plain-HTTP listener that answers every
# request with 308 to https, against the real binary on loopback.
#  - start-up: a --redirect-listen port already in use (by another process,
#    or by tlsterm's own --listen; checked last) and a bad address exit 2
#    with one line naming --redirect-listen; the --test dump lists
#    redirect-listen and round-trips;
#  - the answer is exactly "HTTP/1.1 308 Permanent Redirect" with Location:
#    https://<Host without its port>:<port of the FIRST --listen><path and
#    query>, Content-Length: 0 and Connection: close, then the connection
#    closes: for GET, HEAD and POST (with a body), HTTP/1.0 with a Host, a
#    Host in any case, [::1]:80, over an IPv6 redirect listener, sent whole
#    or one byte per write; a percent-encoded CRLF stays encoded;
#    absolute-form and "*" targets go to "/"; two pipelined requests get one
#    answer; a header merely starting with "Host" is not Host;
#  - a POST whose 1 MiB body is sent right behind the head gets the whole
#    308, not a reset (20 times): the body is drained, not left unread;
#  - 400 Bad Request (then close) without Host (HTTP/1.0 and 1.1) and for a
#    Host with characters a host cannot have, or an invalid Host
#    (RFC 9112 3.2: several Host lines, a bad port, junk after an IPv6
#    literal, a bracketed non-address); a TLS ClientHello and an 8 KiB+ head
#    are refused with 400 (or 431) and a close;
#  - a client that stalls mid-request, sends nothing, or trickles a byte
#    every 100 ms is closed at --handshake-timeout (1s), with no answer;
#  - curl -L from http://localhost:RPORT/... follows to the TLS listener and
#    gets the backend's answer for the same path, query, method and body;
#  - with the first --listen on port 443 (a random 127.x.y.z, when this
#    host lets us bind it) the Location has no port.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

gen_certs
mapfile -t certs < <(cert_args)
v6=0
if have_ipv6; then v6=1; fi

start_recorder
base=(--backend "127.0.0.1:$REC_PORT" "${certs[@]}")

# --- start-up errors ---------------------------------------------------------

port=$(free_port)
rport=$(free_port)


# A plain socket holds $rport (no SO_REUSEPORT), for as long as its file
# is there (bounded: 30 s).
"$PYTHON3" - "$rport" "$T/holder.ready" <<'PY' 2>>"$T/holder.log" &
import os, socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1)
open(sys.argv[2], "w").close()
deadline = time.monotonic() + 30
while time.monotonic() < deadline and os.path.exists(sys.argv[2]):
    time.sleep(0.05)
PY
holder=$!
track_pid "$holder"
for ((i = 0; i < 200; i++)); do
  [ -e "$T/holder.ready" ] && break
  sleep 0.05
done
[ -e "$T/holder.ready" ] || hard_error "the port holder did not start: $(cat "$T/holder.log")"
expect_exit2 "--redirect-listen on a port in use" "--redirect-listen 127\\.0\\.0\\.1:$rport: .*in use" \
  --listen "127.0.0.1:$port" --redirect-listen "127.0.0.1:$rport" "${base[@]}" --workers 2
rm -f "$T/holder.ready"
wait_exit "$holder" 5 || hard_error "the port holder did not exit"

expect_exit2 "--redirect-listen not an address" '--redirect-listen' \
  --listen "127.0.0.1:$port" --redirect-listen "nonsense" "${base[@]}"

# --test lists every redirect address; the dump round-trips.
timeout 20 "$TLSTERM" --test --listen "127.0.0.1:$port" --redirect-listen "127.0.0.1:$rport" \
  --redirect-listen "[::1]:$rport" "${base[@]}" >"$T/dump1" 2>"$T/dump1.err" ||
  fail "--test with --redirect-listen exited $?: $(cat "$T/dump1.err")"
for a in "127\.0\.0\.1:$rport" "\[::1\]:$rport"; do
  grep -q "^redirect-listen = \"\?$a\"\?$" "$T/dump1" ||
    fail "--test: no redirect-listen $a: $(grep -E '^(listen|redirect)' "$T/dump1")"
done
timeout 20 "$TLSTERM" --config "$T/dump1" --test >"$T/dump2" 2>"$T/dump2.err" ||
  fail "--config <dump> --test exited $?: $(cat "$T/dump2.err")"
diff -u <(grep -v '^config = ' "$T/dump1") <(grep -v '^config = ' "$T/dump2") >"$T/dump.diff" ||
  fail "the dump of the dump differs: $(cat "$T/dump.diff")"
! port_open 127.0.0.1 "$rport" || fail "--test left $rport listening"
pass "--test lists redirect-listen; the dump round-trips"

# --- the redirect listener ---------------------------------------------------

# rd.py: raw TCP clients for the redirect port.
#   rd.py cases HOST RPORT HTTPS_PORT [strict]
#       every case of the table below (the strict Host cases with "strict");
#       prints one line per case, exits 1 if any failed.
#   rd.py stall HOST RPORT half|silent|trickle
#       send half a request / nothing / one byte every 100 ms; the
#       connection must close with no answer; prints the seconds it took.
#   rd.py bigpost HOST RPORT HTTPS_PORT N
#       N times: a POST with a 1 MiB body, sent whole before reading; each
#       must get the complete 308 and EOF, with no reset while sending or
#       reading; prints one line per failure, exits 1.
cat >"$T/rd.py" <<'PY'
import socket, ssl, sys, time

def hello_bytes():
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ssl.create_default_context().wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def exchange(host, port, data, mode):
    """Send data, read to EOF (at most 5 s). (bytes, seconds, eof)."""
    s = socket.create_connection((host, port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t0 = time.monotonic()
    try:
        if mode == "bytewise":
            for i in range(len(data)):
                s.sendall(data[i:i + 1])
                time.sleep(0.002)
        else:
            s.sendall(data)
    except OSError:
        pass
    out, eof = b"", False
    try:
        for _ in range(1000):
            d = s.recv(65536)
            if not d:
                eof = True
                break
            out += d
    except ConnectionResetError:
        eof = True
    except socket.timeout:
        pass
    s.close()
    return out, time.monotonic() - t0, eof


def parse(resp):
    head, sep, body = resp.partition(b"\r\n\r\n")
    if not sep:
        return None, [], body
    lines = head.decode("latin-1").split("\r\n")
    hdrs = []
    for line in lines[1:]:
        n, _, v = line.partition(":")
        hdrs.append((n, v.strip()))
    return lines[0], hdrs, body


def check(resp, eof, want):
    """None if resp is the answer `want` ("308 LOCATION" or "400"), else why."""
    if not eof:
        return "the connection stayed open after %r" % resp[:200]
    status, hdrs, body = parse(resp)
    if status is None:
        return "no complete response: %r" % resp[:200]
    if want.startswith("308 "):
        if status != "HTTP/1.1 308 Permanent Redirect":
            return "status %r, want 308: %r" % (status, resp[:300])
        expect = [("Location", want[4:]), ("Content-Length", "0"), ("Connection", "close")]
        if sorted((n.lower(), v) for n, v in hdrs) != sorted((n.lower(), v) for n, v in expect):
            return "headers %r, want %r" % (hdrs, expect)
        if body:
            return "%d byte(s) after the head: %r" % (len(body), body[:100])
        return None
    codes = want.split("|")
    if status.split(" ")[1] not in codes:
        return "status %r, want %s: %r" % (status, want, resp[:300])
    if want == "400" and status != "HTTP/1.1 400 Bad Request":
        return "status line %r" % status
    h = {n.lower(): v for n, v in hdrs}
    if h.get("connection") != "close":
        return "no Connection: close in %r" % hdrs
    if "location" in h:
        return "a Location in an error: %r" % hdrs
    if int(h.get("content-length", "-1")) != len(body):
        return "Content-Length %s but %d body bytes" % (h.get("content-length"), len(body))
    return None


def cases(host, rport, hport, strict):
    L = "https://localhost:%d" % hport

    def get(target, hosts, version="1.1", method="GET", extra=""):
        lines = ["%s %s HTTP/%s" % (method, target, version)]
        lines += ["Host: %s" % h for h in hosts]
        return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()

    table = [
        ("origin-form with query", "whole", get("/x?y=1&z=%41", ["localhost:%d" % rport]),
         "308 %s/x?y=1&z=%%41" % L),
        ("the same, one byte per write", "bytewise", get("/x?y=1", ["localhost:%d" % rport]),
         "308 %s/x?y=1" % L),
        ("Host without a port", "whole", get("/", ["localhost"]), "308 %s/" % L),
        ("Host keeps its case", "whole", get("/p", ["Example.COM:8080"]),
         "308 https://Example.COM:%d/p" % hport),
        ("header name in odd case", "whole", b"GET /c HTTP/1.1\r\nhOsT: a.example\r\n\r\n",
         "308 https://a.example:%d/c" % hport),
        ("HTTP/1.0 with Host", "whole", get("/ten", ["localhost"], "1.0"), "308 %s/ten" % L),
        ("HEAD", "whole", get("/h", ["localhost"], method="HEAD"), "308 %s/h" % L),
        ("POST with a body", "whole",
         get("/post?a=1", ["localhost"], method="POST",
             extra="Content-Length: 11\r\n") + b"hello=world", "308 %s/post?a=1" % L),
        ("IPv6 literal with a port", "whole", get("/v6?q", ["[::1]:80"]),
         "308 https://[::1]:%d/v6?q" % hport),
        ("IPv6 literal without a port", "whole", get("/v6", ["[::1]"]),
         "308 https://[::1]:%d/v6" % hport),
        ("IPv4 literal", "whole", get("/v4", ["127.0.0.1:%d" % rport]),
         "308 https://127.0.0.1:%d/v4" % hport),
        ("absolute-form goes to /", "whole",
         get("http://other.example/secret?x=1", ["localhost"]), "308 %s/" % L),
        ("asterisk-form goes to /", "whole", get("*", ["localhost"], method="OPTIONS"),
         "308 %s/" % L),
        ("an encoded CRLF stays encoded", "whole",
         get("/a%0d%0aSet-Cookie:%20x=1", ["localhost"]), "308 %s/a%%0d%%0aSet-Cookie:%%20x=1" % L),
        ("Hostname is not Host", "whole",
         get("/hn", ["ok.example"], extra="Hostname: evil.example\r\nX-Host: bad/\r\n"),
         "308 https://ok.example:%d/hn" % hport),
        ("two pipelined requests, one answer", "whole",
         get("/one", ["localhost"]) + get("/two", ["localhost"]), "308 %s/one" % L),
        ("HTTP/1.0 without Host", "whole", get("/x", [], "1.0"), "400"),
        ("HTTP/1.1 without Host", "whole", get("/x", []), "400"),
        ("only Hostname", "whole", get("/x", [], extra="Hostname: a.example\r\n"), "400"),
        ("empty Host", "whole", b"GET /x HTTP/1.1\r\nHost:\r\n\r\n", "400"),
        ("Host with only a port", "whole", get("/x", [":80"]), "400"),
        ("Host with a slash", "whole", get("/x", ["evil.example/foo"]), "400"),
        ("Host with a space", "whole", get("/x", ["a b"]), "400"),
        ("Host with userinfo", "whole", get("/x", ["user@evil.example"]), "400"),
        ("Host with quotes", "whole", get("/x", ['"q.example"']), "400"),
        ("Host with a backslash", "whole", get("/x", ["a\\b.example"]), "400"),
        ("IPv6 literal not closed", "whole", get("/x", ["[::1"]), "400"),
        ("two Host lines (plain names)", "whole", get("/x", ["a.example", "b.example"]), "400"),
        ("a TLS ClientHello", "whole", hello_bytes(), "400"),
        ("a head over 8 KiB", "whole",
         get("/big", ["localhost"], extra="X-Pad: %s\r\n" % ("p" * 9000)), "400|431"),
    ]
    if strict:  # RFC 9112 3.2: an invalid Host is a 400, not a guess
        table = [
            ("'[' in a host name", "whole", get("/x", ["a[b.example"]), "400"),
            ("']' in a host name", "whole", get("/x", ["a]b.example"]), "400"),
            ("a bracketed name, not an IPv6 address", "whole", get("/x", ["[evil.example]"]), "400"),
            ("junk after an IPv6 literal", "whole", get("/x", ["[::1]junk"]), "400"),
            ("a port that is not a number", "whole", get("/x", ["localhost:abc"]), "400"),
            ("two Host lines, the first an IPv6 literal", "whole",
             get("/x", ["[::1]", "evil.example"]), "400"),
        ]
    bad = 0
    for name, mode, data, want in table:
        resp, secs, eof = exchange(host, rport, data, mode)
        why = check(resp, eof, want)
        if why:
            bad += 1
            print("FAIL - %s: %s" % (name, why))
        else:
            print("ok - %s: %s (%.2f s)" % (name, want, secs))
    return bad


def stall(host, rport, how):
    s = socket.create_connection((host, rport), timeout=5)
    t0 = time.monotonic()
    out, eof = b"", False
    if how == "half":
        s.sendall(b"GET /stall HTTP/1.1\r\nHost: loc")
    elif how == "trickle":
        data = b"GET /trickle HTTP/1.1\r\nX-Slow: " + b"s" * 100
        s.settimeout(0.1)
        for i in range(len(data)):  # at most 10 s
            try:
                s.sendall(data[i:i + 1])
                d = s.recv(100)
                if not d:
                    eof = True
                    break
                out += d
            except socket.timeout:
                continue
            except OSError:
                eof = True
                break
    s.settimeout(5)
    try:
        while not eof:
            d = s.recv(100)
            if not d:
                eof = True
                break
            out += d
    except ConnectionResetError:
        eof = True
    except socket.timeout:
        pass
    secs = time.monotonic() - t0
    if not eof:
        sys.exit("still open after %.1f s" % secs)
    if out:
        sys.exit("closed after %.2f s, but with an answer: %r" % (secs, out[:200]))
    print("%.2f" % secs)


def bigpost(host, rport, hport, n):
    """Like any client that sends its whole request before it reads: a
    reset while sending means it never sees the answer, so a reset on
    either side fails, as does anything but the complete 308 then EOF. (On
    Linux loopback the 308 mostly survives the RST in the receive queue;
    the RST itself is what loses it elsewhere.)"""
    body = b"b" * 1048576
    bad = 0
    for i in range(n):
        head = ("POST /big-post?n=%d HTTP/1.1\r\nHost: localhost\r\n"
                "Content-Length: %d\r\n\r\n" % (i, len(body))).encode()
        s = socket.create_connection((host, rport), timeout=5)
        out, eof, why = b"", False, None
        try:
            s.sendall(head + body)
            for _ in range(1000):
                d = s.recv(65536)
                if not d:
                    eof = True
                    break
                out += d
        except OSError as e:  # reset, broken pipe, or a 5 s stall
            why = "%s after %d byte(s) of answer: %r" % (type(e).__name__, len(out), out[:100])
        s.close()
        why = why or check(out, eof, "308 https://localhost:%d/big-post?n=%d" % (hport, i))
        if why:
            bad += 1
            print("FAIL - POST %d: %s" % (i, why))
    return bad


if sys.argv[1] == "cases":
    sys.exit(1 if cases(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
                        len(sys.argv) > 5) else 0)
elif sys.argv[1] == "stall":
    stall(sys.argv[2], int(sys.argv[3]), sys.argv[4])
elif sys.argv[1] == "bigpost":
    sys.exit(1 if bigpost(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
                          int(sys.argv[5])) else 0)
PY
rd() { timeout 60 "$PYTHON3" "$T/rd.py" "$@"; }

p1=$(free_port) # the first --listen: its port goes into Location
p2=$(free_port)
r=$(free_port)
listen6=()
if [ "$v6" = 1 ]; then
  listen6=(--listen "[::1]:$p1" --redirect-listen "[::1]:$r")
fi
start_tlsterm --listen "127.0.0.1:$p1" --listen "127.0.0.1:$p2" --redirect-listen "127.0.0.1:$r" \
  "${listen6[@]}" "${base[@]}" --handshake-timeout 1s --workers 2 --drain-timeout 2s
wait_port 127.0.0.1 "$r" 10 "$TLSTERM_PID" || fail "redirect listener $r not up"
grep -q "redirecting plain HTTP on 127\.0\.0\.1:$r to https" "$TLSTERM_LOG" ||
  fail "no start-up line for the redirect listener"

status=0
rd cases 127.0.0.1 "$r" "$p1" >"$T/cases.out" 2>&1 || status=$?
cat "$T/cases.out"
[ "$status" = 0 ] || fail "redirect cases failed: $(grep -v '^ok' "$T/cases.out")"
pass "redirect listener: $(grep -c '^ok' "$T/cases.out") request cases"

if [ "$v6" = 1 ]; then
  rd cases ::1 "$r" "$p1" >"$T/cases6.out" 2>&1 || fail "over [::1]:$r: $(grep -v '^ok' "$T/cases6.out")"
  pass "the same $(grep -c '^ok' "$T/cases6.out") cases over the redirect listener [::1]:$r"
else
  echo "# ::1 unavailable: IPv6 redirect listener skipped"
fi

# A client that does not finish its request is closed at the 1 s
# --handshake-timeout, without an answer; data does not extend the time.
for how in half silent trickle; do
  secs=$(rd stall 127.0.0.1 "$r" "$how" 2>&1) || fail "stalled client ($how): $secs"
  awk -v s="$secs" 'BEGIN { exit !(s >= 0.8 && s <= 3.0) }' ||
    fail "stalled client ($how): closed after $secs s, want about 1 s"
  pass "stalled client ($how): closed after $secs s"
done

# A request body sent right behind the head is still unread when the 308
# is written; closing then would RST, which can destroy the 308 before the
# client reads it (or stop the client while it is still sending). Bounded:
# 20 rounds, 5 s per socket call, 60 s in all (rd).
status=0
rd bigpost 127.0.0.1 "$r" "$p1" 20 >"$T/bigpost.out" 2>&1 || status=$?
[ "$status" = 0 ] || fail "POST with a 1 MiB body: $(grep -c '^FAIL' "$T/bigpost.out") of 20 failed: $(head -n 3 "$T/bigpost.out")"
pass "POST with a 1 MiB body sent whole: the complete 308, 20 times"

# curl -L follows the 308 to the TLS listener; the backend gets the same
# path and query, and for POST the same method and body.
resolve=()
for h in localhost:"$r" localhost:"$p1"; do
  resolve+=(--resolve "$h:127.0.0.1")
done
curl -sS -L --max-time 20 --cacert "$CERTS/ca.pem" "${resolve[@]}" \
  -w '\n%{url_effective} %{http_code} %{num_redirects}\n' \
  "http://localhost:$r/follow/me?a=1&b=2" >"$T/follow.out" 2>"$T/follow.err" ||
  fail "curl -L failed: $(cat "$T/follow.err")"
[ "$(tail -n 1 "$T/follow.out")" = "https://localhost:$p1/follow/me?a=1&b=2 200 1" ] ||
  fail "curl -L: ended at $(tail -n 1 "$T/follow.out")"
head -n 1 "$T/follow.out" | "$PYTHON3" -c '
import json, sys
r = json.load(sys.stdin)
assert r["method"] == "GET" and r["target"] == "/follow/me?a=1&b=2", r' ||
  fail "curl -L: the backend got something else: $(head -n 1 "$T/follow.out")"
pass "curl -L GET http://localhost:$r/... lands on https://localhost:$p1/... (200)"

printf 'posted body %s\n' "$RANDOM" >"$T/post.body"
sha=$(openssl dgst -sha256 -r "$T/post.body" | cut -d' ' -f1)
curl -sS -L --max-time 20 --cacert "$CERTS/ca.pem" "${resolve[@]}" --data-binary @"$T/post.body" \
  "http://localhost:$r/form?x=y" >"$T/post.out" 2>"$T/post.err" || fail "curl -L POST failed: $(cat "$T/post.err")"
"$PYTHON3" -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert r["method"] == "POST" and r["target"] == "/form?x=y" and r["body_sha256"] == sys.argv[2], r' \
  "$T/post.out" "$sha" || fail "curl -L POST: the backend got something else: $(cat "$T/post.out")"
pass "curl -L POST keeps its method and body through the 308"

# The TLS listeners are unaffected.
tcurl "$p2" /tls-still >"$T/tls.out" || fail "the TLS listener $p2 stopped working"
grep -q '"/tls-still"' "$T/tls.out" || fail "TLS listener: wrong answer: $(cat "$T/tls.out")"
assert_alive
stop_tlsterm 10
[ "$EXIT_STATUS" = 0 ] || fail "tlsterm exited $EXIT_STATUS on SIGTERM"

# --- port 443: no port in Location -----------------------------------------------

# A random loopback address, so port 443 is ours alone; needs the right to
# bind it (root, or a low ip_unprivileged_port_start).
addr443=127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
if "$PYTHON3" -c 'import socket, sys; socket.socket().bind((sys.argv[1], 443))' "$addr443" 2>/dev/null; then
  r=$(free_port)
  start_tlsterm --listen "$addr443:443" --listen "127.0.0.1:$p2" --redirect-listen "127.0.0.1:$r" \
    "${base[@]}" --handshake-timeout 1s --workers 1 --drain-timeout 2s
  wait_port 127.0.0.1 "$r" 10 "$TLSTERM_PID" || fail "redirect listener $r not up"
  "$PYTHON3" - "$r" <<'PY' || fail "port 443: wrong answer"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GET /no-port?x HTTP/1.1\r\nHost: localhost:8080\r\n\r\n")
out = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    out += d
want = b"HTTP/1.1 308 Permanent Redirect\r\nLocation: https://localhost/no-port?x\r\n"
if not out.startswith(want):
    sys.exit("got %r, want it to start with %r" % (out, want))
PY
  pass "first --listen on port 443: Location https://localhost/no-port?x"
  stop_tlsterm 10
else
  echo "# cannot bind $addr443:443 here: the port-443 case is skipped"
fi

# --- last, so that everything above is known to work when these fail -----------

# Both checks run; the test fails once, at the end, with what went wrong.
late=()

# The redirect listener on tlsterm's own TLS address must not start:
# SO_REUSEPORT lets both sockets bind, and the kernel then hands each
# connection to one of them at random. Bounded: 5 s, then it is stopped.
port=$(free_port)
TLSTERM_LOG=$T/same.err
"$TLSTERM" --listen "127.0.0.1:$port" --redirect-listen "127.0.0.1:$port" "${base[@]}" \
  --workers 2 --drain-timeout 1s >"$T/same.out" 2>"$TLSTERM_LOG" &
same=$!
track_pid "$same"
if ! wait_exit "$same" 5; then
  kill -TERM "$same"
  wait_exit "$same" 5 || true
  late+=("--redirect-listen on the --listen address 127.0.0.1:$port: tlsterm started, so connections are split at random between TLS and the redirect")
elif [ "$EXIT_STATUS" != 2 ]; then
  late+=("--redirect-listen on the --listen address: exit $EXIT_STATUS, want 2: $(cat "$T/same.err")")
elif [ "$(wc -l <"$T/same.err")" != 1 ] || ! grep -q -- '--redirect-listen' "$T/same.err"; then
  late+=("--redirect-listen on the --listen address: want one line naming --redirect-listen: $(cat "$T/same.err")")
else
  pass "--redirect-listen on the --listen address: $(cat "$T/same.err")"
fi

# Strict Host (RFC 9112 3.2).
r=$(free_port)
start_tlsterm --listen "127.0.0.1:$p1" --redirect-listen "127.0.0.1:$r" "${base[@]}" \
  --handshake-timeout 1s --workers 1 --drain-timeout 2s
wait_port 127.0.0.1 "$r" 10 "$TLSTERM_PID" || fail "redirect listener $r not up"
status=0
rd cases 127.0.0.1 "$r" "$p1" strict >"$T/strict.out" 2>&1 || status=$?
cat "$T/strict.out"
if [ "$status" = 0 ]; then
  pass "invalid Host values get 400"
else
  late+=("invalid Host values were not refused: $(grep -v '^ok' "$T/strict.out")")
fi
stop_tlsterm 10

if [ ${#late[@]} -gt 0 ]; then
  fail "$(printf '%s\n' "${late[@]}")"
fi
