#!/usr/bin/env bash
# bulk.sh: 64 MiB down and 64 MiB up through tlsterm, SHA-256 checked end to
# end: a download over TLS 1.3 and TLS 1.2, an upload with Content-Length and
# a chunked upload.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

size=$((64 * 1024 * 1024))

gen_certs
start_backend --listen 127.0.0.1:0
port=$(free_port)
mapfile -t certs < <(cert_args)
start_tlsterm --listen "127.0.0.1:$port" --backend "127.0.0.1:$BACKEND_PORT" "${certs[@]}" \
  --workers 2 --drain-timeout 2s

want_down=$("$PYTHON3" "$TOOLS/backend.py" --digest-bytes "$size")

# Download: the body that arrives is exactly the backend's /bytes/N stream.
for v in 1.3 1.2; do
  got=$(tcurl "$port" "/bytes/$size" --max-time 60 --tlsv"$v" --tls-max "$v" \
    -w '%{size_download}\n' -o "$T/down" 2>"$T/down.err") ||
    fail "TLS $v download failed: $(cat "$T/down.err")"
  [ "$got" = "$size" ] || fail "TLS $v download: $got bytes, want $size"
  sum=$(sha256sum <"$T/down" | cut -d' ' -f1)
  [ "$sum" = "$want_down" ] || fail "TLS $v download: SHA-256 $sum, want $want_down"
  rm -f "$T/down"
  pass "TLS $v: 64 MiB download, SHA-256 matches"
done

# Upload: the backend's digest of what it received equals the file's.
head -c "$size" /dev/urandom >"$T/up"
want_up=$(sha256sum <"$T/up" | cut -d' ' -f1)
got=$(tcurl "$port" /sha256 --max-time 60 --tlsv1.3 \
  -H 'Content-Type: application/octet-stream' --data-binary @"$T/up" 2>"$T/up.err") ||
  fail "upload failed: $(cat "$T/up.err")"
[ "$got" = "$want_up" ] || fail "upload: backend saw SHA-256 '$got', want $want_up"
pass "TLS 1.3: 64 MiB upload (Content-Length), SHA-256 matches"

got=$(tcurl "$port" /sha256 --max-time 60 --tlsv1.2 --tls-max 1.2 \
  -H 'Transfer-Encoding: chunked' -H 'Content-Type: application/octet-stream' \
  --data-binary @"$T/up" 2>"$T/up.err") ||
  fail "chunked upload failed: $(cat "$T/up.err")"
[ "$got" = "$want_up" ] || fail "chunked upload: backend saw SHA-256 '$got', want $want_up"
pass "TLS 1.2: 64 MiB chunked upload, SHA-256 matches"
assert_alive
