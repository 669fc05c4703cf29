#!/usr/bin/env bash
# gencerts.sh DIR: generate the test PKI with openssl, at test time, so no
# certificate with an expiry date is ever committed.
#
#   ca.pem                  root CA (ECDSA P-256); the client trust bundle
#   inter.pem, inter.key    intermediate CA, signed by the root
#   localhost-ecdsa.pem     ECDSA P-256 leaf for localhost (SAN DNS:localhost,
#                           IP:127.0.0.1, IP:::1), then the intermediate
#   localhost-ecdsa.key     its key (separate file)
#   localhost-rsa.pem/.key  RSA-2048 leaf for the same names, then the
#                           intermediate
#   localhost-renewed.pem/.key  another ECDSA leaf for the same names, as a
#                           renewal would bring (O=tlsterm-test-renewed)
#   a.test.pem/.key         ECDSA leaf for a.test (SNI tests)
#   wild.b.test.pem/.key    ECDSA leaf for *.b.test (SNI wildcard tests)
#   combined.pem            localhost-ecdsa chain followed by its key
#   mismatch.key            an ECDSA key that matches no certificate
#
# Client certificates (--client-ca tests):
#   client-ca.pem/.key      client CA (ECDSA P-256), O=tlsterm-test-clients
#   client.pem, client.key  CN=alice (O=tlsterm-test-clients), signed by the
#                           client CA, extendedKeyUsage clientAuth
#   rogue-ca.pem/.key       another CA, trusted by nothing
#   rogue-client.pem/.key   CN=alice too, but signed by the rogue CA
#
# Leaves are distinguishable by subject: O=tlsterm-test-ecdsa / -rsa.
# Everything is valid for 7 days from now. Takes well under 2 seconds.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
dir=$1
mkdir -p "$dir"
cd "$dir"

days=7
# openssl, quiet unless it fails.
ossl() {
  local out
  if ! out=$(openssl "$@" 2>&1); then
    printf 'gencerts.sh: openssl %s failed:\n%s\n' "$1" "$out" >&2
    return 1
  fi
}

ec_key() { ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

# sign_leaf NAME KEY SUBJECT SAN: a leaf signed by the intermediate, written
# as NAME.pem = leaf + intermediate.
sign_leaf() {
  local name=$1 key=$2 subj=$3 san=$4
  printf '%s\n' \
    "basicConstraints = critical, CA:FALSE" \
    "keyUsage = critical, digitalSignature, keyEncipherment" \
    "extendedKeyUsage = serverAuth" \
    "subjectAltName = $san" >"$name.ext"
  ossl req -new -key "$key" -subj "$subj" -out "$name.csr"
  ossl x509 -req -in "$name.csr" -CA inter.pem -CAkey inter.key \
    -CAcreateserial -days "$days" -sha256 -extfile "$name.ext" -out "$name.leaf"
  cat "$name.leaf" inter.pem >"$name.pem"
  rm -f "$name.csr" "$name.ext" "$name.leaf"
}

# Root CA.
ec_key ca.key
ossl req -x509 -new -key ca.key -subj "/O=tlsterm-test/CN=tlsterm test root CA" \
  -days "$days" -sha256 \
  -addext "basicConstraints = critical, CA:TRUE" \
  -addext "keyUsage = critical, keyCertSign, cRLSign" -out ca.pem

# Intermediate CA, signed by the root.
ec_key inter.key
printf '%s\n' "basicConstraints = critical, CA:TRUE, pathlen:0" \
  "keyUsage = critical, keyCertSign, cRLSign" >inter.ext
ossl req -new -key inter.key -subj "/O=tlsterm-test/CN=tlsterm test intermediate CA" -out inter.csr
ossl x509 -req -in inter.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
  -days "$days" -sha256 -extfile inter.ext -out inter.pem
rm -f inter.csr inter.ext

local_san="DNS:localhost, IP:127.0.0.1, IP:::1"

ec_key localhost-ecdsa.key
sign_leaf localhost-ecdsa localhost-ecdsa.key "/O=tlsterm-test-ecdsa/CN=localhost" "$local_san"

ec_key localhost-renewed.key
sign_leaf localhost-renewed localhost-renewed.key "/O=tlsterm-test-renewed/CN=localhost" "$local_san"

ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out localhost-rsa.key
sign_leaf localhost-rsa localhost-rsa.key "/O=tlsterm-test-rsa/CN=localhost" "$local_san"

ec_key a.test.key
sign_leaf a.test a.test.key "/O=tlsterm-test-ecdsa/CN=a.test" "DNS:a.test"

ec_key wild.b.test.key
sign_leaf wild.b.test wild.b.test.key "/O=tlsterm-test-ecdsa/CN=*.b.test" "DNS:*.b.test"

cat localhost-ecdsa.pem localhost-ecdsa.key >combined.pem
ec_key mismatch.key

# client_ca NAME SUBJECT: a self-signed client CA.
client_ca() {
  ec_key "$1.key"
  ossl req -x509 -new -key "$1.key" -subj "$2" -days "$days" -sha256 \
    -addext "basicConstraints = critical, CA:TRUE" \
    -addext "keyUsage = critical, keyCertSign, cRLSign" -out "$1.pem"
}

# client_leaf NAME CA SUBJECT: a client certificate signed by CA.
client_leaf() {
  local name=$1 ca=$2 subj=$3
  ec_key "$name.key"
  printf '%s\n' \
    "basicConstraints = critical, CA:FALSE" \
    "keyUsage = critical, digitalSignature" \
    "extendedKeyUsage = clientAuth" >"$name.ext"
  ossl req -new -key "$name.key" -subj "$subj" -out "$name.csr"
  ossl x509 -req -in "$name.csr" -CA "$ca.pem" -CAkey "$ca.key" \
    -CAcreateserial -days "$days" -sha256 -extfile "$name.ext" -out "$name.pem"
  rm -f "$name.csr" "$name.ext"
}

client_ca client-ca "/O=tlsterm-test-clients/CN=tlsterm test client CA"
client_leaf client client-ca "/O=tlsterm-test-clients/CN=alice"
client_ca rogue-ca "/O=tlsterm-test-rogue/CN=tlsterm test rogue CA"
client_leaf rogue-client rogue-ca "/O=tlsterm-test-clients/CN=alice"
rm -f ./*.srl
chmod 600 ./*.key combined.pem
