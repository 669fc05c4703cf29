#!/usr/bin/env bash
# tcp_mode.sh: --mode tcp relays bytes as they are, and --proxy-protocol
# tells the backend who the client is.
#  - byte-exact relay both ways: binary that is not HTTP, an HTTP request
#    with an X-Forwarded-For (not rewritten here) and a 4 MiB random blob;
#    the SHA-256 of what the client sent, what the backend received and
#    what came back are the same;
#  - --proxy-protocol v1: the backend first gets
#    "PROXY TCP4 <client ip> <tlsterm ip> <client port> <tlsterm port>\r\n"
#    with the client socket's own address (TCP6 over ::1);
#  - --proxy-protocol v2: the binary header with the same addresses and the
#    TLVs ALPN (0x01), AUTHORITY (0x02, the SNI) and SSL (0x20) with its
#    version (0x21) and cipher (0x23) sub-TLVs, over TLS 1.3 and 1.2; no
#    ALPN/AUTHORITY TLV when the client sent neither;
#  - --proxy-protocol with --mode http is a start-up error: exit 2, one line.
# The backend is a small echo server (below) that records every byte it
# gets and echoes what follows the PROXY header.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

gen_certs
mapfile -t certs < <(cert_args)
v6=0
if have_ipv6; then v6=1; fi

cat >"$T/tcpecho.py" <<'PY'
# tcpecho.py PORT_FILE RECORD_DIR: echo server on 127.0.0.1. Connection N's
# raw input goes to RECORD_DIR/conn-N.bin as it arrives; a PROXY v1/v2
# header at its start is skipped, everything after it echoed. On EOF the
# write side is shut after the echo; RECORD_DIR/conn-N.done marks the end.
import os, socket, struct, sys, threading

pf, rec = sys.argv[1], sys.argv[2]
SIG2 = b"\r\n\r\n\x00\r\nQUIT\n"
count = [0]
lock = threading.Lock()


def header_len(buf):
    """Length of a PROXY header at the start of buf; 0: none; None: need more."""
    if buf.startswith(SIG2):
        if len(buf) < 16:
            return None
        n = 16 + struct.unpack("!H", buf[14:16])[0]
        return n if len(buf) >= n else None
    if SIG2.startswith(buf[:12]) and len(buf) < 12:
        return None
    if buf.startswith(b"PROXY "):
        i = buf.find(b"\r\n")
        return i + 2 if i >= 0 else (None if len(buf) < 108 else 0)
    if b"PROXY ".startswith(buf[:6]) and len(buf) < 6:
        return None
    return 0


def serve(c, n):
    base = os.path.join(rec, "conn-%d" % n)
    c.settimeout(60)
    buf, skipped = b"", False
    with open(base + ".bin", "wb") as f:
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                f.write(d)
                f.flush()
                if skipped:
                    c.sendall(d)
                    continue
                buf += d
                h = header_len(buf)
                if h is None:
                    continue
                skipped = True
                if buf[h:]:
                    c.sendall(buf[h:])
                buf = b""
            c.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    c.close()
    open(base + ".done", "w").close()


ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
ls.listen(128)
with open(pf + ".tmp", "w") as f:
    f.write("%d\n" % ls.getsockname()[1])
os.replace(pf + ".tmp", pf)
while True:
    c, _ = ls.accept()
    with lock:
        count[0] += 1
        n = count[0]
    threading.Thread(target=serve, args=(c, n), daemon=True).start()
PY
"$PYTHON3" "$T/tcpecho.py" "$T/echo.port" "$T/rec" 2>>"$T/echo.log" &
track_pid "$!"
mkdir -p "$T/rec"
wait_file "$T/echo.port" 10 || hard_error "echo backend did not start: $(cat "$T/echo.log")"
echo_port=$(cat "$T/echo.port")

cat >"$T/tc.py" <<'PY'
import hashlib, os, random, select, socket, ssl, struct, sys, time

case, host, port, ca, rec = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
SIG2 = b"\r\n\r\n\x00\r\nQUIT\n"


def die(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        die(msg)


def connect(sni="localhost", alpn=("http/1.1",), tls12_cipher=None):
    ctx = ssl.create_default_context(cafile=ca)
    if sni is None:
        ctx.check_hostname = False
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if tls12_cipher:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(tls12_cipher)
    raw = socket.create_connection((host, port), timeout=20)
    return ctx.wrap_socket(raw, server_hostname=sni, suppress_ragged_eofs=False)


def recorded_for(local, min_len, wait=10.0):
    """The bytes the backend recorded for the connection whose client
    socket is `local`: found through the PROXY header, or, without one, the
    only connection not yet claimed. Waits until min_len bytes are in."""
    end = time.monotonic() + wait
    while True:
        for f in sorted(os.listdir(rec)):
            if not f.endswith(".bin") or f in CLAIMED:
                continue
            with open(os.path.join(rec, f), "rb") as fh:
                d = fh.read()
            if len(d) >= min_len and (MARK is None or MARK(d, local)):
                CLAIMED.add(f)
                return d
        check(time.monotonic() < end, "the backend did not get %d bytes in %.0f s" % (min_len, wait))
        time.sleep(0.05)


CLAIMED = set()
MARK = None


def pump(s, data):
    """Send data while reading the echo (one thread, non-blocking);
    returns what came back once it is as long as data."""
    s.setblocking(False)
    got = bytearray()
    off = 0
    end = time.monotonic() + 40
    sizes = random.Random(7)
    while len(got) < len(data):
        check(time.monotonic() < end, "relay stalled: sent %d, got back %d" % (off, len(got)))
        want_w = off < len(data)
        r, w, _ = select.select([s], [s] if want_w else [], [], 0.5)
        if want_w and w:
            n = sizes.choice([1, 7, 100, 1500, 16384, 65536])
            try:
                off += s.send(data[off:off + n])
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                pass
        while True:
            try:
                d = s.recv(65536)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                break
            check(d, "connection closed after %d of %d echoed bytes" % (len(got), len(data)))
            got += d
            if not s.pending():
                break
    s.setblocking(True)
    return bytes(got)


def sha(b):
    return hashlib.sha256(b).hexdigest()


def parse_v2(d):
    check(d.startswith(SIG2), "no PROXY v2 signature: %r" % d[:32])
    ver_cmd, fam, ln = struct.unpack("!BBH", d[12:16])
    check(ver_cmd == 0x21, "v2 version/command 0x%02x, want 0x21 (v2 PROXY)" % ver_cmd)
    body = d[16:16 + ln]
    check(len(body) == ln, "v2 header cut short")
    if fam == 0x11:
        check(ln >= 12, "TCP4 address block too short")
        src = socket.inet_ntop(socket.AF_INET, body[0:4])
        dst = socket.inet_ntop(socket.AF_INET, body[4:8])
        sp, dp = struct.unpack("!HH", body[8:12])
        rest = body[12:]
    elif fam == 0x21:
        check(ln >= 36, "TCP6 address block too short")
        src = socket.inet_ntop(socket.AF_INET6, body[0:16])
        dst = socket.inet_ntop(socket.AF_INET6, body[16:32])
        sp, dp = struct.unpack("!HH", body[32:36])
        rest = body[36:]
    else:
        die("v2 family/transport 0x%02x, want 0x11 or 0x21" % fam)
    return fam, src, dst, sp, dp, tlvs(rest), 16 + ln


def tlvs(b):
    out = {}
    while b:
        check(len(b) >= 3, "truncated TLV")
        t, n = b[0], struct.unpack("!H", b[1:3])[0]
        check(len(b) >= 3 + n, "TLV 0x%02x longer than the header" % t)
        check(t not in out, "TLV 0x%02x twice" % t)
        out[t] = b[3:3 + n]
        b = b[3 + n:]
    return out


# Names a cipher may be given by: OpenSSL's (python's), IANA's and
# mbedTLS's spelling of the same suite.
ALIASES = {
    "TLS_AES_256_GCM_SHA384": {"TLS1-3-AES-256-GCM-SHA384"},
    "TLS_AES_128_GCM_SHA256": {"TLS1-3-AES-128-GCM-SHA256"},
    "TLS_CHACHA20_POLY1305_SHA256": {"TLS1-3-CHACHA20-POLY1305-SHA256"},
    "ECDHE-ECDSA-AES128-GCM-SHA256": {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                                      "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256"},
}


def relay():
    s = connect()
    rnd = random.Random(42)
    blob = bytes(rnd.getrandbits(8) for _ in range(4096)) * 1024  # 4 MiB
    data = (b"\x00\x01\x02\xff SSH-2.0-OpenSSH_9.0\r\n" + bytes(range(256)) * 4
            + b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n"
            + os.urandom(100000) + blob)
    back = pump(s, data)
    check(back == data, "echo differs: sent sha256 %s, got back %s (%d bytes)" % (sha(data), sha(back), len(back)))
    rec_d = recorded_for(s.getsockname(), len(data))
    check(rec_d == data, "the backend got %d bytes, sha256 %s; sent %d, sha256 %s"
          % (len(rec_d), sha(rec_d), len(data), sha(data)))
    s.close()
    return "%d bytes byte-exact both ways, sha256 %s..." % (len(data), sha(data)[:16])


def v1():
    s = connect()
    lip, lport = s.getsockname()[:2]
    back = pump(s, b"hello v1\n")
    check(back == b"hello v1\n", "echo after the v1 header: %r" % back)
    d = recorded_for((lip, lport), 1)
    line, sep, rest = d.partition(b"\r\n")
    fam = b"TCP6" if ":" in lip else b"TCP4"
    want = b"PROXY %s %s %s %d %d" % (fam, lip.encode(), host.encode(), lport, port)
    check(line == want, "v1 header %r, want %r" % (line, want))
    check(rest == b"hello v1\n", "after the v1 header the backend got %r" % rest)
    s.close()
    return "'%s'" % line.decode()


def v2(variant):
    if variant == "bare":
        s = connect(sni=None, alpn=())
    elif variant == "tls12":
        s = connect(tls12_cipher="ECDHE-ECDSA-AES128-GCM-SHA256")
    else:
        s = connect()
    lip, lport = s.getsockname()[:2]
    payload = b"hello v2 " + os.urandom(1000)
    back = pump(s, payload)
    check(back == payload, "echo after the v2 header differs")
    d = recorded_for((lip, lport), len(payload))
    fam, src, dst, sp, dp, t, hl = parse_v2(d)
    check(fam == (0x21 if ":" in lip else 0x11), "v2 family 0x%02x for a %s client" % (fam, lip))
    check((src, sp) == (lip, lport), "v2 source %s:%d, the client is %s:%d" % (src, sp, lip, lport))
    check((dst, dp) == (host, port), "v2 destination %s:%d, want %s:%d" % (dst, dp, host, port))
    check(d[hl:] == payload, "after the v2 header the backend got other bytes")
    if variant == "bare":
        check(0x01 not in t and 0x02 not in t,
              "ALPN/AUTHORITY TLVs without ALPN or SNI from the client: %r" % t)
    else:
        check(t.get(0x01) == b"http/1.1", "ALPN TLV %r, want b'http/1.1'" % t.get(0x01))
        check(t.get(0x02) == b"localhost", "AUTHORITY TLV %r, want b'localhost'" % t.get(0x02))
    check(0x20 in t, "no PP2_TYPE_SSL (0x20) TLV: %r" % sorted(t))
    ssl_tlv = t[0x20]
    check(len(ssl_tlv) >= 5, "SSL TLV too short")
    client, verify = ssl_tlv[0], struct.unpack("!I", ssl_tlv[1:5])[0]
    check(client & 0x01, "SSL TLV client field 0x%02x lacks PP2_CLIENT_SSL" % client)
    sub = tlvs(ssl_tlv[5:])
    version = s.version()
    check(sub.get(0x21) == version.encode(), "SSL version sub-TLV %r, want %r" % (sub.get(0x21), version))
    cipher = s.cipher()[0]
    names = {cipher} | ALIASES.get(cipher, set())
    got = sub.get(0x23, b"").decode("ascii", "replace")
    check(got in names, "SSL cipher sub-TLV %r, the client negotiated %s" % (got, cipher))
    s.close()
    return "%s:%d -> %s:%d, TLVs %s, SSL client=0x%02x verify=%d version=%s cipher=%s" % (
        src, sp, dst, dp, ",".join("0x%02x" % k for k in sorted(t)), client, verify, version, got)


# Find a PROXY connection's recording by its source address.
def mark(d, local):
    lip, lport = local[:2]
    if d.startswith(b"PROXY "):
        parts = d.split(b"\r\n", 1)[0].split(b" ")
        return len(parts) == 6 and parts[2] == lip.encode() and int(parts[4]) == lport
    if d.startswith(SIG2) and len(d) >= 16:
        fam = d[13]
        if fam == 0x11 and len(d) >= 28:
            return socket.inet_ntop(socket.AF_INET, d[16:20]) == lip and struct.unpack("!H", d[24:26])[0] == lport
        if fam == 0x21 and len(d) >= 52:
            return socket.inet_ntop(socket.AF_INET6, d[16:32]) == lip and struct.unpack("!H", d[48:50])[0] == lport
    return False


if case != "relay":
    MARK = mark
print({"relay": relay, "v1": v1, "v2": lambda: v2("full"), "v2-tls12": lambda: v2("tls12"),
       "v2-bare": lambda: v2("bare")}[case]())
PY

tc() { "$PYTHON3" "$T/tc.py" "$1" "$2" "$3" "$CERTS/ca.pem" "$T/rec"; }

# 1. Plain relay.
port=$(free_port)
start_tlsterm --listen "127.0.0.1:$port" --backend "127.0.0.1:$echo_port" "${certs[@]}" \
  --workers 2 --drain-timeout 2s --mode tcp
out=$(tc relay 127.0.0.1 "$port") || fail "relay: $out"
pass "--mode tcp: $out"
stop_tlsterm 10
rm -f "$T"/rec/*

# 2. PROXY v1 and v2, over IPv4 and (where there is ::1) IPv6.
for v in v1 v2; do
  port=$(free_port)
  listen=(--listen "127.0.0.1:$port")
  [ "$v6" = 1 ] && listen+=(--listen "[::1]:$port")
  start_tlsterm "${listen[@]}" --backend "127.0.0.1:$echo_port" "${certs[@]}" \
    --workers 2 --drain-timeout 2s --mode tcp --proxy-protocol "$v"
  cases=("$v")
  [ "$v" = v2 ] && cases+=(v2-tls12 v2-bare)
  hosts=(127.0.0.1)
  [ "$v6" = 1 ] && hosts+=(::1)
  for c in "${cases[@]}"; do
    for h in "${hosts[@]}"; do
      out=$(tc "$c" "$h" "$port") || fail "$c over $h: $out"
      pass "--proxy-protocol $c over $h: $out"
    done
  done
  stop_tlsterm 10
done

# 3. --proxy-protocol needs --mode tcp: with --mode http (and with the
#    default mode) tlsterm refuses to start, exit 2, one line naming it.
port=$(free_port)
for mode in "--mode http" ""; do
  status=0
  # shellcheck disable=SC2086 # $mode is empty or two words on purpose
  timeout 20 "$TLSTERM" --listen "127.0.0.1:$port" --backend "127.0.0.1:$echo_port" "${certs[@]}" \
    $mode --proxy-protocol v1 >"$T/pp.out" 2>"$T/pp.err" || status=$?
  [ "$status" = 2 ] || fail "'${mode:-(default mode)} --proxy-protocol v1' exited $status, want 2: $(cat "$T/pp.err")"
  [ "$(grep -c . "$T/pp.err")" = 1 ] || fail "want one line on stderr, got: $(cat "$T/pp.err")"
  grep -q -- '--proxy-protocol' "$T/pp.err" || fail "the error does not name --proxy-protocol: $(cat "$T/pp.err")"
  [ ! -s "$T/pp.out" ] || fail "start-up error printed to stdout: $(cat "$T/pp.out")"
  ! port_open 127.0.0.1 "$port" || fail "something listens on $port after the start-up error"
  pass "'${mode:-(default mode)} --proxy-protocol v1': exit 2: $(cat "$T/pp.err")"
done
