#!/usr/bin/env bash
# tickets.sh: --ticket-secret-file and --ticket-lifetime across INSTANCES.
# Two tlsterm processes (different ports) sharing one secret file resume
# each other's sessions, over TLS 1.2 and TLS 1.3; with different files the
# handshake is full but succeeds; base64 and raw files both work; a file too
# short stops start-up with exit 2 naming the flag; a group-readable file
# only warns; and with --ticket-lifetime 2s, tickets resume across epoch
# boundaries, and (TLS 1.3) reconnecting every 0.5 s for about 5 s across
# two instances resumes every time, through the rotations, as does a fresh
# ticket handed at once to an instance whose rotation timer fires 0.5 s
# later.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

gen_certs
start_backend --listen 127.0.0.1:0
mapfile -t certs < <(cert_args)

# Secret files: two base64 ones (different secrets) and a raw one; all
# private but the raw one, which must only draw a warning.
umask 077
head -c 48 /dev/urandom | base64 >"$T/one.b64"
head -c 48 /dev/urandom | base64 >"$T/two.b64"
head -c 40 /dev/urandom >"$T/raw.key"
chmod 644 "$T/raw.key"
printf 'c2hvcnQgc2VjcmV0\n' >"$T/short.b64" # "short secret": 12 bytes

# instance FILE [args...]: start a tlsterm with --ticket-secret-file FILE on
# a free port; sets PORT and PID.
instance() {
  local file=$1
  shift
  PORT=$(free_port)
  start_tlsterm --listen "127.0.0.1:$PORT" --backend "127.0.0.1:$BACKEND_PORT" \
    "${certs[@]}" --workers 2 --ticket-secret-file "$file" "$@"
  PID=$TLSTERM_PID
}

instance "$T/one.b64"
port_a=$PORT
instance "$T/one.b64"
port_b=$PORT
instance "$T/two.b64"
port_c=$PORT
instance "$T/raw.key"
port_r1=$PORT log_r1=$TLSTERM_LOG
instance "$T/raw.key"
port_r2=$PORT
instance "$T/one.b64" --ticket-lifetime 2s
port_f1=$PORT
instance "$T/one.b64" --ticket-lifetime 2s
port_f2=$PORT pid_f2=$PID

# The client: python's ssl module (OpenSSL), which can hand a session from
# one connection to the next. Every connection is bounded (10 s).
cat >"$T/client.py" <<'PY'
import socket, ssl, sys, time

ca, cmd, version = sys.argv[1], sys.argv[2], sys.argv[3]
v = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}[version]
ctx = ssl.create_default_context(cafile=ca)
ctx.minimum_version = ctx.maximum_version = v


def connect(port, session=None):
    """One GET /hello; returns (session, reused). Reading the whole response
    first means a TLS 1.3 ticket (sent after the handshake) has arrived."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as s:
        s.sendall(b"GET /hello HTTP/1.1\r\nHost: localhost\r\n"
                  b"Connection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        if b"hello from backend" not in data:
            sys.exit("port %d: no response: %r" % (port, data[:200]))
        if s.version() != "TLSv" + version:
            sys.exit("port %d: negotiated %s" % (port, s.version()))
        return s.session, s.session_reused


if cmd == "cross":  # cross PORT_FROM PORT_TO: print "reused" or "full"
    sess, reused = connect(int(sys.argv[4]))
    if reused:
        sys.exit("first connection was resumed")
    _, reused = connect(int(sys.argv[5]), sess)
    print("reused" if reused else "full")
elif cmd == "rotate":  # rotate SECONDS INTERVAL PORT...: resume every time
    seconds, interval = float(sys.argv[4]), float(sys.argv[5])
    ports = [int(p) for p in sys.argv[6:]]
    sess, _ = connect(ports[0])
    deadline, n = time.monotonic() + seconds, 0
    while time.monotonic() < deadline and n < 100:
        time.sleep(interval)
        port = ports[(n + 1) % len(ports)]
        new, reused = connect(port, sess)
        n += 1
        if not reused:
            sys.exit("reconnect %d (port %d, %.1f s in) was not resumed"
                     % (n, port, seconds - (deadline - time.monotonic())))
        sess = new
    print(n)
elif cmd == "pairs":  # pairs SECONDS PORT_A PORT_B: fresh ticket, other side
    # Every 0.1 s: a full handshake on one instance, its ticket offered at
    # once to the other; both directions. Each must resume.
    seconds, ports = float(sys.argv[4]), [int(sys.argv[5]), int(sys.argv[6])]
    deadline, n = time.monotonic() + seconds, 0
    while time.monotonic() < deadline and n < 200:
        for a, b in ((ports[0], ports[1]), (ports[1], ports[0])):
            sess, _ = connect(a)
            issued = time.time()
            _, reused = connect(b, sess)
            n += 1
            if not reused:
                sys.exit("ticket from port %d (issued %.2f s into a 2 s epoch) "
                         "not resumed on port %d" % (a, issued % 2, b))
        time.sleep(0.1)
    print(n)
elif cmd == "boundary":  # boundary COUNT LIFETIME PORT_A PORT_B
    # A full handshake 0.25 s before an epoch boundary (epoch =
    # floor(unix time / lifetime)), its ticket offered 0.25 s after it to
    # the other instance: must resume. COUNT boundaries.
    count, life = int(sys.argv[4]), float(sys.argv[5])
    ports = [int(sys.argv[6]), int(sys.argv[7])]
    for k in range(count):
        now = time.time()
        b = (now // life + 1) * life
        if b - now < 0.4:
            b += life
        time.sleep(b - 0.25 - time.time())
        sess, _ = connect(ports[k % 2])
        time.sleep(max(0.0, b + 0.25 - time.time()))
        _, reused = connect(ports[(k + 1) % 2], sess)
        if not reused:
            sys.exit("boundary %d: a ticket from the epoch before was not "
                     "resumed" % (k + 1))
    print(count)
PY
client() { timeout 60 "$PYTHON3" "$T/client.py" "$CERTS/ca.pem" "$@"; }

for v in 1.2 1.3; do
  r=$(client cross "$v" "$port_a" "$port_b") || fail "TLS $v: A -> B: $r"
  [ "$r" = reused ] || fail "TLS $v: a session from instance A was not resumed on B (same base64 file): $r"
  pass "TLS $v: a session from instance A resumes on instance B (same base64 file)"

  r=$(client cross "$v" "$port_b" "$port_a") || fail "TLS $v: B -> A: $r"
  [ "$r" = reused ] || fail "TLS $v: a session from B was not resumed on A: $r"

  r=$(client cross "$v" "$port_a" "$port_c") || fail "TLS $v: A -> C failed: $r"
  [ "$r" = full ] || fail "TLS $v: a session from A was resumed on C (another secret file)"
  pass "TLS $v: another secret file: full handshake, response relayed"

  r=$(client cross "$v" "$port_r1" "$port_r2") || fail "TLS $v: raw file: $r"
  [ "$r" = reused ] || fail "TLS $v: raw secret file: session not resumed on the other instance: $r"
  pass "TLS $v: raw secret file shared by two instances resumes"
done

grep -q 'readable by group or others' "$log_r1" ||
  fail "no warning about the group/other-readable secret file: $(cat "$log_r1")"
pass "a group/other-readable secret file draws a warning"

# Rotation: 2 s lifetime. A ticket issued just before an epoch boundary
# resumes just after it, on the other instance (both versions).
for v in 1.2 1.3; do
  n=$(client boundary "$v" 2 2 "$port_f1" "$port_f2") || fail "TLS $v, 2 s lifetime: $n"
  pass "TLS $v, --ticket-lifetime 2s: tickets resume across $n epoch boundaries"
done
# TLS 1.3: a reconnect every 0.5 s for ~5 s, alternating between the two
# instances, keeping the newest ticket: each must resume, through at least
# two rotations. (Not TLS 1.2: mbedTLS issues no new ticket on a resumed
# TLS 1.2 handshake, so a TLS 1.2 session needs a full handshake once per
# lifetime whatever the rotation.)
n=$(client rotate 1.3 5 0.5 "$port_f1" "$port_f2") || fail "TLS 1.3, 2 s lifetime: $n"
[ "$n" -ge 8 ] || fail "TLS 1.3, 2 s lifetime: only $n reconnects"
pass "TLS 1.3, --ticket-lifetime 2s: $n of $n reconnects over ~5 s resumed"

# Keys rotate on the wall clock, in every loop of every instance alike: a
# ticket issued just after an epoch boundary resumes at once on another
# instance, however their timers are phased. These two start half a second
# apart (mod 1 s), so the rotation timers of one fire about 0.5 s after
# the other's; a fresh ticket goes from one to the other every 0.1 s for
# two epochs, both ways.
now_ms() { date +%s%3N; }
t0=$(now_ms)
instance "$T/one.b64" --ticket-lifetime 2s
port_g1=$PORT
sleep "$(printf '0.%03d' $(((1500 - ($(now_ms) - t0) % 1000) % 1000)))"
instance "$T/one.b64" --ticket-lifetime 2s
port_g2=$PORT
n=$(client pairs 1.3 4.5 "$port_g1" "$port_g2") || fail "TLS 1.3, instances rotating 0.5 s apart: $n"
pass "TLS 1.3, --ticket-lifetime 2s, instances started 0.5 s apart: $n fresh tickets resumed at once on the other"

# A 2 s lifetime instance does not take a 6 h instance's tickets (the
# lifetime is part of the key derivation).
r=$(client cross 1.3 "$port_a" "$port_f1") || fail "A -> F1 failed: $r"
[ "$r" = full ] || fail "a 6 h lifetime ticket was resumed by a 2 s lifetime instance"
pass "different --ticket-lifetime: full handshake"

# Start-up failures: one line naming the flag, exit 2.
for bad in "$T/short.b64" "$T/missing.key"; do
  port=$(free_port)
  rc=0
  timeout 20 "$TLSTERM" --listen "127.0.0.1:$port" --backend "127.0.0.1:$BACKEND_PORT" \
    "${certs[@]}" --ticket-secret-file "$bad" >"$T/bad.out" 2>"$T/bad.err" || rc=$?
  [ "$rc" = 2 ] || fail "--ticket-secret-file $bad: exit status $rc, want 2: $(cat "$T/bad.err")"
  grep -q -- "--ticket-secret-file $bad: " "$T/bad.err" ||
    fail "--ticket-secret-file $bad: error does not name the flag: $(cat "$T/bad.err")"
  [ "$(wc -l <"$T/bad.err")" = 1 ] || fail "--ticket-secret-file $bad: more than one line: $(cat "$T/bad.err")"
  case $bad in
  *short*) grep -q 'too short' "$T/bad.err" || fail "short file: reason not given: $(cat "$T/bad.err")" ;;
  esac
done
pass "a too-short or missing secret file: exit 2, one line naming --ticket-secret-file"

TLSTERM_PID=$pid_f2
assert_alive
