#!/usr/bin/env bash
# storm.sh: the refresh storm. ~16 simulated browsers keep reloading a page
# of 31 files over 6 fresh TLS connections per load (half resumed, TLS 1.3
# and 1.2 alternating) against 8 workers, for STORM_SECONDS (default 20).
# Passes when there were no TLS errors (bad record MAC above all), no body
# mismatches, no other errors, enough requests, both TLS versions and
# resumption on both; tlsterm is still alive, logged no unexpected
# error-level lines (nor sanitizer reports) and exits 0 on SIGTERM.
#
# Tunables: STORM_SECONDS, STORM_CLIENTS (16), STORM_WORKERS (8),
# STORM_MIN_REQUESTS (default 20 per second of storm).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

seconds=${STORM_SECONDS:-20}
clients=${STORM_CLIENTS:-16}
workers=${STORM_WORKERS:-8}
min_requests=${STORM_MIN_REQUESTS:-$((seconds * 20))}
# Error-level log lines that are expected and do not fail the storm (an
# extended regex; none by default).
allowed_errors=${STORM_ALLOWED_ERRORS:-'^$'}

gen_certs
"$PYTHON3" "$TOOLS/storm.py" --make-docroot "$T/www"
start_backend --listen 127.0.0.1:0 --docroot "$T/www"
port=$(free_port)
mapfile -t certs < <(cert_args)
start_tlsterm --listen "127.0.0.1:$port" --backend "127.0.0.1:$BACKEND_PORT" "${certs[@]}" \
  --workers "$workers" --log-level info --drain-timeout 5s

# The storm itself; its summary line goes into this test's log.
status=0
timeout $((seconds + 90)) "$PYTHON3" "$TOOLS/storm.py" --port "$port" --cafile "$CERTS/ca.pem" \
  --manifest "$T/www/manifest.json" --duration "$seconds" --clients "$clients" \
  --min-requests "$min_requests" >"$T/storm.out" 2>"$T/storm.err" || status=$?
cat "$T/storm.err" >&2
summary=$(grep '^storm: requests=' "$T/storm.out" || true)
echo "$summary"
[ -n "$summary" ] || fail "storm.py printed no summary (exit $status): $(cat "$T/storm.out")"

# Sanitizer builds: any report in the tlsterm log fails the storm (with
# halt_on_error=1 a report also kills tlsterm), and is shown in full.
sanitizer_check() {
  local re='WARNING: ThreadSanitizer|ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer'
  if grep -Eq "$re" "$TLSTERM_LOG"; then
    grep -E -A40 "$re" "$TLSTERM_LOG" | head -n 120 >&2
    fail "sanitizer report in the tlsterm log"
  fi
}
sanitizer_check

# value KEY: the number KEY=N in the summary.
value() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<" ${summary#storm: }"; }

# Correctness: not a single TLS error, mismatch or other error.
[ "$(value tls_errors)" = 0 ] || fail "storm saw $(value tls_errors) TLS errors ($(value bad_record_mac) bad record MAC)"
[ "$(value mismatches)" = 0 ] || fail "storm saw $(value mismatches) body mismatches"
[ "$(value other_errors)" = 0 ] || fail "storm saw $(value other_errors) other errors"
# Load: enough requests, over both TLS versions, with resumption on both.
[ "$(value requests)" -ge "$min_requests" ] || fail "only $(value requests) requests, want at least $min_requests"
[ "$(value tls13)" -gt 0 ] || fail "no TLS 1.3 connections"
[ "$(value tls12)" -gt 0 ] || fail "no TLS 1.2 connections"
[ "$(value resumed13)" -gt 0 ] || fail "no resumed TLS 1.3 connections"
[ "$(value resumed12)" -gt 0 ] || fail "no resumed TLS 1.2 connections"
[ "$status" = 0 ] || fail "storm.py exited $status"
pass "storm: $(value requests) requests, $(value connections) connections, $(value resumed) resumed, no errors"

# tlsterm survived, logged no unexpected error-level lines, and exits 0.
assert_alive
stop_tlsterm 15
sanitizer_check
[ "$EXIT_STATUS" = 0 ] || fail "tlsterm exited $EXIT_STATUS after the storm, want 0"
errors=$(grep 'level=error' "$TLSTERM_LOG" | grep -Ev "$allowed_errors" || true)
[ -z "$errors" ] || fail "unexpected error-level log lines: $(head -n 10 <<<"$errors")"
pass "tlsterm alive through the storm, clean log, exit 0"
