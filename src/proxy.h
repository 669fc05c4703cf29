/* proxy.h: the PROXY protocol (HAProxy's spec, versions 1 and 2).
 *
 * Out: with --mode tcp --proxy-protocol v1|v2, the backend receives a PROXY
 * header before the first byte of client data. Version 2 carries TLVs: ALPN,
 * AUTHORITY (the SNI name), and PP2_TYPE_SSL with the TLS version, cipher,
 * client-certificate verification result and subject (CN), and, with
 * --proxy-client-cert, the whole client certificate in a custom TLV.
 * In: with --accept-proxy, a v1 or v2 header from a trusted L4 balancer
 * precedes the ClientHello; its source address replaces the peer's.
 * Pure functions: bytes in, bytes out. */
#ifndef TLSTERM_PROXY_H
#define TLSTERM_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "buf.h"

/* Largest header proxy_parse accepts (v1: 107 bytes; v2: 16 + 65535). */
#define PROXY_V1_MAX 107
#define PROXY_V2_HDR 16
/* The longest header of either version: a v2 header with a full 16-bit
 * length. A receive buffer smaller than this can hold every v1 header but
 * not every v2 one (a 0 from proxy_parse with a full buffer is then a
 * refusal, not a wait). */
#define PROXY_MAX (PROXY_V2_HDR + 65535)

/* The custom TLV tlsterm uses for the DER client certificate (in the
 * spec's custom range 0xE0-0xEF). */
#define PROXY_TLV_CLIENT_CERT 0xE0

struct proxy_info {
  /* AF_INET or AF_INET6 for a proxied connection; AF_UNSPEC (or any
   * non-IP family) sends "UNKNOWN" (v1) or LOCAL (v2). An IPv4 peer on a
   * dual-stack socket arrives as ::ffff:a.b.c.d; the encoder sends it as
   * IPv4, and a v4/v6 mix as IPv6 with the v4 side mapped. */
  struct sockaddr_storage src, dst;
  /* TLS facts for v2 TLVs; NULL or 0 when absent. */
  const char *alpn;
  const char *sni;
  const char *tls_version; /* "TLSv1.3" */
  const char *cipher;
  bool client_cert;                /* the client presented a certificate */
  bool client_verified;            /* ... and it verified */
  const char *client_cn;           /* subject CN, or the whole subject DN */
  const unsigned char *client_der; /* with --proxy-client-cert */
  size_t client_der_len;
};

/* Append a v1 header ("PROXY TCP4 ...\r\n") to out: TCP4 when both
 * addresses are IPv4 or v4-mapped, TCP6 otherwise (a v4 side mapped),
 * UNKNOWN when either is not IP. The TLS fields are ignored. Nothing is
 * appended on failure. 0 or a negative errno (UV_ENOBUFS, UV_ENOMEM). */
int proxy_v1_encode(const struct proxy_info *pi, struct buf *out);

/* Append a v2 header with TLVs to out: PROXY over TCP4/TCP6 as for v1, or
 * LOCAL with no addresses when either is not IP; then ALPN, AUTHORITY
 * (sni), SSL (only when tls_version is set; sub-TLVs version, CN, cipher)
 * and PROXY_TLV_CLIENT_CERT, each only when present (NULL or "" is
 * absent). Strings are borrowed. Nothing is appended on failure. 0,
 * -E2BIG when a value or the header exceeds the 16-bit lengths, or a
 * buf_reserve error. */
int proxy_v2_encode(const struct proxy_info *pi, struct buf *out);

/* Parse a v1 or v2 header at the start of data (as received from an L4
 * balancer). Returns the header's length (> 0) with src/dst filled
 * (AF_UNSPEC for UNKNOWN, LOCAL, or a v2 UNSPEC/UNIX family: keep the real
 * endpoints), 0 when the bytes so far are a valid prefix and more are
 * needed, or -EINVAL with a reason in err ("not a PROXY header", "bad v1
 * source address", "bad v2 version 3", ...). The signature, the v1
 * protocol token and the v2 version/command/family bytes are judged as
 * each byte arrives; v1 addresses once the CRLF is in. src/dst are written
 * only on success; err may be NULL. v2 TLVs are skipped. Never reads past
 * len. */
int proxy_parse(const char *data, size_t len, struct sockaddr_storage *src,
                struct sockaddr_storage *dst, char *err, size_t errlen);

#endif
