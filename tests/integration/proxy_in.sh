#!/usr/bin/env bash
# proxy_in.sh: --accept-proxy / --trusted-proxy against the real binary,
# loopback only. The clients are python3 (stdlib ssl) speaking real TCP and
# TLS; the PROXY headers are built here from HAProxy's proxy-protocol.txt.
#  - start-up: --accept-proxy without --trusted-proxy, before any --listen,
#    and a bad --trusted-proxy CIDR exit 2 with one line naming the flags;
#    the --test dump keeps accept-proxy with its listen and round-trips;
#  - http mode: a v1 (TCP4, TCP6) or v2 (IPv4, IPv6, with TLVs) header's
#    source replaces the socket's: the backend (recorder.py) gets
#    X-Forwarded-For: <source ip> (a client-sent one is replaced),
#    X-Forwarded-Port: <header's destination port> and Forwarded: for=...;
#    the access log shows client=<source ip:port>; also the longest v1 line
#    and a v2 header with a 4000-byte TLV. A v2 LOCAL, a v2 UNSPEC or UNIX
#    and a v1 UNKNOWN header keep the socket's own address. The header
#    works sent whole, one byte per TCP write, and in the same write as the
#    ClientHello;
#  - refusals, each closed at once (well inside --handshake-timeout) with
#    not one TLS byte sent back, and logged: a malformed v1/v2 header
#    ("bad PROXY header: <reason>"), a v2 header claiming more TLV bytes
#    than tlsterm buffers, plain TLS with no header; a trusted-proxy list
#    that does not hold 127.0.0.1 closes the connection at accept ("PROXY
#    header expected from an untrusted source"); the other listener of the
#    same instance and later good connections are unaffected;
#  - a listener without --accept-proxy takes a PROXY header as garbage: the
#    handshake fails and nothing reaches the backend;
#  - an IPv6 listener [::1] with --trusted-proxy ::1 (when ::1 exists);
#  - tcp mode: the PROXY header tlsterm sends on (--proxy-protocol v2 and
#    v1, checked by proxyrecv.py) carries the incoming header's addresses.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

gen_certs
mapfile -t certs < <(cert_args)
v6=0
if have_ipv6; then v6=1; fi


# ppc.py: the PROXY-speaking TLS client.
#   ppc.py http HOST PORT HDR MODE PATH CA [EXTRA_HEADER]
#       send the header HDR (MODE: whole, bytewise = one byte per write,
#       coalesced = in one write with the ClientHello), then TLS to
#       localhost, GET PATH with Connection: close; print the headers the
#       backend got (recorder.py's JSON answer), one "Name: value" a line.
#       Exit 1 with the reason on any failure.
#   ppc.py tcp HOST PORT HDR CA
#       header, TLS, send "hello tcp\n", print what is echoed back.
#   ppc.py refused HOST PORT HDR CA [hello|nohello] [PAD]
#       send HDR (then PAD zero bytes, then a ClientHello with "hello") and
#       expect the connection to close within 3 s with no byte received;
#       prints "closed after S s". Exit 1 if a byte arrived or it stayed open.
#   ppc.py garbage HOST PORT HDR CA
#       header, then a TLS handshake that must fail; prints the error.
# HDR: none | v1,<line without CRLF> | hex,<bytes> |
#      v2,proxy,SRC,SPORT,DST,DPORT[,TLV_HEX] | v2,local | v2,unspec | v2,unix
cat >"$T/ppc.py" <<'PY'
import ipaddress, json, socket, ssl, struct, sys, time

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def header(spec):
    kind, _, rest = spec.partition(",")
    if kind == "none":
        return b""
    if kind == "v1":
        return rest.encode() + b"\r\n"
    if kind == "hex":
        return bytes.fromhex(rest)
    f = rest.split(",")
    if f[0] == "local":  # version 2, LOCAL, UNSPEC, no address block
        return SIG + b"\x20\x00\x00\x00"
    if f[0] == "unspec":  # PROXY over UNSPEC: keep the real endpoints
        return SIG + b"\x21\x00\x00\x00"
    if f[0] == "unix":  # PROXY over UNIX_STREAM: two 108-byte paths
        paths = b"/run/lb.sock".ljust(108, b"\0") + b"/run/app.sock".ljust(108, b"\0")
        return SIG + b"\x21\x31" + struct.pack("!H", len(paths)) + paths
    src, dst = ipaddress.ip_address(f[1]), ipaddress.ip_address(f[3])
    tlvs = bytes.fromhex(f[5]) if len(f) > 5 else b""
    body = src.packed + dst.packed + struct.pack("!HH", int(f[2]), int(f[4])) + tlvs
    fam = 0x11 if src.version == 4 else 0x21
    return SIG + bytes([0x21, fam]) + struct.pack("!H", len(body)) + body


def connect(host, port):
    s = socket.create_connection((host, int(port)), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def send_header(s, hdr, mode):
    if mode == "bytewise":
        for i in range(len(hdr)):
            s.sendall(hdr[i:i + 1])
            time.sleep(0.005)  # each byte its own segment
    elif hdr:
        s.sendall(hdr)


def context(ca):
    return ssl.create_default_context(cafile=ca)


class BioTLS:
    """TLS over memory BIOs, so the first flight can share a write with
    the PROXY header. Real TLS, real socket."""

    def __init__(self, sock, ca):
        self.sock = sock
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = context(ca).wrap_bio(self.inc, self.out, server_hostname="localhost")

    def client_hello(self):
        try:
            self.obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        return self.out.read()

    def _pump(self):
        data = self.out.read()
        if data:
            self.sock.sendall(data)
        got = self.sock.recv(65536)
        if not got:
            raise EOFError("EOF from tlsterm")
        self.inc.write(got)

    def finish_handshake(self):
        for _ in range(100):
            try:
                self.obj.do_handshake()
                self.sock.sendall(self.out.read())
                return
            except ssl.SSLWantReadError:
                self._pump()
        raise RuntimeError("handshake did not finish in 100 rounds")

    def sendall(self, data):
        self.obj.write(data)
        self.sock.sendall(self.out.read())

    def read_to_eof(self):
        resp = b""
        for _ in range(10000):
            try:
                d = self.obj.read(65536)
            except ssl.SSLWantReadError:
                got = self.sock.recv(65536)
                if not got:
                    return resp
                self.inc.write(got)
                continue
            except ssl.SSLZeroReturnError:
                return resp
            if not d:
                return resp
            resp += d
        raise RuntimeError("response too long")


def sock_read_to_eof(t):
    resp = b""
    for _ in range(10000):
        d = t.recv(65536)
        if not d:
            return resp
        resp += d
    raise RuntimeError("response too long")


def backend_headers(resp, path):
    head, sep, body = resp.partition(b"\r\n\r\n")
    if not sep or not head.startswith(b"HTTP/1.1 200 "):
        sys.exit("%s: not a 200 response: %r" % (path, resp[:300]))
    rec = json.loads(body)
    if rec["target"] != path:
        sys.exit("%s: the backend got %r" % (path, rec["target"]))
    return "".join("%s: %s\n" % (n, v) for n, v in rec["headers"])


def main():
    cmd, host, port, spec = sys.argv[1:5]
    hdr = header(spec)
    if cmd == "http":
        mode, path, ca = sys.argv[5:8]
        extra = sys.argv[8] + "\r\n" if len(sys.argv) > 8 else ""
        req = ("GET %s HTTP/1.1\r\nHost: localhost\r\n%sConnection: close\r\n\r\n"
               % (path, extra)).encode()
        with connect(host, port) as s:
            if mode == "coalesced":
                t = BioTLS(s, ca)
                s.sendall(hdr + t.client_hello())
                t.finish_handshake()
                t.sendall(req)
                resp = t.read_to_eof()
            else:
                send_header(s, hdr, mode)
                with context(ca).wrap_socket(s, server_hostname="localhost") as t:
                    t.sendall(req)
                    resp = sock_read_to_eof(t)
        sys.stdout.write(backend_headers(resp, path))
    elif cmd == "tcp":
        ca = sys.argv[5]
        with connect(host, port) as s:
            s.sendall(hdr)
            with context(ca).wrap_socket(s, server_hostname="localhost") as t:
                t.sendall(b"hello tcp\n")
                got = b""
                for _ in range(100):
                    if got.endswith(b"\n"):
                        break
                    d = t.recv(100)
                    if not d:
                        break
                    got += d
        sys.stdout.write(got.decode("latin-1"))
    elif cmd == "refused":
        ca = sys.argv[5]
        hello = len(sys.argv) <= 6 or sys.argv[6] == "hello"
        pad = int(sys.argv[7]) if len(sys.argv) > 7 else 0
        with connect(host, port) as s:
            t0 = time.monotonic()
            try:
                if hdr:
                    s.sendall(hdr)
                if pad:
                    s.sendall(b"\0" * pad)
                if hello:
                    s.sendall(BioTLS(s, ca).client_hello())
            except OSError:
                pass  # already closed: what we want
            s.settimeout(3)
            try:
                got = s.recv(65536)
            except ConnectionResetError:
                got = b""
            except socket.timeout:
                sys.exit("still open after 3 s")
            dt = time.monotonic() - t0
        if got:
            sys.exit("got %d byte(s) back: %r" % (len(got), got[:40]))
        print("closed after %.2f s" % dt)
    elif cmd == "garbage":
        ca = sys.argv[5]
        with connect(host, port) as s:
            s.sendall(hdr)
            try:
                with context(ca).wrap_socket(s, server_hostname="localhost") as t:
                    t.sendall(b"GET /garbage-ok HTTP/1.1\r\nHost: localhost\r\n\r\n")
                    sys.exit("handshake succeeded after a PROXY header: %r" % t.recv(200))
            except (ssl.SSLError, OSError) as e:
                print("handshake failed: %s" % e)
    else:
        sys.exit("unknown command " + cmd)


main()
PY
ppc() { timeout 20 "$PYTHON3" "$T/ppc.py" "$@"; }

# header FILE NAME: every value of header NAME (any case) in FILE, a list of
# "Name: value" lines, one per line.
header() {
  awk -v n="$2" 'BEGIN { n = tolower(n) ": " }
    index(tolower($0), n) == 1 { print substr($0, length(n) + 1) }' "$1"
}

# json_headers: recorder.py's JSON answer on stdin as "Name: value" lines.
json_headers() {
  "$PYTHON3" -c '
import json, sys
for n, v in json.load(sys.stdin)["headers"]:
    print("%s: %s" % (n, v))'
}

start_recorder

# --- start-up errors ---------------------------------------------------------

port=$(free_port)
base=(--backend "127.0.0.1:$REC_PORT" "${certs[@]}")


expect_exit2 "--accept-proxy without --trusted-proxy" '--accept-proxy.*--trusted-proxy' \
  --listen "127.0.0.1:$port" --accept-proxy "${base[@]}"
expect_exit2 "--accept-proxy before any --listen" '--accept-proxy.*listen' \
  --accept-proxy --listen "127.0.0.1:$port" --trusted-proxy 127.0.0.0/8 "${base[@]}"
expect_exit2 "--trusted-proxy with prefix /33" '--trusted-proxy.*10\.0\.0\.0/33' \
  --listen "127.0.0.1:$port" --accept-proxy --trusted-proxy 10.0.0.0/33 "${base[@]}"
expect_exit2 "--trusted-proxy not an address" '--trusted-proxy.*nonsense' \
  --listen "127.0.0.1:$port" --accept-proxy --trusted-proxy nonsense "${base[@]}"

# --test: accept-proxy stays with its own listen, and the dump is a config
# file that gives the same dump.
port2=$(free_port)
timeout 20 "$TLSTERM" --test --listen "127.0.0.1:$port" --listen "127.0.0.1:$port2" --accept-proxy \
  --trusted-proxy 127.0.0.0/8 --trusted-proxy ::1 "${base[@]}" >"$T/dump1" 2>"$T/dump1.err" ||
  fail "--test with --accept-proxy exited $?: $(cat "$T/dump1.err")"
grep -A1 "^listen = \"\?127\.0\.0\.1:$port2\"\?$" "$T/dump1" | grep -q '^accept-proxy = yes$' ||
  fail "--test: no 'accept-proxy = yes' after listen $port2: $(grep -E '^(listen|accept|trusted)' "$T/dump1")"
[ "$(grep -c '^accept-proxy = yes$' "$T/dump1")" = 1 ] ||
  fail "--test: accept-proxy given for both listens: $(grep -E '^(listen|accept)' "$T/dump1")"
grep -q '^trusted-proxy = "\?127\.0\.0\.0/8"\?$' "$T/dump1" || fail "--test: no trusted-proxy 127.0.0.0/8: $(cat "$T/dump1")"
grep -q '^trusted-proxy = "\?::1\(/128\)\?"\?$' "$T/dump1" || fail "--test: no trusted-proxy ::1: $(cat "$T/dump1")"
timeout 20 "$TLSTERM" --config "$T/dump1" --test >"$T/dump2" 2>"$T/dump2.err" ||
  fail "--config <dump> --test exited $?: $(cat "$T/dump2.err")"
diff -u <(grep -v '^config = ' "$T/dump1") <(grep -v '^config = ' "$T/dump2") >"$T/dump.diff" ||
  fail "the dump of the dump differs: $(cat "$T/dump.diff")"
pass "--test: accept-proxy follows its listen; the dump round-trips"

# --- http mode ---------------------------------------------------------------

pa=$(free_port) # --accept-proxy
pb=$(free_port) # plain TLS, same instance
pc=
listen6=()
if [ "$v6" = 1 ]; then
  pc=$(free_port)
  listen6=(--listen "[::1]:$pc" --accept-proxy)
fi
start_tlsterm --listen "127.0.0.1:$pa" --accept-proxy --listen "127.0.0.1:$pb" "${listen6[@]}" \
  --trusted-proxy 10.0.0.0/8 --trusted-proxy 127.0.0.0/8 --trusted-proxy ::1 \
  "${base[@]}" --forwarded --workers 2 --drain-timeout 2s --handshake-timeout 8s \
  --access-log "$T/access.log" --log-level debug
wait_port 127.0.0.1 "$pb" 10 "$TLSTERM_PID" || fail "second listener $pb not up"

n=0
# good HOST PORT HDR MODE XFF XFP FORWARDED_FOR CLIENT: one request through a
# PROXY listener; the backend must see X-Forwarded-For XFF (exactly once),
# X-Forwarded-Port XFP and Forwarded: for=FORWARDED_FOR;..., and the access log
# client=CLIENT (a regex) for this request's path.
good() {
  local host=$1 port=$2 hdr=$3 mode=$4 xff=$5 xfp=$6 fwd=$7 client=$8 path out i what
  what="${hdr:0:100} ($mode)"
  n=$((n + 1))
  path="/pp-$n-$mode"
  ppc http "$host" "$port" "$hdr" "$mode" "$path" "$CERTS/ca.pem" 'X-Forwarded-For: 6.6.6.6' \
    >"$T/r$n.hdr" 2>"$T/r$n.err" || fail "$what: request failed: $(cat "$T/r$n.err")"
  out=$(header "$T/r$n.hdr" X-Forwarded-For)
  [ "$out" = "$xff" ] || fail "$what: X-Forwarded-For '$out', want '$xff'"
  out=$(header "$T/r$n.hdr" X-Forwarded-Port)
  [ "$out" = "$xfp" ] || fail "$what: X-Forwarded-Port '$out', want '$xfp'"
  out=$(header "$T/r$n.hdr" Forwarded)
  [[ $out == "for=$fwd;"* ]] || fail "$what: Forwarded '$out', want 'for=$fwd;...'"
  wait_file "$T/access.log" 5 || fail "no access log"
  out=""
  for ((i = 0; i < 100; i++)); do # the line may trail the response a little
    out=$(grep -F "path=\"$path\"" "$T/access.log" || true)
    [ -n "$out" ] && break
    sleep 0.05
  done
  [ -n "$out" ] || fail "$what: no access-log line for $path"
  grep -Eq " client=$client " <<<"$out" || fail "$what: access log not client=$client: $out"
  pass "$what: XFF $xff, port $xfp, log $(grep -Eo 'client=[^ ]+' <<<"$out")"
}

v1_4="v1,PROXY TCP4 203.0.113.7 127.0.0.1 5555 443"
v1_6="v1,PROXY TCP6 2001:db8::7 2001:db8::1 5556 8443"
# TLVs are skipped: ALPN "h2", a NOOP of 3 bytes, a custom 0xE5.
v2_4="v2,proxy,198.51.100.9,6000,192.0.2.1,4443,0100026832040003000000e50001ff"
v2_6="v2,proxy,2001:db8::9,6001,2001:db8::2,9443"
for mode in whole bytewise coalesced; do
  good 127.0.0.1 "$pa" "$v1_4" "$mode" 203.0.113.7 443 203.0.113.7 '203\.0\.113\.7:5555'
  good 127.0.0.1 "$pa" "$v1_6" "$mode" 2001:db8::7 8443 '"[2001:db8::7]"' '\[2001:db8::7\]:5556'
  good 127.0.0.1 "$pa" "$v2_4" "$mode" 198.51.100.9 4443 198.51.100.9 '198\.51\.100\.9:6000'
  good 127.0.0.1 "$pa" "$v2_6" "$mode" 2001:db8::9 9443 '"[2001:db8::9]"' '\[2001:db8::9\]:6001'
done
# The longest v1 line (TCP6, every address digit, 104 bytes), and a v2
# header with a 4000-byte TLV.
v1_max="v1,PROXY TCP6 fffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe 65535 65534"
good 127.0.0.1 "$pa" "$v1_max" whole fffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65534 \
  '"[fffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff]"' '\[fffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff\]:65535'
good 127.0.0.1 "$pa" "v2,proxy,198.51.100.10,7000,192.0.2.1,4443,040fa0$(printf '00%.0s' {1..4000})" \
  coalesced 198.51.100.10 4443 198.51.100.10 '198\.51\.100\.10:7000'
# LOCAL (a balancer's health check), PROXY over UNSPEC or UNIX and v1
# UNKNOWN: the socket's own addresses.
good 127.0.0.1 "$pa" v2,local whole 127.0.0.1 "$pa" 127.0.0.1 '127\.0\.0\.1:[0-9]+'
good 127.0.0.1 "$pa" v2,local bytewise 127.0.0.1 "$pa" 127.0.0.1 '127\.0\.0\.1:[0-9]+'
good 127.0.0.1 "$pa" v2,unspec whole 127.0.0.1 "$pa" 127.0.0.1 '127\.0\.0\.1:[0-9]+'
good 127.0.0.1 "$pa" v2,unix whole 127.0.0.1 "$pa" 127.0.0.1 '127\.0\.0\.1:[0-9]+'
good 127.0.0.1 "$pa" "v1,PROXY UNKNOWN" whole 127.0.0.1 "$pa" 127.0.0.1 '127\.0\.0\.1:[0-9]+'
good 127.0.0.1 "$pa" "v1,PROXY UNKNOWN ffff::1 ffff::2 1 2" coalesced 127.0.0.1 "$pa" 127.0.0.1 '127\.0\.0\.1:[0-9]+'
grep -q "PROXY header from 127\.0\.0\.1:" "$TLSTERM_LOG" ||
  fail "no debug line 'PROXY header from 127.0.0.1:...'"
if [ "$v6" = 1 ]; then
  good ::1 "$pc" "$v1_4" whole 203.0.113.7 443 203.0.113.7 '203\.0\.113\.7:5555'
  good ::1 "$pc" "$v2_6" coalesced 2001:db8::9 9443 '"[2001:db8::9]"' '\[2001:db8::9\]:6001'
  good ::1 "$pc" v2,local whole ::1 "$pc" '"[::1]"' '\[::1\]:[0-9]+'
else
  echo "# ::1 unavailable: IPv6 PROXY listener skipped"
fi

# refused WHAT HDR LOGRE [hello|nohello] [PAD]: closed at once with no TLS
# byte back, and a new log line matching LOGRE.
refused() {
  local what=$1 hdr=$2 re=$3 out i lines
  shift 3
  lines=$(wc -l <"$TLSTERM_LOG")
  out=$(ppc refused 127.0.0.1 "$pa" "$hdr" "$CERTS/ca.pem" "$@" 2>&1) || fail "$what: $out"
  for ((i = 0; i < 100; i++)); do
    tail -n +$((lines + 1)) "$TLSTERM_LOG" | grep -Eq -- "$re" && break
    sleep 0.05
  done
  tail -n +$((lines + 1)) "$TLSTERM_LOG" | grep -Eq -- "$re" ||
    fail "$what: no new log line /$re/: $(tail -n +$((lines + 1)) "$TLSTERM_LOG" | grep PROXY)"
  pass "$what: $out, $(tail -n +$((lines + 1)) "$TLSTERM_LOG" | grep -Eo -- "${re}[^\"]*" | tail -n 1)"
}
refused "plain TLS, no PROXY header" none 'bad PROXY header: not a PROXY header'
refused "v1, address out of range" "v1,PROXY TCP4 999.0.113.7 127.0.0.1 5555 443" \
  'bad PROXY header: .*(address|source)'
refused "v1, protocol TCP5" "v1,PROXY TCP5 203.0.113.7 127.0.0.1 5555 443" 'bad PROXY header: .*(protocol|TCP5)'
refused "v1, port 65536" "v1,PROXY TCP4 203.0.113.7 127.0.0.1 65536 443" 'bad PROXY header: .*port'
refused "v1, TCP4 with IPv6 addresses" "v1,PROXY TCP4 2001:db8::7 2001:db8::1 5555 443" \
  'bad PROXY header: .*address'
refused "v1, no CRLF within 107 bytes" "v1,PROXY TCP6 $(printf '1%.0s' {1..120})" \
  'bad PROXY header: ' nohello
refused "v2, version 3" "hex,0d0a0d0a000d0a515549540a31110000" 'bad PROXY header: .*version' nohello
refused "v2, command 2" "hex,0d0a0d0a000d0a515549540a22110000" 'bad PROXY header: .*command' nohello
refused "v2, TCP4 shorter than its addresses" "hex,0d0a0d0a000d0a515549540a21110004c6336409" \
  'bad PROXY header: ' nohello
refused "v2 claiming 65535 bytes of TLVs" "hex,0d0a0d0a000d0a515549540a2111ffff" \
  'bad PROXY header: longer than' nohello 40000
assert_alive

# The other listener is unaffected: plain TLS works there...
tcurl "$pb" /plain-b | json_headers >"$T/plain.hdr" || fail "curl to the listener without --accept-proxy failed"
[ "$(header "$T/plain.hdr" X-Forwarded-For)" = 127.0.0.1 ] ||
  fail "plain listener: X-Forwarded-For is not the socket's: $(cat "$T/plain.hdr")"
pass "the listener without --accept-proxy serves plain TLS"
# ... and a PROXY header there is garbage: the handshake fails and the
# backend never sees the request.
out=$(ppc garbage 127.0.0.1 "$pb" "$v1_4" "$CERTS/ca.pem" 2>&1) || fail "PROXY header on a plain listener: $out"
! grep -qs "/garbage-ok" "$T"/rec/*.bin || fail "PROXY header on a plain listener: the backend got the request"
pass "a PROXY header on a plain listener: $out"
# Good connections still work after the refusals.
good 127.0.0.1 "$pa" "$v1_4" whole 203.0.113.7 443 203.0.113.7 '203\.0\.113\.7:5555'
assert_alive
stop_tlsterm 10
[ "$EXIT_STATUS" = 0 ] || fail "tlsterm exited $EXIT_STATUS on SIGTERM"

# --- untrusted source ----------------------------------------------------------

pu=$(free_port)
pv=$(free_port)
start_tlsterm --listen "127.0.0.1:$pu" --accept-proxy --listen "127.0.0.1:$pv" \
  --trusted-proxy 10.0.0.0/8 --trusted-proxy ::1 "${base[@]}" --workers 1 --drain-timeout 2s \
  --handshake-timeout 8s
wait_port 127.0.0.1 "$pv" 10 "$TLSTERM_PID" || fail "second listener $pv not up"
before=$(grep -c 'PROXY header expected from an untrusted source' "$TLSTERM_LOG" || true)
# Closed at accept, before any byte: without sending anything ...
out=$(ppc refused 127.0.0.1 "$pu" none "$CERTS/ca.pem" nohello 2>&1) || fail "untrusted, silent: $out"
pass "untrusted source, nothing sent: $out"
# ... and with a good header and a ClientHello: no TLS byte back.
for hdr in "$v1_4" "$v2_4"; do
  out=$(ppc refused 127.0.0.1 "$pu" "$hdr" "$CERTS/ca.pem" hello 2>&1) || fail "untrusted, $hdr: $out"
  pass "untrusted source, $hdr: $out"
done
after=$(grep -c 'PROXY header expected from an untrusted source' "$TLSTERM_LOG" || true)
[ "$after" -ge $((before + 3)) ] ||
  fail "untrusted: want 3 log lines 'PROXY header expected from an untrusted source', have $((after - before))"
grep 'PROXY header expected from an untrusted source' "$TLSTERM_LOG" | grep -q '127\.0\.0\.1' ||
  fail "untrusted: the log line does not name the source 127.0.0.1"
body=$(tcurl "$pv" /after-untrusted) || fail "curl to the plain listener after the refusals failed"
grep -q '/after-untrusted' <<<"$body" || fail "plain listener: wrong answer: $body"
assert_alive
pass "the instance's plain listener is unaffected"
stop_tlsterm 10

# --- tcp mode: PROXY in, PROXY out -------------------------------------------------

"$PYTHON3" "$TOOLS/proxyrecv.py" --listen 127.0.0.1:0 --port-file "$T/prx.port" \
  --record "$T/prx.jsonl" 2>>"$T/prx.log" &
track_pid "$!"
wait_file "$T/prx.port" 10 || hard_error "proxyrecv.py did not start: $(cat "$T/prx.log")"
prx_port=$(cat "$T/prx.port")

nrec=0
# tcp_case PORT HDR EXPR: one TCP-mode connection; the header tlsterm sent
# to the backend (proxyrecv.py's record r) satisfies the python EXPR.
tcp_case() {
  local port=$1 hdr=$2 expr=$3 out
  out=$(ppc tcp 127.0.0.1 "$port" "$hdr" "$CERTS/ca.pem" 2>&1) || fail "tcp, $hdr: client failed: $out"
  [ "$out" = "hello tcp" ] || fail "tcp, $hdr: echo '$out'"
  nrec=$((nrec + 1))
  "$PYTHON3" -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
n = int(sys.argv[2])
if len(lines) < n:
    sys.exit("only %d connection(s) recorded" % len(lines))
r = json.loads(lines[n - 1])
if "error" in r or not eval(sys.argv[3], {"r": r}):
    sys.exit("record %d: %s" % (n, r))' "$T/prx.jsonl" "$nrec" "$expr" ||
    fail "tcp, $hdr: the PROXY header sent on is not ($expr)"
  pass "tcp, $hdr -> $("$PYTHON3" -c '
import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[int(sys.argv[2]) - 1])
print("v%(version)d %(family)s %(src)s:%(src_port)d -> %(dst)s:%(dst_port)d" % r)' "$T/prx.jsonl" "$nrec")"
}

for out_v in v2 v1; do
  pt=$(free_port)
  start_tlsterm --listen "127.0.0.1:$pt" --accept-proxy --trusted-proxy 127.0.0.0/8 \
    --backend "127.0.0.1:$prx_port" "${certs[@]}" --mode tcp --proxy-protocol "$out_v" \
    --workers 1 --drain-timeout 2s
  ver=${out_v#v}
  tcp_case "$pt" "$v1_4" "r['version'] == $ver and r['family'] == 'TCP4' and r['src'] == '203.0.113.7' and r['src_port'] == 5555 and r['dst'] == '127.0.0.1' and r['dst_port'] == 443"
  tcp_case "$pt" "$v2_6" "r['version'] == $ver and r['family'] == 'TCP6' and r['src'] == '2001:db8::9' and r['src_port'] == 6001 and r['dst'] == '2001:db8::2' and r['dst_port'] == 9443"
  tcp_case "$pt" "$v2_4" "r['version'] == $ver and r['family'] == 'TCP4' and r['src'] == '198.51.100.9' and r['src_port'] == 6000 and r['dst'] == '192.0.2.1' and r['dst_port'] == 4443"
  tcp_case "$pt" v2,local "r['version'] == $ver and r['family'] == 'TCP4' and r['src'] == '127.0.0.1' and r['dst'] == '127.0.0.1' and r['dst_port'] == $pt"
  stop_tlsterm 10
done
