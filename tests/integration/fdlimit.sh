#!/usr/bin/env bash
# fdlimit.sh: tlsterm and its open-file limit (process.h).
#  1. A soft limit below what --max-connections needs is raised up to the
#     hard limit, with one info line; a hard limit below the need gets one
#     warning saying how many connections fit; a limit that is enough is
#     left alone, silently. A reload that changes --max-connections checks
#     again.
#  2. Limits too tight for everything tlsterm opens at start, from a few
#     above what one worker and --admin hold down to where starting is
#     impossible: at each, tlsterm either refuses to start (exit 2, one line
#     naming the limit) or runs; then a monitor connecting to --admin while
#     no descriptor is left costs no busy loop on the control thread
#     (libuv retries a failing accept without returning to the loop), and
#     SIGTERM still ends it at once.
# The descriptor exhaustion of a running tlsterm by connections is in
# floods.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=1048576
[ "$hard" -ge 4096 ] || skip "open-file hard limit $hard is below 4096"

FLOOD=$TOOLS/flood.py
gen_certs
start_backend
mapfile -t certs < <(cert_args)

# limits PID: "soft hard" open files of PID.
limits() { awk '/^Max open files/ { print $4, $5 }' "/proc/$1/limits"; }

# 1. Raising the soft limit. Defaults: --max-connections 10000 per worker,
# two descriptors each, so 2 workers want 64 + 2 * 8 + 40000 = 40080.
port=$(free_port)
real_tlsterm=$TLSTERM
TLSTERM=$(limited 1024 4096)
start_tlsterm --listen "127.0.0.1:$port" --backend "127.0.0.1:$BACKEND_PORT" "${certs[@]}" --workers 2
TLSTERM=$real_tlsterm
[ "$(limits "$TLSTERM_PID")" = "4096 4096" ] ||
  fail "soft limit 1024, hard 4096: tlsterm runs with $(limits "$TLSTERM_PID"), not 4096 4096"
[ "$(tcurl "$port" /)" != "" ] || fail "no page through tlsterm"
stop_tlsterm 10
grep -q 'level=info msg="open-file limit raised from 1024 to 4096"' "$TLSTERM_LOG" ||
  fail "no line saying the limit was raised: $(cat "$TLSTERM_LOG")"
want='level=warn msg="open-file limit 4096 is below the 40080 descriptors that --max-connections 10000 with 2 worker\(s\) needs \(two per connection\): about 2008 connections fit, later ones wait until some close; raise the hard limit'
grep -Eq "$want" "$TLSTERM_LOG" || fail "no warning, or not this one: $(grep open-file "$TLSTERM_LOG")"
warned=$(grep -o 'open-file limit 4096 is below[^;]*' "$TLSTERM_LOG")

# Only as far as needed: --max-connections 1000 with 1 worker wants 2072.
TLSTERM=$(limited 1024 4096)
start_tlsterm --listen "127.0.0.1:$port" --backend "127.0.0.1:$BACKEND_PORT" "${certs[@]}" \
  --workers 1 --max-connections 1000
TLSTERM=$real_tlsterm
[ "$(limits "$TLSTERM_PID")" = "2072 4096" ] ||
  fail "--max-connections 1000, 1 worker: tlsterm runs with $(limits "$TLSTERM_PID"), not 2072 4096"
stop_tlsterm 10
grep -q 'open-file limit raised from 1024 to 2072' "$TLSTERM_LOG" || fail "no 'raised' line: $(cat "$TLSTERM_LOG")"
! grep -q 'level=warn msg="open-file' "$TLSTERM_LOG" || fail "a warning although the limit was raised enough"

# Enough already: nothing changes, nothing is said.
TLSTERM=$(limited 1024 1024)
start_tlsterm --listen "127.0.0.1:$port" --backend "127.0.0.1:$BACKEND_PORT" "${certs[@]}" \
  --workers 2 --max-connections 100
TLSTERM=$real_tlsterm
[ "$(limits "$TLSTERM_PID")" = "1024 1024" ] || fail "limit changed to $(limits "$TLSTERM_PID")"
stop_tlsterm 10
! grep -q 'open-file' "$TLSTERM_LOG" || fail "a line about the limit although it was enough: $(grep open-file "$TLSTERM_LOG")"
# A reload that raises --max-connections (from the configuration file)
# raises the limit too: 2 workers, 100 each want 280; 1500 each want 6080.
printf 'max-connections = 100\n' >"$T/fd.conf"
TLSTERM=$(limited 1024 4096)
start_tlsterm --listen "127.0.0.1:$port" --backend "127.0.0.1:$BACKEND_PORT" "${certs[@]}" \
  --workers 2 --config "$T/fd.conf"
TLSTERM=$real_tlsterm
[ "$(limits "$TLSTERM_PID")" = "1024 4096" ] || fail "limit changed at start to $(limits "$TLSTERM_PID")"
printf 'max-connections = 1500\n' >"$T/fd.conf"
kill -HUP "$TLSTERM_PID"
wait_log_line 'open-file limit raised from 1024 to 4096' 10 ||
  fail "reload to --max-connections 1500: no 'raised' line: $(cat "$TLSTERM_LOG")"
[ "$(limits "$TLSTERM_PID")" = "4096 4096" ] || fail "after the reload: $(limits "$TLSTERM_PID"), not 4096 4096"
grep -q 'open-file limit 4096 is below the 6080 descriptors that --max-connections 1500 with 2 worker(s) needs' "$TLSTERM_LOG" ||
  fail "reload: no warning for 6080: $(grep open-file "$TLSTERM_LOG")"
stop_tlsterm 10

pass "open-file limit: soft 1024 raised to the hard 4096 with one warning ($warned); raised to 2072 only" \
  "for 1000 connections on 1 worker, without warning; 1024 left alone when 100 on 2 workers need 280;" \
  "a reload to 1500 raised it to 4096 with a warning for 6080"

# 2. An open-file limit too tight for everything tlsterm opens at start:
# from a few above what one worker and --admin hold down to where starting
# is impossible. At each limit tlsterm either refuses to start (exit 2, one
# line naming the limit) or runs: then a monitor connecting to --admin
# while no descriptor is left costs no busy loop on the control thread
# (libuv retries a failing accept without returning to the loop), and
# SIGTERM still ends it at once.
tport=$(free_port)
taport=$(free_port)
targs=(--listen "127.0.0.1:$tport" --backend "127.0.0.1:$BACKEND_PORT" "${certs[@]}"
  --workers 1 --admin "127.0.0.1:$taport" --drain-timeout 1s --log-level info)
"$(limited 64)" "${targs[@]}" 2>"$T/tight.probe.log" &
tpid=$!
track_pid "$tpid"
wait_port 127.0.0.1 "$taport" 10 "$tpid" || fail "tight: tlsterm under a limit of 64 did not start"
# The descriptors it holds running (numbers below 64: an inherited one may
# sit higher, out of the way).
held=$(find "/proc/$tpid/fd" -mindepth 1 -printf '%f\n' | awk '$1 < 64' | wc -l)
kill -TERM "$tpid"
wait_exit "$tpid" 5 || fail "tight: tlsterm under a limit of 64 did not exit on SIGTERM"
ran=() refused='' admin_paused=0
for ((lim = held + 2; lim >= held - 12 && lim > 3; lim--)); do
  log=$T/tight.$lim.log
  "$(limited "$lim")" "${targs[@]}" 2>"$log" &
  tpid=$!
  track_pid "$tpid"
  for ((i = 0; i < 200; i++)); do
    kill -0 "$tpid" 2>/dev/null || break
    grep -qs 'msg="tlsterm ' "$log" && break
    sleep 0.05
  done
  if ! kill -0 "$tpid" 2>/dev/null; then
    wait_exit "$tpid" 1 || true
    san_check "$log"
    [ "$EXIT_STATUS" = 2 ] || fail "tight: under a limit of $lim tlsterm exited $EXIT_STATUS: $(cat "$log")"
    grep -Eq "^tlsterm: .*: too many open files \(open-file limit $lim is too low to start; raise it\)$" "$log" ||
      fail "tight: under a limit of $lim: exit 2 without the line naming the limit: $(cat "$log")"
    refused="$lim ($(grep '^tlsterm: ' "$log" | sed 's/^tlsterm: //'))"
    break
  fi
  grep -q 'msg="tlsterm ' "$log" || fail "tight: under a limit of $lim tlsterm neither started nor exited: $(cat "$log")"
  c0=$(cpu_ticks "$tpid")
  t0=$(date +%s%N)
  mon=$("$PYTHON3" "$FLOOD" silent --port "$taport" --conns 3 --wait 1.5 --open-seconds 0.1) ||
    fail "tight: admin monitor failed under a limit of $lim: $mon"
  c1=$(cpu_ticks "$tpid")
  window_ms=$((($(date +%s%N) - t0) / 1000000))
  kill -TERM "$tpid"
  wait_exit "$tpid" 3 ||
    fail "tight: under a limit of $lim tlsterm did not exit within 3 s of SIGTERM (CPU $((c1 - c0)) ticks in $window_ms ms: a busy loop?)"
  san_check "$log"
  [ "$EXIT_STATUS" = 0 ] || fail "tight: under a limit of $lim tlsterm exited $EXIT_STATUS: $(tail -3 "$log")"
  [ $((c1 - c0)) -le $((window_ms / 100)) ] ||
    fail "tight: under a limit of $lim tlsterm used $((c1 - c0)) ticks of CPU in $window_ms ms with an admin client waiting: a busy loop"
  grep -q 'level=warn msg="admin: accept: too many open files' "$log" && admin_paused=$((admin_paused + 1))
  ran+=("$lim:$((c1 - c0))t")
done
[ -n "$refused" ] || fail "tight: tlsterm started under every limit down to $lim (holding $held)"
[ "$admin_paused" -gt 0 ] || fail "tight: no limit made the admin listener run out of descriptors (ran under ${ran[*]})"
pass "tight open-file limits (1 worker and --admin hold $held): ran under ${ran[*]} (limit:CPU ticks" \
  "with 3 admin clients waiting, then exit 0 on SIGTERM), the admin listener paused under $admin_paused;" \
  "refused under $refused"
