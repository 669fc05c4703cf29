#!/usr/bin/env bash
# client_cert.sh: client certificates (--client-ca, --client-verify) against
# the real binary, loopback only.
#  - start-up: --client-verify without --client-ca, and a --client-ca file
#    that is garbage or holds no CA, exit 2 with one line naming the flag;
#  - http mode, --client-verify optional: the backend (recorder.py) gets
#    X-Client-Verify SUCCESS / FAILED / NONE, with X-Client-Subject and
#    X-Client-Fingerprint-SHA256 (as openssl computes it) when a certificate
#    was shown, X-Client-Cert (URL-encoded PEM) only with
#    --client-cert-header; client-sent copies of those headers never reach
#    the backend; TLS 1.2 and 1.3; a resumed TLS 1.2 session still reports
#    the certificate;
#  - --client-verify required: no certificate, or one from another CA, fails
#    the handshake with an alert the client can read (TLS 1.2 and 1.3) and
#    no request reaches the backend; alice's certificate works;
#  - tcp mode, --proxy-protocol v2 (--proxy-client-cert): the PP2_TYPE_SSL
#    TLV says whether a certificate was presented and verified, the CN
#    sub-TLV carries its CN, and TLV 0xE0 its DER only with
#    --proxy-client-cert. The PROXY receiver is a small python server here.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"


gen_certs
start_recorder
mapfile -t certs < <(cert_args)
alice=(--cert "$CERTS/client.pem" --key "$CERTS/client.key")
rogue=(--cert "$CERTS/rogue-client.pem" --key "$CERTS/rogue-client.key")
subject="O=tlsterm-test-clients, CN=alice"

# fingerprint FILE: openssl's SHA-256 fingerprint, as lowercase hex.
fingerprint() {
  openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f'
}
fp_alice=$(fingerprint "$CERTS/client.pem")
fp_rogue=$(fingerprint "$CERTS/rogue-client.pem")
[ ${#fp_alice} = 64 ] || hard_error "cannot compute the fingerprint of client.pem"

# headers FILE: the headers of a recorder.py JSON answer, one "Name: value"
# line each, as the backend received them.
headers() {
  "$PYTHON3" -c '
import json, sys
for n, v in json.load(open(sys.argv[1]))["headers"]:
    print("%s: %s" % (n, v))' "$1"
}

# header FILE NAME: the value of every NAME header in FILE (any case).
header() {
  headers "$1" | awk -v n="$2" 'BEGIN { n = tolower(n) ": " }
    index(tolower($0), n) == 1 { print substr($0, length(n) + 1) }'
}

# count FILE NAME: how many NAME headers the backend got.
count() { header "$1" "$2" | wc -l | tr -d ' '; }

# Client-sent copies of the headers tlsterm owns, in odd cases.
spoof=(-H 'X-Client-Verify: SUCCESS' -H 'x-client-subject: CN=admin'
  -H 'X-CLIENT-FINGERPRINT-SHA256: 0000' -H 'X-Client-Cert: forged')

# --- start-up errors ---------------------------------------------------------

port=$(free_port)
base=(--listen "127.0.0.1:$port" --backend "127.0.0.1:$REC_PORT" "${certs[@]}")
printf 'not a certificate\n' >"$T/garbage.pem"


expect_exit2 "--client-verify optional without --client-ca" \
  '--client-verify.*--client-ca' "${base[@]}" --client-verify optional
expect_exit2 "--client-verify required without --client-ca" \
  '--client-verify.*--client-ca' "${base[@]}" --client-verify required
expect_exit2 "--client-ca garbage" "--client-ca $T/garbage\\.pem: no certificate" \
  "${base[@]}" --client-ca "$T/garbage.pem" --client-verify optional
expect_exit2 "--client-ca missing file" "--client-ca $T/nope\\.pem: cannot read" \
  "${base[@]}" --client-ca "$T/nope.pem" --client-verify optional
expect_exit2 "--client-ca without a CA" "--client-ca .*client\\.pem: no CA certificate" \
  "${base[@]}" --client-ca "$CERTS/client.pem" --client-verify required

# --- http mode, optional -------------------------------------------------------

port_o=$(free_port)
start_tlsterm --listen "127.0.0.1:$port_o" --backend "127.0.0.1:$REC_PORT" "${certs[@]}" \
  --client-ca "$CERTS/client-ca.pem" --client-verify optional --client-cert-header \
  --workers 2 --drain-timeout 2s

for v in 1.2 1.3; do
  # alice: verified; the header copy of her PEM is exactly her file.
  tcurl "$port_o" "/opt-alice-$v" --tlsv"$v" --tls-max "$v" "${alice[@]}" "${spoof[@]}" \
    >"$T/a.$v.json" 2>"$T/curl.err" || fail "optional, alice, TLS $v: curl failed: $(cat "$T/curl.err")"
  [ "$(header "$T/a.$v.json" X-Client-Verify)" = SUCCESS ] ||
    fail "optional, alice, TLS $v: X-Client-Verify: $(header "$T/a.$v.json" X-Client-Verify)"
  [ "$(header "$T/a.$v.json" X-Client-Subject)" = "$subject" ] ||
    fail "optional, alice, TLS $v: X-Client-Subject: $(header "$T/a.$v.json" X-Client-Subject)"
  [ "$(header "$T/a.$v.json" X-Client-Fingerprint-SHA256)" = "$fp_alice" ] ||
    fail "optional, alice, TLS $v: fingerprint $(header "$T/a.$v.json" X-Client-Fingerprint-SHA256), openssl says $fp_alice"
  header "$T/a.$v.json" X-Client-Cert |
    "$PYTHON3" -c 'import sys, urllib.parse; sys.stdout.write(urllib.parse.unquote(sys.stdin.read().strip()))' \
      >"$T/a.$v.pem"
  cmp -s "$T/a.$v.pem" "$CERTS/client.pem" ||
    fail "optional, alice, TLS $v: X-Client-Cert does not decode to client.pem: $(head -c 200 "$T/a.$v.pem")"
  for h in X-Client-Verify X-Client-Subject X-Client-Fingerprint-SHA256 X-Client-Cert; do
    [ "$(count "$T/a.$v.json" "$h")" = 1 ] || fail "optional, alice, TLS $v: $h is not there exactly once: $(headers "$T/a.$v.json")"
  done
  pass "optional, TLS $v: alice is SUCCESS with subject, fingerprint and PEM"

  # mallory with a look-alike certificate from another CA: FAILED, and
  # what he showed.
  tcurl "$port_o" "/opt-rogue-$v" --tlsv"$v" --tls-max "$v" "${rogue[@]}" "${spoof[@]}" \
    >"$T/r.$v.json" 2>"$T/curl.err" || fail "optional, rogue, TLS $v: curl failed: $(cat "$T/curl.err")"
  [ "$(header "$T/r.$v.json" X-Client-Verify)" = FAILED ] ||
    fail "optional, rogue, TLS $v: X-Client-Verify: $(header "$T/r.$v.json" X-Client-Verify)"
  [ "$(header "$T/r.$v.json" X-Client-Subject)" = "$subject" ] ||
    fail "optional, rogue, TLS $v: X-Client-Subject: $(header "$T/r.$v.json" X-Client-Subject)"
  [ "$(header "$T/r.$v.json" X-Client-Fingerprint-SHA256)" = "$fp_rogue" ] ||
    fail "optional, rogue, TLS $v: fingerprint $(header "$T/r.$v.json" X-Client-Fingerprint-SHA256), want $fp_rogue"
  [ "$(count "$T/r.$v.json" X-Client-Verify)" = 1 ] || fail "optional, rogue, TLS $v: a client-sent X-Client-Verify got through"
  pass "optional, TLS $v: a certificate from another CA is FAILED"

  # no certificate: NONE, and nothing else of ours, nothing of the client's.
  tcurl "$port_o" "/opt-none-$v" --tlsv"$v" --tls-max "$v" "${spoof[@]}" \
    >"$T/n.$v.json" 2>"$T/curl.err" || fail "optional, none, TLS $v: curl failed: $(cat "$T/curl.err")"
  [ "$(header "$T/n.$v.json" X-Client-Verify)" = NONE ] ||
    fail "optional, none, TLS $v: X-Client-Verify: $(header "$T/n.$v.json" X-Client-Verify)"
  for h in X-Client-Subject X-Client-Fingerprint-SHA256 X-Client-Cert; do
    [ "$(count "$T/n.$v.json" "$h")" = 0 ] || fail "optional, none, TLS $v: $h reached the backend: $(headers "$T/n.$v.json")"
  done
  pass "optional, TLS $v: no certificate is NONE, client-sent copies stripped"
done

# A resumed TLS 1.2 session reports the certificate of its full handshake
# (the ticket carries it).
printf 'GET /resume-%s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' 1 |
  sclient "$port_o" -servername localhost -tls1_2 -cert "$CERTS/client.pem" -key "$CERTS/client.key" \
    -sess_out "$T/sess12" -ign_eof >"$T/s1.out" || fail "s_client TLS 1.2 full handshake failed: $(cat "$T/s1.out")"
grep -q "^New, " "$T/s1.out" || fail "s_client: first TLS 1.2 handshake not new: $(grep -E '^(New|Reused)' "$T/s1.out")"
printf 'GET /resume-%s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' 2 |
  sclient "$port_o" -servername localhost -tls1_2 -sess_in "$T/sess12" -ign_eof >"$T/s2.out" ||
  fail "s_client TLS 1.2 resumption failed: $(cat "$T/s2.out")"
grep -q "^Reused, " "$T/s2.out" || fail "s_client: TLS 1.2 session not resumed: $(grep -E '^(New|Reused)' "$T/s2.out")"
grep -q '"X-Client-Verify", "SUCCESS"' "$T/s2.out" || fail "resumed TLS 1.2: no X-Client-Verify SUCCESS: $(grep '"headers"' "$T/s2.out")"
grep -q "\"X-Client-Fingerprint-SHA256\", \"$fp_alice\"" "$T/s2.out" ||
  fail "resumed TLS 1.2: wrong or no fingerprint: $(grep '"headers"' "$T/s2.out")"
pass "a resumed TLS 1.2 session still reports alice's certificate"
stop_tlsterm 10

# Without --client-cert-header: no X-Client-Cert.
port_h=$(free_port)
start_tlsterm --listen "127.0.0.1:$port_h" --backend "127.0.0.1:$REC_PORT" "${certs[@]}" \
  --client-ca "$CERTS/client-ca.pem" --client-verify optional --workers 1 --drain-timeout 2s
tcurl "$port_h" /nohdr "${alice[@]}" -H 'X-Client-Cert: forged' >"$T/h.json" 2>"$T/curl.err" ||
  fail "no --client-cert-header: curl failed: $(cat "$T/curl.err")"
[ "$(header "$T/h.json" X-Client-Verify)" = SUCCESS ] || fail "no --client-cert-header: not SUCCESS: $(headers "$T/h.json")"
[ "$(count "$T/h.json" X-Client-Cert)" = 0 ] || fail "no --client-cert-header: X-Client-Cert reached the backend: $(headers "$T/h.json")"
pass "X-Client-Cert only with --client-cert-header"
stop_tlsterm 10

# --- http mode, required -------------------------------------------------------

port_r=$(free_port)
start_tlsterm --listen "127.0.0.1:$port_r" --backend "127.0.0.1:$REC_PORT" "${certs[@]}" \
  --client-ca "$CERTS/client-ca.pem" --client-verify required --workers 2 --drain-timeout 2s

for v in 1.2 1.3; do
  for who in none rogue; do
    args=()
    [ "$who" = rogue ] && args=("${rogue[@]}")
    status=0
    tcurl "$port_r" "/req-$who-$v" --tlsv"$v" --tls-max "$v" "${args[@]}" \
      >"$T/req.out" 2>"$T/req.err" || status=$?
    [ "$status" != 0 ] || fail "required, $who, TLS $v: the request went through: $(cat "$T/req.out")"
    # A readable alert, not a decryption failure (TLS 1.3 sends it after
    # the server's Finished, under the application key).
    grep -qi "alert" "$T/req.err" || fail "required, $who, TLS $v: no alert: $(cat "$T/req.err")"
    ! grep -qs "/req-$who-$v" "$T"/rec/*.bin || fail "required, $who, TLS $v: the backend got the request"
    pass "required, TLS $v, $who: curl $status, $(sed 's/^curl: //' "$T/req.err" | head -n 1)"
  done
  tcurl "$port_r" "/req-alice-$v" --tlsv"$v" --tls-max "$v" "${alice[@]}" >"$T/ra.json" 2>"$T/curl.err" ||
    fail "required, alice, TLS $v: curl failed: $(cat "$T/curl.err")"
  [ "$(header "$T/ra.json" X-Client-Verify)" = SUCCESS ] || fail "required, alice, TLS $v: $(headers "$T/ra.json")"
  pass "required, TLS $v: alice gets through, SUCCESS"
done
assert_alive
stop_tlsterm 10

# --- tcp mode, PROXY v2 --------------------------------------------------------

# pp2recv.py PORTFILE OUT: accept connections; for each, parse the PROXY v2
# header, read one line of data, append one JSON line to OUT, then answer
# "ok\n": {"client": int, "verify": int, "cn": str|null, "version": str|null,
#       "der": hex|null, "data": str}; "error" instead when the header is bad.
cat >"$T/pp2recv.py" <<'PY'
import json, os, socket, struct, sys, threading

SIG = b"\r\n\r\n\x00\r\nQUIT\n"
port_file, out = sys.argv[1], sys.argv[2]
lock = threading.Lock()


def read_exact(c, n):
    b = b""
    while len(b) < n:
        d = c.recv(n - len(b))
        if not d:
            raise EOFError("eof after %d of %d bytes" % (len(b), n))
        b += d
    return b


def tlvs(b):
    i = 0
    while i + 3 <= len(b):
        t, n = b[i], struct.unpack("!H", b[i + 1:i + 3])[0]
        yield t, b[i + 3:i + 3 + n]
        i += 3 + n


def handle(c):
    rec = {}
    try:
        c.settimeout(10)
        hdr = read_exact(c, 16)
        if hdr[:12] != SIG or hdr[12] != 0x21:
            raise ValueError("not a PROXY v2 PROXY header: %r" % hdr)
        body = read_exact(c, struct.unpack("!H", hdr[14:16])[0])
        alen = {0x11: 12, 0x21: 36}.get(hdr[13], 0)
        rec = {"client": None, "verify": None, "cn": None, "version": None, "der": None}
        for t, v in tlvs(body[alen:]):
            if t == 0x20:
                rec["client"] = v[0]
                rec["verify"] = struct.unpack("!I", v[1:5])[0]
                for st, sv in tlvs(v[5:]):
                    if st == 0x22:
                        rec["cn"] = sv.decode("utf-8", "replace")
                    elif st == 0x21:
                        rec["version"] = sv.decode()
            elif t == 0xE0:
                rec["der"] = v.hex()
        line = b""
        while not line.endswith(b"\n"):
            d = c.recv(1)
            if not d:
                break
            line += d
        rec["data"] = line.decode("latin-1")
    except Exception as e:  # recorded, for the test to show
        rec = {"error": str(e)}
    # Recorded before the answer: a client that has it finds its line.
    with lock, open(out, "a") as f:
        f.write(json.dumps(rec) + "\n")
    try:
        c.sendall(b"ok\n")
    except OSError:
        pass
    c.close()


s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(16)
with open(port_file + ".tmp", "w") as f:
    f.write("%d\n" % s.getsockname()[1])
os.replace(port_file + ".tmp", port_file)
while True:
    c, _ = s.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
PY

# tls_client.py PORT VERSION CERT|- KEY|- : connect over TLS (verifying the
# test CA), present the certificate if given, send "hello\n", print the
# answer line.
cat >"$T/tls_client.py" <<'PY'
import socket, ssl, sys
port, ver, cert, key, ca = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=ca)
v = ssl.TLSVersion.TLSv1_3 if ver == "1.3" else ssl.TLSVersion.TLSv1_2
ctx.minimum_version = ctx.maximum_version = v
if cert != "-":
    ctx.load_cert_chain(cert, key)
with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall(b"hello\n")
        ans = b""
        while not ans.endswith(b"\n"):
            d = s.recv(100)
            if not d:
                break
            ans += d
        sys.stdout.write(ans.decode())
PY

"$PYTHON3" "$T/pp2recv.py" "$T/pp2.port" "$T/pp2.jsonl" 2>>"$T/pp2.log" &
track_pid "$!"
wait_file "$T/pp2.port" 10 || hard_error "pp2recv.py did not start: $(cat "$T/pp2.log")"
pp2_port=$(cat "$T/pp2.port")
der_alice=$(openssl x509 -in "$CERTS/client.pem" -outform DER | od -An -v -tx1 | tr -d ' \n')
der_rogue=$(openssl x509 -in "$CERTS/rogue-client.pem" -outform DER | od -An -v -tx1 | tr -d ' \n')

# pp2_check N EXPR: line N of the receiver's log satisfies the python
# expression EXPR over its fields (r["client"], ...).
pp2_check() {
  "$PYTHON3" -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
n = int(sys.argv[2])
if len(lines) < n:
    sys.exit("only %d connection(s) recorded" % len(lines))
r = json.loads(lines[n - 1])
if "error" in r or not eval(sys.argv[3], {"r": r}):
    sys.exit("connection %d: %s" % (n, r))' "$T/pp2.jsonl" "$1" "$2"
}

conns=0
# tcp_case PORT VERSION WHO EXPR: one connection through tlsterm in tcp
# mode; the receiver must have seen EXPR.
tcp_case() {
  local port=$1 v=$2 who=$3 expr=$4 cert=- key=- out
  case $who in
  alice) cert=$CERTS/client.pem key=$CERTS/client.key ;;
  rogue) cert=$CERTS/rogue-client.pem key=$CERTS/rogue-client.key ;;
  esac
  out=$(timeout 20 "$PYTHON3" "$T/tls_client.py" "$port" "$v" "$cert" "$key" "$CERTS/ca.pem" 2>&1) ||
    fail "tcp, $who, TLS $v: client failed: $out"
  [ "$out" = ok ] || fail "tcp, $who, TLS $v: answer '$out'"
  conns=$((conns + 1))
  pp2_check "$conns" "r['data'] == 'hello\\n' and r['version'] == 'TLSv$v' and ($expr)" ||
    fail "tcp, $who, TLS $v: PROXY v2 header not as expected ($expr)"
  pass "tcp, TLS $v, $who: $(sed -n "${conns}p" "$T/pp2.jsonl" | cut -c1-160)"
}

port_t=$(free_port)
start_tlsterm --listen "127.0.0.1:$port_t" --backend "127.0.0.1:$pp2_port" "${certs[@]}" \
  --mode tcp --proxy-protocol v2 --proxy-client-cert \
  --client-ca "$CERTS/client-ca.pem" --client-verify optional --workers 1 --drain-timeout 2s
for v in 1.2 1.3; do
  tcp_case "$port_t" "$v" alice "r['client'] == 0x07 and r['verify'] == 0 and r['cn'] == 'alice' and r['der'] == '$der_alice'"
  tcp_case "$port_t" "$v" rogue "r['client'] == 0x07 and r['verify'] != 0 and r['cn'] == 'alice' and r['der'] == '$der_rogue'"
  tcp_case "$port_t" "$v" none "r['client'] == 0x01 and r['verify'] != 0 and r['cn'] is None and r['der'] is None"
done
stop_tlsterm 10

# Without --proxy-client-cert: the CN, but no DER.
port_t2=$(free_port)
start_tlsterm --listen "127.0.0.1:$port_t2" --backend "127.0.0.1:$pp2_port" "${certs[@]}" \
  --mode tcp --proxy-protocol v2 \
  --client-ca "$CERTS/client-ca.pem" --client-verify optional --workers 1 --drain-timeout 2s
tcp_case "$port_t2" 1.3 alice "r['client'] == 0x07 and r['verify'] == 0 and r['cn'] == 'alice' and r['der'] is None"
stop_tlsterm 10
