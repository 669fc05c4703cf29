#!/usr/bin/env bash
# websocket.sh: an HTTP Upgrade answered with 101 turns the connection into
# a raw tunnel. A python client speaks WebSocket over TLS through tlsterm to
# tests/tools/recorder.py's /ws echo:
#  - after a plain request on the same connection, the upgrade request is
#    rewritten like any request (X-Forwarded-For), the 101 and its
#    Sec-WebSocket-Accept come back unchanged;
#  - masked text and binary frames (7-, 16- and 64-bit lengths, one whose
#    payload looks like an HTTP request, three in one write) are echoed,
#    ping gets pong, and the backend receives the frame bytes exactly;
#  - the tunnel is not subject to --request-timeout / --backend-timeout
#    (both 1s here): idle for 2.5 s, it still works;
#  - a normal request on another connection works meanwhile;
#  - close is echoed and the connection then ends with close_notify.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"


gen_certs
start_recorder
mapfile -t certs < <(cert_args)
port=$(free_port)
start_tlsterm --listen "127.0.0.1:$port" --backend "127.0.0.1:$REC_PORT" "${certs[@]}" \
  --workers 2 --drain-timeout 2s --request-timeout 1s --backend-timeout 1s

cat >"$T/ws.py" <<'PY'
import base64, hashlib, json, os, socket, ssl, struct, sys, time

port, ca, rec = int(sys.argv[1]), sys.argv[2], sys.argv[3]
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC11B07"


def die(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        die(msg)


def connect():
    ctx = ssl.create_default_context(cafile=ca)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)


class Reader:
    def __init__(self, s):
        self.s, self.buf = s, bytearray()

    def fill(self):
        d = self.s.recv(65536)
        check(d, "connection closed; have %r" % bytes(self.buf[:100]))
        self.buf += d

    def exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def until(self, delim):
        while delim not in self.buf:
            check(len(self.buf) < 65536, "no %r" % delim)
            self.fill()
        i = self.buf.index(delim) + len(delim)
        out = bytes(self.buf[:i])
        del self.buf[:i]
        return out

    def frame(self):
        b0, b1 = self.exact(2)
        check(not b1 & 0x80, "a server frame is masked")
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self.exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self.exact(8))[0]
        return b0, self.exact(n)


def client_frame(b0, payload):
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        hdr = struct.pack("!BB", b0, 0x80 | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, 0x80 | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, 0x80 | 127, n)
    return hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def normal_request():
    s = connect()
    s.sendall(b"GET /normal HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        try:
            d = s.recv(65536)
        except ssl.SSLEOFError:
            break
        if not d:
            break
        data += d
    check(data.startswith(b"HTTP/1.1 200 ") and b'"target": "/normal"' in data,
          "normal request during the WebSocket session: %r" % data[:200])


s = connect()
rd = Reader(s)
# A plain request first, so that the upgrade comes on an established
# backend connection where tlsterm's request and response timers run.
s.sendall(b"GET /pre HTTP/1.1\r\nHost: localhost\r\n\r\n")
pre = rd.until(b"\r\n\r\n")
check(pre.startswith(b"HTTP/1.1 200 "), "plain request before the upgrade: %r" % pre)
rd.exact(int(pre.split(b"Content-Length: ")[1].split(b"\r\n")[0]))
key = base64.b64encode(os.urandom(16))
head = (b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n"
        b"X-Forwarded-For: 6.6.6.6\r\n\r\n")
s.sendall(head)
resp = rd.until(b"\r\n\r\n")
lines = resp[:-4].split(b"\r\n")
check(lines[0] == b"HTTP/1.1 101 Switching Protocols", "upgrade answer: %r" % resp)
accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
check(b"Sec-WebSocket-Accept: " + accept in lines, "wrong or missing Sec-WebSocket-Accept: %r" % resp)
check(b"Upgrade: websocket" in lines, "no 'Upgrade: websocket' in %r" % resp)
print("101 Switching Protocols, Sec-WebSocket-Accept right")

sent = bytearray()


def send(*frames):
    data = b"".join(frames)
    sent.extend(data)
    s.sendall(data)


def expect_echo(b0, payload, what):
    rb0, rp = rd.frame()
    check(rb0 == b0 and rp == payload,
          "%s: echo opcode 0x%02x, %d bytes; want 0x%02x, %d bytes" % (what, rb0, len(rp), b0, len(payload)))


tests = [(0x81, b"hello"),
         (0x81, b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n"),
         (0x82, os.urandom(300)),
         (0x82, os.urandom(70000))]
for b0, p in tests:
    send(client_frame(b0, p))
    expect_echo(b0, p, "%d-byte frame" % len(p))
print("text and binary frames of 5, 49, 300 and 70000 bytes echoed")

batch = [(0x81, b"one"), (0x81, b"two"), (0x82, b"\x00\xff" * 100)]
send(*[client_frame(b0, p) for b0, p in batch])
for b0, p in batch:
    expect_echo(b0, p, "batched frame")
send(client_frame(0x89, b"ping!"))
expect_echo(0x8A, b"ping!", "ping")
print("3 frames in one write echoed in order; ping answered with pong")

normal_request()
time.sleep(2.5)  # longer than --request-timeout and --backend-timeout
send(client_frame(0x81, b"still there?"))
expect_echo(0x81, b"still there?", "after 2.5 s idle")
print("a normal request meanwhile; tunnel alive after 2.5 s idle")

send(client_frame(0x88, struct.pack("!H", 1000) + b"bye"))
expect_echo(0x88, struct.pack("!H", 1000) + b"bye", "close")
s.settimeout(5)
try:
    d = s.recv(65536)
    how = "clean" if not d else "data %r" % d[:50]
except ssl.SSLEOFError:
    how = "unclean"
except socket.timeout:
    how = "open"
except ConnectionResetError:
    how = "reset"
check(how == "clean", "after the close handshake the connection ended '%s', want close_notify" % how)
print("close echoed, then close_notify")

# What the backend received: the rewritten upgrade request, then exactly
# the frames we sent.
conns = []
for f in sorted(os.listdir(rec)):
    if f.endswith(".bin"):
        with open(os.path.join(rec, f), "rb") as fh:
            d = fh.read()
        if b"GET /ws " in d:
            conns.append(d[d.index(b"GET /ws "):])
check(len(conns) == 1, "want one backend connection with the upgrade, have %d" % len(conns))
got = conns[0]
end = got.index(b"\r\n\r\n") + 4
ghead = got[:end]
check(ghead.count(b"X-Forwarded-For: 127.0.0.1\r\n") == 1 and b"6.6.6.6" not in ghead,
      "upgrade request not rewritten: %r" % ghead)
check(ghead.startswith(head[:head.index(b"X-Forwarded-For")]), "upgrade head changed: %r" % ghead)
check(got[end:] == bytes(sent), "the backend got %d tunnel bytes, not the %d sent byte-exact"
      % (len(got) - end, len(sent)))
print("backend: upgrade request rewritten, %d frame bytes byte-exact" % len(sent))
PY

out=$("$PYTHON3" "$T/ws.py" "$port" "$CERTS/ca.pem" "$T/rec") || fail "websocket: $out"
while IFS= read -r line; do pass "$line"; done <<<"$out"
assert_alive
