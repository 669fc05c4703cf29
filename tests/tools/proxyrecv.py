#!/usr/bin/env python3
"""proxyrecv.py: a PROXY-protocol receiving backend for the integration
tests (tlsterm --mode tcp --proxy-protocol v1|v2). Python 3 standard library
only, and written from HAProxy's doc/proxy-protocol.txt, not from tlsterm's
C code, so it checks the encoder independently.

  proxyrecv.py [--listen 127.0.0.1:0] [--port-file F] [--record FILE] [--http]

Each connection must start with a PROXY v1 or v2 header. It is parsed
strictly (v1: the exact grammar, no leading zeros, the 107-byte limit, CRLF
only; v2: signature, version 2, command, family, length, and every TLV and
PP2_TYPE_SSL sub-TLV must fit exactly), and one JSON line describing it is
appended to --record (flushed at once, before any data is answered):

  {"version": 2, "command": "PROXY", "family": "TCP4",
   "src": "127.0.0.1", "src_port": 40000, "dst": "127.0.0.1", "dst_port": 8443,
   "header_len": 90, "peer": "127.0.0.1:51234",
   "tlv_types": [1, 2, 32, 224],
   "tlvs": {"alpn": "h2", "authority": "example.com",
            "ssl": {"client": 7, "client_ssl": true, "cert_conn": true,
                    "cert_sess": true, "verify": 0, "version": "TLSv1.3",
                    "cn": "alice", "cipher": "TLS_AES_128_GCM_SHA256",
                    "sub_types": [33, 34, 35]},
            "client_cert": "<base64 DER>"}}

v1 records have "version": 1, "family" "TCP4", "TCP6" or "UNKNOWN" and no
tlvs. Unknown TLVs appear as "0xNN" with a hex value. A refused header is
recorded as {"error": "...", "peer": ...} and the connection is closed.

After the header the connection is an echo server until EOF (so a client can
check byte-exact relaying), or with --http answers every HTTP/1.1 request
(Content-Length or chunked bodies, keep-alive) with 200 and the record as a
JSON body.

Port 0 binds a free port; --port-file then receives the bound port, written
atomically after listen(2).
"""

import argparse
import base64
import ipaddress
import json
import os
import socket
import socketserver
import struct
import sys
import threading

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
V1_MAX = 107
HEADER_TIMEOUT = 10.0

TLV_NAMES = {
    0x01: "alpn",
    0x02: "authority",
    0x03: "crc32c",
    0x04: "noop",
    0x05: "unique_id",
    0x20: "ssl",
    0x30: "netns",
    0xE0: "client_cert",  # tlsterm's custom TLV: the DER client certificate
}
SSL_SUB_NAMES = {0x21: "version", 0x22: "cn", 0x23: "cipher",
                 0x24: "sig_alg", 0x25: "key_alg"}


class Refused(Exception):
    """The bytes are not a valid PROXY header."""


class Reader:
    """Buffered reads from a socket; `buf` keeps what was read but not used."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self, n):
        """Make buf at least n bytes long; False at EOF before that."""
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                return False
            self.buf += chunk
        return True

    def take(self, n):
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


# ---- v1 -------------------------------------------------------------------

def dec(s, maximum, what):
    """A decimal number without leading zeros, in [0, maximum]."""
    if not s or not s.isdigit() or not s.isascii() or len(s) > 5 or \
            (len(s) > 1 and s[0] == "0"):
        raise Refused("bad v1 %s %r" % (what, s))
    v = int(s)
    if v > maximum:
        raise Refused("bad v1 %s %r" % (what, s))
    return v


def v1_ip4(s, what):
    parts = s.split(".")
    if len(parts) != 4:
        raise Refused("bad v1 %s address %r" % (what, s))
    for p in parts:
        dec(p, 255, what + " address")
    return s


def v1_ip6(s, what):
    # hex groups and "::"; ipaddress also takes a dotted tail (as inet_ntop
    # writes v4-mapped addresses) but must not be given a zone id.
    if "%" in s or not s:
        raise Refused("bad v1 %s address %r" % (what, s))
    try:
        return ipaddress.IPv6Address(s).compressed
    except ValueError:
        raise Refused("bad v1 %s address %r" % (what, s)) from None


def parse_v1(r):
    """The v1 line: wait for CRLF within 107 bytes."""
    while True:
        i = r.buf.find(b"\r\n", 0, V1_MAX)
        if i >= 0:
            break
        if len(r.buf) >= V1_MAX:
            raise Refused("v1: no CRLF in 107 bytes")
        if not r.fill(len(r.buf) + 1):
            raise Refused("v1: EOF inside the header")
    raw = r.take(i + 2)
    line = raw[:-2]
    if any(c < 0x20 or c > 0x7E for c in line):
        raise Refused("v1: non-printable byte in %r" % line)
    words = line.decode("ascii").split(" ")
    if words[0] != "PROXY" or len(words) < 2:
        raise Refused("v1: bad line %r" % line)
    info = {"version": 1, "command": "PROXY", "family": words[1],
            "header_len": len(raw)}
    if words[1] == "UNKNOWN":
        info["rest"] = " ".join(words[2:])
        return info
    if words[1] not in ("TCP4", "TCP6"):
        raise Refused("v1: bad protocol %r" % words[1])
    if len(words) != 6:
        raise Refused("v1: %d fields, want 6: %r" % (len(words), line))
    ip = v1_ip4 if words[1] == "TCP4" else v1_ip6
    info.update(src=ip(words[2], "source"), dst=ip(words[3], "destination"),
                src_port=dec(words[4], 65535, "source port"),
                dst_port=dec(words[5], 65535, "destination port"))
    return info


# ---- v2 -------------------------------------------------------------------

def crc32c(data):
    """CRC-32C (Castagnoli, reflected 0x82F63B78), as RFC 4960 appendix B."""
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def walk_tlvs(data, what):
    """[(type, value, offset of value)] of a TLV block that must fit exactly."""
    out, i = [], 0
    while i < len(data):
        if len(data) - i < 3:
            raise Refused("%s: %d stray bytes" % (what, len(data) - i))
        t, n = data[i], struct.unpack("!H", data[i + 1:i + 3])[0]
        if n > len(data) - i - 3:
            raise Refused("%s: TLV 0x%02x length %d overruns" % (what, t, n))
        out.append((t, data[i + 3:i + 3 + n], i + 3))
        i += 3 + n
    return out


def text(v):
    return v.decode("utf-8", "backslashreplace")


def ssl_tlv(v):
    if len(v) < 5:
        raise Refused("PP2_TYPE_SSL shorter than 5 bytes")
    client, verify = v[0], struct.unpack("!I", v[1:5])[0]
    ssl = {"client": client, "client_ssl": bool(client & 1),
           "cert_conn": bool(client & 2), "cert_sess": bool(client & 4),
           "verify": verify, "sub_types": []}
    for t, sv, _ in walk_tlvs(v[5:], "PP2_TYPE_SSL"):
        name = SSL_SUB_NAMES.get(t, "0x%02x" % t)
        if name in ssl:
            raise Refused("SSL sub-TLV %s twice" % name)
        ssl["sub_types"].append(t)
        ssl[name] = text(sv) if t in SSL_SUB_NAMES else sv.hex()
    return ssl


def decode_tlvs(header, start):
    tlvs, types = {}, []
    for t, v, off in walk_tlvs(header[start:], "v2 TLVs"):
        name = TLV_NAMES.get(t, "0x%02x" % t)
        if name in tlvs:
            raise Refused("TLV %s twice" % name)
        types.append(t)
        if t == 0x20:
            tlvs[name] = ssl_tlv(v)
        elif t == 0xE0:
            tlvs[name] = base64.b64encode(v).decode("ascii")
        elif t in (0x01, 0x02, 0x30):
            tlvs[name] = text(v)
        elif t == 0x03:
            if len(v) != 4:
                raise Refused("CRC32C TLV of %d bytes" % len(v))
            at = start + off
            zeroed = header[:at] + b"\0\0\0\0" + header[at + 4:]
            tlvs[name] = {"value": v.hex(),
                          "ok": crc32c(zeroed) == struct.unpack("!I", v)[0]}
        else:
            tlvs[name] = v.hex()
    return tlvs, types


FAMILIES = {0x00: "UNSPEC", 0x11: "TCP4", 0x12: "UDP4", 0x21: "TCP6",
            0x22: "UDP6", 0x31: "UNIX_STREAM", 0x32: "UNIX_DGRAM"}
ADDR_LEN = {0x11: 12, 0x12: 12, 0x21: 36, 0x22: 36, 0x31: 216, 0x32: 216}


def parse_v2(r):
    if not r.fill(16):
        raise Refused("v2: EOF inside the fixed header")
    if r.buf[:12] != V2_SIG:
        raise Refused("v2: bad signature")
    ver_cmd, fam, length = r.buf[12], r.buf[13], \
        struct.unpack("!H", r.buf[14:16])[0]
    if ver_cmd >> 4 != 2:
        raise Refused("v2: version %d" % (ver_cmd >> 4))
    if ver_cmd & 0xF not in (0, 1):
        raise Refused("v2: command %d" % (ver_cmd & 0xF))
    if fam not in FAMILIES:
        raise Refused("v2: family/transport byte 0x%02x" % fam)
    if not r.fill(16 + length):
        raise Refused("v2: EOF inside the header (length %d)" % length)
    header = r.take(16 + length)
    info = {"version": 2, "command": "PROXY" if ver_cmd & 1 else "LOCAL",
            "family": FAMILIES[fam], "header_len": len(header)}
    alen = ADDR_LEN.get(fam, 0)
    if length < alen:
        raise Refused("v2: length %d < address block %d" % (length, alen))
    a = header[16:16 + alen]
    if fam in (0x11, 0x12, 0x21, 0x22):
        n = 4 if fam >> 4 == 1 else 16
        af = socket.AF_INET if n == 4 else socket.AF_INET6
        info.update(src=socket.inet_ntop(af, a[:n]),
                    dst=socket.inet_ntop(af, a[n:2 * n]),
                    src_port=struct.unpack("!H", a[2 * n:2 * n + 2])[0],
                    dst_port=struct.unpack("!H", a[2 * n + 2:2 * n + 4])[0])
        if n == 16:
            info["src"] = ipaddress.IPv6Address(info["src"]).compressed
            info["dst"] = ipaddress.IPv6Address(info["dst"]).compressed
    info["tlvs"], info["tlv_types"] = decode_tlvs(header, 16 + alen)
    return info


def parse_header(r):
    """The PROXY header at the start of the stream, as a dict."""
    if not r.fill(1):
        raise Refused("EOF before any byte")
    if r.buf[:1] == b"\r":
        return parse_v2(r)
    if not r.fill(6):
        raise Refused("EOF inside the v1 signature")
    if r.buf[:6] != b"PROXY ":
        raise Refused("not a PROXY header: %r" % r.buf[:16])
    return parse_v1(r)


# ---- after the header -----------------------------------------------------

def echo(r, sock):
    if r.buf:
        sock.sendall(r.take(len(r.buf)))
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        sock.sendall(chunk)
    sock.shutdown(socket.SHUT_WR)


def read_line(r, limit=65536):
    while b"\r\n" not in r.buf:
        if len(r.buf) > limit or not r.fill(len(r.buf) + 1):
            return None
    i = r.buf.index(b"\r\n")
    line = r.take(i + 2)
    return line[:-2]


def read_body(r, headers):
    """Consume a request body; False if it cannot be read."""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size_line = read_line(r)
            if size_line is None:
                return False
            size = int(size_line.split(b";")[0], 16)
            if not r.fill(size + 2):
                return False
            r.take(size + 2)
            if size == 0:
                return True  # (trailers are not expected in tests)
    n = int(headers.get("content-length", "0"))
    if not r.fill(n):
        return False
    r.take(n)
    return True


def http(r, sock, info):
    while True:
        request = read_line(r)
        if not request:
            return
        headers = {}
        while True:
            line = read_line(r)
            if line is None:
                return
            if line == b"":
                break
            k, _, v = line.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        if not read_body(r, headers):
            return
        method, _, rest = request.decode("latin-1").partition(" ")
        body = json.dumps({"proxy": info, "method": method,
                           "target": rest.rpartition(" ")[0]}).encode() + b"\n"
        close = headers.get("connection", "").lower() == "close"
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n%s\r\n" %
                     (len(body), b"Connection: close\r\n" if close else b"")
                     + body)
        if close:
            return


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        peer = "%s:%d" % self.client_address[:2]
        r = Reader(sock)
        sock.settimeout(HEADER_TIMEOUT)
        try:
            info = parse_header(r)
        except Refused as e:
            self.server.record({"error": str(e), "peer": peer})
            return
        except (OSError, ValueError) as e:
            self.server.record({"error": "read: %s" % e, "peer": peer})
            return
        info["peer"] = peer
        self.server.record(info)
        sock.settimeout(None)
        try:
            if self.server.http:
                http(r, sock, info)
            else:
                echo(r, sock)
        except (OSError, ValueError):
            pass  # a reset peer ends its connection only


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, record_path, http_mode):
        super().__init__(addr, Handler)
        self.http = http_mode
        self.lock = threading.Lock()
        self.out = open(record_path, "a", encoding="utf-8") \
            if record_path else None

    def record(self, obj):
        if self.out is None:
            return
        with self.lock:
            self.out.write(json.dumps(obj, sort_keys=True) + "\n")
            self.out.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--port-file")
    ap.add_argument("--record", help="append one JSON line per connection")
    ap.add_argument("--http", action="store_true",
                    help="answer HTTP/1.1 requests instead of echoing")
    args = ap.parse_args()
    host, _, port = args.listen.rpartition(":")
    srv = Server((host, int(port)), args.record, args.http)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.replace(tmp, args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
