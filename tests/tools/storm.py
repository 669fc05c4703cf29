#!/usr/bin/env python3
"""storm.py: the refresh-storm client. Python 3 standard library only; TLS
is the ssl module (OpenSSL), a client independent of the server's library.

Simulates many browsers refreshing a single-page app: each virtual client
loads the page again and again. A page load opens 6 new TLS connections:
connection 0 fetches /index.html, then all 30 assets are spread over the
6 connections (HTTP/1.1 keep-alive, fetched in parallel). About half of the
connections resume with a session ticket saved from an earlier connection
(saved after reading a response, since TLS 1.3 tickets arrive after the
handshake). Page loads alternate between TLS 1.3 and TLS 1.2. Every body is
checked against the manifest's SHA-256.

  storm.py --make-docroot DIR       write DIR/index.html, DIR/assets/*
                                    (1 KiB..500 KiB, random) and
                                    DIR/manifest.json, then exit
  storm.py --port P --cafile CA --manifest DIR/manifest.json
           [--duration S] [--clients N] [--min-requests N] [--max-requests N]

Prints one summary line and exits 1 on any TLS error, body mismatch, other
error, or fewer than --min-requests requests:
  storm: requests=... bytes=... pages=... connections=... tls12=... tls13=...
         resume_offered=... resumed=... resumed12=... resumed13=...
         tls_errors=0 bad_record_mac=0 mismatches=0 other_errors=0 ...
"""

import argparse
import concurrent.futures
import hashlib
import json
import os
import socket
import ssl
import sys
import threading
import time

CONNS_PER_PAGE = 6
N_ASSETS = 30
MIN_ASSET, MAX_ASSET = 1024, 500 * 1024
SOCKET_TIMEOUT = 15.0


# --- docroot ---------------------------------------------------------------

def make_docroot(root):
    os.makedirs(os.path.join(root, "assets"), exist_ok=True)
    manifest = {"index": "/index.html", "assets": [], "sha256": {}}
    kinds = ["js", "css", "png", "woff2", "svg"]
    for i in range(N_ASSETS):
        # Sizes spread geometrically from 1 KiB to 500 KiB.
        size = int(MIN_ASSET * (MAX_ASSET / MIN_ASSET) ** (i / (N_ASSETS - 1)))
        path = "/assets/a%02d.%s" % (i, kinds[i % len(kinds)])
        body = os.urandom(size)
        with open(os.path.join(root, path.lstrip("/")), "wb") as f:
            f.write(body)
        manifest["assets"].append(path)
        manifest["sha256"][path] = hashlib.sha256(body).hexdigest()
    links = "\n".join('<link rel="preload" href="%s">' % p for p in manifest["assets"])
    index = ("<!doctype html>\n<html><head><title>storm</title>\n%s\n</head>"
             "<body><div id=app>%s</div></body></html>\n"
             % (links, os.urandom(8).hex())).encode()
    with open(os.path.join(root, "index.html"), "wb") as f:
        f.write(index)
    manifest["sha256"]["/index.html"] = hashlib.sha256(index).hexdigest()
    with open(os.path.join(root, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


# --- statistics --------------------------------------------------------------

class Stats:
    FIELDS = ["requests", "bytes", "pages", "connections", "tls12", "tls13",
              "resume_offered", "resumed", "resumed12", "resumed13",
              "tls_errors", "bad_record_mac", "mismatches", "other_errors"]

    def __init__(self):
        self.lock = threading.Lock()
        self.v = dict.fromkeys(self.FIELDS, 0)
        self.samples = {}  # distinct error message -> count

    def add(self, **kw):
        with self.lock:
            for k, n in kw.items():
                self.v[k] += n

    def error(self, kind, what):
        with self.lock:
            self.v[kind] += 1
            msg = "%s: %s" % (kind, what)
            if msg in self.samples or len(self.samples) < 20:
                self.samples[msg] = self.samples.get(msg, 0) + 1

    def get(self, k):
        with self.lock:
            return self.v[k]


class Mismatch(Exception):
    pass


# --- one TLS connection --------------------------------------------------------

class Conn:
    def __init__(self, opts, ctx, version, session):
        self.opts = opts
        raw = socket.create_connection((opts.host, opts.port), timeout=SOCKET_TIMEOUT)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.sock = ctx.wrap_socket(raw, server_hostname=opts.servername,
                                        session=session)
        except BaseException:
            raw.close()
            raise
        self.file = self.sock.makefile("rb", buffering=256 * 1024)
        got = self.sock.version()
        want = "TLSv1.3" if version == 13 else "TLSv1.2"
        if got != want:
            raise Mismatch("negotiated %s, want %s" % (got, want))
        alpn = self.sock.selected_alpn_protocol()
        if alpn != "http/1.1":
            raise Mismatch("ALPN %r, want 'http/1.1'" % alpn)
        self.resumed = self.sock.session_reused

    def get(self, path):
        """GET path on this keep-alive connection; returns the body."""
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: storm\r\n\r\n"
                           % (path, self.opts.servername)).encode())
        status = self.file.readline(8192)
        if not status:
            raise ConnectionError("EOF before the response to %s" % path)
        if not status.startswith(b"HTTP/1.1 200 "):
            raise Mismatch("%s: status %r" % (path, status.strip()))
        length = None
        while True:
            line = self.file.readline(8192)
            if line in (b"\r\n", b"\n"):
                break
            if not line:
                raise ConnectionError("EOF in the headers of %s" % path)
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        if length is None:
            raise Mismatch("%s: no Content-Length" % path)
        body = self.file.read(length)
        if len(body) != length:
            raise ConnectionError("%s: EOF after %d of %d body bytes" % (path, len(body), length))
        return body

    def session(self):
        s = self.sock.session
        return s if s is not None and s.has_ticket else None

    def close(self):
        try:
            self.file.close()
            self.sock.close()
        except OSError:
            pass


# --- the storm -------------------------------------------------------------------

class Storm:
    def __init__(self, opts):
        self.opts = opts
        with open(opts.manifest) as f:
            m = json.load(f)
        self.index = m["index"]
        self.assets = m["assets"]
        self.sha = m["sha256"]
        self.stats = Stats()
        self.ctx = {13: self.context(ssl.TLSVersion.TLSv1_3),
                    12: self.context(ssl.TLSVersion.TLSv1_2)}
        self.deadline = time.monotonic() + opts.duration
        self.stop = threading.Event()
        self.pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=opts.clients * CONNS_PER_PAGE, thread_name_prefix="conn")

    def context(self, version):
        # One context per version, shared by every client: a saved session
        # can only be offered on the context that made it.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(self.opts.cafile)
        ctx.minimum_version = ctx.maximum_version = version
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    def running(self):
        return (not self.stop.is_set() and time.monotonic() < self.deadline
                and self.stats.get("requests") < self.opts.max_requests)

    def fetch(self, conn, path):
        body = conn.get(path)
        if hashlib.sha256(body).hexdigest() != self.sha[path]:
            raise Mismatch("%s: SHA-256 mismatch (%d bytes)" % (path, len(body)))
        self.stats.add(requests=1, bytes=len(body))

    def open(self, version, session):
        conn = Conn(self.opts, self.ctx[version], version, session)
        self.stats.add(connections=1, **{"tls%d" % version: 1})
        if session is not None:
            self.stats.add(resume_offered=1)
        if conn.resumed:
            self.stats.add(resumed=1, **{"resumed%d" % version: 1})
        return conn

    def guarded(self, fn, *args):
        """Run fn, turning every failure into a counted error. True if ok."""
        try:
            fn(*args)
            return True
        except ssl.SSLError as e:
            kind = "bad_record_mac" if "BAD_RECORD_MAC" in str(e).upper().replace(" ", "_") else None
            if kind:
                self.stats.add(bad_record_mac=1)
            self.stats.error("tls_errors", repr(e))
        except Mismatch as e:
            self.stats.error("mismatches", str(e))
        except Exception as e:  # noqa: BLE001 (every failure is counted)
            self.stats.error("other_errors", repr(e))
        return False

    def page_load(self, client):
        """One refresh: index.html on connection 0, then the assets over 6
        connections in parallel; odd-numbered connections resume."""
        version = 13 if (client["id"] + client["pages"]) % 2 == 0 else 12
        sessions = client["sessions"]
        conns = [None] * CONNS_PER_PAGE

        def first():
            conns[0] = self.open(version, None)
            self.fetch(conns[0], self.index)
            s = conns[0].session()
            if s is not None:
                sessions[version] = s

        def worker(i):
            if conns[i] is None:
                offer = sessions.get(version) if i % 2 == 1 else None
                conns[i] = self.open(version, offer)
            for path in self.assets[i::CONNS_PER_PAGE]:
                self.fetch(conns[i], path)
            s = conns[i].session()
            if s is not None:
                sessions[version] = s

        try:
            if not self.guarded(first):
                time.sleep(0.05)  # do not spin on a broken server
                return
            futs = [self.pool.submit(self.guarded, worker, i) for i in range(CONNS_PER_PAGE)]
            for f in futs:
                f.result()
            self.stats.add(pages=1)
        finally:
            for c in conns:
                if c is not None:
                    c.close()

    def client(self, cid):
        client = {"id": cid, "pages": 0, "sessions": {}}
        while self.running():
            self.page_load(client)
            client["pages"] += 1

    def run(self):
        start = time.monotonic()
        threads = [threading.Thread(target=self.client, args=(i,), daemon=True,
                                    name="client%d" % i)
                   for i in range(self.opts.clients)]
        for t in threads:
            t.start()
        # Bounded: page loads in flight at the deadline may finish, but
        # every socket has a timeout, so 60 s more is plenty.
        hard_end = self.deadline + 60
        for t in threads:
            t.join(max(0.0, hard_end - time.monotonic()))
        stuck = sum(t.is_alive() for t in threads)
        if stuck:
            self.stats.error("other_errors", "%d clients still running 60 s after the deadline" % stuck)
            self.stop.set()
        self.pool.shutdown(wait=not stuck)
        return time.monotonic() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--make-docroot", metavar="DIR")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int)
    ap.add_argument("--servername", default="localhost")
    ap.add_argument("--cafile")
    ap.add_argument("--manifest")
    ap.add_argument("--duration", type=float, default=20)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--min-requests", type=int, default=1)
    ap.add_argument("--max-requests", type=int, default=2_000_000,
                    help="hard cap: stop starting page loads after this many requests")
    opts = ap.parse_args()

    if opts.make_docroot:
        make_docroot(opts.make_docroot)
        return 0
    for req in ("port", "cafile", "manifest"):
        if getattr(opts, req) is None:
            ap.error("--%s is required" % req)
    if not 1 <= opts.clients <= 256 or not 0 < opts.duration <= 86400:
        ap.error("--clients must be 1..256 and --duration 0..86400")

    storm = Storm(opts)
    elapsed = storm.run()
    v = storm.stats.v
    for msg, n in storm.stats.samples.items():
        print("storm: error (x%d): %s" % (n, msg), file=sys.stderr)
    print("storm: " + " ".join("%s=%d" % (k, v[k]) for k in Stats.FIELDS)
          + " seconds=%.1f req_per_s=%.0f" % (elapsed, v["requests"] / max(elapsed, 0.001)),
          flush=True)
    failed = v["tls_errors"] or v["mismatches"] or v["other_errors"]
    if v["requests"] < opts.min_requests:
        print("storm: only %d requests, want at least %d" % (v["requests"], opts.min_requests),
              file=sys.stderr)
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
