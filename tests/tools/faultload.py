#!/usr/bin/env python3
"""faultload.py: the clients of the backend fault battery
(tests/integration/backend_faults.sh). Python 3 standard library only; TLS
is the ssl module (OpenSSL), independent of the server's library.

Every body is checked end to end. backend.py's GET /stream/N sends the
SHA-256 of the body it sends (X-Content-SHA256: a header with
Content-Length, a trailer with chunked=1), and the body is the deterministic
/bytes/N stream, so the client also knows what it must be from the path
alone. A response is "ok" only if it is complete by its own framing
(Content-Length reached, or the last chunk and trailers read), the backend's
digest matches the bytes received and those are the expected bytes. A body
cut short is "truncated", and even then every byte received must be the
expected one; a complete body with any wrong byte is "corrupt".

  get       one GET through TLS; prints outcome=... status=... bytes=...
  multi     slow downloads spread over several backend processes sharing a
            port; waits for one process to be killed; judges each download
  load      CLIENTS threads, one request per TLS connection, until the
            duration or a stop file; one JSON line per request
  report    judge a load's results around a backend restart or a SIGTERM
  reset     uploads cut by a client RST (SO_LINGER 0) in mid-body
  upload    uploads that must succeed: POST /sha256, digest compared
  prefix    is FILE a prefix of the /bytes/N stream?
  blackhole a listener whose backlog is full: connects to it never complete
  conns     ESTABLISHED TCP sockets whose remote port is PORT
"""

import argparse
import fcntl
import hashlib
import json
import os
import random
import socket
import ssl
import struct
import sys
import termios
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from backend import BLOCK, byte_block, digest_bytes  # noqa: E402

SOCKET_TIMEOUT = 15.0


# --- the expected bytes --------------------------------------------------------

class Expect:
    """Compares received bytes with the /bytes/N stream as they arrive."""

    def __init__(self, total):
        self.total = total
        self.pos = 0
        self.good = True
        self.sha = hashlib.sha256()

    def feed(self, data):
        self.sha.update(data)
        off = 0
        while off < len(data) and self.good:
            if self.pos >= self.total:
                self.good = False  # more bytes than the stream has
                break
            block, inside = divmod(self.pos, BLOCK)
            want = byte_block(block, min(BLOCK, self.total - block * BLOCK))[inside:]
            piece = data[off:off + len(want)]
            if piece != want[:len(piece)]:
                self.good = False
            off += len(piece)
            self.pos += len(piece)
        if not self.good:
            self.pos += len(data) - off


# --- one HTTP exchange over TLS ------------------------------------------------

class Result:
    """What one request came to; see the module comment for outcomes."""

    def __init__(self, path):
        self.path = path
        self.t0 = time.time()
        self.t_sent = self.t_head = self.t_end = None
        self.outcome = None
        self.status = 0
        self.bytes = 0
        self.pid = None
        self.chunked = False
        self.err = ""

    def row(self):
        return {k: v for k, v in vars(self).items() if v not in (None, "")}


def tls_context(cafile):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def tls_connect(opts, ctx, rcvbuf=0):
    raw = socket.socket()
    if rcvbuf:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    raw.settimeout(SOCKET_TIMEOUT)
    try:
        raw.connect((opts.host, opts.port))
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return ctx.wrap_socket(raw, server_hostname="localhost")
    except BaseException:
        raw.close()
        raise


def want_size(path):
    """N of /stream/N..., or None for other paths."""
    if not path.startswith("/stream/"):
        return None
    return int(path.split("/", 2)[2].split("?", 1)[0])


def read_head(f, res):
    status = f.readline(8192)
    if not status:
        raise EOFError("EOF before the status line")
    res.t_head = time.time()
    parts = status.split(None, 2)
    res.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else -1
    headers = {}
    while True:
        line = f.readline(8192)
        if not line:
            raise EOFError("EOF in the response head")
        if line in (b"\r\n", b"\n"):
            return headers
        k, _, v = line.partition(b":")
        headers[k.strip().lower().decode()] = v.strip().decode()


def read_body(f, headers, res, expect, on_progress=None):
    """Read the body by its framing into expect; return the backend's
    digest (header or trailer) or None. EOFError if it is cut short."""
    digest = headers.get("x-content-sha256")

    def take(data):
        expect.feed(data)
        res.bytes += len(data)
        if on_progress:
            on_progress(res.bytes)

    if "chunked" in headers.get("transfer-encoding", "").lower():
        res.chunked = True
        while True:
            line = f.readline(1024)
            if not line.endswith(b"\n"):
                raise EOFError("EOF in a chunk size")
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                break
            while size > 0:
                data = f.read1(min(size, 65536))
                if not data:
                    raise EOFError("EOF in a chunk")
                size -= len(data)
                take(data)
            if f.readline(16) not in (b"\r\n", b"\n"):
                raise EOFError("EOF after a chunk")
        while True:  # trailers, up to the empty line
            line = f.readline(8192)
            if not line.endswith(b"\n"):
                raise EOFError("EOF in the trailers")
            if line in (b"\r\n", b"\n"):
                return digest
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"x-content-sha256":
                digest = v.strip().decode()
    if "content-length" in headers:
        left = int(headers["content-length"])
        while left > 0:
            data = f.read1(min(left, 65536))
            if not data:
                raise EOFError("EOF after %d body bytes, %d short" % (res.bytes, left))
            left -= len(data)
            take(data)
        return digest
    while True:  # delimited by the close: complete only on a clean EOF
        data = f.read1(65536)
        if not data:
            return digest
        take(data)


def exchange(opts, ctx, path, method="GET", on_head=None, on_progress=None, rcvbuf=0):
    """One request on a new TLS connection; never raises. Returns a Result
    whose outcome is ok, corrupt, truncated, status (a complete non-200
    answer), refused, no_response (closed or reset before any response
    byte) or timeout."""
    res = Result(path)
    total = want_size(path)
    expect = Expect(total if total is not None else 0)
    sock = None
    try:
        try:
            sock = tls_connect(opts, ctx, rcvbuf)
        except ConnectionRefusedError as e:
            res.outcome, res.err = "refused", str(e)
            return res
        sock.sendall(("%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                      % (method, path)).encode())
        res.t_sent = time.time()
        f = sock.makefile("rb", buffering=65536)
        headers = read_head(f, res)
        res.pid = int(headers["x-backend-pid"]) if "x-backend-pid" in headers else None
        if on_head:
            on_head(res)
        if res.status != 200:
            expect = Expect(1 << 62)  # an error text: framing checked, not bytes
        digest = read_body(f, headers, res, expect, on_progress)
        if res.status != 200:
            res.outcome = "status"
        elif total is None:
            res.outcome = "ok"
        elif expect.good and expect.pos == total and digest == expect.sha.hexdigest() \
                and digest == digest_bytes(total):
            res.outcome = "ok"
        else:
            res.outcome = "corrupt"
            res.err = "got %d of %d bytes, in order: %s, backend digest %s, ours %s" % (
                expect.pos, total, expect.good, digest, expect.sha.hexdigest())
    except socket.timeout as e:
        res.outcome, res.err = "timeout", repr(e)
    except (EOFError, OSError, ssl.SSLError, ValueError) as e:
        res.err = repr(e)
        if res.t_head is None:
            res.outcome = "no_response"
        elif expect.good or res.status != 200:
            res.outcome = "truncated"
        else:
            res.outcome = "corrupt"  # even a cut-off body must be a true prefix
            res.err += "; wrong bytes before the cut"
    finally:
        res.t_end = time.time()
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass
    return res


def stream_path(size, chunked, ms=0, delay=0):
    q = ["chunked=1"] if chunked else []
    if ms:
        q.append("ms=%d" % ms)
    if delay:
        q.append("delay=%d" % delay)
    return "/stream/%d%s" % (size, ("?" + "&".join(q)) if q else "")


# --- get ------------------------------------------------------------------------

def cmd_get(opts):
    ctx = tls_context(opts.cafile)
    progress = None
    if opts.progress:
        def progress(n):
            with open(opts.progress + ".tmp", "w") as p:
                p.write("%d\n" % n)
            os.replace(opts.progress + ".tmp", opts.progress)
    res = exchange(opts, ctx, opts.path, on_progress=progress, rcvbuf=opts.rcvbuf)
    print("outcome=%s status=%d bytes=%d elapsed=%.3f chunked=%d err=%r"
          % (res.outcome, res.status, res.bytes, res.t_end - res.t0, res.chunked, res.err))
    return 0


# --- multi ------------------------------------------------------------------------

def cmd_multi(opts):
    """Slow downloads (Content-Length and chunked alternately) until each of
    two backend processes serves at least one of each kind, then write
    --ready (JSON) and wait for the test to kill one process, named in
    --victim. Downloads from the victim must be cut short (a true prefix),
    every other one complete and correct."""
    ctx = tls_context(opts.cafile)
    for attempt in range(3):
        results, threads, heads = [], [], []
        cover = {}
        for i in range(opts.max_conns):
            res_box = {}
            got_head = threading.Event()

            def on_head(r, box=res_box, ev=got_head):
                box["r"] = r
                ev.set()

            def download(p=stream_path(opts.size, i % 2 == 1, ms=opts.ms),
                         cb=on_head, box=res_box, ev=got_head):
                r = exchange(opts, ctx, p, on_head=cb, rcvbuf=65536)
                box.setdefault("r", r)
                results.append(r)
                ev.set()

            t = threading.Thread(target=download, daemon=True)
            t.start()
            threads.append(t)
            if not got_head.wait(SOCKET_TIMEOUT) or res_box["r"].pid is None:
                r = res_box.get("r")
                print("multi: no response head on download %d: %s" % (
                    i, r and (r.outcome, r.err)), file=sys.stderr)
                return 1
            r = res_box["r"]
            heads.append(r)
            cover.setdefault(r.pid, set()).add(i % 2)
            if len(cover) >= 2 and all(len(k) == 2 for k in cover.values()):
                break
        if len(cover) >= 2 and all(len(k) == 2 for k in cover.values()):
            break
        # The kernel put them all on one process: drop these and retry.
        print("multi: attempt %d covered %r, retrying" % (attempt, cover), file=sys.stderr)
        for t in threads:
            t.join(opts.ms / 1000.0 + SOCKET_TIMEOUT)
    else:
        print("multi: could not spread downloads over two processes", file=sys.stderr)
        return 1
    with open(opts.ready + ".tmp", "w") as f:
        json.dump({"pids": sorted(cover), "conns": len(heads)}, f)
    os.replace(opts.ready + ".tmp", opts.ready)
    deadline = time.monotonic() + opts.ms / 1000.0 + 2 * SOCKET_TIMEOUT
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    if any(t.is_alive() for t in threads):
        print("multi: downloads still running at the deadline", file=sys.stderr)
        return 1
    victim = int(open(opts.victim).read())
    fails, n = [], {"victim": 0, "victim_cl": 0, "victim_chunked": 0, "truncated": 0,
                    "others": 0, "ok": 0, "bytes": 0, "digests": 0, "corrupt": 0}
    for r in results:
        n["bytes"] += r.bytes
        n["corrupt"] += r.outcome == "corrupt"
        if r.pid == victim:
            n["victim"] += 1
            n["victim_chunked" if r.chunked else "victim_cl"] += 1
            n["truncated"] += r.outcome == "truncated"
            if r.outcome != "truncated":
                fails.append("download from the killed process %s: %s (%s) after %d bytes"
                             % (r.pid, r.outcome, r.err, r.bytes))
        else:
            n["others"] += 1
            n["ok"] += r.outcome == "ok"
            n["digests"] += r.outcome == "ok"
            if r.outcome != "ok":
                fails.append("download from the surviving process %s: %s (%s)"
                             % (r.pid, r.outcome, r.err))
    print("multi: conns=%d %s" % (len(results), " ".join("%s=%d" % kv for kv in n.items())))
    for f in fails:
        print("multi: FAIL " + f, file=sys.stderr)
    return 1 if fails or not n["victim_cl"] or not n["victim_chunked"] else 0


# --- load -------------------------------------------------------------------------

def cmd_load(opts):
    ctx = tls_context(opts.cafile)
    sizes = [int(s) for s in opts.sizes.split(",")]
    deadline = time.monotonic() + opts.duration
    lock = threading.Lock()
    out = open(opts.results, "w")
    count = [0]

    def running():
        return (time.monotonic() < deadline and count[0] < opts.max_requests
                and not (opts.stop_file and os.path.exists(opts.stop_file)))

    def client(cid):
        i = 0
        while running():
            size = sizes[(cid + i) % len(sizes)]
            path = stream_path(size, (cid + i) % 2 == 1, delay=opts.delay_ms)
            res = exchange(opts, ctx, path)
            row = res.row()
            row["c"] = cid
            with lock:
                out.write(json.dumps(row) + "\n")
                out.flush()
                count[0] += 1
            i += 1
            if res.outcome in ("refused", "no_response"):
                time.sleep(0.02)  # do not spin on a closed port

    threads = [threading.Thread(target=client, args=(c,), daemon=True)
               for c in range(opts.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()) + 2 * SOCKET_TIMEOUT)
    out.close()
    stuck = sum(t.is_alive() for t in threads)
    print("load: requests=%d clients=%d stuck=%d" % (count[0], opts.clients, stuck))
    return 1 if stuck else 0


def load_rows(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def cmd_report(opts):
    rows = load_rows(opts.results)
    fails = []
    n = {"requests": len(rows), "ok": 0, "bytes": 0, "corrupt": 0}
    for r in rows:
        n["corrupt"] += r["outcome"] == "corrupt"
        if r["outcome"] == "ok":
            n["ok"] += 1
            n["bytes"] += r["bytes"]
        if r["outcome"] == "corrupt":
            fails.append("corrupt body: %s %s" % (r["path"], r.get("err")))
    if opts.case == "restart":
        # Down from the kill (plus a guard for requests already on their
        # way) until the new process is launched; surely up once it listens.
        kill, up = opts.kill, opts.up
        outage = [r for r in rows if kill + opts.guard <= r["t0"] < opts.restart]
        after = [r for r in rows if r["t0"] >= up]
        before = [r for r in rows if r["t_end"] < kill]
        restarting = [r for r in rows if opts.restart <= r["t0"] < up]
        across = [r for r in rows if r["t0"] < kill + opts.guard and r["t_end"] >= kill]
        s502 = [r for r in outage if r["outcome"] == "status" and r["status"] == 502]
        n.update(before_ok=sum(r["outcome"] == "ok" for r in before),
                 across=len(across), restarting=len(restarting),
                 across_truncated=sum(r["outcome"] == "truncated" for r in across),
                 outage=len(outage), outage_502=len(s502),
                 max_502_ms=int(max([(r["t_end"] - r["t0"]) * 1000 for r in s502] or [0])),
                 after=len(after), after_ok=sum(r["outcome"] == "ok" for r in after))
        for r in before + after:
            if r["outcome"] != "ok":
                fails.append("%s with the backend up: %s %s %s" % (
                    r["path"], r["outcome"], r.get("status"), r.get("err")))
        for r in outage:
            if r not in s502:
                fails.append("%s during the outage: %s %s %s, want 502" % (
                    r["path"], r["outcome"], r.get("status"), r.get("err")))
        for r in across + restarting:  # done, 502, or cut short by the kill
            if r["outcome"] not in ("ok", "truncated") and r.get("status") != 502:
                fails.append("%s across the kill: %s %s %s" % (
                    r["path"], r["outcome"], r.get("status"), r.get("err")))
        if not s502:
            fails.append("no request met the outage")
        if n["max_502_ms"] > opts.max_502_ms:
            fails.append("a 502 took %d ms, want at most %d" % (n["max_502_ms"], opts.max_502_ms))
        if n["after_ok"] < opts.min_after:
            fails.append("%d successes after the restart, want at least %d"
                         % (n["after_ok"], opts.min_after))
    elif opts.case == "drain":
        term, closed = opts.term, opts.closed
        inflight = [r for r in rows if r.get("t_sent") and r["t_sent"] < term < r["t_end"]]
        late = [r for r in rows if r["t0"] >= closed]
        n.update(inflight=len(inflight),
                 inflight_ok=sum(r["outcome"] == "ok" for r in inflight),
                 inflight_max_ms=int(max([(r["t_end"] - term) * 1000 for r in inflight] or [0])),
                 sent_after=sum(1 for r in rows if r.get("t_sent") and r["t_sent"] > term),
                 truncated=sum(r["outcome"] == "truncated" for r in rows),
                 after_close=len(late),
                 after_close_refused=sum(r["outcome"] == "refused" for r in late),
                 no_response=sum(r["outcome"] == "no_response" for r in rows))
        for r in rows:
            if r.get("t_sent") and r["outcome"] != "ok":
                # Its connection was accepted and its request sent: it must
                # be answered in full, SIGTERM or not.
                fails.append("%s sent, then %s %s %s" % (
                    r["path"], r["outcome"], r.get("status"), r.get("err")))
            elif not r.get("t_sent") and r["t0"] < term - 2:
                # Not even sent, well before the signal: not the drain's doing.
                fails.append("%s failed before SIGTERM: %s %s" % (r["path"], r["outcome"], r.get("err")))
            elif not r.get("t_sent") and r["outcome"] not in ("refused", "no_response"):
                fails.append("%s: %s %s" % (r["path"], r["outcome"], r.get("err")))
            elif r["outcome"] == "ok" and r["t_end"] > term + opts.drain_timeout:
                fails.append("%s finished %.1f s after SIGTERM, past the drain timeout" % (
                    r["path"], r["t_end"] - term))
        for r in inflight:
            if r["outcome"] != "ok":
                fails.append("in flight at SIGTERM: %s %s %s" % (r["path"], r["outcome"], r.get("err")))
        for r in late:
            if r["outcome"] != "refused":
                fails.append("connect after the listeners closed: %s %s" % (r["outcome"], r.get("err")))
        if len(inflight) < opts.min_inflight:
            fails.append("%d requests in flight at SIGTERM, want at least %d"
                         % (len(inflight), opts.min_inflight))
    else:  # plain: every request ok
        for r in rows:
            if r["outcome"] != "ok":
                fails.append("%s: %s %s %s" % (r["path"], r["outcome"], r.get("status"), r.get("err")))
    print("report: " + " ".join("%s=%d" % kv for kv in n.items()))
    for f in fails[:20]:
        print("report: FAIL " + f, file=sys.stderr)
    return 1 if fails else 0


# --- uploads ----------------------------------------------------------------------

def send_head(sock, length, chunked):
    te = "Transfer-Encoding: chunked" if chunked else "Content-Length: %d" % length
    sock.sendall(("POST /sha256 HTTP/1.1\r\nHost: localhost\r\n%s\r\n\r\n" % te).encode())


def send_piece(sock, data, chunked):
    if chunked:
        sock.sendall(b"%x\r\n%s\r\n" % (len(data), data))
    else:
        sock.sendall(data)


def cmd_reset(opts):
    """Uploads that declare --declared bytes, send part of them and then
    abort with a TCP RST. Counts only what the client could get wrong: a
    failure before the reset (refused, handshake, an early answer)."""
    ctx = tls_context(opts.cafile)
    lock = threading.Lock()
    n = {"reps": 0, "cl": 0, "chunked": 0, "sent_bytes": 0, "errors": 0}
    errors = []
    todo = list(range(opts.reps))
    rng = random.Random(opts.seed)
    sends = [rng.randint(opts.min_send, opts.max_send) for _ in todo]
    piece = os.urandom(65536)

    def one(i):
        chunked = i % 2 == 1
        sock = tls_connect(opts, ctx)
        try:
            send_head(sock, opts.declared, chunked)
            left = sends[i]
            while left > 0:
                send_piece(sock, piece[:min(left, len(piece))], chunked)
                left -= min(left, len(piece))
            # Reset only once tlsterm's side holds every byte sent (our send
            # queue is empty), so the reset lands mid-body in tlsterm, not
            # in our own buffers.
            for _ in range(200):
                if struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ,
                                                  b"\0" * 4))[0] == 0:
                    break
                time.sleep(0.005)
            # Nothing may have come back: the request is not finished.
            sock.setblocking(False)
            try:
                early = sock.recv(4096)
            except (ssl.SSLWantReadError, BlockingIOError):
                early = None
            if early is not None:
                raise RuntimeError("an answer before the body was complete: %r" % early[:80])
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        finally:
            sock.close()
        return chunked, sends[i]

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                i = todo.pop(0)
            try:
                chunked, sent = one(i)
                with lock:
                    n["reps"] += 1
                    n["chunked" if chunked else "cl"] += 1
                    n["sent_bytes"] += sent
            except Exception as e:  # noqa: BLE001 (every failure is counted)
                with lock:
                    n["errors"] += 1
                    errors.append(repr(e))

    start = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(opts.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(opts.reps * SOCKET_TIMEOUT)
    print("reset: %s elapsed=%.1f" % (" ".join("%s=%d" % kv for kv in n.items()),
                                      time.monotonic() - start))
    for e in errors[:10]:
        print("reset: error " + e, file=sys.stderr)
    return 1 if n["errors"] or n["reps"] != opts.reps else 0


def cmd_upload(opts):
    """Complete uploads, Content-Length and chunked in turn; the backend's
    SHA-256 of what it received must equal the client's."""
    ctx = tls_context(opts.cafile)
    n = {"uploads": 0, "bytes": 0, "digests": 0, "errors": 0}
    start = time.monotonic()
    for i in range(opts.reps):
        if opts.stop_file and os.path.exists(opts.stop_file):
            break
        body = os.urandom(opts.size)
        chunked = i % 2 == 1
        try:
            sock = tls_connect(opts, ctx)
            try:
                send_head(sock, len(body), chunked)
                for off in range(0, len(body), 65536):
                    send_piece(sock, body[off:off + 65536], chunked)
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
                f = sock.makefile("rb")
                res = Result("/sha256")
                headers = read_head(f, res)
                got = f.read(int(headers.get("content-length", "0"))).strip().decode()
            finally:
                sock.close()
            if res.status != 200 or got != hashlib.sha256(body).hexdigest():
                raise RuntimeError("status %d, digest %s" % (res.status, got))
            n["uploads"] += 1
            n["bytes"] += len(body)
            n["digests"] += 1
        except Exception as e:  # noqa: BLE001
            n["errors"] += 1
            print("upload: error %r" % e, file=sys.stderr)
    print("upload: %s elapsed=%.1f" % (" ".join("%s=%d" % kv for kv in n.items()),
                                       time.monotonic() - start))
    return 1 if n["errors"] or not n["uploads"] else 0


# --- small tools ------------------------------------------------------------------

def cmd_prefix(opts):
    data = open(opts.file, "rb").read()
    e = Expect(opts.size)
    e.feed(data)
    print("prefix: bytes=%d of %d good=%d" % (len(data), opts.size, e.good))
    return 0 if e.good else 1


def cmd_blackhole(opts):
    """listen(2) with a backlog of 0, then fill the queue with one of our own
    connections: the kernel drops every later SYN, so connects to this port
    hang until their own timeout. Held until killed (at most an hour)."""
    lsn = socket.socket()
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(0)
    port = lsn.getsockname()[1]
    fillers = []
    for _ in range(8):
        s = socket.socket()
        s.settimeout(0.3)
        try:
            s.connect(("127.0.0.1", port))
            fillers.append(s)
        except socket.timeout:
            s.close()
            break
    else:
        print("blackhole: the backlog never filled", file=sys.stderr)
        return 1
    with open(opts.port_file + ".tmp", "w") as f:
        f.write("%d\n" % port)
    os.replace(opts.port_file + ".tmp", opts.port_file)
    time.sleep(3600)
    return 0


def cmd_conns(opts):
    count = 0
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    rem_port = int(fields[2].rsplit(":", 1)[1], 16)
                    if rem_port == opts.port and fields[3] == "01":  # ESTABLISHED
                        count += 1
        except FileNotFoundError:
            pass
    print(count)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    def client(name):
        p = sub.add_parser(name)
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--cafile", required=True)
        return p

    p = client("get")
    p.add_argument("--path", required=True)
    p.add_argument("--progress", help="file that receives the body bytes read so far")
    p.add_argument("--rcvbuf", type=int, default=0)
    p = client("multi")
    p.add_argument("--size", type=int, default=1 << 20)
    p.add_argument("--ms", type=int, default=3000)
    p.add_argument("--max-conns", type=int, default=24)
    p.add_argument("--ready", required=True)
    p.add_argument("--victim", required=True)
    p = client("load")
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--max-requests", type=int, default=100000)
    p.add_argument("--sizes", default="1024,65536,262144")
    p.add_argument("--delay-ms", type=int, default=0)
    p.add_argument("--stop-file")
    p.add_argument("--results", required=True)
    p = sub.add_parser("report")
    p.add_argument("results")
    p.add_argument("--case", choices=["plain", "restart", "drain"], default="plain")
    p.add_argument("--kill", type=float)
    p.add_argument("--restart", type=float, help="when the new backend was launched")
    p.add_argument("--up", type=float, help="when it was listening")
    p.add_argument("--guard", type=float, default=0.2)
    p.add_argument("--max-502-ms", type=int, default=2000)
    p.add_argument("--min-after", type=int, default=10)
    p.add_argument("--term", type=float)
    p.add_argument("--closed", type=float)
    p.add_argument("--drain-timeout", type=float)
    p.add_argument("--min-inflight", type=int, default=1)
    p = client("reset")
    p.add_argument("--reps", type=int, default=200)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--declared", type=int, default=8 << 20)
    p.add_argument("--min-send", type=int, default=256 << 10)
    p.add_argument("--max-send", type=int, default=3 << 20)
    p.add_argument("--seed", type=int, default=1)
    p = client("upload")
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--size", type=int, default=1 << 20)
    p.add_argument("--stop-file")
    p = sub.add_parser("prefix")
    p.add_argument("--size", type=int, required=True)
    p.add_argument("file")
    p = sub.add_parser("blackhole")
    p.add_argument("--port-file", required=True)
    p = sub.add_parser("conns")
    p.add_argument("--port", type=int, required=True)
    opts = ap.parse_args()
    return globals()["cmd_" + opts.cmd](opts)


if __name__ == "__main__":
    sys.exit(main())
