#!/usr/bin/env bash
# sni_alpn.sh: certificate selection and ALPN.
#  - SNI picks the exact name, then a wildcard, then the first (default)
#    certificate;
#  - with an ECDSA and an RSA certificate for one name, a client that can
#    only do RSA gets the RSA one, a default client the ECDSA one;
#  - ALPN: http/1.1 by default, a fatal no_application_protocol alert for a
#    client offering only h2, and --alpn advertises what is configured.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

gen_certs
start_backend --listen 127.0.0.1:0
port=$(free_port)
start_tlsterm --listen "127.0.0.1:$port" --backend "127.0.0.1:$BACKEND_PORT" --workers 2 \
  --cert "$CERTS/localhost-ecdsa.pem" --key "$CERTS/localhost-ecdsa.key" \
  --cert "$CERTS/localhost-rsa.pem" --key "$CERTS/localhost-rsa.key" \
  --cert "$CERTS/a.test.pem" --key "$CERTS/a.test.key" \
  --cert "$CERTS/wild.b.test.pem" --key "$CERTS/wild.b.test.key" \
  --drain-timeout 2s

# peer_cert PORT S_CLIENT_ARGS...: "subject | key algorithm" of the
# certificate the server presents.
peer_cert() {
  local port=$1 out subject algo
  shift
  out=$(sclient "$port" "$@" </dev/null) || fail "s_client $* failed: $out"
  subject=$(openssl x509 -noout -subject <<<"$out") || fail "no certificate from s_client $*: $out"
  algo=$(openssl x509 -noout -text <<<"$out" | awk -F': ' '/Public Key Algorithm/ { print $2; exit }')
  echo "$subject | $algo"
}

# expect_cert WHAT PATTERN S_CLIENT_ARGS...: the presented certificate
# matches the extended regex PATTERN.
expect_cert() {
  local what=$1 re=$2 got
  shift 2
  got=$(peer_cert "$port" "$@")
  grep -Eq -- "$re" <<<"$got" || fail "$what: got '$got', want /$re/"
  pass "$what: $got"
}

default_re='O = tlsterm-test-ecdsa, CN = localhost \| id-ecPublicKey'

# Exact SNI match.
expect_cert "SNI a.test" 'CN = a\.test \|' -servername a.test -verify_hostname a.test
# Wildcard match for a name one label below b.test.
expect_cert "SNI x.b.test (wildcard)" 'CN = \*\.b\.test \|' -servername x.b.test -verify_hostname x.b.test
# The wildcard covers exactly one label: b.test itself and y.x.b.test fall
# back to the default certificate.
expect_cert "SNI b.test (not covered by *.b.test)" "$default_re" -servername b.test
expect_cert "SNI y.x.b.test (two labels)" "$default_re" -servername y.x.b.test
# An unknown name and no SNI at all get the first certificate.
expect_cert "SNI unknown.example" "$default_re" -servername unknown.example
expect_cert "no SNI" "$default_re" -noservername
# Name matching is case-insensitive (DNS names are).
expect_cert "SNI A.TEST" 'CN = a\.test \|' -servername A.TEST

# ECDSA + RSA for localhost: a default client gets ECDSA, a TLS 1.2 client
# offering only ECDHE-RSA suites gets RSA, and so does a TLS 1.3 client
# that only accepts RSA signatures.
expect_cert "default client" "$default_re" -servername localhost -verify_hostname localhost
expect_cert "TLS 1.2 default client" "$default_re" -servername localhost -tls1_2
expect_cert "TLS 1.2 RSA-only cipher" 'O = tlsterm-test-rsa, CN = localhost \| rsaEncryption' \
  -servername localhost -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256 -verify_hostname localhost
expect_cert "TLS 1.2 RSA-only sigalgs" 'O = tlsterm-test-rsa, CN = localhost \| rsaEncryption' \
  -servername localhost -tls1_2 -sigalgs 'RSA-PSS+SHA256:RSA+SHA256'
expect_cert "TLS 1.3 RSA-only sigalgs" 'O = tlsterm-test-rsa, CN = localhost \| rsaEncryption' \
  -servername localhost -tls1_3 -sigalgs 'rsa_pss_rsae_sha256:rsa_pss_rsae_sha384'

# ALPN, default configuration: http/1.1 is selected when offered, also
# from a list, and a client without ALPN still connects.
for offer in http/1.1 h2,http/1.1; do
  out=$(sclient "$port" -servername localhost -alpn "$offer" </dev/null) || fail "ALPN $offer: $out"
  grep -q '^ALPN protocol: http/1.1$' <<<"$out" || fail "ALPN $offer: http/1.1 not selected: $(grep ALPN <<<"$out" || true)"
  pass "ALPN offer $offer selects http/1.1"
done
out=$(sclient "$port" -servername localhost </dev/null) || fail "no ALPN: $out"
grep -q '^No ALPN negotiated$' <<<"$out" || fail "no ALPN offered but something negotiated: $out"
pass "a client without ALPN connects"

# A client that offers only h2 gets a fatal no_application_protocol alert
# (120) and no connection, over TLS 1.3 and 1.2.
for v in 1_3 1_2; do
  status=0
  out=$(sclient "$port" -servername localhost -tls"$v" -alpn h2 </dev/null) || status=$?
  [ "$status" != 0 ] || fail "TLS ${v/_/.} ALPN h2 only: handshake succeeded: $out"
  grep -Eq 'alert number 120|no application protocol' <<<"$out" ||
    fail "TLS ${v/_/.} ALPN h2 only: no no_application_protocol alert: $out"
  pass "TLS ${v/_/.} ALPN h2 only: no_application_protocol"
done
assert_alive
stop_tlsterm 10

# --alpn h2,http/1.1 advertises both: h2 for an h2 client, http/1.1 for an
# HTTP/1.1 client.
port=$(free_port)
mapfile -t certs < <(cert_args)
start_tlsterm --listen "127.0.0.1:$port" --backend "127.0.0.1:$BACKEND_PORT" "${certs[@]}" \
  --alpn h2,http/1.1 --drain-timeout 2s
out=$(sclient "$port" -servername localhost -alpn h2 </dev/null) || fail "--alpn h2,http/1.1, offer h2: $out"
grep -q '^ALPN protocol: h2$' <<<"$out" || fail "--alpn h2,http/1.1: h2 not selected: $(grep ALPN <<<"$out" || true)"
out=$(sclient "$port" -servername localhost -alpn http/1.1 </dev/null) || fail "--alpn h2,http/1.1, offer http/1.1: $out"
grep -q '^ALPN protocol: http/1.1$' <<<"$out" || fail "--alpn h2,http/1.1: http/1.1 not selected: $(grep ALPN <<<"$out" || true)"
pass "--alpn h2,http/1.1 advertises both"
