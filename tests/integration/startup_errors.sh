#!/usr/bin/env bash
# startup_errors.sh: every bad start-up input gives exit status 2, exactly
# one stderr line `tlsterm: ...` naming the offending flag or file, and
# leaves nothing listening.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

gen_certs
start_backend --listen 127.0.0.1:0
backend=127.0.0.1:$BACKEND_PORT
port=$(free_port)
mapfile -t certs < <(cert_args)
cases=0

# expect_error WHAT REGEX ARGS...: run tlsterm with ARGS; it must exit 2
# within 10 s with one stderr line that starts with "tlsterm: " and matches
# the extended REGEX, and $port must not be listening afterwards.
expect_error() {
  local what=$1 re=$2 status=0 lines
  shift 2
  cases=$((cases + 1))
  timeout 10 "$TLSTERM" "$@" >"$T/out.$cases" 2>"$T/err.$cases" || status=$?
  [ "$status" != 124 ] || fail "$what: tlsterm did not exit within 10 s (args: $*)"
  [ "$status" = 2 ] || fail "$what: exit status $status, want 2; stderr: $(cat "$T/err.$cases")"
  lines=$(wc -l <"$T/err.$cases")
  [ "$lines" = 1 ] || fail "$what: $lines stderr lines, want 1: $(cat "$T/err.$cases")"
  grep -q '^tlsterm: ' "$T/err.$cases" || fail "$what: stderr does not start with 'tlsterm: ': $(cat "$T/err.$cases")"
  grep -Eq -- "$re" "$T/err.$cases" || fail "$what: stderr does not match /$re/: $(cat "$T/err.$cases")"
  ! port_open 127.0.0.1 "$port" || fail "$what: something is listening on $port after the error"
  pass "$what: $(cat "$T/err.$cases")"
}

ok=(--listen "127.0.0.1:$port" --backend "$backend" "${certs[@]}")

# Sanity: the valid base command passes --test, so every failure below is
# caused by the one thing each case changes.
timeout 10 "$TLSTERM" --test "${ok[@]}" >/dev/null 2>"$T/base.err" ||
  fail "the valid base arguments fail --test: $(cat "$T/base.err")"

# Flags and values.
expect_error "unknown flag" '--bogus' "${ok[@]}" --bogus
expect_error "non-numeric --workers" '--workers' "${ok[@]}" --workers x
expect_error "zero --workers" '--workers' "${ok[@]}" --workers 0
expect_error "malformed --listen" '--listen' --listen nonsense --backend "$backend" "${certs[@]}"
expect_error "--listen port out of range" '--listen' --listen 127.0.0.1:99999 --backend "$backend" "${certs[@]}"
expect_error "missing --listen" '--listen' --backend "$backend" "${certs[@]}"
expect_error "missing --backend" '--backend' --listen "127.0.0.1:$port" "${certs[@]}"
expect_error "malformed --backend" '--backend' --listen "127.0.0.1:$port" --backend nohostport "${certs[@]}"
expect_error "missing --cert" '--cert' --listen "127.0.0.1:$port" --backend "$backend"
expect_error "bad duration" '--idle-timeout' "${ok[@]}" --idle-timeout 5parsecs
expect_error "bad --tls-min" '--tls-min' "${ok[@]}" --tls-min 1.1
expect_error "--tls-min above --tls-max" '--tls-(min|max)' "${ok[@]}" --tls-min 1.3 --tls-max 1.2
expect_error "bad --log-level" '--log-level' "${ok[@]}" --log-level chatty
expect_error "unknown --ciphers name" '--ciphers' "${ok[@]}" --ciphers NOT-A-CIPHER
expect_error "bad --max-connections" '--max-connections' "${ok[@]}" --max-connections -5

# Certificate and key files.
expect_error "missing cert file" 'nope\.pem' \
  --listen "127.0.0.1:$port" --backend "$backend" --cert "$T/nope.pem" --key "$CERTS/localhost-ecdsa.key"
head -c 3000 /dev/urandom | base64 >"$T/garbage.pem"
expect_error "garbage cert file" 'garbage\.pem' \
  --listen "127.0.0.1:$port" --backend "$backend" --cert "$T/garbage.pem" --key "$CERTS/localhost-ecdsa.key"
# A directory cannot be read as a file (root can read any file, so this is
# how an unreadable cert is made portably).
mkdir "$T/dir.pem"
expect_error "unreadable cert (a directory)" 'dir\.pem' \
  --listen "127.0.0.1:$port" --backend "$backend" --cert "$T/dir.pem" --key "$CERTS/localhost-ecdsa.key"
expect_error "missing key file" 'nokey\.key' \
  --listen "127.0.0.1:$port" --backend "$backend" --cert "$CERTS/localhost-ecdsa.pem" --key "$T/nokey.key"
expect_error "cert without a key" 'localhost-ecdsa\.pem' \
  --listen "127.0.0.1:$port" --backend "$backend" --cert "$CERTS/localhost-ecdsa.pem"
expect_error "key does not match cert" 'mismatch\.key' \
  --listen "127.0.0.1:$port" --backend "$backend" --cert "$CERTS/localhost-ecdsa.pem" --key "$CERTS/mismatch.key"

# Config file.
printf 'listn = 127.0.0.1:%s\n' "$port" >"$T/badkey.conf"
expect_error "unknown config key" 'badkey\.conf.*listn|listn.*badkey\.conf' \
  --config "$T/badkey.conf" --backend "$backend" "${certs[@]}"
printf 'listen = 127.0.0.1:%s\nworkers = many\n' "$port" >"$T/badval.conf"
expect_error "bad config value" 'badval\.conf' \
  --config "$T/badval.conf" --backend "$backend" "${certs[@]}"
expect_error "missing config file" 'noconf\.conf' --config "$T/noconf.conf" "${ok[@]}"

# --test reports the same one-line errors with exit 2.
expect_error "--test with a key mismatch" 'mismatch\.key' --test \
  --listen "127.0.0.1:$port" --backend "$backend" --cert "$CERTS/localhost-ecdsa.pem" --key "$CERTS/mismatch.key"

# Port in use: a plain listener (no SO_REUSEPORT, so tlsterm's bind must
# fail) holds the port; tlsterm names the address and exits 2.
busy=$(free_port)
"$PYTHON3" -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
open(sys.argv[2], "w").write("ready\n")
time.sleep(120)
' "$busy" "$T/busy.ready" &
busy_pid=$!
track_pid "$busy_pid"
wait_file "$T/busy.ready" 10 || hard_error "could not occupy port $busy"
expect_error "port in use" "--listen|127\.0\.0\.1:$busy" \
  --listen "127.0.0.1:$busy" --backend "$backend" "${certs[@]}"

# Port in use on the second --listen: the first address, bound before the
# failure, is not left listening either.
expect_error "second --listen in use" "--listen|127\.0\.0\.1:$busy" \
  --listen "127.0.0.1:$port" --listen "127.0.0.1:$busy" --backend "$backend" "${certs[@]}"

# Nothing of tlsterm's stayed on the busy port: with the occupier gone, it
# refuses connections.
kill "$busy_pid"
wait_exit "$busy_pid" 5 || fail "occupier did not exit"
wait_port_closed 127.0.0.1 "$busy" 5 || fail "port $busy still accepts connections after the occupier exited"

echo "# $cases error cases checked"
