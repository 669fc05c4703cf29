#!/usr/bin/env python3
"""client.py: the clients of scripts/scaleout-test. Python 3 standard
library only; TLS is the ssl module (OpenSSL), over real sockets.

TLS runs over memory BIOs on a plain socket, so the client knows whether
any byte at all came back from the server: a connection that fails before
the first byte was never accepted (and may be retried); one that fails
after it lost a request.

  client.py get --host H --port P --ca CA --path PATH [--proxy-src IP]
      one GET (Connection: close); with --proxy-src a PROXY v2 header with
      that source comes first. Prints the backend's JSON answer with
      "tls" and "resumed" added. Exit 1 on any failure.
  client.py refused --host H --port P --ca CA --proxy-src IP
      a PROXY v2 header and a ClientHello; the connection must close
      within 3 s with not one byte received. Prints how it closed.
  client.py hold --host H --port P --ca CA --proxy-src IP --seconds S
      one keep-alive connection (a PROXY v2 header first): request after
      request, each waiting 100 ms at the backend, until the server closes
      the connection or S seconds pass. Prints JSON {"answered", "ids",
      "end": "close_notify" | "eof" | "reset" | "open", "closed_at",
      "last_answer_at"}. A close before any byte of a response ends it; one
      in the middle of a response is an error (exit 1).
  client.py resume --host H --port P --ca CA --tls 1.2|1.3 --attempts N
                   --a IP --b IP
      N+1 sequential connections, each offering the session of the one
      before; counts the attempts that reached the other instance and those
      that resumed. Exit 1 if fewer than 99% of the attempts that crossed
      resumed, or fewer than 90% crossed.
  client.py storm --host H --port P --ca CA --clients C [--keepalive K]
                  --seconds S --log F
      C threads for S seconds (TLS 1.3 and 1.2 alternating by thread),
      every body checked. K of them (2) are keep-alive clients: one
      connection, request after request. The others load "pages": a new
      connection each (half resuming the session of the one before) with
      two requests. Before reusing a connection a client checks whether the
      server has closed it (a reconnect). A request that fails before any
      byte came back (refused, or reset in the handshake, or on a reused
      connection closed before its response began) is retried on a new
      connection, at most 5 times; any other failure is an error. One JSON
      line per page, or per keep-alive request, in F.
  client.py analyze --log F --backend-log F --term-at T --a IP --b IP
                    --client IP [--margin M]
      the storm's figures around SIGTERM at time T; exit 1 on any error,
      any request the backend saw that the client did not complete, any
      request that began more than M (1) s after T and went to A, or an
      X-Forwarded-For other than the client's address.
  client.py hap-wait --sock S --server NAME --state DOWN --timeout T [--since T0]
      polls HAProxy's stats socket until the server's status begins with
      STATE; prints the seconds it took (since T0, a time.time(), if
      given). Exit 1 on timeout.
  client.py hap-stat --sock S [--counters]
      prints "NAME=STATUS ..." for every server of the tlsterm backend;
      with --counters, each server's retries and redispatches too.
  client.py http --url http://ADDR:PORT/PATH
      plain HTTP GET; prints "STATUS BODY". For /healthz and /metrics.
"""

import argparse
import hashlib
import ipaddress
import json
import random
import select
import socket
import ssl
import struct
import sys
import threading
import time

TIMEOUT = 10.0
SIG = b"\r\n\r\n\x00\r\nQUIT\n"
SNI = "localhost"  # the test certificate's name
MAX_ATTEMPTS = 5


def proxy_v2(src, sport, dst, dport):
    """A PROXY v2 header (PROXY command, TCP over IPv4)."""
    body = (ipaddress.IPv4Address(src).packed + ipaddress.IPv4Address(dst).packed
            + struct.pack("!HH", sport, dport))
    return SIG + b"\x21\x11" + struct.pack("!H", len(body)) + body


def pad_for(rid, n):
    """The body padding backend.py derives from a request id."""
    unit = hashlib.sha256(rid.encode()).hexdigest()
    return (unit * (n // len(unit) + 1))[:n]


def context(ca, tls):
    ctx = ssl.create_default_context(cafile=ca)
    v = ssl.TLSVersion.TLSv1_3 if tls == "1.3" else ssl.TLSVersion.TLSv1_2
    ctx.minimum_version = ctx.maximum_version = v
    return ctx


class NeverAccepted(Exception):
    """The connection failed before the server sent a single byte."""


class Conn:
    """One TLS connection over memory BIOs; counts the bytes received."""

    def __init__(self, ctx, host, port, session=None, header=b""):
        self.t0 = time.time()
        self.rx = 0
        try:
            self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        except OSError as e:
            raise NeverAccepted("connect: %s" % e) from e
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.inc, self.out, server_hostname=SNI,
                                session=session)
        self.rbuf = b""
        self.resp_rx = 0
        if header:
            self.sock.sendall(header)

    def close(self):
        self.sock.close()

    def _flush(self):
        data = self.out.read()
        if data:
            self.sock.sendall(data)

    def _fill(self):
        got = self.sock.recv(65536)
        if not got:
            self.inc.write_eof()
            return
        self.rx += len(got)
        self.inc.write(got)

    def handshake(self):
        """Raises NeverAccepted if it fails before any byte came back."""
        try:
            for _ in range(1000):
                try:
                    self.tls.do_handshake()
                    self._flush()
                    return
                except ssl.SSLWantReadError:
                    self._flush()
                    self._fill()
            raise RuntimeError("handshake: no end after 1000 rounds")
        except (OSError, ssl.SSLError) as e:
            if self.rx == 0:
                raise NeverAccepted("handshake: %s" % e) from e
            raise

    def sendall(self, data):
        self.tls.write(data)
        self._flush()

    def closed_by_peer(self):
        """Before reusing an idle connection, as browsers do: has the server
        closed it already (close_notify or EOF waiting to be read)?"""
        if self.rbuf or not select.select([self.sock], [], [], 0)[0]:
            return False
        try:
            self._fill()
            data = self.tls.read(65536)
        except ssl.SSLWantReadError:
            return False
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError, OSError):
            return True
        self.rbuf += data  # not a close: the next response() sees it
        return not data

    def _read(self):
        for _ in range(100000):
            try:
                data = self.tls.read(65536)
                self._flush()  # TLS 1.3 post-handshake messages
                return data
            except ssl.SSLWantReadError:
                self._flush()
                self._fill()
            except ssl.SSLZeroReturnError:
                return b""
        raise RuntimeError("read: no data after 100000 rounds")

    def response(self):
        """One HTTP/1.1 response with a Content-Length: (status, body).
        self.resp_rx counts the bytes of it received so far."""
        self.resp_rx = len(self.rbuf)
        while b"\r\n\r\n" not in self.rbuf:
            if len(self.rbuf) > 65536:
                raise RuntimeError("response head too long")
            d = self._read()
            if not d:
                raise EOFError("EOF in the response head (%d bytes)" % len(self.rbuf))
            self.rbuf += d
            self.resp_rx += len(d)
        head, _, rest = self.rbuf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if length is None:
            raise RuntimeError("no Content-Length: %r" % lines[0])
        while len(rest) < length:
            d = self._read()
            if not d:
                raise EOFError("EOF after %d of %d body bytes" % (len(rest), length))
            rest += d
            self.resp_rx += len(d)
        self.rbuf = rest[length:]
        return status, rest[:length]


def request(path, close):
    return ("GET %s HTTP/1.1\r\nHost: %s\r\nX-Forwarded-For: 6.6.6.6\r\n%s\r\n"
            % (path, SNI, "Connection: close\r\n" if close else "")).encode()


def check_answer(status, body, rid, n):
    """The backend's JSON answer for request RID with N bytes of padding."""
    if status != 200:
        raise RuntimeError("%s: status %d: %r" % (rid, status, body[:200]))
    ans = json.loads(body)
    if ans["id"] != rid or ans["pad"] != pad_for(rid, n):
        raise RuntimeError("%s: wrong body (id %r, %d pad bytes)"
                           % (rid, ans.get("id"), len(ans.get("pad", ""))))
    return ans


# --- one-shot commands ---------------------------------------------------------

def cmd_get(a):
    hdr = proxy_v2(a.proxy_src, 40000, a.host, a.port) if a.proxy_src else b""
    c = Conn(context(a.ca, a.tls), a.host, a.port, header=hdr)
    try:
        c.handshake()
        rid = a.path
        c.sendall(request("/r/%s?ms=%d&n=%d" % (rid, a.ms, a.n), True))
        ans = check_answer(*c.response(), rid, a.n)
        del ans["pad"]
        ans["tls"], ans["resumed"] = c.tls.version(), c.tls.session_reused
    finally:
        c.close()
    print(json.dumps(ans))
    return 0


def cmd_refused(a):
    ctx = context(a.ca, "1.3")
    c = Conn(ctx, a.host, a.port, header=proxy_v2(a.proxy_src, 40001, a.host, a.port))
    t0 = time.monotonic()
    c.sock.settimeout(3.0)
    how = None
    try:
        try:
            c.tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        c.sock.sendall(c.out.read())  # the ClientHello
        got = c.sock.recv(1)
        if got:
            print("a byte came back: %r" % got)
            return 1
        how = "closed (EOF)"
    except ConnectionResetError:
        how = "closed (reset)"
    except BrokenPipeError:
        how = "closed (broken pipe)"
    except socket.timeout:
        print("still open after 3 s")
        return 1
    finally:
        c.close()
    print("%s after %.3f s, 0 bytes received" % (how, time.monotonic() - t0))
    return 0


def cmd_hold(a):
    hdr = proxy_v2(a.proxy_src, 40002, a.host, a.port)
    c = Conn(context(a.ca, "1.3"), a.host, a.port, header=hdr)
    res = {"answered": 0, "ids": [], "end": "open", "closed_at": None,
           "last_answer_at": None}
    stop_at = time.time() + a.seconds
    try:
        c.handshake()
        for i in range(100000):
            if time.time() >= stop_at:
                break
            rid = "hold-%d" % i
            c.resp_rx = 0
            try:
                c.sendall(request("/r/%s?ms=100&n=1000" % rid, False))
                check_answer(*c.response(), rid, 1000)
            except (EOFError, OSError, ssl.SSLError) as e:
                if c.resp_rx != 0:
                    res["error"] = "cut mid-response: %s: %s" % (type(e).__name__, e)
                elif isinstance(e, EOFError):
                    res["end"] = "close_notify"
                elif isinstance(e, ssl.SSLEOFError):
                    res["end"] = "eof"
                else:
                    res["end"] = "reset"
                res["closed_at"] = time.time()
                break
            res["answered"] += 1
            res["ids"].append(rid)
            res["last_answer_at"] = time.time()
    finally:
        c.close()
    print(json.dumps(res))
    return 1 if "error" in res else 0


def cmd_resume(a):
    ctx = context(a.ca, a.tls)
    names = {a.a: "a", a.b: "b"}
    prev_via, sess = None, None
    attempts = crossed = resumed = resumed_crossed = 0
    for i in range(a.attempts + 1):
        rid = "resume-%s-%d" % (a.tls, i)
        c = Conn(ctx, a.host, a.port, session=sess)
        try:
            c.handshake()
            c.sendall(request("/r/%s?n=64" % rid, True))
            ans = check_answer(*c.response(), rid, 64)
            via = names.get(ans["peer"], ans["peer"])
            if i > 0:
                attempts += 1
                crossed += via != prev_via
                resumed += c.tls.session_reused
                resumed_crossed += via != prev_via and c.tls.session_reused
            sess = c.tls.session
        finally:
            c.close()
        prev_via = via
    print("resume TLSv%s: attempts=%d crossed=%d resumed=%d resumed_crossed=%d/%d (%.1f%%)"
          % (a.tls, attempts, crossed, resumed, resumed_crossed, crossed,
             100.0 * resumed_crossed / max(1, crossed)))
    if crossed < 0.9 * attempts:
        print("FAIL: only %d of %d attempts reached the other instance" % (crossed, attempts))
        return 1
    if resumed_crossed * 100 < 99 * crossed:
        print("FAIL: fewer than 99% of the attempts on the other instance resumed")
        return 1
    return 0


# --- storm ---------------------------------------------------------------------

class Reconnect(Exception):
    """The server closed a connection cleanly between requests (seen before
    the next request went out): carry on with a new one."""


class Retry(Exception):
    """A request on a reused connection got the connection closed before
    any byte of its response: the server never took it (RFC 9112, 9.3.1:
    such a request may be retried on a new connection)."""


def exchange(c, rid, close, reused):
    """One request on connection c, its answer checked. Returns the answer,
    raises Retry (see above) or any other error."""
    ms = random.choice((0, 0, 0, 20, 50, 150, 400))
    n = random.randint(100, 30000)
    c.resp_rx = 0
    try:
        c.sendall(request("/r/%s?ms=%d&n=%d" % (rid, ms, n), close))
        return check_answer(*c.response(), rid, n)
    except (EOFError, OSError, ssl.SSLError) as e:
        if reused and c.resp_rx == 0:
            raise Retry("reused connection closed before any byte of the "
                        "response: %s" % e) from e
        raise


def load(rec, ctx, host, port, session, tag, count, conn=None):
    """Make `count` requests (ids TAG-ATTEMPT-J), on conn if given (a
    keep-alive connection; it may be closed by the server first) and then
    on new connections, retrying what was never accepted. Fills rec; returns
    (the connection, still open, or None; the session to offer next)."""
    j = 1
    rec["reconnects"] = 0
    if conn is not None and conn.closed_by_peer():
        rec["reconnects"] += 1
        conn.close()
        conn = None
    for attempt in range(1, MAX_ATTEMPTS + 1):
        reused = conn is not None
        try:
            if conn is None:
                conn = Conn(ctx, host, port, session=session)
                conn.handshake()
            while j <= count:
                rid = "%s-%d-%d" % (tag, attempt, j)
                t0 = time.time()
                ans = exchange(conn, rid, j == count and not rec.get("ka"), reused)
                rec["reqs"].append({"id": rid, "via": ans["peer"], "conn_t0": conn.t0,
                                    "t0": t0, "t1": time.time(),
                                    "tls": conn.tls.version(),
                                    "resumed": conn.tls.session_reused})
                j += 1
                reused = True
                if j <= count and conn.closed_by_peer():
                    raise Reconnect()
            rec["outcome"] = "ok"
            session = conn.tls.session
            if not rec.get("ka"):
                conn.close()
                conn = None
            return conn, session
        except Reconnect:
            rec["reconnects"] += 1
            conn.close()
            conn = None
        except (NeverAccepted, Retry) as e:
            rec["never_accepted"].append(str(e))
            if conn is not None:
                conn.close()
                conn = None
            time.sleep(0.02 * attempt)
        except Exception as e:  # anything else after the first byte is a loss
            rec.update(outcome="error", rx=conn.rx if conn else 0,
                       error="%s: %s" % (type(e).__name__, e))
            if conn is not None:
                conn.close()
            return None, None
    rec.update(outcome="error", error="never accepted %d times" % MAX_ATTEMPTS)
    return None, None


def cmd_storm(a):
    stop_at = time.time() + a.seconds
    lock = threading.Lock()
    out = open(a.log, "w", encoding="utf-8")

    def emit(rec):
        with lock:
            out.write(json.dumps(rec) + "\n")
            out.flush()

    def client(k):
        # Keep-alive clients hold one connection for request after request,
        # as browsers do; page clients open a connection per page (two
        # requests), half of them resuming the session of the one before.
        ctx = context(a.ca, "1.3" if k % 2 == 0 else "1.2")
        ka = k < a.keepalive
        conn, session = None, None
        for i in range(100000):
            if time.time() >= stop_at:
                break
            rec = {"ka": ka, "never_accepted": [], "reqs": []}
            conn, new = load(rec, ctx, a.host, a.port, None if ka else session,
                             "storm%d-%d" % (k, i), 1 if ka else 2, conn)
            session = new if i % 2 == 0 else None
            emit(rec)
            time.sleep(0.01 if ka else 0)
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(a.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.close()
    return 0


def cmd_analyze(a):
    recs = [json.loads(line) for line in open(a.log, encoding="utf-8")]
    names = {a.a: "a", a.b: "b"}
    reqs = [q for r in recs for q in r["reqs"]]
    for q in reqs:
        q["via"] = names.get(q["via"], q["via"])
    errors = [r for r in recs if r["outcome"] != "ok"]
    requests = sum(1 if r["ka"] else 2 for r in recs)
    retried = sum(len(r["never_accepted"]) for r in recs)
    reconnects = sum(r.get("reconnects", 0) for r in recs)
    answered = {q["id"] for q in reqs}
    seen = {}
    for line in open(a.backend_log, encoding="utf-8"):
        b = json.loads(line)
        if b["id"].startswith("storm"):
            seen[b["id"]] = b
    lost = sorted(set(seen) - answered)
    by = {"a": 0, "b": 0}
    for q in reqs:
        by[q["via"]] = by.get(q["via"], 0) + 1
    on_a = [q for q in reqs if q["via"] == "a"]
    in_flight = [q for q in on_a if q["t0"] < a.term_at < q["t1"]]
    late_a = [q for q in on_a if q["t0"] > a.term_at]
    after = [q for q in reqs if q["t0"] > a.term_at + a.margin]
    after_a = [q for q in after if q["via"] == "a"]
    last_a = max((q["t1"] for q in on_a), default=0) - a.term_at
    last_conn_a = max((q["conn_t0"] for q in on_a), default=0) - a.term_at
    print("storm: requests=%d answered=%d errors=%d lost=%d retried=%d reconnects=%d "
          "via_a=%d via_b=%d on_resumed_sessions=%d keepalive=%d"
          % (requests, len(answered), len(errors), len(lost), retried, reconnects,
             by["a"], by["b"], sum(1 for q in reqs if q["resumed"]),
             sum(1 for r in recs if r["ka"])))
    print("storm: SIGTERM to a: %d request(s) in flight on a completed; %d began on a "
          "after the signal (on connections it had already taken), the last done "
          "%+.3f s from it; the last connection a took was opened %+.3f s from it; "
          "%d request(s) began more than %.1f s after the signal, %d of them on a"
          % (len(in_flight), len(late_a), last_a, last_conn_a, len(after), a.margin,
             len(after_a)))
    shown = 0
    for r in recs:
        if r["never_accepted"] and shown < 5:
            shown += 1
            print("storm: retried: %s" % r["never_accepted"][0])
    bad = 0
    for r in errors[:10]:
        t0 = r["reqs"][-1]["t1"] if r["reqs"] else 0
        print("storm: ERROR (%d bytes received; last answer %+.3f s from SIGTERM): %s"
              % (r.get("rx", 0), t0 - a.term_at if t0 else 0, r["error"]))
    if errors:
        bad = 1
    if lost:
        print("storm: ERROR: %d request(s) reached the backend but got no complete "
              "answer, e.g. %s" % (len(lost), lost[:5]))
        bad = 1
    if after_a:
        print("storm: ERROR: %d request(s) begun more than %.1f s after SIGTERM went to a"
              % (len(after_a), a.margin))
        bad = 1
    if not after or by["a"] == 0 or by["b"] == 0:
        print("storm: ERROR: too little traffic to judge (%d after the stop, a=%d b=%d)"
              % (len(after), by["a"], by["b"]))
        bad = 1
    wrong_xff = [b for b in seen.values() if b["xff"] != a.client]
    if wrong_xff:
        print("storm: ERROR: %d request(s) with X-Forwarded-For other than %s, e.g. %r"
              % (len(wrong_xff), a.client, wrong_xff[0]))
        bad = 1
    return bad


# --- HAProxy stats socket, plain HTTP --------------------------------------------

def recv_to_eof(s, rounds):
    """Everything S sends until it closes, in at most ROUNDS reads."""
    data = b""
    for _ in range(rounds):
        d = s.recv(65536)
        if not d:
            break
        data += d
    return data


def hap_servers(sock_path, backend, counters=False):
    """{server: status} of BACKEND, from HAProxy's stats socket; with
    COUNTERS the status is followed by the server's connection retries
    and redispatches."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(sock_path)
    s.sendall(b"show stat\n")
    data = recv_to_eof(s, 1000)
    s.close()
    lines = data.decode().splitlines()
    cols = lines[0].lstrip("# ").split(",")
    out = {}
    for line in lines[1:]:
        row = dict(zip(cols, line.split(",")))
        if row.get("pxname") == backend and row.get("svname") not in ("BACKEND", "FRONTEND", None):
            out[row["svname"]] = row["status"]
            if counters:
                out[row["svname"]] += "(retries=%s,redispatched=%s)" % (row["wretr"], row["wredis"])
    return out


def cmd_hap_wait(a):
    t0 = time.monotonic()
    since = a.since if a.since is not None else time.time()
    while time.monotonic() - t0 < a.timeout:
        st = hap_servers(a.sock, a.backend).get(a.server, "")
        if st.startswith(a.state):
            print("%.2f" % (time.time() - since))
            return 0
        time.sleep(0.05)
    print("server %s not %s after %.0f s: %s" % (a.server, a.state, a.timeout,
                                                 hap_servers(a.sock, a.backend)))
    return 1


def cmd_hap_stat(a):
    servers = hap_servers(a.sock, a.backend, a.counters)
    print(" ".join("%s=%s" % kv for kv in sorted(servers.items())))
    return 0


def cmd_http(a):
    rest = a.url.split("://", 1)[1]
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(("GET /%s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                   % (path, hostport)).encode())
        data = recv_to_eof(s, 10000)
    head, _, body = data.partition(b"\r\n\r\n")
    print(head.split(b" ", 2)[1].decode(), body.decode("latin-1"), end="")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    def tls_args(p):
        p.add_argument("--host", required=True)
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--ca", required=True)

    p = sub.add_parser("get")
    tls_args(p)
    p.add_argument("--path", required=True)
    p.add_argument("--proxy-src")
    p.add_argument("--tls", choices=("1.2", "1.3"), default="1.3")
    p.add_argument("--ms", type=int, default=0)
    p.add_argument("--n", type=int, default=100)
    p = sub.add_parser("refused")
    tls_args(p)
    p.add_argument("--proxy-src", required=True)
    p = sub.add_parser("hold")
    tls_args(p)
    p.add_argument("--proxy-src", required=True)
    p.add_argument("--seconds", type=float, default=15)
    p = sub.add_parser("resume")
    tls_args(p)
    p.add_argument("--tls", choices=("1.2", "1.3"), required=True)
    p.add_argument("--attempts", type=int, default=200)
    p.add_argument("--a", required=True)
    p.add_argument("--b", required=True)
    p = sub.add_parser("storm")
    tls_args(p)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--keepalive", type=int, default=2, help="of them, keep-alive clients")
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--log", required=True)
    p = sub.add_parser("analyze")
    p.add_argument("--log", required=True)
    p.add_argument("--backend-log", required=True)
    p.add_argument("--term-at", type=float, required=True)
    p.add_argument("--margin", type=float, default=1.0)
    p.add_argument("--a", required=True)
    p.add_argument("--b", required=True)
    p.add_argument("--client", required=True)
    for name in ("hap-wait", "hap-stat"):
        p = sub.add_parser(name)
        p.add_argument("--sock", required=True)
        p.add_argument("--backend", default="tlsterm")
        if name == "hap-stat":
            p.add_argument("--counters", action="store_true")
        if name == "hap-wait":
            p.add_argument("--since", type=float, help="print the seconds since this time")
            p.add_argument("--server", required=True)
            p.add_argument("--state", default="DOWN")
            p.add_argument("--timeout", type=float, default=10)
    p = sub.add_parser("http")
    p.add_argument("--url", required=True)
    a = ap.parse_args()
    return {"get": cmd_get, "refused": cmd_refused, "hold": cmd_hold, "resume": cmd_resume,
            "storm": cmd_storm, "analyze": cmd_analyze, "hap-wait": cmd_hap_wait,
            "hap-stat": cmd_hap_stat, "http": cmd_http}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
