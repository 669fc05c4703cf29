#!/usr/bin/env bash
# logging.sh: --log-format json writes one JSON object a line with the same
# keys as the text format; --log-file sends the log to a file, and SIGUSR1
# reopens it after logrotate moved it away.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

gen_certs
start_backend --listen 127.0.0.1:0
mapfile -t certs < <(cert_args)
port=$(free_port)
log=$T/tlsterm-file.log

start_tlsterm --listen "127.0.0.1:$port" --backend "127.0.0.1:$BACKEND_PORT" \
  "${certs[@]}" --workers 2 --log-level debug --log-format json --log-file "$log"
tcurl "$port" /index.html -o /dev/null || fail "request before the move failed"

# Every line is a JSON object with ts, level and msg; the handshake line
# carries the connection's keys as members.
wait_file "$log" 5 || fail "no log file"
"$PYTHON3" - "$log" <<'PY' || fail "log file is not JSON lines: $(head -5 "$log")"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines, "empty"
objs = [json.loads(l) for l in lines]
for o in objs:
    assert {"ts", "level", "msg"} <= set(o), o
    assert o["ts"].endswith("Z"), o
hs = [o for o in objs if o["msg"] == "handshake done"]
assert hs and {"worker", "conn", "client", "version", "resumed"} <= set(hs[0]), hs
PY
pass "--log-format json: one JSON object a line, keys as members"
[ ! -s "$TLSTERM_LOG" ] || fail "--log-file: stderr is not empty: $(head -3 "$TLSTERM_LOG")"
pass "--log-file: nothing on stderr"

# logrotate: move the file away, SIGUSR1, and new lines go to a new file.
mv "$log" "$log.1"
kill -USR1 "$TLSTERM_PID"
wait_file "$log" 5 || fail "SIGUSR1 did not reopen the log file"
tcurl "$port" /index.html -o /dev/null || fail "request after the move failed"
for _ in $(seq 1 50); do
  grep -q '"handshake done"' "$log" && break
  sleep 0.1
done
grep -q '"msg":"log file reopened"' "$log" || fail "no reopen line in the new file: $(cat "$log")"
grep -q '"handshake done"' "$log" || fail "the new connection was not logged to the new file"
[ "$(grep -c '"handshake done"' "$log.1")" = 1 ] ||
  fail "the moved file got lines after SIGUSR1: $(cat "$log.1")"
pass "SIGUSR1 reopens --log-file; the moved file gets nothing more"
assert_alive

# A log file that cannot be opened is a start-up error naming the flag.
status=0
"$TLSTERM" --listen "127.0.0.1:$(free_port)" --backend "127.0.0.1:$BACKEND_PORT" \
  "${certs[@]}" --log-file /nonexistent/dir/x.log 2>"$T/err.txt" || status=$?
[ "$status" = 2 ] || fail "--log-file in a missing directory exited $status"
grep -q '^tlsterm: --log-file /nonexistent/dir/x.log: ' "$T/err.txt" ||
  fail "unexpected error: $(cat "$T/err.txt")"
pass "--log-file that cannot be opened: exit 2 naming the flag"
stop_tlsterm 10
