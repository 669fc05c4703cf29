# lib.sh: sourced by every integration test (bash). Not executable itself.
#
# Gives each test a private temp dir ($T), a cleanup trap that stops every
# process the test started (by PID) and removes $T, and helpers to pick a
# free port, wait for a port, start the backend and tlsterm, and fail/skip
# with automake's exit codes (0 pass, 1 fail, 77 skip, 99 hard error).
#
# Environment (set by Makefile.am's AM_TESTS_ENVIRONMENT; defaulted here so
# a test also runs by hand, e.g. `tests/integration/basic.sh`):
#   TLSTERM       the binary under test
#   TOP_SRCDIR    the source tree (tests/tools lives there)
#   TOP_BUILDDIR  the build tree
#   PYTHON3       python3
#   KEEP_TMP=1    keep $T after the test, for debugging
# shellcheck shell=bash

set -euo pipefail
set -E # ERR trap also inside functions and subshells

TEST_NAME=$(basename "$0" .sh)
_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$_lib_dir/../.." && pwd)}
if [ -z "${TOP_BUILDDIR:-}" ]; then
  # By hand: prefer an out-of-tree build in build/, else the source tree.
  if [ -x "$TOP_SRCDIR/build/tlsterm" ]; then
    TOP_BUILDDIR=$TOP_SRCDIR/build
  else
    TOP_BUILDDIR=$TOP_SRCDIR
  fi
fi
TLSTERM=${TLSTERM:-$TOP_BUILDDIR/tlsterm}
PYTHON3=${PYTHON3:-python3}
TOOLS=$TOP_SRCDIR/tests/tools
export TLSTERM TOP_SRCDIR TOP_BUILDDIR PYTHON3

# PIDs of every background process this test started; the trap stops them.
_pids=()
TLSTERM_PID=
TLSTERM_LOG=
_tlsterm_starts=0

T=$(mktemp -d "${TMPDIR:-/tmp}/tlsterm-$TEST_NAME.XXXXXX")

# --- sanitizer reports -------------------------------------------------------
#
# A tlsterm built with --enable-sanitizers prints its reports on stderr, which
# the tests send to files in $T (start_tlsterm: $TLSTERM_LOG). Any report
# fails the test that produced it: stop_tlsterm checks the log of the
# tlsterm it stopped, and the cleanup trap checks every file in $T once every
# process has exited. LeakSanitizer reports only when the process exits
# normally (SIGTERM, drain, exit), so the cleanup trap gives a sanitized
# tlsterm longer to exit before it resorts to SIGKILL.
SAN_REPORT_RE='ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer)|WARNING: ThreadSanitizer|runtime error:|Sanitizer has encountered a fatal error'
# SANITIZER: address (ASan, with or without UBSan), undefined, thread or
# empty: what the binary under test was built with.
SANITIZER=
if grep -qa __asan_init "$TLSTERM" 2>/dev/null; then
  SANITIZER=address
elif grep -qa __tsan_init "$TLSTERM" 2>/dev/null; then
  SANITIZER=thread
elif grep -qa __ubsan_handle "$TLSTERM" 2>/dev/null; then
  SANITIZER=undefined
fi
_san_shown=() # files whose reports are already on the test's stderr

# _san_show FILE: print FILE's sanitizer reports (with their stacks) to
# stderr, once per file; false if it has none.
_san_show() {
  local f=$1 s
  grep -qaE "$SAN_REPORT_RE" "$f" 2>/dev/null || return 1
  for s in "${_san_shown[@]}"; do
    [ "$s" = "$f" ] && return 0
  done
  _san_shown+=("$f")
  {
    echo "--- sanitizer report in $f:"
    grep -aE -B1 -A60 "$SAN_REPORT_RE" "$f" | head -n 200
    echo "---"
  } >&2
}

# san_check FILE...: fail the test if a FILE holds a sanitizer report,
# printing the report.
san_check() {
  local f
  for f in "$@"; do
    if _san_show "$f"; then
      fail "sanitizer report in $f"
    fi
  done
}

# san_memory_bound: call before start_tlsterm in a test that bounds how much
# tlsterm's resident memory grows. ASan keeps freed blocks in a quarantine
# (256 MiB by default) so that a later use of one is caught; while it
# fills, RSS grows as if tlsterm were buffering. With the quarantine off,
# RSS follows what tlsterm holds (slow_reader.sh: about 1 MiB of growth,
# against 18 MiB with a 64 MiB quarantine). Overflows, leaks and uses of
# freed memory not yet reused are still caught. No effect on other builds.
san_memory_bound() {
  [ "$SANITIZER" = address ] || return 0
  ASAN_OPTIONS="${ASAN_OPTIONS:-} quarantine_size_mb=0"
  export ASAN_OPTIONS
}

# --- exit paths ------------------------------------------------------------

_cleanup() {
  local status=$? pid i f wait_tenths=30
  trap - EXIT ERR
  set +e
  # A sanitized tlsterm runs the leak check at exit: give it time (bounded).
  [ -z "$SANITIZER" ] || wait_tenths=150
  for pid in "${_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null
  done
  for pid in "${_pids[@]}"; do
    # Bounded: 3 s (15 s for a sanitizer build) for a clean exit, then SIGKILL.
    for ((i = 0; i < wait_tenths; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      [ "$pid" != "$TLSTERM_PID" ] || [ -z "$SANITIZER" ] ||
        echo "# cleanup: tlsterm (pid $pid) still running $((wait_tenths / 10)) s after SIGTERM: killed, so no leak check" >&2
      kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
  done
  # Every process is gone: a sanitizer report anywhere in $T fails the test.
  while IFS= read -r f; do
    _san_show "$f"
    if [ "$status" = 0 ] || [ "$status" = 77 ]; then
      echo "FAIL: $TEST_NAME: sanitizer report in $f" >&2
      status=1
    fi
  done < <(grep -rlaE -D skip "$SAN_REPORT_RE" "$T" 2>/dev/null)
  if [ "${KEEP_TMP:-0}" = 1 ]; then
    echo "# kept $T" >&2
  else
    rm -rf "$T"
  fi
  exit "$status"
}
trap _cleanup EXIT
trap 'exit 99' INT TERM HUP

# An unexpected command failure under `set -e` is a test failure (exit 1):
# never let a tool's own exit status (curl's 77, say) pass for a skip.
_on_err() {
  local status=$1 line=$2
  trap - ERR
  echo "FAIL: $TEST_NAME: command failed (status $status) at line $line: $3" >&2
  _log_tail >&2
  exit 1
}
trap '_on_err $? $LINENO "$BASH_COMMAND"' ERR

_log_tail() {
  if [ -n "$TLSTERM_LOG" ] && [ -s "$TLSTERM_LOG" ]; then
    echo "--- last lines of $TLSTERM_LOG:"
    tail -n 30 "$TLSTERM_LOG"
    echo "---"
  fi
}

# fail MSG: the test failed; shows the tail of the current tlsterm log.
fail() {
  trap - ERR
  echo "FAIL: $TEST_NAME: $*" >&2
  _log_tail >&2
  exit 1
}

# skip MSG: the test cannot run here (automake SKIP).
skip() {
  trap - ERR
  echo "SKIP: $TEST_NAME: $*" >&2
  exit 77
}

# hard_error MSG: the harness itself is broken (automake ERROR).
hard_error() {
  trap - ERR
  echo "ERROR: $TEST_NAME: $*" >&2
  _log_tail >&2
  exit 99
}

# pass MSG: a progress line in the test's .log.
pass() { echo "ok - $*"; }

# --- prerequisites -----------------------------------------------------------

require_cmd() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || skip "needs $c"
  done
}

[ "$PYTHON3" != no ] || skip "configure found no python3"
require_cmd "$PYTHON3" openssl curl timeout
[ -x "$TLSTERM" ] || hard_error "tlsterm binary not found at '$TLSTERM' (build first, or set TLSTERM)"

# track_pid PID: stop PID in the cleanup trap.
track_pid() { _pids+=("$1"); }

_untrack_pid() {
  local p keep=()
  for p in "${_pids[@]}"; do
    [ "$p" = "$1" ] || keep+=("$p")
  done
  _pids=("${keep[@]}")
}

# --- ports -------------------------------------------------------------------

# free_port: print a TCP port that is free on 127.0.0.1 (and on ::1 when the
# host has IPv6 loopback) right now. There is a small race with other
# processes; we never use fixed ports.
free_port() {
  "$PYTHON3" - <<'PY'
import socket
for _ in range(50):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    try:
        s6 = socket.socket(socket.AF_INET6)
        s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s6.bind(("::1", port))
        s6.close()
    except OSError as e:
        if e.errno == 98:  # EADDRINUSE on ::1: try another
            s.close()
            continue
    s.close()
    print(port)
    break
else:
    raise SystemExit("free_port: no free port")
PY
}

# have_ipv6: true when ::1 can be bound.
have_ipv6() {
  "$PYTHON3" -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null
}

# port_open HOST PORT: true if a TCP connect succeeds now.
port_open() {
  "$PYTHON3" - "$1" "$2" <<'PY'
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()
except OSError:
    sys.exit(1)
PY
}

# wait_port HOST PORT TIMEOUT_S [PID]: poll (every 50 ms) until HOST:PORT
# accepts a connection; false after TIMEOUT_S seconds, or at once if PID is
# given and that process has exited.
wait_port() {
  "$PYTHON3" - "$@" <<'PY'
import os, socket, sys, time
host, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
pid = int(sys.argv[4]) if len(sys.argv) > 4 else 0
deadline = time.monotonic() + timeout
while time.monotonic() < deadline:
    try:
        socket.create_connection((host, port), timeout=1).close()
        sys.exit(0)
    except OSError:
        pass
    if pid:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            sys.exit(1)
        # A zombie (exited, not yet reaped by bash) counts as gone.
        try:
            with open("/proc/%d/stat" % pid) as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    sys.exit(1)
        except OSError:
            sys.exit(1)
    time.sleep(0.05)
sys.exit(1)
PY
}

# wait_port_closed HOST PORT TIMEOUT_S: poll (every 50 ms) until connecting
# to HOST:PORT is refused; false if it still accepts after TIMEOUT_S.
wait_port_closed() {
  "$PYTHON3" - "$@" <<'PY'
import socket, sys, time
host, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
deadline = time.monotonic() + timeout
while time.monotonic() < deadline:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except ConnectionRefusedError:
        sys.exit(0)
    except OSError:
        pass
    time.sleep(0.05)
sys.exit(1)
PY
}

# wait_exit PID TIMEOUT_S: wait (bounded; whole seconds) for a child to exit; sets
# EXIT_STATUS to its status. False if it is still running after TIMEOUT_S.
EXIT_STATUS=
wait_exit() {
  local pid=$1 i n
  n=$(("${2%.*}" * 20))
  for ((i = 0; i < n; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$pid" 2>/dev/null; then
    return 1
  fi
  EXIT_STATUS=0
  wait "$pid" || EXIT_STATUS=$?
  _untrack_pid "$pid" # reaped: its PID may be reused, never signal it again
  return 0
}

# wait_file FILE TIMEOUT_S: poll (whole seconds) until FILE exists and is not empty.
wait_file() {
  local i n
  n=$(("${2%.*}" * 20))
  for ((i = 0; i < n; i++)); do
    [ -s "$1" ] && return 0
    sleep 0.05
  done
  return 1
}

# wait_log_line REGEX TRIES: poll (every 50 ms, at most TRIES times) until
# the current tlsterm log has a line matching REGEX (grep -E); false if none.
wait_log_line() {
  local i
  for ((i = 0; i < $2; i++)); do
    grep -Eq -- "$1" "$TLSTERM_LOG" && return 0
    sleep 0.05
  done
  grep -Eq -- "$1" "$TLSTERM_LOG"
}

# --- certificates ------------------------------------------------------------

# gen_certs: generate the test PKI into $CERTS (see tests/tools/gencerts.sh).
CERTS=$T/certs
gen_certs() {
  bash "$TOOLS/gencerts.sh" "$CERTS" || hard_error "gencerts.sh failed"
}

# The usual certificate arguments: ECDSA localhost chain, key separate.
cert_args() {
  printf '%s\n' --cert "$CERTS/localhost-ecdsa.pem" --key "$CERTS/localhost-ecdsa.key"
}

# --- processes -----------------------------------------------------------------

# start_backend [backend.py args...]: start backend.py on 127.0.0.1, port 0
# unless --listen is given; sets BACKEND_PORT and BACKEND_PID.
# With --unix PATH, waits for the socket instead and sets BACKEND_PORT=.
_backends=0
start_backend() {
  local pf unix='' a prev='' has_listen=0
  _backends=$((_backends + 1))
  pf=$T/backend.$_backends.port
  for a in "$@"; do
    [ "$prev" = --unix ] && unix=$a
    [ "$a" = --listen ] && has_listen=1
    prev=$a
  done
  if [ -n "$unix" ]; then
    "$PYTHON3" "$TOOLS/backend.py" "$@" 2>>"$T/backend.log" &
  elif [ "$has_listen" = 1 ]; then
    "$PYTHON3" "$TOOLS/backend.py" --port-file "$pf" "$@" 2>>"$T/backend.log" &
  else
    "$PYTHON3" "$TOOLS/backend.py" --listen 127.0.0.1:0 --port-file "$pf" "$@" 2>>"$T/backend.log" &
  fi
  BACKEND_PID=$!
  track_pid "$BACKEND_PID"
  if [ -n "$unix" ]; then
    local i
    for ((i = 0; i < 200; i++)); do
      [ -S "$unix" ] && break
      sleep 0.05
    done
    [ -S "$unix" ] || hard_error "backend did not create $unix: $(cat "$T/backend.log")"
    BACKEND_PORT=
  else
    wait_file "$pf" 10 || hard_error "backend did not start: $(cat "$T/backend.log")"
    # shellcheck disable=SC2034 # for the tests that source this file
    BACKEND_PORT=$(cat "$pf")
  fi
}

# _listen_target ARGS...: "HOST PORT" of the first --listen in ARGS, with
# * mapped to 127.0.0.1 and [v6] unbracketed.
_listen_target() {
  local prev='' a addr=''
  for a in "$@"; do
    if [ "$prev" = --listen ]; then addr=$a; break; fi
    case $a in --listen=*) addr=${a#--listen=}; break ;; esac
    prev=$a
  done
  [ -n "$addr" ] || return 1
  local host=${addr%:*} port=${addr##*:}
  host=${host#[}
  host=${host%]}
  [ "$host" = "*" ] && host=127.0.0.1
  echo "$host $port"
}

# start_tlsterm ARGS...: run "$TLSTERM" ARGS in the background, stderr (the
# log) to a fresh $T/tlsterm.N.log ($TLSTERM_LOG), and wait up to 15 s until
# the first --listen address accepts connections (or $WAIT_ADDR="HOST PORT"
# when the address comes from a config file). Sets TLSTERM_PID. If tlsterm
# exits or never listens, the test fails with its log.
start_tlsterm() {
  local target host port
  _tlsterm_starts=$((_tlsterm_starts + 1))
  TLSTERM_LOG=$T/tlsterm.$_tlsterm_starts.log
  target=${WAIT_ADDR:-$(_listen_target "$@" || true)}
  [ -n "$target" ] || hard_error "start_tlsterm: no --listen in args and no WAIT_ADDR"
  read -r host port <<<"$target"
  "$TLSTERM" "$@" >"$T/tlsterm.$_tlsterm_starts.out" 2>"$TLSTERM_LOG" &
  TLSTERM_PID=$!
  track_pid "$TLSTERM_PID"
  if ! wait_port "$host" "$port" 15 "$TLSTERM_PID"; then
    if wait_exit "$TLSTERM_PID" 1; then
      fail "tlsterm exited with status $EXIT_STATUS before listening on $host:$port (args: $*)"
    fi
    fail "tlsterm is not listening on $host:$port after 15 s (args: $*)"
  fi
}

# stop_tlsterm [TIMEOUT_S]: SIGTERM the current tlsterm and wait (default
# 10 s); sets EXIT_STATUS. Fails the test if it does not exit in time, or if
# its log holds a sanitizer report (a leak report comes at this exit).
stop_tlsterm() {
  kill -TERM "$TLSTERM_PID" 2>/dev/null || true
  wait_exit "$TLSTERM_PID" "${1:-10}" ||
    fail "tlsterm (pid $TLSTERM_PID) did not exit within ${1:-10} s of SIGTERM"
  san_check "$TLSTERM_LOG"
}

# assert_alive: the current tlsterm is still running.
assert_alive() {
  kill -0 "$TLSTERM_PID" 2>/dev/null || fail "tlsterm (pid $TLSTERM_PID) is no longer running"
}

# cpu_ticks PID: user + system CPU time of PID in clock ticks (1/100 s).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# limited N [HARD]: the path of a script that runs $TLSTERM (as the same
# PID) with its open-file limit at N, soft and hard (or hard at HARD):
# tlsterm raises a soft limit itself when the hard one allows.
limited() {
  local f=$T/limited.$1.${2:-$1}
  printf '#!/bin/bash\nulimit -Sn %s && ulimit -Hn %s || exit 1\nexec "%s" "$@"\n' \
    "$1" "${2:-$1}" "$TLSTERM" >"$f"
  chmod +x "$f"
  echo "$f"
}

# rss_kib PID: resident set size of PID in KiB.
rss_kib() {
  awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# --- clients -----------------------------------------------------------------

# tcurl PORT PATH [curl args...]: HTTPS GET through tlsterm on 127.0.0.1:PORT
# as https://localhost:PORT/PATH, verifying against the test CA. Bounded.
tcurl() {
  local port=$1 path=$2
  shift 2
  curl -sS --max-time 20 --cacert "$CERTS/ca.pem" \
    --resolve "localhost:$port:127.0.0.1" "$@" "https://localhost:$port$path"
}

# sclient PORT [s_client args...] < input: openssl s_client to 127.0.0.1:PORT,
# verifying the chain against the test CA; stdout+stderr to stdout. Bounded.
sclient() {
  local port=$1
  shift
  timeout 15 openssl s_client -connect "127.0.0.1:$port" -CAfile "$CERTS/ca.pem" \
    -verify_return_error "$@" 2>&1
}

# http_get PATH: an HTTP/1.1 request that asks the server to close after.
http_get() {
  printf 'GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$1"
}

# probe_start [flood.py probe args...]: normal clients against tlsterm on
# $port until probe_stop (a new TLS connection and GET /hello every 100 ms,
# each within 5 s; at most 240 s); sets PROBE_PID.
probe_start() {
  rm -f "$T/probe.stop"
  "$PYTHON3" "$TOOLS/flood.py" probe --port "$port" --cafile "$CERTS/ca.pem" --stop-file "$T/probe.stop" \
    --max-seconds 240 --interval 0.1 --max-ms 5000 "$@" >"$T/probe.out" 2>&1 &
  PROBE_PID=$!
  track_pid "$PROBE_PID"
}

# probe_stop WHAT: stop the probe_start clients; fail, naming WHAT, unless
# every request succeeded. Sets PROBE to their summary line.
probe_stop() {
  touch "$T/probe.stop"
  wait_exit "$PROBE_PID" 20 || fail "$1: probe client did not stop"
  PROBE=$(cat "$T/probe.out")
  [ "$EXIT_STATUS" = 0 ] || fail "$1: normal clients failed meanwhile: $PROBE"
}

# warm_up N: N TLS connections to tlsterm on $port open at once (32
# handshakes at a time, so that none nears a short --handshake-timeout),
# one request on each, then all closed; fails unless all N held.
warm_up() {
  local wpid
  rm -f "$T/w.ready" "$T/w.release"
  "$PYTHON3" "$TOOLS/flood.py" idle --port "$port" --cafile "$CERTS/ca.pem" --conns "$1" --inflight 32 \
    --ready-file "$T/w.ready" --release-file "$T/w.release" --max-hold 30 >"$T/w.out" 2>&1 &
  wpid=$!
  track_pid "$wpid"
  wait_file "$T/w.ready" 60 || fail "warm-up connections not ready: $(cat "$T/w.out")"
  touch "$T/w.release"
  wait_exit "$wpid" 30 || fail "warm-up client did not finish"
  grep -q "held=$1 failed=0" "$T/w.out" || fail "warm-up: $(cat "$T/w.out")"
  sleep 0.5
}

# start_recorder: tests/tools/recorder.py on 127.0.0.1 (port 0), recording
# every backend connection's bytes into $T/rec; sets REC_PORT.
start_recorder() {
  "$PYTHON3" "$TOOLS/recorder.py" --listen 127.0.0.1:0 --port-file "$T/rec.port" \
    --record "$T/rec" 2>>"$T/recorder.log" &
  track_pid "$!"
  wait_file "$T/rec.port" 10 || hard_error "recorder did not start: $(cat "$T/recorder.log")"
  # shellcheck disable=SC2034 # read by the tests that call this
  REC_PORT=$(cat "$T/rec.port")
}

# expect_exit2 WHAT REGEX ARGS...: tlsterm ARGS exits with status 2 and one
# stderr line matching REGEX, and leaves nothing listening on $port.
expect_exit2() {
  local what=$1 re=$2 status=0
  shift 2
  timeout 10 "$TLSTERM" "$@" >"$T/exit2.out" 2>"$T/exit2.err" || status=$?
  [ "$status" = 2 ] || fail "$what: exit status $status, want 2: $(cat "$T/exit2.err")"
  [ "$(wc -l <"$T/exit2.err")" = 1 ] || fail "$what: want one stderr line: $(cat "$T/exit2.err")"
  grep -Eq -- "$re" "$T/exit2.err" || fail "$what: stderr does not match /$re/: $(cat "$T/exit2.err")"
  ! port_open 127.0.0.1 "$port" || fail "$what: something listens on $port"
  pass "$what: $(cat "$T/exit2.err")"
}
