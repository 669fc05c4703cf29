#!/usr/bin/env bash
# basic.sh: the everyday paths. curl and openssl s_client fetch a page through
# tlsterm over TLS 1.2 and 1.3; an IPv6 listener; a unix-socket backend;
# --test, --version, --help; a --config file and a flag overriding it.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

gen_certs
mkdir -p "$T/www"
token="basic-$RANDOM-$RANDOM-$$"
printf '<!doctype html><title>basic</title><p>%s</p>\n' "$token" >"$T/www/index.html"
start_backend --docroot "$T/www"
tcp_backend_port=$BACKEND_PORT

port=$(free_port)
listen6=()
if have_ipv6; then
  listen6=(--listen "[::1]:$port")
fi
mapfile -t certs < <(cert_args)
start_tlsterm --listen "127.0.0.1:$port" "${listen6[@]}" \
  --backend "127.0.0.1:$tcp_backend_port" "${certs[@]}" --workers 2 --drain-timeout 2s

# curl over TLS 1.2 and over TLS 1.3 gets the page, verified against the
# test CA through the intermediate (proves the chain is sent).
for v in 1.2 1.3; do
  body=$(tcurl "$port" / --tlsv"$v" --tls-max "$v" -v 2>"$T/curl.$v.err") ||
    fail "curl TLS $v failed: $(cat "$T/curl.$v.err")"
  [ "$body" = "$(cat "$T/www/index.html")" ] || fail "curl TLS $v: wrong body: $body"
  grep -q "SSL connection using TLSv$v" "$T/curl.$v.err" ||
    fail "curl did not negotiate TLS $v: $(grep 'SSL connection' "$T/curl.$v.err" || true)"
  pass "curl TLS $v"
done

# openssl s_client over TLS 1.2 and 1.3: chain verifies (return code 0), the
# protocol is the one asked for, and the response carries the page.
for v in 1_2 1_3; do
  out=$(http_get / | sclient "$port" -servername localhost -tls"$v" -ign_eof) ||
    fail "s_client -tls$v failed: $out"
  grep -q "New, TLSv${v/_/.}," <<<"$out" || fail "s_client -tls$v: wrong protocol: $out"
  grep -q "Verify return code: 0 (ok)" <<<"$out" || fail "s_client -tls$v: chain did not verify: $out"
  grep -q "HTTP/1.1 200" <<<"$out" || fail "s_client -tls$v: no 200 response: $out"
  grep -q "$token" <<<"$out" || fail "s_client -tls$v: page body missing: $out"
  pass "s_client TLS ${v/_/.}"
done

# Several requests on one keep-alive connection are relayed in order.
u="https://localhost:$port"
out=$(curl -sS --max-time 20 --cacert "$CERTS/ca.pem" --resolve "localhost:$port:127.0.0.1" \
  -v "$u/hello" "$u/" "$u/hello" 2>"$T/ka.err") || fail "keep-alive: curl failed: $(cat "$T/ka.err")"
[ "$out" = "hello from backend
$(cat "$T/www/index.html")
hello from backend" ] || fail "keep-alive: wrong responses: $out"
grep -q "Re-using existing connection" "$T/ka.err" || fail "keep-alive: curl did not reuse the connection"
pass "keep-alive requests on one connection"

# The IPv6 listener [::1] serves the same page (the certificate has IP:::1).
if [ ${#listen6[@]} -gt 0 ]; then
  body=$(curl -sS --max-time 20 --cacert "$CERTS/ca.pem" "https://[::1]:$port/") ||
    fail "curl over [::1] failed"
  [ "$body" = "$(cat "$T/www/index.html")" ] || fail "[::1]: wrong body: $body"
  pass "IPv6 listener [::1]"
else
  echo "# ::1 unavailable: IPv6 listener check skipped"
fi
stop_tlsterm 10
[ "$EXIT_STATUS" = 0 ] || fail "tlsterm exited $EXIT_STATUS on SIGTERM"

# A unix-socket backend works.
start_backend --unix "$T/backend.sock" --docroot "$T/www"
port=$(free_port)
start_tlsterm --listen "127.0.0.1:$port" --backend "unix:$T/backend.sock" "${certs[@]}" \
  --workers 1 --drain-timeout 2s
body=$(tcurl "$port" /) || fail "curl via unix-socket backend failed"
[ "$body" = "$(cat "$T/www/index.html")" ] || fail "unix backend: wrong body: $body"
pass "unix-socket backend"
stop_tlsterm 10

# --test validates, prints the effective config as `key = value` lines and
# exits 0 without serving.
port=$(free_port)
timeout 20 "$TLSTERM" --test --listen "127.0.0.1:$port" --backend "127.0.0.1:$tcp_backend_port" \
  "${certs[@]}" --workers 3 >"$T/test.out" 2>"$T/test.err" ||
  fail "--test exited $?: $(cat "$T/test.err")"
grep -Eq "^listen = (127\.0\.0\.1:$port|\"127\.0\.0\.1:$port\")$" "$T/test.out" ||
  fail "--test: no 'listen = 127.0.0.1:$port' line: $(cat "$T/test.out")"
grep -Eq "^backend = \"?127\.0\.0\.1:$tcp_backend_port\"?$" "$T/test.out" ||
  fail "--test: no backend line: $(cat "$T/test.out")"
grep -Eq '^workers = 3$' "$T/test.out" || fail "--test: no 'workers = 3': $(cat "$T/test.out")"
grep -Eq '^alpn = "?http/1\.1"?$' "$T/test.out" || fail "--test: default alpn not shown: $(cat "$T/test.out")"
bad=$(grep -Ev '^(#.*|[[:space:]]*|[a-z][a-z0-9-]* = .*)$' "$T/test.out" || true)
[ -z "$bad" ] || fail "--test: lines not in 'key = value' form: $bad"
! port_open 127.0.0.1 "$port" || fail "--test left something listening on $port"
pass "--test prints the effective config"

# The other listen forms are accepted: *:PORT (checked with --test only, so
# nothing binds beyond loopback) and [::1]:PORT. (On one port they would
# overlap: "*" covers ::1 too, which is refused.)
port2=$(free_port)
timeout 20 "$TLSTERM" --test --listen "*:$port" --listen "[::1]:$port2" \
  --backend "127.0.0.1:$tcp_backend_port" "${certs[@]}" >"$T/test4.out" 2>&1 ||
  fail "--test with --listen *:$port and [::1]:$port2 exited $?: $(cat "$T/test4.out")"
pass "--listen *:PORT and [::1]:PORT accepted"

# The --test dump is itself a valid config file: fed back, it gives the same
# dump.
cp "$T/test.out" "$T/dump.conf"
timeout 20 "$TLSTERM" --config "$T/dump.conf" --test >"$T/test2.out" 2>"$T/test2.err" ||
  fail "--config <--test dump> --test exited $?: $(cat "$T/test2.err")"
diff -u <(grep -v '^config = ' "$T/test.out") <(grep -v '^config = ' "$T/test2.out") >"$T/dump.diff" ||
  fail "dump of the dump differs: $(cat "$T/dump.diff")"
pass "--test dump round-trips as a config file"

# --version and --help exit 0; --help names every option.
timeout 20 "$TLSTERM" --version >"$T/version.out" 2>&1 || fail "--version exited $?"
grep -q tlsterm "$T/version.out" || fail "--version does not name tlsterm: $(cat "$T/version.out")"
timeout 20 "$TLSTERM" --help >"$T/help.out" 2>&1 || fail "--help exited $?"
for opt in listen backend cert key workers config tls-min tls-max ciphers groups alpn \
  handshake-timeout idle-timeout backend-connect-timeout drain-timeout max-connections \
  log-level test version help; do
  grep -q -- "--$opt" "$T/help.out" || fail "--help does not mention --$opt"
done
pass "--version and --help"

# A config file works on its own ...
port=$(free_port)
cat >"$T/tlsterm.conf" <<EOF
# basic.sh test config
listen = 127.0.0.1:$port
backend = 127.0.0.1:$tcp_backend_port
cert = $CERTS/localhost-ecdsa.pem
key = $CERTS/localhost-ecdsa.key
workers = 1
drain-timeout = 2s
log-level = info
EOF
WAIT_ADDR="127.0.0.1 $port" start_tlsterm --config "$T/tlsterm.conf"
body=$(tcurl "$port" /) || fail "curl via --config instance failed"
[ "$body" = "$(cat "$T/www/index.html")" ] || fail "--config: wrong body: $body"
pass "--config file"
stop_tlsterm 10

# ... and a flag overrides it: --listen on the command line replaces the
# file's listen, --workers replaces its workers.
port2=$(free_port)
start_tlsterm --config "$T/tlsterm.conf" --listen "127.0.0.1:$port2" --workers 2
body=$(tcurl "$port2" /) || fail "curl to the flag's --listen failed"
[ "$body" = "$(cat "$T/www/index.html")" ] || fail "flag override: wrong body: $body"
! port_open 127.0.0.1 "$port" || fail "the config file's listen $port is open although --listen overrides it"
stop_tlsterm 10
timeout 20 "$TLSTERM" --config "$T/tlsterm.conf" --workers 2 --test >"$T/test3.out" 2>&1 ||
  fail "--config --workers 2 --test exited $?: $(cat "$T/test3.out")"
grep -Eq '^workers = 2$' "$T/test3.out" || fail "flag did not override config workers: $(cat "$T/test3.out")"
pass "a flag overrides the config file"
