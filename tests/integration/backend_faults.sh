#!/usr/bin/env bash
# backend_faults.sh: the fault battery. Backends die, restart, hang or never
# accept; clients reset mid-upload; tlsterm reloads and drains under load.
# Every body is checked by SHA-256 end to end: backend.py's /stream/N sends
# the digest of the body it sends (a header, or a trailer when chunked) and
# the body is the deterministic /bytes/N stream, so tests/tools/faultload.py
# checks both the backend's digest and the bytes it must be. A body cut
# short must still be a true prefix of the stream.
#
#  1. A backend process SIGKILLed mid-response (Content-Length and chunked):
#     the client sees the connection end or fail, never a short body
#     presented as complete (curl exits non-zero; faultload sees EOF before
#     Content-Length or the last chunk). Downloads from another backend
#     process on the same port complete intact; tlsterm logs each failure;
#     once a backend is back, requests succeed.
#  2. A backend restarted under load: requests during the outage get a fast
#     502, every request after the restart succeeds, zero corrupted bodies.
#  3. A backend that accepts and never answers: 504 at --backend-timeout.
#     One that never accepts (a full backlog): 504 at
#     --backend-connect-timeout. Status, time bound, log line and metric.
#  4. Clients that reset (RST) mid-upload of a large body, Content-Length
#     and chunked, many times: tlsterm logs each, closes the backend side,
#     holds no more descriptors and no more memory than before, and serves
#     good uploads meanwhile.
#  5. SIGHUP (new certificate and ticket secret) during a storm: zero
#     failures, zero corrupted bodies. SIGTERM during a storm of requests
#     the backend delays by 1 s: every request sent got its complete,
#     correct response within --drain-timeout, new connections are refused
#     once the listeners close, exit 0.
#
# Tunables (shorter runs for sanitizer builds):
#   FAULTS_SLOW_MS (3000)      pacing of the downloads killed in case 1
#   FAULTS_LOAD_SECONDS (2)    load before the kill and after the restart
#   FAULTS_OUTAGE_SECONDS (1)  how long the backend stays down
#   FAULTS_MIN_AFTER (10)      successes wanted after the restart
#   FAULTS_RST_REPS (200)      uploads reset in case 4
#   FAULTS_HUP_SECONDS (8)     the storm across reloads; FAULTS_HUPS (6)
#   FAULTS_CHECK_RSS (1; 0 for a sanitizer build)  1: bound RSS growth
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

slow_ms=${FAULTS_SLOW_MS:-3000}
load_seconds=${FAULTS_LOAD_SECONDS:-2}
outage_seconds=${FAULTS_OUTAGE_SECONDS:-1}
min_after=${FAULTS_MIN_AFTER:-10}
rst_reps=${FAULTS_RST_REPS:-200}
hup_seconds=${FAULTS_HUP_SECONDS:-8}
hups=${FAULTS_HUPS:-6}
# No RSS bound by default for a sanitizer build (lib.sh may say which).
check_rss=${FAULTS_CHECK_RSS:-$([ -z "${SANITIZER:-}" ] && echo 1 || echo 0)}
slow_size=$((1024 * 1024))
t_begin=$SECONDS

# The client; an array, not a function, so that `fl ... &` gives the
# python process's own PID to track and stop.
fl=("$PYTHON3" "$TOOLS/faultload.py")
now() { date +%s.%N; }
# ms_since T: milliseconds from T (a `now` stamp) to now.
ms_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%d", (b - a) * 1000 }'; }
between() { awk -v lo="$1" -v hi="$2" -v x="$3" 'BEGIN { exit !(x >= lo && x <= hi) }'; }
# field LINE KEY: the value of KEY=... in LINE.
field() { sed -n "s/.*[ :]$2=\([^ ]*\).*/\1/p" <<<" $1" | head -n 1; }
# log_count ERE: lines of the current tlsterm log matching ERE.
log_count() { grep -Ec -- "$1" "$TLSTERM_LOG" || true; }
# wait_log ERE N: until at least N lines match (10 s at most).
wait_log() {
  local i
  for ((i = 0; i < 200; i++)); do
    [ "$(log_count "$1")" -ge "$2" ] && return 0
    sleep 0.05
  done
  return 1
}
# metric ADMIN_PORT NAME: one value from /metrics ("missing" if absent);
# labelled series of NAME are summed.
metric() {
  curl -sS --max-time 10 "http://127.0.0.1:$1/metrics" |
    awk -v k="$2" '$1 == k || index($1, k "{") == 1 { s += $2; found = 1 }
                   END { if (found) print s; else print "missing" }'
}
# settle ADMIN_PORT: wait (10 s at most) until tlsterm has no connection open.
settle() {
  local i
  for ((i = 0; i < 200; i++)); do
    [ "$(metric "$1" tlsterm_connections_open)" = 0 ] && return 0
    sleep 0.05
  done
  fail "connections still open 10 s after the clients finished"
}
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l; }
# backend_conns PORT: tlsterm's open (ESTABLISHED) connections to PORT.
backend_conns() { "${fl[@]}" conns --port "$1"; }
kill_backend() {
  local gone=0
  kill -KILL "$1"
  # (bash's "Killed" notice for the job is noise here: hide it)
  { wait_exit "$1" 5 && gone=1; } 2>/dev/null
  [ "$gone" = 1 ] || hard_error "backend $1 survived SIGKILL"
}
mid_response='msg="backend (closed mid-response|failed)"'

gen_certs
mapfile -t certs < <(cert_args)

# --- 1. a backend killed mid-response --------------------------------------------

# Two backend processes share one port (SO_REUSEPORT): the kernel spreads
# tlsterm's backend connections over both.
start_backend --listen 127.0.0.1:0 --reuse-port
bport=$BACKEND_PORT pid_a=$BACKEND_PID
start_backend --listen "127.0.0.1:$bport" --reuse-port
pid_b=$BACKEND_PID
port=$(free_port)
aport=$(free_port)
start_tlsterm --listen "127.0.0.1:$port" --backend "127.0.0.1:$bport" "${certs[@]}" \
  --workers 2 --log-level info --admin "127.0.0.1:$aport" --drain-timeout 5s
main_pid=$TLSTERM_PID

# Slow downloads until each process serves a Content-Length and a chunked
# one; then process A is killed and faultload judges every download.
"${fl[@]}" multi --port "$port" --cafile "$CERTS/ca.pem" --size "$slow_size" --ms "$slow_ms" \
  --ready "$T/multi.ready" --victim "$T/multi.victim" >"$T/multi.out" 2>"$T/multi.err" &
multi=$!
track_pid "$multi"
wait_file "$T/multi.ready" 30 || fail "downloads did not start: $(cat "$T/multi.err")"
seen=$("$PYTHON3" -c 'import json,sys; print(" ".join(map(str, json.load(open(sys.argv[1]))["pids"])))' "$T/multi.ready")
[ "$seen" = "$(printf '%s\n' "$pid_a" "$pid_b" | sort -n | tr '\n' ' ' | sed 's/ $//')" ] ||
  fail "downloads were served by processes '$seen', want $pid_a and $pid_b"
lines0=$(log_count "$mid_response")
echo "$pid_a" >"$T/multi.victim"
kill_backend "$pid_a"
wait_exit "$multi" $((slow_ms / 1000 + 40)) || fail "the downloads did not finish"
multi_status=$EXIT_STATUS
out=$(cat "$T/multi.out")
cat "$T/multi.err" >&2
[ "$multi_status" = 0 ] || fail "downloads across the kill (exit $multi_status): $out"
victim=$(field "$out" victim)
[ "$(field "$out" truncated)" = "$victim" ] || fail "not every download from the killed process was cut short: $out"
[ "$(field "$out" ok)" = "$(field "$out" others)" ] || fail "downloads from the other process failed: $out"
[ "$(field "$out" corrupt)" = 0 ] || fail "corrupted bodies: $out"
wait_log "$mid_response" $((lines0 + victim)) ||
  fail "$victim downloads cut, but only $(($(log_count "$mid_response") - lines0)) log lines about it"
pass "backend SIGKILLed mid-response: $victim downloads from it ($(field "$out" victim_cl) Content-Length, $(field "$out" victim_chunked) chunked) cut short, each a true prefix; $(field "$out" ok) from the other process complete, $(field "$out" digests) digests verified, $(field "$out" bytes) bytes, corrupted: 0; $(($(log_count "$mid_response") - lines0)) log lines"

# The same with curl, the only backend left (B) killed: curl must fail, and
# what it wrote must be a true prefix.
declare -A curl_pid curl_status curl_bytes
for kind in cl chunked; do
  q="ms=$slow_ms"
  [ $kind = chunked ] && q="$q&chunked=1"
  curl -sS --max-time 30 --cacert "$CERTS/ca.pem" --resolve "localhost:$port:127.0.0.1" \
    -o "$T/curl.$kind" "https://localhost:$port/stream/$slow_size?$q" 2>"$T/curl.$kind.err" &
  curl_pid[$kind]=$!
  track_pid "$!"
done
for ((i = 0; i < 200; i++)); do
  [ "$(stat -c %s "$T/curl.cl" 2>/dev/null || echo 0)" -ge 65536 ] &&
    [ "$(stat -c %s "$T/curl.chunked" 2>/dev/null || echo 0)" -ge 65536 ] && break
  sleep 0.05
done
lines0=$(log_count "$mid_response")
kill_backend "$pid_b"
for kind in cl chunked; do
  wait_exit "${curl_pid[$kind]}" 40 || fail "curl ($kind) still running after the backend died"
  got=$(stat -c %s "$T/curl.$kind")
  [ "$EXIT_STATUS" != 0 ] || fail "curl ($kind) exit 0 with $got of $slow_size bytes: a short body reported complete"
  [ "$got" -lt "$slow_size" ] || fail "curl ($kind): all $got bytes arrived before the kill; the test proves nothing"
  "${fl[@]}" prefix --size "$slow_size" "$T/curl.$kind" >/dev/null || fail "curl ($kind): the bytes before the cut are wrong"
  curl_status[$kind]=$EXIT_STATUS
  curl_bytes[$kind]=$got
done
wait_log "$mid_response" $((lines0 + 2)) || fail "no log line for the curl downloads cut short"
pass "curl: Content-Length download cut at ${curl_bytes[cl]} bytes, exit ${curl_status[cl]} ($(head -c 100 "$T/curl.cl.err")); chunked cut at ${curl_bytes[chunked]} bytes, exit ${curl_status[chunked]}; both true prefixes"
echo "# log: $(grep -E "$mid_response" "$TLSTERM_LOG" | tail -n 1)"

# A backend back on the port: requests succeed again, and nothing is left
# open from the failed ones.
start_backend --listen "127.0.0.1:$bport" --reuse-port
pid_c=$BACKEND_PID
for path in "/stream/$slow_size" "/stream/$slow_size?chunked=1"; do
  out=$("${fl[@]}" get --port "$port" --cafile "$CERTS/ca.pem" --path "$path")
  [ "$(field "$out" outcome)" = ok ] || fail "$path after the backend came back: $out"
done
settle "$aport"
pass "backend back: Content-Length and chunked downloads complete with verified digests; connections open: 0"

# --- 2. a backend restarted under load ------------------------------------------

"${fl[@]}" load --port "$port" --cafile "$CERTS/ca.pem" --clients 4 --sizes 4096,65536,262144,1048576 \
  --duration $((2 * load_seconds + outage_seconds + 30)) --stop-file "$T/load.stop" \
  --results "$T/load.jsonl" >"$T/load.out" 2>&1 &
load=$!
track_pid "$load"
sleep "$load_seconds"
t_kill=$(now)
kill_backend "$pid_c"
sleep "$outage_seconds"
t_restart=$(now)
start_backend --listen "127.0.0.1:$bport" --reuse-port
pid_d=$BACKEND_PID
t_up=$(now)
sleep "$load_seconds"
touch "$T/load.stop"
wait_exit "$load" 40 || fail "the load did not stop"
[ "$EXIT_STATUS" = 0 ] || fail "load: $(cat "$T/load.out")"
status=0
out=$("${fl[@]}" report "$T/load.jsonl" --case restart --kill "$t_kill" --up "$t_up" --restart "$t_restart" \
  --min-after "$min_after" --max-502-ms 2000 2>"$T/report.err") || status=$?
cat "$T/report.err" >&2
[ "$status" = 0 ] || fail "backend restart under load: $out"
pass "backend restarted under load (4 clients): $(field "$out" requests) requests, $(field "$out" ok) ok with digests verified ($(field "$out" bytes) bytes), corrupted: $(field "$out" corrupt); outage: $(field "$out" outage_502) x 502, slowest $(field "$out" max_502_ms) ms; in flight at the kill: $(field "$out" across) ($(field "$out" across_truncated) cut short, the rest complete or 502); during the restart: $(field "$out" restarting); after the restart: $(field "$out" after_ok)/$(field "$out" after) ok"

# --- 3. a backend that never answers, one that never accepts --------------------------

# check_timeout WHAT PORT ADMIN PATH METRIC LOG_ERE: one request gets 504
# in 0.9..3.5 s (the timeout is 1 s), with one log line and the metric at 1.
check_timeout() {
  local what=$1 p=$2 a=$3 path=$4 name=$5 re=$6 out code secs
  out=$(tcurl "$p" "$path" -o /dev/null -w '%{http_code} %{time_total}') ||
    fail "$what: curl failed"
  read -r code secs <<<"$out"
  [ "$code" = 504 ] || fail "$what: status $code, want 504"
  between 0.9 3.5 "$secs" || fail "$what: 504 after $secs s, want about 1 s"
  wait_log "$re" 1 || fail "$what: no log line matching $re"
  [ "$(log_count "$re")" = 1 ] || fail "$what: $(log_count "$re") log lines for one request"
  [ "$(metric "$a" "$name")" = 1 ] || fail "$what: $name is $(metric "$a" "$name"), want 1"
  pass "$what: 504 after $secs s (timeout 1 s); $name 1; log: $(grep -E -- "$re" "$TLSTERM_LOG" | head -n 1)"
}
port_c=$(free_port)
aport_c=$(free_port)
start_tlsterm --listen "127.0.0.1:$port_c" --backend "127.0.0.1:$bport" "${certs[@]}" \
  --workers 1 --log-level info --admin "127.0.0.1:$aport_c" --backend-timeout 1s
check_timeout "backend accepts, never answers" "$port_c" "$aport_c" "/hang?ms=20000" \
  tlsterm_backend_timeouts_total 'level=warn .*msg="backend sent no response in 1000 ms"'
for ((i = 0; i < 100; i++)); do
  [ "$(backend_conns "$bport")" = 0 ] && break
  sleep 0.05
done
[ "$(backend_conns "$bport")" = 0 ] || fail "tlsterm kept its connection to the silent backend"
stop_tlsterm 10
[ "$EXIT_STATUS" = 0 ] || fail "tlsterm exited $EXIT_STATUS"

"${fl[@]}" blackhole --port-file "$T/blackhole.port" 2>"$T/blackhole.err" &
track_pid "$!"
wait_file "$T/blackhole.port" 10 || hard_error "blackhole: $(cat "$T/blackhole.err")"
port_b=$(free_port)
aport_b=$(free_port)
start_tlsterm --listen "127.0.0.1:$port_b" --backend "127.0.0.1:$(cat "$T/blackhole.port")" "${certs[@]}" \
  --workers 1 --log-level info --admin "127.0.0.1:$aport_b" --backend-connect-timeout 1s
check_timeout "backend never accepts (full backlog)" "$port_b" "$aport_b" /hello \
  tlsterm_backend_connect_errors_total 'level=warn .*reason="timed out".*msg="backend connect failed"'
stop_tlsterm 10
[ "$EXIT_STATUS" = 0 ] || fail "tlsterm exited $EXIT_STATUS"

# --- 4. clients that reset mid-upload ------------------------------------------------

TLSTERM_PID=$main_pid TLSTERM_LOG=$T/tlsterm.1.log
# A reset connection ends with one of two lines: the read error, or (when
# libuv reports the reset as EOF, after a partial read) the backend's
# answer to the cut-off body, closed without a response.
reset_re='msg="(client read failed: connection reset by peer|backend closed without responding)"'
# A warm-up round of the same mix first, with more connections at once than
# the measured round: the allocator's arenas and each worker's pool of TLS
# sessions grow to the peak number of connections (not a leak: later rounds
# stay flat), so the baseline is taken after a higher peak.
"${fl[@]}" upload --port "$port" --cafile "$CERTS/ca.pem" --reps 1000 --size $((1024 * 1024)) \
  --stop-file "$T/warm.stop" >"$T/upload.out" 2>&1 &
uploads=$!
track_pid "$uploads"
"${fl[@]}" reset --port "$port" --cafile "$CERTS/ca.pem" --reps "$rst_reps" --concurrency 6 \
  --declared $((8 * 1024 * 1024)) >"$T/reset.out" 2>&1 ||
  fail "warm-up resets failed (a timed-out write: tlsterm stopped reading an upload): $(cat "$T/reset.out")"
touch "$T/warm.stop"
wait_exit "$uploads" 60 || fail "warm-up uploads did not finish"
[ "$EXIT_STATUS" = 0 ] || fail "warm-up uploads failed: $(cat "$T/upload.out")"
settle "$aport"
rss0=$(rss_kib "$main_pid")
fds0=$(fds "$main_pid")
lines0=$(log_count "$reset_re")
"${fl[@]}" upload --port "$port" --cafile "$CERTS/ca.pem" --reps 1000 --size $((1024 * 1024)) \
  --stop-file "$T/upload.stop" >"$T/upload.out" 2>&1 &
uploads=$!
track_pid "$uploads"
status=0
out=$("${fl[@]}" reset --port "$port" --cafile "$CERTS/ca.pem" --reps "$rst_reps" --concurrency 4 \
  --declared $((8 * 1024 * 1024)) 2>"$T/reset.err") || status=$?
touch "$T/upload.stop"
wait_exit "$uploads" 60 || fail "good uploads did not stop"
up_status=$EXIT_STATUS
cat "$T/reset.err" >&2
[ "$status" = 0 ] || fail "reset uploads: $out"
up=$(cat "$T/upload.out")
[ "$up_status" = 0 ] || fail "good uploads during the resets failed: $up"
settle "$aport"
for ((i = 0; i < 100; i++)); do
  [ "$(backend_conns "$bport")" = 0 ] && break
  sleep 0.05
done
[ "$(backend_conns "$bport")" = 0 ] || fail "$(backend_conns "$bport") backend connections still open after the resets"
wait_log "$reset_re" $((lines0 + rst_reps)) ||
  fail "$rst_reps uploads reset, $(($(log_count "$reset_re") - lines0)) log lines about it"
rss1=$(rss_kib "$main_pid")
fds1=$(fds "$main_pid")
[ "$fds1" = "$fds0" ] || fail "descriptors: $fds0 before $rst_reps resets, $fds1 after"
if [ "$check_rss" = 1 ]; then
  [ "$rss1" -le $((rss0 + rss0 / 20)) ] || fail "RSS grew from $rss0 KiB to $rss1 KiB over $rst_reps resets (more than 5%)"
fi
assert_alive
pass "client RST mid-upload: $(field "$out" reps) uploads of 8 MiB declared ($(field "$out" cl) Content-Length, $(field "$out" chunked) chunked, $(field "$out" sent_bytes) bytes sent) reset in $(field "$out" elapsed) s; $(($(log_count "$reset_re") - lines0)) log lines; backend connections left: 0; descriptors $fds0 -> $fds1; RSS $rss0 -> $rss1 KiB"
pass "meanwhile: $(field "$up" uploads) good uploads ($(field "$up" bytes) bytes), $(field "$up" digests) digests verified, errors: $(field "$up" errors)"
stop_tlsterm 10
[ "$EXIT_STATUS" = 0 ] || fail "tlsterm exited $EXIT_STATUS after cases 1-4"

# --- 5. SIGHUP and SIGTERM during storms ---------------------------------------------

"$PYTHON3" "$TOOLS/storm.py" --make-docroot "$T/www"
start_backend --listen 127.0.0.1:0 --docroot "$T/www"
eport=$BACKEND_PORT
mkdir -m 700 "$T/live"
# use KIND: the live certificate becomes localhost-KIND and the ticket
# secret a new one; each file replaced by rename.
use() {
  cp "$CERTS/localhost-$1.pem" "$T/live/cert.pem.new"
  cp "$CERTS/localhost-$1.key" "$T/live/key.pem.new"
  (umask 077 && head -c 48 /dev/urandom | base64 >"$T/live/ticket.new")
  mv "$T/live/cert.pem.new" "$T/live/cert.pem"
  mv "$T/live/key.pem.new" "$T/live/key.pem"
  mv "$T/live/ticket.new" "$T/live/ticket"
}
use ecdsa
port_d=$(free_port)
aport_d=$(free_port)
drain_s=5
start_tlsterm --listen "127.0.0.1:$port_d" --backend "127.0.0.1:$eport" \
  --cert "$T/live/cert.pem" --key "$T/live/key.pem" --ticket-secret-file "$T/live/ticket" \
  --workers 2 --log-level info --admin "127.0.0.1:$aport_d" --drain-timeout "${drain_s}s"
pid_d=$TLSTERM_PID

timeout $((hup_seconds + 60)) "$PYTHON3" "$TOOLS/storm.py" --port "$port_d" --cafile "$CERTS/ca.pem" \
  --manifest "$T/www/manifest.json" --duration "$hup_seconds" --clients 4 --min-requests 20 \
  >"$T/storm.out" 2>"$T/storm.err" &
storm=$!
track_pid "$storm"
"${fl[@]}" load --port "$port_d" --cafile "$CERTS/ca.pem" --clients 2 --duration "$hup_seconds" \
  --sizes 4096,65536,262144 --results "$T/hup.jsonl" >"$T/hup.out" 2>&1 &
hload=$!
track_pid "$hload"
kinds=(rsa ecdsa)
ok0=$(log_count 'reload: configuration [0-9]* in service')
for ((r = 0; r < hups; r++)); do
  sleep "$(awk -v s="$hup_seconds" -v n="$hups" 'BEGIN { print (s - 2) / n }')"
  use "${kinds[r % 2]}"
  kill -HUP "$pid_d"
  wait_log 'reload: configuration [0-9]* in service' $((ok0 + r + 1)) ||
    fail "reload $((r + 1)) during the storm: no success line ($(grep 'reload' "$TLSTERM_LOG" | tail -n 1))"
done
wait_exit "$storm" $((hup_seconds + 60)) || fail "storm.py did not finish"
storm_status=$EXIT_STATUS
wait_exit "$hload" 60 || fail "the load did not finish"
summary=$(grep '^storm: requests=' "$T/storm.out" || true)
[ "$storm_status" = 0 ] || fail "storm across $hups reloads (exit $storm_status): $summary $(head -c 2000 "$T/storm.err")"
status=0
out=$("${fl[@]}" report "$T/hup.jsonl" 2>"$T/report.err") || status=$?
cat "$T/report.err" >&2
[ "$status" = 0 ] || fail "load across $hups reloads: $out"
[ "$(metric "$aport_d" tlsterm_config_generation)" = $((hups + 1)) ] ||
  fail "tlsterm_config_generation is $(metric "$aport_d" tlsterm_config_generation), want $((hups + 1))"
pass "SIGHUP x $hups (certificate ECDSA/RSA and ticket secret) during a storm: storm $(field "$summary" requests) requests, $(field "$summary" bytes) bytes, every SHA-256 checked, tls_errors=$(field "$summary" tls_errors) mismatches=$(field "$summary" mismatches) other_errors=$(field "$summary" other_errors); /stream $(field "$out" ok)/$(field "$out" requests) ok ($(field "$out" bytes) bytes, Content-Length and chunked digests verified), corrupted: 0"

# SIGTERM while 8 clients wait on responses the backend delays by 1 s.
"${fl[@]}" load --port "$port_d" --cafile "$CERTS/ca.pem" --clients 8 --delay-ms 1000 --sizes 65536,262144 \
  --duration 40 --stop-file "$T/term.stop" --results "$T/term.jsonl" >"$T/term.out" 2>&1 &
tload=$!
track_pid "$tload"
sleep 1.6
t_term=$(now)
kill -TERM "$pid_d"
wait_port_closed 127.0.0.1 "$port_d" 5 || fail "still accepting 5 s after SIGTERM"
t_closed=$(now)
closed_ms=$(awk -v a="$t_term" -v b="$t_closed" 'BEGIN { printf "%d", (b - a) * 1000 }')
wait_exit "$pid_d" $((drain_s + 5)) || fail "tlsterm still running $((drain_s + 5)) s after SIGTERM"
exit_ms=$(ms_since "$t_term")
[ "$EXIT_STATUS" = 0 ] || fail "tlsterm exited $EXIT_STATUS after SIGTERM, want 0"
sleep 0.3 # a few connects after the close, each of which must be refused
touch "$T/term.stop"
wait_exit "$tload" 40 || fail "the load did not stop"
status=0
out=$("${fl[@]}" report "$T/term.jsonl" --case drain --term "$t_term" --closed "$t_closed" \
  --drain-timeout "$drain_s" --min-inflight 2 2>"$T/report.err") || status=$?
cat "$T/report.err" >&2
[ "$status" = 0 ] || fail "SIGTERM during the storm: $out"
[ "$(field "$out" after_close)" -gt 0 ] || fail "no connect was tried after the listeners closed: $out"
pass "SIGTERM during a storm (8 clients, responses delayed 1 s): $(field "$out" inflight) requests in flight, all $(field "$out" inflight_ok) complete with verified digests, the last $(field "$out" inflight_max_ms) ms after the signal (--drain-timeout ${drain_s}s); $(field "$out" ok) ok in all ($(field "$out" bytes) bytes; $(field "$out" sent_after) sent after the signal on connections already accepted), corrupted: 0, truncated: 0, unanswered: 0 of those sent; listeners closed after $closed_ms ms, then $(field "$out" after_close_refused)/$(field "$out" after_close) connects refused; exit 0 after $exit_ms ms"

if grep -Eq 'WARNING: ThreadSanitizer|ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer' "$T"/tlsterm.*.log; then
  grep -E -A40 'WARNING: ThreadSanitizer|ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer' "$T"/tlsterm.*.log | head -n 120 >&2
  fail "sanitizer report in a tlsterm log"
fi
errors=$(grep -h 'level=error' "$T"/tlsterm.*.log || true)
[ -z "$errors" ] || fail "error-level log lines: $(head -n 5 <<<"$errors")"
pass "no error-level log lines; whole battery in $((SECONDS - t_begin)) s"
