#!/usr/bin/env bash
# process.sh: --user/--group drop every privilege once the sockets are bound
# and the keys read (checked in /proc); --pidfile; root without --user warns.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root to switch users"
id nobody >/dev/null 2>&1 || skip "no user 'nobody'"
nobody_uid=$(id -u nobody)
nobody_gid=$(id -g nobody)

gen_certs
mkdir -p "$T/www"
echo "process test page" >"$T/www/index.html"
start_backend --docroot "$T/www"
mapfile -t certs < <(cert_args)
port=$(free_port)
# The pidfile's directory is reachable and writable by the dropped user (like
# a sticky /run), so tlsterm can remove the file at exit.
chmod o+x "$T"
mkdir -m 1777 "$T/run"
start_tlsterm --listen "127.0.0.1:$port" --backend "127.0.0.1:$BACKEND_PORT" \
  "${certs[@]}" --workers 2 --user nobody --pidfile "$T/run/tlsterm.pid"

# Every id, real, effective, saved and filesystem, is nobody's; no groups
# beyond it, no capabilities; and the threads agree.
for status in /proc/"$TLSTERM_PID"/task/*/status; do
  uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "$status")
  gids=$(awk '/^Gid:/ { print $2, $3, $4, $5 }' "$status")
  groups=$(awk '/^Groups:/ { $1 = ""; print }' "$status" | tr -d ' ')
  capeff=$(awk '/^CapEff:/ { print $2 }' "$status")
  capprm=$(awk '/^CapPrm:/ { print $2 }' "$status")
  [ "$uids" = "$nobody_uid $nobody_uid $nobody_uid $nobody_uid" ] || fail "$status: Uid $uids"
  [ "$gids" = "$nobody_gid $nobody_gid $nobody_gid $nobody_gid" ] || fail "$status: Gid $gids"
  [ -z "$groups" ] || fail "$status: supplementary groups '$groups'"
  [ "$capeff$capprm" = 00000000000000000000000000000000 ] ||
    fail "$status: capabilities CapEff=$capeff CapPrm=$capprm"
done
pass "--user nobody: every thread runs as $nobody_uid:$nobody_gid, no groups, no capabilities"
grep -q 'msg="running as user nobody' "$TLSTERM_LOG" || fail "no 'running as user' line"

# It still serves: keys were read and sockets bound before the drop.
body=$(tcurl "$port" /index.html) || fail "request after the privilege drop failed"
[ "$body" = "$(cat "$T/www/index.html")" ] || fail "wrong body: $body"
pass "serves after the drop"

[ "$(cat "$T/run/tlsterm.pid")" = "$TLSTERM_PID" ] || fail "pidfile holds '$(cat "$T/run/tlsterm.pid")'"
pass "--pidfile holds the pid"
stop_tlsterm 10
[ "$EXIT_STATUS" = 0 ] || fail "exit status $EXIT_STATUS"
[ ! -e "$T/run/tlsterm.pid" ] || fail "pidfile left behind"
pass "SIGTERM: exit 0, pidfile removed"

# Root without --user runs, with one clear warning.
start_tlsterm --listen "127.0.0.1:$port" --backend "127.0.0.1:$BACKEND_PORT" "${certs[@]}"
grep -q 'level=warn msg="running as root: give --user' "$TLSTERM_LOG" || fail "no root warning"
stop_tlsterm 10
pass "root without --user: a warning"

# Bad values are start-up errors naming the flag; nothing listens.
for args in "--user no-such-user-x" "--user nobody --group no-such-group-x" "--group nogroup"; do
  status=0
  # shellcheck disable=SC2086 # word splitting of args is intended
  "$TLSTERM" --listen "127.0.0.1:$port" --backend "127.0.0.1:$BACKEND_PORT" \
    "${certs[@]}" $args 2>"$T/err.txt" || status=$?
  [ "$status" = 2 ] || fail "$args: exit $status"
  [ "$(wc -l <"$T/err.txt")" = 1 ] || fail "$args: not one line: $(cat "$T/err.txt")"
  grep -qE '^tlsterm: --(user|group) ' "$T/err.txt" || fail "$args: $(cat "$T/err.txt")"
  ! port_open 127.0.0.1 "$port" || fail "$args: something listens on $port"
done
pass "bad --user/--group: exit 2, one line naming the flag"
