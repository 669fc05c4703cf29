#!/usr/bin/env python3
"""backend.py: the application server behind both tlsterm instances in
scripts/scaleout-test. Python 3 standard library (http.server) only.

  backend.py --listen ADDR:PORT --log FILE [--port-file F]

  GET /r/ID?ms=M&n=N   waits M ms (at most 5000), then answers 200 with a
                       JSON body {"id": ID, "peer": ADDR, "xff": XFF,
                       "pad": PAD}: ADDR is the address of the tlsterm
                       instance that relayed the request, XFF the
                       X-Forwarded-For it was told ("" when absent), PAD
                       N characters (at most 1 MiB) derived from ID, so a
                       client can check the whole body.

Every request is logged to FILE as one JSON line {"t", "id", "peer", "xff"}
when its head has arrived, before the answer is written: a request that
reached the backend is on record even if its answer is lost on the way.
HTTP/1.1 keep-alive, every answer has a Content-Length. Quiet otherwise.
"""

import argparse
import hashlib
import http.server
import json
import os
import sys
import threading
import time
import urllib.parse

# tests/tools first: its backend.py, not this one, is the module "backend".
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from backend import run_server  # noqa: E402

MAX_MS = 5000
MAX_PAD = 1 << 20


def pad_for(rid, n):
    """The N-character body padding for request id RID (the client's
    check computes the same)."""
    unit = hashlib.sha256(rid.encode()).hexdigest()
    return (unit * (n // len(unit) + 1))[:n]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "scaleout-backend/1"
    disable_nagle_algorithm = True
    log_file = None
    log_lock = threading.Lock()

    def log_message(self, format, *args):  # noqa: A002 (stdlib signature)
        pass

    def reply(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if not url.path.startswith("/r/"):
            return self.reply(404, b'{"error": "not found"}\n')
        rid = url.path[3:]
        query = urllib.parse.parse_qs(url.query)
        try:
            ms = min(MAX_MS, max(0, int(query.get("ms", ["0"])[0])))
            n = min(MAX_PAD, max(0, int(query.get("n", ["0"])[0])))
        except ValueError:
            return self.reply(400, b'{"error": "bad ms or n"}\n')
        rec = {"t": time.time(), "id": rid, "peer": self.client_address[0],
               "xff": self.headers.get("X-Forwarded-For", "")}
        with self.log_lock:
            self.log_file.write(json.dumps(rec) + "\n")
            self.log_file.flush()
        if ms:
            time.sleep(ms / 1000.0)
        body = {"id": rid, "peer": rec["peer"], "xff": rec["xff"],
                "pad": pad_for(rid, n)}
        return self.reply(200, (json.dumps(body) + "\n").encode())


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def server_bind(self):
        # No getfqdn(): it may wait on DNS, which these namespaces lack.
        http.server.socketserver.TCPServer.server_bind(self)
        self.server_name = "backend"
        self.server_port = self.server_address[1]

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # a peer that goes away is not the backend's problem
        super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", required=True, metavar="ADDR:PORT")
    ap.add_argument("--log", required=True, metavar="FILE")
    ap.add_argument("--port-file", metavar="F")
    args = ap.parse_args()
    host, _, port = args.listen.rpartition(":")
    Handler.log_file = open(args.log, "a", encoding="utf-8")
    server = Server((host, int(port)), Handler)
    run_server(server, args.port_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
