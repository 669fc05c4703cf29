#!/usr/bin/env python3
"""badclient.py: a raw-socket TLS client that misbehaves on purpose, for
tests/integration/badinput.sh. Python 3 standard library only.

Real handshake bytes come from OpenSSL (the ssl module over memory BIOs);
this tool cuts them, drips them, or rebuilds a ClientHello field by field
(extensions, server_name) and frames it in records itself. It then watches
how the server ends the connection.

  badclient.py CASE --port P --cafile CA [--hs-timeout S] [--slack S]

Each CASE prints one line per sub-case, "ok <case>: <what happened>", and
exits 0; or prints "FAIL <case>: <why>" and exits 1. Cases:

  garbage      random bytes instead of a ClientHello: 1, 5, 100, 16 KiB and
               64 KiB, starting with a non-TLS byte (closed as soon as 5
               bytes are in) or as a handshake record of random content
               (closed at once or at the handshake timeout, never later);
               each followed by the client closing its side (closed at
               once), and by the client going silent
  sslv2        SSLv2-style CLIENT-HELLOs (offering TLS 1.2, TLS 1.0, and one
               cut short): refused at once
  truncate     every prefix of a real TLS 1.3 ClientHello, every record and
               field boundary of a TLS 1.2 one (record header, handshake
               header, each fixed field, each extension), every prefix of
               the client's second flight in a TLS 1.2 handshake (CKE, CCS,
               Finished) and in a TLS 1.3 one (CCS, Finished); each once
               followed by the client closing its side (the server must
               close at once) and once by silence (the server must close
               at the handshake timeout: not before, not much after)
  bytewise     whole TLS 1.2 and 1.3 handshakes and a request, every byte
               of it in its own write: the request must succeed
  oversized    records longer than 2^14 + 2048 (before the handshake, and
               encrypted after one), a handshake message whose length field
               says 16 MiB (in one record: closed at the handshake timeout
               at the latest; and spread over records the client keeps
               sending: closed before the client has written 8 MiB)
  extensions   ClientHellos with 500 and with 3000 extra (unknown, empty)
               extensions: answered with a ServerHello or an alert
  sni          a ClientHello whose server_name is 60 KB (in several records)
               and one with a 300-byte label: answered with a ServerHello
               or an alert, promptly
Outcomes are eof (FIN), reset (RST), alert (a TLS alert record, then the
close) or open (still open when we stopped waiting).
"""

import argparse
import os
import selectors
import socket
import ssl
import struct
import sys
import time

A = None  # parsed arguments


def fail(case, msg):
    print("FAIL %s: %s" % (case, msg))
    sys.stdout.flush()
    sys.exit(1)


def ok(case, msg):
    print("ok %s: %s" % (case, msg))
    sys.stdout.flush()


# --- real handshake bytes from OpenSSL ---------------------------------------

def client_ctx(version):
    ctx = ssl.create_default_context(cafile=A.cafile)
    v = ssl.TLSVersion.TLSv1_3 if version == "1.3" else ssl.TLSVersion.TLSv1_2
    ctx.minimum_version = ctx.maximum_version = v
    return ctx


def memory_client(version):
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_ctx(version).wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return obj, inc, out


def client_hello(version):
    return memory_client(version)[2].read()


def connect():
    s = socket.create_connection(("127.0.0.1", A.port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def second_flight(version):
    """A connected socket whose handshake has reached the client's second
    flight, and that flight (not sent)."""
    obj, inc, out = memory_client(version)
    s = connect()
    s.sendall(out.read())
    end = time.monotonic() + 10
    while time.monotonic() < end:
        d = s.recv(65536)
        if not d:
            raise SystemExit("server closed during the handshake")
        inc.write(d)
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        flight = out.read()
        if flight:
            return s, flight
    raise SystemExit("no second flight")


# --- records and ClientHello fields --------------------------------------------

def records(ctype, payload, version=b"\x03\x01", size=16384):
    out = b""
    for i in range(0, len(payload), size):
        frag = payload[i:i + size]
        out += bytes([ctype]) + version + struct.pack("!H", len(frag)) + frag
    return out


def split_records(data):
    """[(offset, type, length)] of the records in data."""
    recs, i = [], 0
    while i + 5 <= len(data):
        n = struct.unpack("!H", data[i + 3:i + 5])[0]
        recs.append((i, data[i], n))
        i += 5 + n
    return recs


class Hello:
    """A ClientHello taken apart: fixed fields and the extension list."""

    def __init__(self, rec):
        body = rec[5 + 4:]
        i = 0
        self.version = body[i:i + 2]
        self.random = body[i + 2:i + 34]
        i += 34
        n = body[i]
        self.sid = body[i + 1:i + 1 + n]
        i += 1 + n
        n = struct.unpack("!H", body[i:i + 2])[0]
        self.suites = body[i + 2:i + 2 + n]
        i += 2 + n
        n = body[i]
        self.comp = body[i + 1:i + 1 + n]
        i += 1 + n
        total = struct.unpack("!H", body[i:i + 2])[0]
        i += 2
        self.exts = []
        end = i + total
        while i < end:
            t, n = struct.unpack("!HH", body[i:i + 4])
            self.exts.append((t, body[i + 4:i + 4 + n]))
            i += 4 + n
        # Field boundaries in the record, for the truncation case.
        b = [5, 9, 11, 43]
        b.append(b[-1] + 1 + len(self.sid))
        b.append(b[-1] + 2 + len(self.suites))
        b.append(b[-1] + 1 + len(self.comp))
        b.append(b[-1] + 2)
        for t, d in self.exts:
            b.append(b[-1] + 4)
            b.append(b[-1] + len(d))
        self.boundaries = sorted(set(x for x in b if 0 < x < len(rec)))

    def body(self):
        ext = b"".join(struct.pack("!HH", t, len(d)) + d for t, d in self.exts)
        return (self.version + self.random + bytes([len(self.sid)]) + self.sid
                + struct.pack("!H", len(self.suites)) + self.suites
                + bytes([len(self.comp)]) + self.comp + struct.pack("!H", len(ext)) + ext)

    def message(self):
        b = self.body()
        return b"\x01" + struct.pack("!I", len(b))[1:] + b


# --- watching the server ------------------------------------------------------------

def classify(data, how):
    if data[:1] == b"\x15":
        return "alert(%d)" % data[6] if len(data) >= 7 else "alert"
    if data[:1] == b"\x16" and len(data) >= 6 and data[5] == 2:
        return "server_hello"
    return how


def wait_end(s, limit, until_hello=False):
    """Read until the server closes, `limit` seconds pass or, with
    until_hello, a ServerHello arrives. Returns (outcome, seconds, first
    bytes); on timeout the outcome is "open" (with until_hello: what the
    bytes so far are, or "open")."""
    s.settimeout(0.05)
    t0 = time.monotonic()
    got = b""
    while time.monotonic() - t0 < limit:
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return classify(got, "reset"), time.monotonic() - t0, got
        if not d:
            return classify(got, "eof"), time.monotonic() - t0, got
        got += d
        if until_hello and classify(got, "") == "server_hello":
            return "server_hello", time.monotonic() - t0, got
        if len(got) > 1 << 20:
            break
    return classify(got, "open") if until_hello else "open", time.monotonic() - t0, got


def send_all(s, data):
    try:
        s.sendall(data)
        return True
    except (BrokenPipeError, ConnectionResetError):
        return False


class Batch:
    """Many connections at once: each gets its bytes, then FIN ("close")
    or nothing ("stall"); then the server's close is timed for all of them
    from the moment their last byte went out. Polled while connections are
    still being set up, so a close is never timed late."""

    def __init__(self):
        self.sel = selectors.DefaultSelector()
        self.results = []  # (label, mode, outcome, seconds)

    def add(self, s, data, mode, label):
        sent = send_all(s, data)
        t = time.monotonic()
        if not sent:
            self.results.append((label, mode, "reset", 0.0))
            s.close()
            return
        if mode == "close":
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        s.setblocking(False)
        self.sel.register(s, selectors.EVENT_READ, [label, mode, t, b""])
        self.poll(0)

    def poll(self, timeout):
        for key, _ in self.sel.select(timeout):
            s, st = key.fileobj, key.data
            try:
                d = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except ConnectionResetError:
                d, how = b"", "reset"
            else:
                how = "eof"
            if d:
                st[3] += d
                continue
            self.results.append((st[0], st[1], classify(st[3], how), time.monotonic() - st[2]))
            self.sel.unregister(s)
            s.close()

    def wait(self, limit):
        end = time.monotonic() + limit
        while self.sel.get_map() and time.monotonic() < end:
            self.poll(0.05)
        for key in list(self.sel.get_map().values()):
            st = key.data
            self.results.append((st[0], st[1], "open", time.monotonic() - st[2]))
            self.sel.unregister(key.fileobj)
            key.fileobj.close()
        return self.results


def check_batch(case, what, results):
    """close: closed within 2 s; stall: closed at the handshake timeout
    (not more than 1 s early: the timer starts at accept), at most --slack
    late. Returns a summary."""
    hs, slack = A.hs_timeout, A.slack
    closes = [r for r in results if r[1] == "close"]
    stalls = [r for r in results if r[1] == "stall"]
    for label, mode, outcome, sec in results:
        if outcome == "open":
            fail(case, "%s %s (%s): still open after %.1f s" % (what, label, mode, sec))
        if mode == "close" and sec > 2.0:
            fail(case, "%s %s then FIN: closed only after %.2f s" % (what, label, sec))
        if mode == "stall" and not hs - 1.0 <= sec <= hs + slack:
            fail(case, "%s %s then silence: closed after %.2f s, want %.0f s (--handshake-timeout)"
                 % (what, label, sec, hs))
    out = {}
    for r in results:
        out[r[2]] = out.get(r[2], 0) + 1
    return ("%d prefixes then FIN: all closed within %.2f s; then silence: all closed at %.2f-%.2f s; "
            "outcomes %s" % (len(closes), max([r[3] for r in closes] or [0]),
                             min([r[3] for r in stalls] or [0]), max([r[3] for r in stalls] or [0]),
                             dict(sorted(out.items()))))


# --- cases ---------------------------------------------------------------------------

def case_garbage():
    hs, slack = A.hs_timeout, A.slack
    b = Batch()
    limits = {}
    for size in (1, 5, 100, 16384, 65536):
        for first in (b"\x00", b"G", b"\x16\x03\x01"):
            if first[:1] == b"\x16" and size >= 5:
                # A whole handshake record of random content (its length
                # field covers exactly the bytes that follow, as far as 16
                # bits can say).
                first += struct.pack("!H", min(size - 5, 65535))
            payload = (first + os.urandom(size))[:size]
            for mode in ("close", "stall"):
                label = "%d bytes starting %r" % (size, payload[:5])
                # Not TLS: refused as soon as a whole record header (5
                # bytes) is in. Fewer bytes, or a handshake record whose
                # random content claims a longer message, are merely
                # incomplete: closed at the client's FIN, or at the
                # handshake timeout.
                may_wait = size < 5 or first[:1] == b"\x16"
                limits[(label, mode)] = hs + slack if may_wait and mode == "stall" else 2.0
                b.add(connect(), payload, mode, label)
    for label, mode, outcome, sec in b.wait(hs + slack + 2):
        what = "%s, then %s" % (label, "FIN" if mode == "close" else "silence")
        if outcome == "open":
            fail("garbage", "%s: still open after %.1f s" % (what, sec))
        if sec > limits[(label, mode)]:
            fail("garbage", "%s: closed after %.2f s, want within %.1f s" % (what, sec, limits[(label, mode)]))
        ok("garbage", "%s: %s after %.2f s" % (what, outcome, sec))


def sslv2_hello(version, cut=0):
    specs = bytes.fromhex("00002f" "000035" "00000a" "c02f00")
    challenge = os.urandom(16)
    body = struct.pack("!BHHHH", 1, version, len(specs), 0, len(challenge)) + specs + challenge
    msg = struct.pack("!H", 0x8000 | len(body)) + body
    return msg[:len(msg) - cut]


def case_sslv2():
    for label, data in (("offering TLS 1.2", sslv2_hello(0x0303)),
                        ("offering TLS 1.0", sslv2_hello(0x0301)),
                        ("offering SSL 2.0", sslv2_hello(0x0002)),
                        ("cut short by 10 bytes, then FIN", sslv2_hello(0x0303, 10))):
        s = connect()
        send_all(s, data)
        if "FIN" in label:
            s.shutdown(socket.SHUT_WR)
        outcome, sec, _ = wait_end(s, A.hs_timeout + A.slack)
        s.close()
        if outcome in ("open", "server_hello") or sec > 2.0:
            fail("sslv2", "SSLv2 hello %s: %s after %.2f s, want refused at once" % (label, outcome, sec))
        ok("sslv2", "SSLv2 hello %s: %s after %.2f s" % (label, outcome, sec))


def case_truncate():
    hello13 = client_hello("1.3")
    b = Batch()
    for n in range(1, len(hello13)):
        for mode in ("close", "stall"):
            b.add(connect(), hello13[:n], mode, "%d/%d" % (n, len(hello13)))
    ok("truncate", "TLS 1.3 ClientHello (%d bytes), every prefix: %s"
       % (len(hello13), check_batch("truncate", "TLS 1.3 ClientHello prefix", b.wait(A.hs_timeout + A.slack + 2))))

    hello12 = client_hello("1.2")
    h = Hello(hello12)
    b = Batch()
    for n in h.boundaries:
        for mode in ("close", "stall"):
            b.add(connect(), hello12[:n], mode, "%d/%d" % (n, len(hello12)))
    ok("truncate", "TLS 1.2 ClientHello (%d bytes), %d record/field boundaries (%d extensions): %s"
       % (len(hello12), len(h.boundaries), len(h.exts),
          check_batch("truncate", "TLS 1.2 ClientHello cut at", b.wait(A.hs_timeout + A.slack + 2))))

    for version in ("1.2", "1.3"):
        b = Batch()
        n_flight = 0
        recs = ""
        for mode in ("close", "stall"):
            s, flight = second_flight(version)
            n_flight = len(flight)
            recs = "+".join("%s:%d" % ({20: "CCS", 22: "hs", 23: "appdata"}.get(t, t), 5 + n)
                            for _, t, n in split_records(flight))
            s.close()
            for n in range(0, n_flight):
                s, flight = second_flight(version)
                b.add(s, flight[:n], mode, "%d/%d" % (n, len(flight)))
        ok("truncate", "TLS %s client second flight (%d bytes: %s), every prefix: %s"
           % (version, n_flight, recs,
              check_batch("truncate", "TLS %s second flight prefix" % version, b.wait(A.hs_timeout + A.slack + 2))))


def case_bytewise():
    for version in ("1.2", "1.3"):
        obj, inc, out = memory_client(version)
        s = connect()
        t0 = time.monotonic()
        writes = 0

        def drip(data):
            nonlocal writes
            for i in range(len(data)):
                s.sendall(data[i:i + 1])
                writes += 1
                time.sleep(0.002)

        drip(out.read())
        s.settimeout(10)
        done = False
        while not done:
            d = s.recv(65536)
            if not d:
                fail("bytewise", "TLS %s: server closed during the handshake" % version)
            inc.write(d)
            try:
                obj.do_handshake()
                done = True
            except ssl.SSLWantReadError:
                pass
            drip(out.read())
        hs_s = time.monotonic() - t0
        obj.write(b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        drip(out.read())
        resp = b""
        while True:
            try:
                d = obj.read(65536)
                if not d:
                    break  # close_notify
                resp += d
                continue
            except ssl.SSLWantReadError:
                pass
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                break
            d = s.recv(65536)
            if not d:
                break
            inc.write(d)
        if not resp.startswith(b"HTTP/1.1 200 ") or not resp.endswith(b"hello from backend\n"):
            fail("bytewise", "TLS %s: bad response %r" % (version, resp[:100]))
        ok("bytewise", "TLS %s: handshake (%.2f s) and request sent in %d one-byte writes: HTTP/1.1 200"
           % (version, hs_s, writes))
        s.close()


def case_oversized():
    hs, slack = A.hs_timeout, A.slack
    limit = 2 ** 14 + 2048
    # Before the handshake: a handshake record one byte over the largest
    # ciphertext, sent in full; and the largest length field.
    for n in (limit + 1, 65535):
        s = connect()
        send_all(s, b"\x16\x03\x01" + struct.pack("!H", n) + os.urandom(n))
        outcome, sec, _ = wait_end(s, hs + slack)
        s.close()
        if outcome == "open" or sec > 2.0:
            fail("oversized", "record of %d bytes: %s after %.2f s" % (n, outcome, sec))
        ok("oversized", "handshake record of %d bytes: %s after %.2f s" % (n, outcome, sec))
    # After a TLS 1.3 handshake: an application-data record over the limit.
    for version in ("1.3", "1.2"):
        s, flight = second_flight(version)
        send_all(s, flight)
        time.sleep(0.2)
        n = limit + 1
        sent = send_all(s, b"\x17\x03\x03" + struct.pack("!H", n) + os.urandom(n))
        outcome, sec, got = wait_end(s, hs + slack)
        s.close()
        if outcome == "open" or sec > 2.0:
            fail("oversized", "TLS %s, after the handshake, record of %d bytes: %s after %.2f s"
                 % (version, n, outcome, sec))
        ok("oversized", "TLS %s, after the handshake: application-data record of %d bytes: %s after %.2f s"
           % (version, n, "reset while sending" if not sent else outcome, sec))
    # A handshake message whose length says 16 MiB, in one small record.
    msg = b"\x01\xff\xff\xff" + os.urandom(200)
    s = connect()
    send_all(s, records(22, msg))
    outcome, sec, _ = wait_end(s, hs + slack + 1)
    s.close()
    if outcome == "open" or sec > hs + slack:
        fail("oversized", "ClientHello length 16 MiB in one record: %s after %.2f s" % (outcome, sec))
    ok("oversized", "ClientHello whose length field says 16 MiB (one 209-byte record): %s after %.2f s"
       % (outcome, sec))
    # The same, the client going on sending 16 KiB records of it: the server
    # must give up long before 16 MiB.
    s = connect()
    s.settimeout(0.5)
    sent = 0
    t0 = time.monotonic()
    outcome = "open"
    frag = b"\x01\xff\xff\xff" + os.urandom(16380)
    while sent < 8 << 20 and time.monotonic() - t0 < hs + slack:
        try:
            s.sendall(records(22, frag))
            sent += len(frag) + 5
        except (BrokenPipeError, ConnectionResetError):
            outcome = "reset"
            break
        except socket.timeout:
            pass  # the server stopped reading: see how it ends
        frag = os.urandom(16384)
        try:
            s.setblocking(False)
            d = s.recv(65536)
            if not d:
                outcome = "eof"
                break
            if d[:1] == b"\x15":
                outcome = "alert(%d)" % d[6] if len(d) >= 7 else "alert"
                break
        except (BlockingIOError, socket.timeout):
            pass
        except ConnectionResetError:
            outcome = "reset"
            break
        finally:
            s.settimeout(0.5)
    if outcome == "open":
        outcome, _, _ = wait_end(s, hs + slack)
    sec = time.monotonic() - t0
    s.close()
    if outcome == "open" or sent >= 8 << 20:
        fail("oversized", "16 MiB ClientHello spread over records: %s after %d bytes, %.2f s" % (outcome, sent, sec))
    ok("oversized", "16 MiB ClientHello spread over 16 KiB records: %s after %.2f s (the client had written"
       " %d bytes into its socket by then)" % (outcome, sec, sent))


def hello_answered(case, what, msg):
    """ClientHello MSG (with WHAT) in records of 16 KiB: the server must
    answer it (a ServerHello, an alert or a close) within 2 s."""
    s = connect()
    send_all(s, records(22, msg))
    outcome, sec, _ = wait_end(s, A.hs_timeout + A.slack, until_hello=True)
    s.close()
    if outcome == "open" or sec > 2.0:
        fail(case, "%s: %s after %.2f s" % (what, outcome, sec))
    ok(case, "ClientHello with %s (%d bytes in %d record(s)): %s after %.2f s"
       % (what, len(msg), (len(msg) + 16383) // 16384, outcome, sec))


def case_extensions():
    for extra in (500, 3000):
        h = Hello(client_hello("1.3"))
        used = {t for t, _ in h.exts}
        add = [(t, b"") for t in range(0x2000, 0x2000 + extra + len(used)) if t not in used][:extra]
        h.exts = add + h.exts
        hello_answered("extensions", "%d extensions (%d extra)" % (len(h.exts), extra), h.message())


def with_sni(name):
    h = Hello(client_hello("1.3"))
    sn = b"\x00" + struct.pack("!H", len(name)) + name
    h.exts = [(t, struct.pack("!H", len(sn)) + sn if t == 0 else d) for t, d in h.exts]
    return h.message()


def case_sni():
    for label, name in (("60 KB server_name", b"a" * 60000),
                        ("a 300-byte label", b"b" * 300 + b".localhost"),
                        ("63 labels of 63 bytes", b".".join([b"c" * 63] * 63))):
        hello_answered("sni", label, with_sni(name))


def main():
    global A
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("case", choices=["garbage", "sslv2", "truncate", "bytewise", "oversized",
                                    "extensions", "sni"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cafile", required=True)
    p.add_argument("--hs-timeout", type=float, default=3.0)
    p.add_argument("--slack", type=float, default=3.0,
                   help="how long after the handshake timeout a cut may come")
    A = p.parse_args()
    globals()["case_" + A.case]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
