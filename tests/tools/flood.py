#!/usr/bin/env python3
"""flood.py: many connections at once, for the flood tests. Python 3
standard library only; one process, one selector, non-blocking sockets, so
ten thousand connections cost no threads. Raises its own soft open-file
limit to the hard one.

  flood.py silent --port P --conns N [--wait S] [--sources K]
      Open N TCP connections to 127.0.0.1:P and send nothing. Wait until
      the server closes each (or S seconds after the last one opened).
      Prints one line:
        silent: opened=.. refused=.. closed=.. reset=.. still_open=..
                open_s=.. first_close_s=.. min_s=.. p50_s=.. max_s=..
      where min/p50/max are each connection's time from connected to closed.

  flood.py hold --port P --conns N --ready-file F --release-file F
           [--max-hold S] [--sources K]
      Like silent, but the client holds every connection it got (sends
      nothing) until F appears, then closes them all. Prints the same line
      (closed counts those the server closed while held).

  flood.py idle --port P --cafile CA --conns N --ready-file F
           --release-file F [--max-hold S] [--sources K] [--tls 1.2|1.3]
           [--resume]
      Open N TLS connections; on each complete a handshake and one
      keep-alive GET /hello and read the whole response, then hold it open.
      When all are held (or failed), write "held=.. failed=.." to the ready
      file; when the release file appears (at most --max-hold seconds), close
      every connection (close_notify, then close) and print:
        idle: held=.. failed=.. dropped=.. hs_s=.. errors={..}
      dropped: connections the server closed while they were held.
      With --resume (TLS 1.2), every connection after the first resumes the
      first one's session ticket: an abbreviated handshake, which costs
      both sides a fraction of a full one. resumed=.. counts them.

  flood.py keep --port P --cafile CA --conns K --ready-file F
           --release-file F [--interval S] [--max-ms MS] [--max-hold S]
      Clients already connected: K TLS keep-alive connections, one GET /hello
      on each, then the ready file; then one more request on every
      connection each --interval seconds until the release file appears.
      Prints "keep: conns=.. requests=.. failed=.. max_ms=.." and exits 1 if
      a request failed or took longer than --max-ms.

  flood.py backend --listen HOST:PORT --port-file F
      A keep-alive HTTP/1.1 backend that answers every request with 200 and
      "hello from backend\\n"; holds any number of connections.

  flood.py probe --port P --cafile CA --stop-file F [--max-seconds S]
           [--interval S] [--max-ms MS] [--any-body]
      Normal clients: a new TLS connection and GET /hello every --interval
      seconds until F appears (and one more after it has). Prints
      "probe: ok=.. failed=.. max_ms=.. p50_ms=.." and exits 1 if any
      request failed, took longer than --max-ms, or none succeeded. With
      --any-body any 200 counts, not only the backend's hello.

--inflight N (default 256): connects and handshakes in progress at once.
Connections come from source addresses 127.0.1.1 .. 127.0.1.K (K =
--sources, default 16) so that many floods in a row do not run out of
ephemeral ports to one destination (TIME_WAIT).
"""

import argparse
import errno
import os
import resource
import selectors
import socket
import ssl
import statistics
import sys
import time

INFLIGHT = 256  # connects/handshakes in progress at once
RESPONSE_BODY = b"hello from backend\n"


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def source(i, k):
    return "127.0.1.%d" % (1 + i % k)


def new_socket(i, k):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.bind((source(i, k), 0))
    s.setblocking(False)
    return s


def pct(xs, p):
    if not xs:
        return -1.0
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


# --- silent / hold -------------------------------------------------------------

def run_silent(a, hold):
    raise_nofile()
    sel = selectors.DefaultSelector()
    t0 = time.monotonic()
    st = {"opened": 0, "refused": 0, "closed": 0, "reset": 0}
    opened_at = {}  # sock -> time connected
    connecting = {}
    lifetimes = []
    first_close = None
    i = 0
    deadline_open = t0 + a.open_seconds

    def server_closed(s, how):
        nonlocal first_close
        now = time.monotonic()
        st[how] += 1
        lifetimes.append(now - opened_at.pop(s))
        if first_close is None:
            first_close = now - t0
        sel.unregister(s)
        s.close()

    def readable(s):
        """Data or a close from the server: count a close, drop data."""
        try:
            d = s.recv(4096)
        except ConnectionResetError:
            server_closed(s, "reset")
            return
        if not d:
            server_closed(s, "closed")

    while (i < a.conns or connecting) and time.monotonic() < deadline_open:
        while i < a.conns and len(connecting) < a.inflight:
            s = new_socket(i, a.sources)
            i += 1
            err = s.connect_ex(("127.0.0.1", a.port))
            if err not in (0, errno.EINPROGRESS):
                st["refused"] += 1
                s.close()
                continue
            connecting[s] = time.monotonic()
            sel.register(s, selectors.EVENT_WRITE)
        for key, ev in sel.select(0.05):
            s = key.fileobj
            if s in connecting:
                del connecting[s]
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    st["refused"] += 1
                    sel.unregister(s)
                    s.close()
                    continue
                st["opened"] += 1
                opened_at[s] = time.monotonic()
                sel.modify(s, selectors.EVENT_READ)
            else:
                readable(s)
        # connects that never complete (SYN dropped for good) count as refused
        now = time.monotonic()
        for s, t in list(connecting.items()):
            if now - t > 20:
                del connecting[s]
                st["refused"] += 1
                sel.unregister(s)
                s.close()
    open_s = time.monotonic() - t0
    if hold:
        with open(a.ready_file + ".tmp", "w") as f:
            f.write("opened=%d refused=%d closed=%d\n"
                    % (st["opened"], st["refused"], st["closed"] + st["reset"]))
        os.rename(a.ready_file + ".tmp", a.ready_file)
        end = time.monotonic() + a.max_hold
    else:
        end = time.monotonic() + a.wait
    while opened_at and time.monotonic() < end:
        if hold and os.path.exists(a.release_file):
            break
        for key, ev in sel.select(0.05):
            readable(key.fileobj)
    still = len(opened_at)
    for s in list(opened_at):
        s.close()
    print("%s: opened=%d refused=%d closed=%d reset=%d still_open=%d open_s=%.2f "
          "first_close_s=%.2f min_s=%.2f p50_s=%.2f max_s=%.2f"
          % ("hold" if hold else "silent", st["opened"], st["refused"], st["closed"],
             st["reset"], still, open_s, first_close if first_close is not None else -1,
             min(lifetimes) if lifetimes else -1, pct(lifetimes, 0.5),
             max(lifetimes) if lifetimes else -1))
    return 0


# --- idle after one request ----------------------------------------------------

class Conn:
    __slots__ = ("sock", "tls", "state", "buf", "t0")


def response_complete(buf):
    i = buf.find(b"\r\n\r\n")
    if i < 0:
        return False
    head = buf[:i].lower()
    j = head.find(b"content-length:")
    if j < 0:
        return False
    n = int(head[j + 15:].split(b"\r\n", 1)[0])
    return len(buf) >= i + 4 + n


def run_idle(a):
    raise_nofile()
    ctx = ssl.create_default_context(cafile=a.cafile)
    if a.tls:
        v = ssl.TLSVersion.TLSv1_3 if a.tls == "1.3" else ssl.TLSVersion.TLSv1_2
        ctx.minimum_version = ctx.maximum_version = v
    if a.resume:
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    sel = selectors.DefaultSelector()
    errors = {}
    held, inflight = [], 0
    failed = dropped = resumed = 0
    session = None
    i = 0
    t0 = time.monotonic()

    def fail(c, why):
        nonlocal failed, inflight
        failed += 1
        inflight -= 1
        errors[why] = errors.get(why, 0) + 1
        sel.unregister(c.sock if c.tls is None else c.tls)
        (c.tls or c.sock).close()

    def step(c):
        nonlocal inflight, session, resumed
        try:
            if c.state == "hs":
                c.tls.do_handshake()
                if a.resume and session is None:
                    session = c.tls.session
                resumed += c.tls.session_reused
                c.tls.send(b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n")
                c.state = "resp"
            while c.state == "resp":
                d = c.tls.recv(65536)
                if not d:
                    return fail(c, "EOF before the response")
                c.buf += d
                if response_complete(c.buf):
                    if not c.buf.startswith(b"HTTP/1.1 200 ") or not c.buf.endswith(RESPONSE_BODY):
                        return fail(c, "bad response %r" % c.buf[:40])
                    c.state = "held"
                    c.buf = b""
                    inflight -= 1
                    held.append(c)
                    sel.modify(c.tls, selectors.EVENT_READ, c)
                    return None
        except ssl.SSLWantReadError:
            sel.modify(c.tls, selectors.EVENT_READ, c)
        except ssl.SSLWantWriteError:
            sel.modify(c.tls, selectors.EVENT_WRITE, c)
        except (OSError, ssl.SSLError) as e:
            return fail(c, "%s: %s" % (c.state, type(e).__name__))
        return None

    deadline = t0 + a.open_seconds
    while (i < a.conns or inflight) and time.monotonic() < deadline:
        # With --resume, the first connection alone until it has a session.
        limit = 1 if a.resume and session is None else a.inflight
        while i < a.conns and inflight < limit:
            c = Conn()
            c.sock = new_socket(i, a.sources)
            c.tls, c.state, c.buf, c.t0 = None, "connect", b"", time.monotonic()
            i += 1
            inflight += 1
            err = c.sock.connect_ex(("127.0.0.1", a.port))
            if err not in (0, errno.EINPROGRESS):
                sel.register(c.sock, selectors.EVENT_WRITE, c)
                fail(c, "connect: %s" % errno.errorcode.get(err, err))
                continue
            sel.register(c.sock, selectors.EVENT_WRITE, c)
        for key, ev in sel.select(0.05):
            c = key.data
            if c.state == "connect":
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    fail(c, "connect: %s" % errno.errorcode.get(err, err))
                    continue
                sel.unregister(c.sock)
                c.tls = ctx.wrap_socket(c.sock, server_hostname="localhost",
                                        do_handshake_on_connect=False, session=session)
                sel.register(c.tls, selectors.EVENT_READ, c)
                c.state = "hs"
                step(c)
            elif c.state == "held":
                dropped += held_event(c, sel)
            else:
                step(c)
    hs_s = time.monotonic() - t0
    for c in list(sel.get_map().values()):
        if c.data.state not in ("held", "gone"):
            fail(c.data, "not done in %d s" % a.open_seconds)
    with open(a.ready_file + ".tmp", "w") as f:
        f.write("held=%d failed=%d\n" % (len(held) - dropped, failed))
    os.rename(a.ready_file + ".tmp", a.ready_file)
    end = time.monotonic() + a.max_hold
    while time.monotonic() < end and not os.path.exists(a.release_file):
        for key, ev in sel.select(0.1):
            dropped += held_event(key.data, sel)
    for c in held:
        if c.state == "held":
            try:
                c.tls.setblocking(True)
                c.tls.settimeout(0.5)
                c.tls.unwrap()  # close_notify
            except (OSError, ssl.SSLError, ValueError):
                pass
            c.tls.close()
    print("idle: held=%d failed=%d dropped=%d resumed=%d hs_s=%.2f errors=%s"
          % (len(held) - dropped, failed, dropped, resumed, hs_s, errors))
    return 0


def held_event(c, sel):
    """A held connection became readable: tickets are fine, EOF is a drop."""
    try:
        d = c.tls.recv(65536)
        if d:
            return 0
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
        return 0
    except (OSError, ssl.SSLError):
        pass
    sel.unregister(c.tls)
    c.tls.close()
    c.state = "gone"
    return 1


# --- backend ---------------------------------------------------------------------

def run_backend(a):
    raise_nofile()
    host, port = a.listen.rsplit(":", 1)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, int(port)))
    ls.listen(4096)
    ls.setblocking(False)
    with open(a.port_file + ".tmp", "w") as f:
        f.write("%d\n" % ls.getsockname()[1])
    os.rename(a.port_file + ".tmp", a.port_file)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ, None)
    resp = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
            % (len(RESPONSE_BODY), RESPONSE_BODY))
    bufs = {}
    while True:
        for key, ev in sel.select():
            if key.data is None:
                for _ in range(64):
                    try:
                        s, _addr = ls.accept()
                    except (BlockingIOError, ConnectionAbortedError):
                        break
                    except OSError as e:  # EMFILE: try again on the next event
                        print("backend: accept: %s" % e, file=sys.stderr)
                        break
                    s.setblocking(False)
                    bufs[s] = b""
                    sel.register(s, selectors.EVENT_READ, 1)
                continue
            s = key.fileobj
            try:
                d = s.recv(65536)
            except OSError:
                d = b""
            if not d:
                sel.unregister(s)
                del bufs[s]
                s.close()
                continue
            b = bufs[s] + d
            n = b.count(b"\r\n\r\n")  # requests without bodies only
            if n:
                b = b[b.rfind(b"\r\n\r\n") + 4:]
                try:
                    s.sendall(resp * n)
                except OSError:
                    pass
            bufs[s] = b


# --- probe -------------------------------------------------------------------------

def run_probe(a):
    ctx = ssl.create_default_context(cafile=a.cafile)
    ok = failed = 0
    lat = []
    errs = {}
    end = time.monotonic() + a.max_seconds
    stop = False
    while not stop:  # at least one request, however soon F appears
        stop = os.path.exists(a.stop_file) or time.monotonic() > end
        t = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", a.port), timeout=a.max_ms / 1000.0 + 5) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                    s.sendall(b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                    buf = b""
                    while not response_complete(buf):
                        d = s.recv(65536)
                        if not d:
                            break
                        buf += d
            if not (buf.startswith(b"HTTP/1.1 200 ") and (a.any_body or buf.endswith(RESPONSE_BODY))):
                raise ValueError("bad response %r" % buf[:60])
            ms = (time.monotonic() - t) * 1000
            lat.append(ms)
            if ms > a.max_ms:
                failed += 1
                errs["slow"] = errs.get("slow", 0) + 1
            else:
                ok += 1
        except (OSError, ssl.SSLError, ValueError) as e:
            failed += 1
            k = type(e).__name__
            errs[k] = errs.get(k, 0) + 1
        time.sleep(a.interval)
    print("probe: ok=%d failed=%d max_ms=%.0f p50_ms=%.0f errors=%s"
          % (ok, failed, max(lat) if lat else -1, pct(lat, 0.5), errs))
    return 0 if ok > 0 and failed == 0 else 1


def run_keep(a):
    ctx = ssl.create_default_context(cafile=a.cafile)
    conns, lat, errs = [], [], {}
    requests = failed = 0

    def one(s):
        t = time.monotonic()
        s.sendall(b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n")
        buf = b""
        while not response_complete(buf):
            d = s.recv(65536)
            if not d:
                raise ConnectionError("EOF before the response")
            buf += d
        if not (buf.startswith(b"HTTP/1.1 200 ") and buf.endswith(RESPONSE_BODY)):
            raise ValueError("bad response %r" % buf[:60])
        return (time.monotonic() - t) * 1000

    for i in range(a.conns):
        raw = socket.create_connection(("127.0.0.1", a.port), timeout=a.max_ms / 1000.0 + 5)
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        one(s)
        conns.append(s)
    with open(a.ready_file + ".tmp", "w") as f:
        f.write("conns=%d\n" % len(conns))
    os.rename(a.ready_file + ".tmp", a.ready_file)
    end = time.monotonic() + a.max_hold
    while time.monotonic() < end and not os.path.exists(a.release_file):
        for s in conns:
            requests += 1
            try:
                ms = one(s)
                lat.append(ms)
                if ms > a.max_ms:
                    failed += 1
                    errs["slow"] = errs.get("slow", 0) + 1
            except (OSError, ssl.SSLError, ValueError) as e:
                failed += 1
                k = type(e).__name__
                errs[k] = errs.get(k, 0) + 1
        time.sleep(a.interval)
    for s in conns:
        s.close()
    print("keep: conns=%d requests=%d failed=%d max_ms=%.0f errors=%s"
          % (len(conns), requests, failed, max(lat) if lat else -1, errs))
    return 0 if requests > 0 and failed == 0 else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("silent", "hold", "idle"):
        q = sub.add_parser(name)
        q.add_argument("--port", type=int, required=True)
        q.add_argument("--conns", type=int, required=True)
        q.add_argument("--sources", type=int, default=16)
        q.add_argument("--inflight", type=int, default=INFLIGHT,
                       help="connects (and handshakes) in progress at once")
        q.add_argument("--open-seconds", type=float, default=60.0,
                       help="give up opening connections after this long")
        if name == "silent":
            q.add_argument("--wait", type=float, default=30.0)
        else:
            q.add_argument("--ready-file", required=True)
            q.add_argument("--release-file", required=True)
            q.add_argument("--max-hold", type=float, default=60.0)
        if name == "idle":
            q.add_argument("--cafile", required=True)
            q.add_argument("--tls", choices=("1.2", "1.3"))
            q.add_argument("--resume", action="store_true")
    for name, interval in (("keep", 0.2), ("probe", 0.1)):
        q = sub.add_parser(name)
        q.add_argument("--port", type=int, required=True)
        q.add_argument("--cafile", required=True)
        q.add_argument("--interval", type=float, default=interval)
        q.add_argument("--max-ms", type=float, default=5000.0)
        if name == "keep":
            q.add_argument("--conns", type=int, required=True)
            q.add_argument("--ready-file", required=True)
            q.add_argument("--release-file", required=True)
            q.add_argument("--max-hold", type=float, default=60.0)
        else:
            q.add_argument("--stop-file", required=True)
            q.add_argument("--max-seconds", type=float, default=120.0)
            q.add_argument("--any-body", action="store_true", help="any 200 will do")
    q = sub.add_parser("backend")
    q.add_argument("--listen", required=True)
    q.add_argument("--port-file", required=True)
    a = p.parse_args()
    if a.cmd == "silent":
        return run_silent(a, False)
    if a.cmd == "hold":
        return run_silent(a, True)
    if a.cmd == "idle":
        return run_idle(a)
    if a.cmd == "backend":
        return run_backend(a)
    if a.cmd == "keep":
        return run_keep(a)
    return run_probe(a)


if __name__ == "__main__":
    sys.exit(main())
