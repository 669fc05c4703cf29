#!/usr/bin/env python3
"""recorder.py: a recording HTTP/1.1 backend for the HTTP-mode integration
tests. Python 3 standard library only.

  recorder.py --listen 127.0.0.1:0 --port-file F --record DIR

Every accepted connection N (1, 2, ...) has EXACTLY the raw bytes it
received written to DIR/conn-N.bin, flushed as they arrive (before any
answer goes out), so a test that has its response can read the file.
When the connection ends, DIR/conn-N.done is created (empty).

Requests are parsed minimally by hand (request line, header lines, a
Content-Length or chunked body) and answered in order, keep-alive unless the
request says otherwise (Connection: close, or HTTP/1.0 without keep-alive).
The default answer is 200 with a JSON body:

  {"conn": N, "n": K, "method": "...", "target": "...", "version": "...",
   "headers": [[name, value], ...],          # as received, in order
   "trailers": [[name, value], ...],
   "body_len": L, "body_sha256": "hex", "continue_sent": false}

Query parameters on any path: delay_ms=M waits M ms (at most 10 s) before
answering. Special paths:
  /close-mid    headers with Content-Length: 100000, then 1000 bytes, then
                the connection is closed
  /garbage      sends "NOT HTTP\\r\\n\\r\\n", then waits for the peer to go
  /silent       never answers; holds the connection until the peer goes
  /ws           WebSocket upgrade (101 with the right Sec-WebSocket-Accept),
                then echoes each data frame's payload in an unmasked server
                frame of the same opcode; ping gets pong; close is echoed
                and ends the connection
  /continue     with Expect: 100-continue, sends "HTTP/1.1 100 Continue"
                before reading the body ("continue_sent": true)
  /hsts         the JSON answer carries its own
                Strict-Transport-Security: max-age=123
  /nolength     answers without Content-Length (Connection: close) and ends
                the body by closing; body: n=BYTES (default 65536) bytes of
                "0123456789abcdef" repeated
  /status/NNN   the JSON answer with status NNN (204 and 304: no body, an
                X-Conn: N header instead)
  /chunked-resp the JSON answer with Transfer-Encoding: chunked, in chunks
                of up to 100 bytes with an extension, and a trailer X-Done

Holds are bounded: a connection idle for --idle-timeout seconds (default
120) is closed. Quiet: only unexpected errors go to stderr.
"""

import argparse
import base64
import hashlib
import json
import os
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from backend import run_server  # noqa: E402

HEAD_MAX = 1 << 20
LINE_MAX = 64 * 1024
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC11B07"
REASONS = {200: "OK", 101: "Switching Protocols", 400: "Bad Request",
           404: "Not Found", 500: "Internal Server Error"}


class PeerGone(Exception):
    """The peer closed (or reset) the connection."""


class Conn:
    """A socket whose every received byte is recorded before it is used."""

    def __init__(self, sock, rec):
        self.sock = sock
        self.rec = rec
        self.buf = bytearray()

    def fill(self):
        try:
            data = self.sock.recv(65536)
        except (ConnectionError, socket.timeout, OSError) as e:
            raise PeerGone(str(e)) from e
        if not data:
            raise PeerGone("eof")
        self.rec.write(data)
        self.rec.flush()
        self.buf += data

    def read_until(self, delim, limit):
        start = 0
        while True:
            i = self.buf.find(delim, start)
            if i >= 0:
                end = i + len(delim)
                out = bytes(self.buf[:end])
                del self.buf[:end]
                return out
            if len(self.buf) > limit:
                raise ValueError("line or head over %d bytes" % limit)
            start = max(0, len(self.buf) - len(delim) + 1)
            self.fill()

    def read_exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_some(self, n):
        """Up to n bytes, at least one."""
        if not self.buf:
            self.fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def send(self, data):
        self.sock.sendall(data)

    def wait_gone(self):
        """Keep reading (and recording) until the peer goes."""
        try:
            while True:
                self.buf.clear()
                self.fill()
        except PeerGone:
            pass


def parse_head(head):
    """(method, target, version, [[name, value], ...]) from a head."""
    lines = head[:-4].split(b"\r\n")
    parts = lines[0].decode("latin-1").split(" ")
    if len(parts) != 3:
        raise ValueError("bad request line %r" % lines[0])
    headers = []
    for line in lines[1:]:
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep:
            raise ValueError("bad header line %r" % line)
        headers.append([name, value.strip(" \t")])
    return parts[0], parts[1], parts[2], headers


def header(headers, name, default=None):
    """The last value of header `name` (case-insensitive)."""
    out = default
    for n, v in headers:
        if n.lower() == name.lower():
            out = v
    return out


def has_token(headers, name, token):
    for n, v in headers:
        if n.lower() == name.lower():
            if token in [t.strip().lower() for t in v.split(",")]:
                return True
    return False


def read_body(c, headers, h):
    """Read the body into hash h; returns (length, trailers)."""
    te = header(headers, "Transfer-Encoding")
    total = 0
    trailers = []
    if te is not None and te.strip().lower() == "chunked":
        while True:
            line = c.read_until(b"\r\n", LINE_MAX)
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while True:
                    t = c.read_until(b"\r\n", LINE_MAX)
                    if t == b"\r\n":
                        return total, trailers
                    name, _, value = t[:-2].decode("latin-1").partition(":")
                    trailers.append([name, value.strip()])
            while size > 0:
                piece = c.read_some(min(size, 65536))
                h.update(piece)
                total += len(piece)
                size -= len(piece)
            if c.read_exact(2) != b"\r\n":
                raise ValueError("no CRLF after a chunk")
    cl = header(headers, "Content-Length")
    left = int(cl) if cl is not None else 0
    while left > 0:
        piece = c.read_some(min(left, 65536))
        h.update(piece)
        total += len(piece)
        left -= len(piece)
    return total, trailers


def response(status, body, extra=(), close=False, ctype="application/json", head_only=False):
    """A response with a Content-Length; head_only (HEAD): without the body."""
    lines = ["HTTP/1.1 %d %s" % (status, REASONS.get(status, "Status")),
             "Content-Type: " + ctype,
             "Content-Length: %d" % len(body)]
    lines += list(extra)
    if close:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only else head + body


def ws_frames(c):
    """Yield (fin_opcode_byte, payload) for each client frame."""
    while True:
        b0, b1 = c.read_exact(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", c.read_exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", c.read_exact(8))[0]
        mask = c.read_exact(4) if b1 & 0x80 else b"\0\0\0\0"
        data = c.read_exact(n)
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        yield b0, payload


def ws_frame(b0, payload):
    n = len(payload)
    if n < 126:
        hdr = struct.pack("!BB", b0, n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, 127, n)
    return hdr + payload


def websocket(c, headers):
    key = header(headers, "Sec-WebSocket-Key")
    if key is None or not has_token(headers, "Upgrade", "websocket"):
        c.send(response(400, b'{"error": "not a websocket upgrade"}', close=True))
        return
    accept = base64.b64encode(hashlib.sha1(key.strip().encode() + WS_GUID).digest())
    c.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    for b0, payload in ws_frames(c):
        opcode = b0 & 0x0F
        if opcode == 0x8:  # close: echo it, then end
            c.send(ws_frame(0x88, payload[:125]))
            return
        if opcode == 0x9:  # ping
            c.send(ws_frame(0x8A, payload))
        elif opcode in (0x0, 0x1, 0x2):
            c.send(ws_frame(b0 & 0x8F, payload))


def serve(c, conn_no):
    n = 0
    while True:
        try:
            head = c.read_until(b"\r\n\r\n", HEAD_MAX)
        except PeerGone:
            return
        n += 1
        method, target, version, headers = parse_head(head)
        url = urllib.parse.urlsplit(target)
        query = urllib.parse.parse_qs(url.query)
        path = url.path
        close = has_token(headers, "Connection", "close") or (
            version == "HTTP/1.0" and not has_token(headers, "Connection", "keep-alive"))

        if path == "/silent":
            c.wait_gone()
            return
        if path == "/ws":
            websocket(c, headers)
            return
        continue_sent = False
        if path == "/continue" and has_token(headers, "Expect", "100-continue"):
            c.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            continue_sent = True
        h = hashlib.sha256()
        body_len, trailers = read_body(c, headers, h)

        delay = min(10000, int(query.get("delay_ms", ["0"])[0]))
        if delay > 0:
            time.sleep(delay / 1000.0)

        if path == "/close-mid":
            c.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                   b"Content-Length: 100000\r\n\r\n" + b"x" * 1000)
            return
        if path == "/garbage":
            c.send(b"NOT HTTP\r\n\r\n")
            c.wait_gone()
            return
        if path == "/nolength":
            size = int(query.get("n", ["65536"])[0])
            pattern = b"0123456789abcdef"
            body = (pattern * (size // len(pattern) + 1))[:size]
            c.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                   b"Connection: close\r\n\r\n")
            for i in range(0, len(body), 16384):
                c.send(body[i:i + 16384])
            return

        status = 200
        if path.startswith("/status/"):
            status = int(path.split("/")[2])
        if status in (204, 304):  # no body, by definition
            c.send(("HTTP/1.1 %d %s\r\nX-Conn: %d\r\n%s\r\n" % (
                status, REASONS.get(status, "Status"), conn_no,
                "Connection: close\r\n" if close else "")).encode())
            if close:
                return
            continue
        extra = []
        if path == "/hsts":
            extra.append("Strict-Transport-Security: max-age=123")
        echo = {"conn": conn_no, "n": n, "method": method, "target": target,
                "version": version, "headers": headers, "trailers": trailers,
                "body_len": body_len, "body_sha256": h.hexdigest(),
                "continue_sent": continue_sent}
        body = (json.dumps(echo) + "\n").encode()
        if path == "/chunked-resp":
            # The same JSON, chunked in pieces of up to 100 bytes, with a
            # chunk extension and a trailer.
            out = [b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                   b"Transfer-Encoding: chunked\r\nTrailer: X-Done\r\n"
                   + (b"Connection: close\r\n" if close else b"") + b"\r\n"]
            for i in range(0, len(body), 100):
                piece = body[i:i + 100]
                out.append(b"%x;n=%d\r\n" % (len(piece), i) + piece + b"\r\n")
            out.append(b"0\r\nX-Done: yes\r\n\r\n")
            c.send(b"".join(out) if method != "HEAD" else out[0])
            if close:
                return
            continue
        c.send(response(status, body, extra, close, head_only=method == "HEAD"))
        if close:
            return


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        srv = self.server
        with srv.lock:
            srv.count += 1
            conn_no = srv.count
        base = os.path.join(srv.record_dir, "conn-%d" % conn_no)
        sock = self.request
        sock.settimeout(srv.idle_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            with open(base + ".bin", "wb") as rec:
                try:
                    serve(Conn(sock, rec), conn_no)
                except (PeerGone, ConnectionError, socket.timeout):
                    pass
                except ValueError as e:
                    # Not HTTP as we understand it: say so and close.
                    try:
                        sock.sendall(response(400, json.dumps({"error": str(e)}).encode(),
                                              close=True))
                    except OSError:
                        pass
        finally:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            with open(base + ".done", "w"):
                pass


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 256

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class Server6(Server):
    address_family = socket.AF_INET6


def parse_hostport(text):
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % text)
    return host.strip("[]"), int(port)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--listen", type=parse_hostport, required=True, metavar="HOST:PORT")
    ap.add_argument("--port-file", metavar="F",
                    help="write the bound port here (atomically, after listen)")
    ap.add_argument("--record", required=True, metavar="DIR",
                    help="directory for conn-N.bin (created if missing)")
    ap.add_argument("--idle-timeout", type=float, default=120.0, metavar="SECONDS")
    args = ap.parse_args()

    os.makedirs(args.record, exist_ok=True)
    host, port = args.listen
    cls = Server6 if ":" in host else Server
    server = cls((host, port), Handler)
    server.lock = threading.Lock()
    server.count = 0
    server.record_dir = args.record
    server.idle_timeout = args.idle_timeout
    run_server(server, args.port_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
