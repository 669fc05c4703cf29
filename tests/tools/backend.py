#!/usr/bin/env python3
"""backend.py: the plain HTTP/1.1 backend the integration tests put behind
tlsterm. Python 3 standard library only.

  backend.py --listen 127.0.0.1:PORT [--port-file F] [--docroot DIR] [--reuse-port]
  backend.py --unix PATH [--docroot DIR]
  backend.py --digest-bytes N      print the SHA-256 of GET /bytes/N and exit

Endpoints (HTTP/1.1, keep-alive; every response has a Content-Length but
/stream?chunked=1 and /hang):
  GET  /...            a file under --docroot ("/" is /index.html)
  GET  /bytes/N        N deterministic pseudo-random bytes (SHAKE-128 stream
                       in 64 KiB blocks, so any offset is reproducible and no
                       1 MiB pattern repeats); fast enough for 64 MiB
  GET  /slow/N?ms=M    the same bytes as /bytes/N, paced over about M ms
                       (default 2000), for drain tests
  POST /sha256         reads the body (Content-Length or chunked) and answers
                       the hex SHA-256 of it, followed by a newline
  GET  /hello          "hello from backend\\n"
  GET  /stream/N?ms=M&delay=D&chunked=1
                       the /bytes/N stream for end-to-end checks: after D ms
                       (default 0) the head, then the body paced over about
                       M ms (default 0: at once); Content-Length with an
                       X-Content-SHA256 header, or with chunked=1 chunked
                       encoding with the digest in an X-Content-SHA256
                       trailer. X-Backend-Pid names the process answering.
  GET  /hang?ms=M      reads the request and never answers: closes after M
                       ms (default 30000) or as soon as the peer closes

Port 0 binds a free port; --port-file then receives the bound port, written
atomically after listen(2), so a test that sees the file can connect at once.
--reuse-port sets SO_REUSEPORT, so that several backend processes share one
port (the kernel spreads connections over them).
Quiet: nothing is printed for requests; only unexpected errors go to stderr.
"""

import argparse
import functools
import hashlib
import http.server
import mimetypes
import os
import select
import socket
import socketserver
import sys
import time
import urllib.parse

BLOCK = 64 * 1024
MAX_BYTES = 1 << 40


def byte_block(i, n=BLOCK):
    """Block i of the /bytes stream (its first n bytes)."""
    return hashlib.shake_128(b"tlsterm-bytes:%d" % i).digest(n)


def byte_stream(total):
    """Yield the first `total` bytes of the /bytes stream, block by block."""
    i = 0
    while total > 0:
        n = min(BLOCK, total)
        yield byte_block(i, n)
        total -= n
        i += 1


@functools.lru_cache(maxsize=64)
def digest_bytes(total):
    h = hashlib.sha256()
    for chunk in byte_stream(total):
        h.update(chunk)
    return h.hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tlsterm-test-backend/1"
    # Buffer writes so small responses go out as one segment (headers and
    # body together); handle_one_request() flushes after every request.
    wbufsize = 64 * 1024
    docroot = None

    def log_message(self, format, *args):  # noqa: A002 (stdlib signature)
        pass

    def reply(self, status, body, ctype="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        if path == "/hello":
            return self.reply(200, b"hello from backend\n")
        if path.startswith("/bytes/") or path.startswith("/slow/"):
            try:
                total = int(path.split("/", 2)[2])
            except ValueError:
                return self.reply(400, b"bad size\n")
            if not 0 <= total <= MAX_BYTES:
                return self.reply(400, b"bad size\n")
            pace = 0.0
            if path.startswith("/slow/"):
                query = urllib.parse.parse_qs(url.query)
                ms = int(query.get("ms", ["2000"])[0])
                pace = ms / 1000.0 / max(1, (total + BLOCK - 1) // BLOCK)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(total))
            self.end_headers()
            if self.command == "HEAD":
                return None
            for chunk in byte_stream(total):
                self.wfile.write(chunk)
                if pace:
                    self.wfile.flush()
                    time.sleep(pace)
            return None
        if path.startswith("/stream/"):
            return self.stream(url)
        if path == "/hang":
            return self.hang(url)
        return self.serve_file(path)

    def stream(self, url):
        """/stream/N: the /bytes/N body with its SHA-256 sent alongside."""
        try:
            total = int(url.path.split("/", 2)[2])
        except ValueError:
            return self.reply(400, b"bad size\n")
        if not 0 <= total <= MAX_BYTES:
            return self.reply(400, b"bad size\n")
        query = urllib.parse.parse_qs(url.query)
        ms = int(query.get("ms", ["0"])[0])
        delay = int(query.get("delay", ["0"])[0])
        chunked = query.get("chunked", ["0"])[0] == "1"
        if delay:
            time.sleep(delay / 1000.0)
        pace = ms / 1000.0 / max(1, (total + BLOCK - 1) // BLOCK)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("X-Backend-Pid", str(os.getpid()))
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Trailer", "X-Content-SHA256")
        else:
            self.send_header("Content-Length", str(total))
            self.send_header("X-Content-SHA256", digest_bytes(total))
        self.end_headers()
        if self.command == "HEAD":
            return None
        h = hashlib.sha256()
        for chunk in byte_stream(total):
            if chunked:
                h.update(chunk)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            else:
                self.wfile.write(chunk)
            if pace:
                self.wfile.flush()
                time.sleep(pace)
        if chunked:
            self.wfile.write(b"0\r\nX-Content-SHA256: %s\r\n\r\n" % h.hexdigest().encode())
        return None

    def hang(self, url):
        """Never answer; hold the connection until the peer closes it or
        the time is up, then close without a byte."""
        query = urllib.parse.parse_qs(url.query)
        deadline = time.monotonic() + int(query.get("ms", ["30000"])[0]) / 1000.0
        self.close_connection = True
        sock = self.connection
        while time.monotonic() < deadline:
            ready, _, _ = select.select([sock], [], [], 0.1)
            if ready:
                try:
                    if not sock.recv(65536):
                        return None  # the peer closed
                except OSError:
                    return None
        return None

    def serve_file(self, path):
        if self.docroot is None:
            return self.reply(404, b"not found\n")
        if path.endswith("/"):
            path += "index.html"
        rel = os.path.normpath(urllib.parse.unquote(path)).lstrip("/")
        if rel.startswith(".."):
            return self.reply(403, b"forbidden\n")
        full = os.path.join(self.docroot, rel)
        try:
            with open(full, "rb") as f:
                body = f.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return self.reply(404, b"not found\n")
        ctype = mimetypes.guess_type(full)[0] or "application/octet-stream"
        return self.reply(200, body, ctype)

    def read_body(self):
        """Yield the request body in pieces: chunked or Content-Length."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise ConnectionError("EOF in chunk size")
                size = int(line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    # Trailers, up to the empty line.
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                while size > 0:
                    piece = self.rfile.read(min(size, BLOCK))
                    if not piece:
                        raise ConnectionError("EOF in chunk")
                    size -= len(piece)
                    yield piece
                self.rfile.readline(16)  # CRLF after the chunk
        else:
            left = int(self.headers.get("Content-Length", "0"))
            while left > 0:
                piece = self.rfile.read(min(left, BLOCK))
                if not piece:
                    raise ConnectionError("EOF in body")
                left -= len(piece)
                yield piece

    def do_POST(self):
        if urllib.parse.urlsplit(self.path).path != "/sha256":
            for _ in self.read_body():
                pass
            return self.reply(404, b"not found\n")
        h = hashlib.sha256()
        for piece in self.read_body():
            h.update(piece)
        return self.reply(200, (h.hexdigest() + "\n").encode())


class TCPNoDelayHandler(Handler):
    disable_nagle_algorithm = True


class QuietErrors:
    """Peers that go away mid-response are normal in these tests."""

    daemon_threads = True
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class TCPServer(QuietErrors, http.server.ThreadingHTTPServer):
    allow_reuse_address = True
    reuse_port = False

    def server_bind(self):
        if self.reuse_port:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        # Skip HTTPServer's getfqdn() lookup: it can be slow and we only
        # ever listen on loopback.
        socketserver.TCPServer.server_bind(self)
        self.server_name = "localhost"
        self.server_port = self.server_address[1]


class TCP6Server(TCPServer):
    address_family = socket.AF_INET6


class UnixServer(QuietErrors, socketserver.ThreadingUnixStreamServer):
    pass


def parse_hostport(text):
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % text)
    return host.strip("[]"), int(port)


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def run_server(server, port_file):
    """Write server's port (0 for a unix socket) to port_file if given,
    serve until interrupted, then close the listening socket."""
    if port_file:
        addr = server.server_address
        write_atomic(port_file, "%d\n" % (addr[1] if isinstance(addr, tuple) else 0))
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--listen", type=parse_hostport, metavar="HOST:PORT")
    where.add_argument("--unix", metavar="PATH")
    where.add_argument("--digest-bytes", type=int, metavar="N",
                       help="print the SHA-256 of GET /bytes/N and exit")
    ap.add_argument("--docroot", metavar="DIR")
    ap.add_argument("--port-file", metavar="F")
    ap.add_argument("--reuse-port", action="store_true",
                    help="SO_REUSEPORT: share the port with other backends")
    args = ap.parse_args()

    if args.digest_bytes is not None:
        print(digest_bytes(args.digest_bytes))
        return 0

    if args.docroot:
        Handler.docroot = os.path.abspath(args.docroot)
    if args.unix:
        try:
            os.unlink(args.unix)
        except FileNotFoundError:
            pass
        server = UnixServer(args.unix, Handler)
    else:
        host, port = args.listen
        cls = TCP6Server if ":" in host else TCPServer
        cls.reuse_port = args.reuse_port
        server = cls((host, port), TCPNoDelayHandler)
    try:
        run_server(server, args.port_file)
    finally:
        if args.unix:
            try:
                os.unlink(args.unix)
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
