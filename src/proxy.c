/* proxy.c: the PROXY protocol, versions 1 and 2 (see proxy.h), written from
 * HAProxy's doc/proxy-protocol.txt.
 *
 * Encoding turns a client connection's addresses (and, for v2, its TLS
 * facts as TLVs) into a header appended to a buffer in one piece: either
 * the whole header is appended or nothing is, so a failure never leaves
 * half a header in front of client data.
 *
 * Parsing is the receiving side of --accept-proxy. Its input is whatever
 * arrived so far, so it has three answers: a complete valid header, "valid
 * so far, need more", or invalid. The spec asks receivers to abort "as soon
 * as possible", so every byte is judged as soon as it arrives: a TLS
 * ClientHello (first byte 0x16) is refused on its first byte rather than
 * after the 107-byte v1 limit. The parser never reads past `len` and copies
 * nothing it has not bounds-checked; it is meant to be fuzzed. */
#include "proxy.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The v2 signature; note the NUL at offset 4 (not a C string). */
static const unsigned char v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                         0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

#define V1_SIG "PROXY "
#define V1_SIG_LEN 6

/* v2 byte 13: version (high nibble) and command (low nibble). */
#define PP2_VERSION 0x20
#define PP2_CMD_LOCAL 0x0
#define PP2_CMD_PROXY 0x1
/* v2 byte 14: address family (high nibble), transport (low nibble). */
#define PP2_FAM_UNSPEC 0x0
#define PP2_FAM_INET 0x1
#define PP2_FAM_INET6 0x2
#define PP2_FAM_UNIX 0x3
#define PP2_TRANS_UNSPEC 0x0
#define PP2_TRANS_STREAM 0x1
#define PP2_TRANS_DGRAM 0x2
/* Address block sizes: two addresses and, for IP, two ports. */
#define PP2_ADDR4_LEN 12
#define PP2_ADDR6_LEN 36
#define PP2_ADDRUNIX_LEN 216

#define PP2_TYPE_ALPN 0x01
#define PP2_TYPE_AUTHORITY 0x02
#define PP2_TYPE_SSL 0x20
#define PP2_SUBTYPE_SSL_VERSION 0x21
#define PP2_SUBTYPE_SSL_CN 0x22
#define PP2_SUBTYPE_SSL_CIPHER 0x23
#define PP2_CLIENT_SSL 0x01
#define PP2_CLIENT_CERT_CONN 0x02
#define PP2_CLIENT_CERT_SESS 0x04

#define TLV_HDR 3       /* type, length (16 bits) */
#define SSL_TLV_FIXED 5 /* client (8 bits), verify (32 bits) */
#define LEN16_MAX 0xFFFFu

/* ---- addresses ------------------------------------------------------- */

/* An IPv4-mapped IPv6 address (a v4 peer on a dual-stack socket) becomes
 * the plain IPv4 address it stands for; anything else is copied. */
static void unmap(const struct sockaddr_storage *in,
                  struct sockaddr_storage *out) {
  const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)in;

  *out = *in;
  if (in->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
    return;
  struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = s6->sin6_port};
  memcpy(&s4.sin_addr, &s6->sin6_addr.s6_addr[12], 4);
  memset(out, 0, sizeof *out);
  memcpy(out, &s4, sizeof s4);
}

/* The reverse: an IPv4 address as ::ffff:a.b.c.d, for a v4/v6 pair. */
static void map_to_v6(struct sockaddr_storage *ss) {
  const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
  struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = s4->sin_port};

  s6.sin6_addr.s6_addr[10] = s6.sin6_addr.s6_addr[11] = 0xFF;
  memcpy(&s6.sin6_addr.s6_addr[12], &s4->sin_addr, 4);
  memset(ss, 0, sizeof *ss);
  memcpy(ss, &s6, sizeof s6);
}

static bool is_ip(int family) {
  return family == AF_INET || family == AF_INET6;
}

/* Bring src and dst to one family, as both header versions need: unmap
 * v4-mapped addresses (a dual-stack listener shows v4 peers that way, and
 * backends expect TCP4 for them); a v4/v6 pair that remains is sent as
 * TCP6 with the v4 side mapped. Returns AF_INET, AF_INET6, or AF_UNSPEC
 * when either side is not IP (UNIX sockets, unknown): nothing to send. */
static int same_family(const struct proxy_info *pi, struct sockaddr_storage *s,
                       struct sockaddr_storage *d) {
  unmap(&pi->src, s);
  unmap(&pi->dst, d);
  if (!is_ip(s->ss_family) || !is_ip(d->ss_family))
    return AF_UNSPEC;
  if (s->ss_family != d->ss_family) {
    if (s->ss_family == AF_INET)
      map_to_v6(s);
    else
      map_to_v6(d);
  }
  return s->ss_family;
}

static const unsigned char *ip_bytes(const struct sockaddr_storage *ss) {
  if (ss->ss_family == AF_INET)
    return (const unsigned char *)&((const struct sockaddr_in *)ss)->sin_addr;
  return ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
}

/* The port in network byte order. */
static uint16_t port_n(const struct sockaddr_storage *ss) {
  if (ss->ss_family == AF_INET)
    return ((const struct sockaddr_in *)ss)->sin_port;
  return ((const struct sockaddr_in6 *)ss)->sin6_port;
}

/* Fill ss from raw network-order address bytes and a port. */
static void set_addr(struct sockaddr_storage *ss, int family,
                     const unsigned char *ip, uint16_t port_net) {
  memset(ss, 0, sizeof *ss);
  if (family == AF_INET) {
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    s4->sin_port = port_net;
    memcpy(&s4->sin_addr, ip, 4);
  } else if (family == AF_INET6) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = port_net;
    memcpy(&s6->sin6_addr, ip, 16);
  } else {
    ss->ss_family = AF_UNSPEC;
  }
}

/* RFC 5952 text for an IPv6 address: lowercase hex groups without leading
 * zeros, the longest run (>= 2, first on a tie) of zero groups as "::".
 * Written by hand rather than with inet_ntop, which prints some addresses
 * (::a.b.c.d) with a dotted tail that the spec's "sets of hexadecimal
 * digits" does not allow. out needs 40 bytes. */
static void fmt_ip6(const unsigned char *a, char *out) {
  unsigned w[8];
  int best = -1, best_len = 1;

  for (int i = 0; i < 8; i++)
    w[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
  for (int i = 0; i < 8;) {
    int j = i;
    while (j < 8 && w[j] == 0)
      j++;
    if (j - i > best_len) {
      best = i;
      best_len = j - i;
    }
    i = j > i ? j : i + 1;
  }
  char *p = out;
  for (int i = 0; i < 8; i++) {
    if (i == best) {
      *p++ = ':';
      if (i == 0)
        *p++ = ':';
      i += best_len - 1;
      continue;
    }
    p += sprintf(p, "%x%s", w[i], i < 7 ? ":" : "");
  }
  *p = '\0';
}

/* ---- v1 encode ------------------------------------------------------- */

/* Append a v1 line; see proxy.h. Only the addresses are sent: v1 has no
 * room for TLS facts. */
int proxy_v1_encode(const struct proxy_info *pi, struct buf *out) {
  struct sockaddr_storage s, d;
  char line[PROXY_V1_MAX + 1];
  int n;

  int family = same_family(pi, &s, &d);
  if (family == AF_INET) {
    const unsigned char *a = ip_bytes(&s), *b = ip_bytes(&d);
    n = snprintf(line, sizeof line,
                 "PROXY TCP4 %u.%u.%u.%u %u.%u.%u.%u %u %u\r\n", a[0], a[1],
                 a[2], a[3], b[0], b[1], b[2], b[3], ntohs(port_n(&s)),
                 ntohs(port_n(&d)));
  } else if (family == AF_INET6) {
    char a[40], b[40];
    fmt_ip6(ip_bytes(&s), a);
    fmt_ip6(ip_bytes(&d), b);
    n = snprintf(line, sizeof line, "PROXY TCP6 %s %s %u %u\r\n", a, b,
                 ntohs(port_n(&s)), ntohs(port_n(&d)));
  } else {
    n = snprintf(line, sizeof line, "PROXY UNKNOWN\r\n");
  }
  return buf_append(out, line, (size_t)n);
}

/* ---- v2 encode ------------------------------------------------------- */

/* Length of an optional string field: NULL and "" are both absent. */
static size_t opt_len(const char *s) {
  return s == NULL ? 0 : strlen(s);
}

/* Bytes a TLV with an n-byte value takes; absent (0) values take none. */
static size_t tlv_size(size_t n) {
  return n == 0 ? 0 : TLV_HDR + n;
}

static unsigned char *put16(unsigned char *p, size_t v) {
  p[0] = (unsigned char)(v >> 8);
  p[1] = (unsigned char)v;
  return p + 2;
}

static unsigned char *put_tlv(unsigned char *p, unsigned type, const void *v,
                              size_t n) {
  if (n == 0)
    return p;
  *p++ = (unsigned char)type;
  p = put16(p, n);
  memcpy(p, v, n);
  return p + n;
}

/* Length of the PP2_TYPE_SSL value (0: no TLV), or > LEN16_MAX when it
 * cannot be sent. tls_version says the client connection was TLS. */
static size_t ssl_value_len(const struct proxy_info *pi) {
  size_t ver = opt_len(pi->tls_version), cn = opt_len(pi->client_cn),
         cipher = opt_len(pi->cipher);

  if (ver == 0)
    return 0;
  if (ver > LEN16_MAX || cn > LEN16_MAX || cipher > LEN16_MAX)
    return LEN16_MAX + 1;
  return SSL_TLV_FIXED + tlv_size(ver) + tlv_size(cn) + tlv_size(cipher);
}

/* Write the PP2_TYPE_SSL TLV (value length vlen, from ssl_value_len). */
static unsigned char *put_ssl_tlv(unsigned char *p, const struct proxy_info *pi,
                                  size_t vlen) {
  if (vlen == 0)
    return p;
  unsigned client = PP2_CLIENT_SSL;
  /* tlsterm never renegotiates, so a certificate presented on this
   * connection is also the session's. */
  if (pi->client_cert)
    client |= PP2_CLIENT_CERT_CONN | PP2_CLIENT_CERT_SESS;
  /* Per the spec verify is zero only for a presented, verified cert;
   * "no certificate" is a non-zero (failed) result too. */
  unsigned verify = pi->client_cert && pi->client_verified ? 0 : 1;

  *p++ = PP2_TYPE_SSL;
  p = put16(p, vlen);
  *p++ = (unsigned char)client;
  *p++ = 0;
  *p++ = 0;
  *p++ = 0;
  *p++ = (unsigned char)verify;
  p = put_tlv(p, PP2_SUBTYPE_SSL_VERSION, pi->tls_version,
              opt_len(pi->tls_version));
  p = put_tlv(p, PP2_SUBTYPE_SSL_CN, pi->client_cn, opt_len(pi->client_cn));
  return put_tlv(p, PP2_SUBTYPE_SSL_CIPHER, pi->cipher, opt_len(pi->cipher));
}

/* Append a v2 header; see proxy.h. AF_UNSPEC (or a non-IP address) is
 * sent as LOCAL with no address block; the TLS TLVs still follow, since
 * they describe the client connection either way. -E2BIG when a value or
 * the whole header does not fit the 16-bit lengths. */
int proxy_v2_encode(const struct proxy_info *pi, struct buf *out) {
  struct sockaddr_storage s, d;
  size_t alpn = opt_len(pi->alpn), sni = opt_len(pi->sni);
  size_t der = pi->client_der != NULL ? pi->client_der_len : 0;
  size_t ssl = ssl_value_len(pi);

  if (alpn > LEN16_MAX || sni > LEN16_MAX || der > LEN16_MAX || ssl > LEN16_MAX)
    return -E2BIG;
  int family = same_family(pi, &s, &d);
  size_t alen = family == AF_INET    ? PP2_ADDR4_LEN
                : family == AF_INET6 ? PP2_ADDR6_LEN
                                     : 0;
  /* Each term is at most 3 + 65535, so the sum cannot overflow. */
  size_t len =
      alen + tlv_size(alpn) + tlv_size(sni) + tlv_size(ssl) + tlv_size(der);
  if (len > LEN16_MAX)
    return -E2BIG;
  int rc = buf_reserve(out, PROXY_V2_HDR + len);
  if (rc != 0)
    return rc;

  unsigned char *p = (unsigned char *)buf_tail(out);
  memcpy(p, v2_sig, sizeof v2_sig);
  p += sizeof v2_sig;
  if (family == AF_UNSPEC) {
    *p++ = PP2_VERSION | PP2_CMD_LOCAL;
    *p++ = PP2_FAM_UNSPEC << 4 | PP2_TRANS_UNSPEC;
  } else {
    *p++ = PP2_VERSION | PP2_CMD_PROXY;
    *p++ = (family == AF_INET ? PP2_FAM_INET : PP2_FAM_INET6) << 4 |
           PP2_TRANS_STREAM;
  }
  p = put16(p, len);
  if (family != AF_UNSPEC) {
    size_t n = family == AF_INET ? 4 : 16;
    uint16_t sp = port_n(&s), dp = port_n(&d);
    memcpy(p, ip_bytes(&s), n);
    memcpy(p + n, ip_bytes(&d), n);
    p += 2 * n;
    memcpy(p, &sp, 2); /* already network order */
    memcpy(p + 2, &dp, 2);
    p += 4;
  }
  p = put_tlv(p, PP2_TYPE_ALPN, pi->alpn, alpn);
  p = put_tlv(p, PP2_TYPE_AUTHORITY, pi->sni, sni);
  p = put_ssl_tlv(p, pi, ssl);
  put_tlv(p, PROXY_TLV_CLIENT_CERT, pi->client_der, der);
  buf_commit(out, PROXY_V2_HDR + len);
  return 0;
}

/* ---- parse: shared --------------------------------------------------- */

/* Record why a header was refused; always -EINVAL. */
__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen,
                                                      const char *fmt, ...) {
  va_list ap;

  if (err != NULL && errlen > 0) {
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return -EINVAL;
}

/* Whether data[0, len) is a prefix of (or starts with) want[0, n). */
static bool prefix_ok(const char *data, size_t len, const char *want,
                      size_t n) {
  return memcmp(data, want, len < n ? len : n) == 0;
}

/* ---- parse: v1 ------------------------------------------------------- */

static int dec_digit(char c) {
  return c >= '0' && c <= '9' ? c - '0' : -1;
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* A decimal number in [0, max] with no leading zeros (the spec forbids
 * them so nobody reads octal), exactly s[0, n). */
static bool parse_dec(const char *s, size_t n, unsigned max, unsigned *out) {
  unsigned v = 0;

  if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
    return false;
  for (size_t i = 0; i < n; i++) {
    int d = dec_digit(s[i]);
    if (d < 0)
      return false;
    v = v * 10 + (unsigned)d;
  }
  if (v > max)
    return false;
  *out = v;
  return true;
}

/* Dotted quad, exactly four decimal octets, exactly s[0, n). */
static bool parse_ip4(const char *s, size_t n, unsigned char out[4]) {
  size_t i = 0;

  for (int k = 0; k < 4; k++) {
    size_t start = i;
    unsigned v;
    while (i < n && s[i] != '.')
      i++;
    if (!parse_dec(s + start, i - start, 255, &v))
      return false;
    out[k] = (unsigned char)v;
    if (k < 3) {
      if (i == n)
        return false;
      i++; /* the dot */
    }
  }
  return i == n;
}

/* One hex group of 1-4 digits at s[*i]; 1 when found, 0 when the group
 * turns out to start a dotted quad (left unconsumed), -1 when invalid. */
static int hex_group(const char *s, size_t n, size_t *i, unsigned *out) {
  size_t j = *i;
  unsigned v = 0;

  while (j < n && hex_digit(s[j]) >= 0) {
    if (j - *i == 4)
      return -1;
    v = v << 4 | (unsigned)hex_digit(s[j]);
    j++;
  }
  if (j == *i)
    return -1;
  if (j < n && s[j] == '.')
    return 0;
  *i = j;
  *out = v;
  return 1;
}

/* Hex groups with at most one "::", and (as inet_ntop writes v4-mapped
 * addresses, and HAProxy sends them so) an optional dotted-quad tail;
 * 128 bits exactly, s[0, n). No zone ids. */
static bool parse_ip6(const char *s, size_t n, unsigned char out[16]) {
  unsigned w[8];
  int nw = 0, gap = -1;
  size_t i = 0;

  if (n >= 2 && s[0] == ':' && s[1] == ':') {
    gap = 0;
    i = 2;
  }
  while (i < n) {
    int r = nw < 8 ? hex_group(s, n, &i, &w[nw]) : -1;
    if (r < 0)
      return false;
    if (r == 0) {
      unsigned char q[4];
      if (nw > 6 || !parse_ip4(s + i, n - i, q))
        return false;
      w[nw++] = (unsigned)q[0] << 8 | q[1];
      w[nw++] = (unsigned)q[2] << 8 | q[3];
      break;
    }
    nw++;
    if (i == n)
      break;
    if (s[i++] != ':' || i == n)
      return false; /* junk, or a trailing single ':' */
    if (s[i] == ':') {
      if (gap >= 0)
        return false;
      gap = nw;
      i++;
    }
  }
  /* "::" stands for at least one zero group. */
  if (gap < 0 ? nw != 8 : nw > 7)
    return false;
  int fill = 8 - nw;
  memset(out, 0, 16);
  for (int k = 0, o = 0; k < nw; k++, o++) {
    if (k == gap)
      o += fill;
    out[2 * o] = (unsigned char)(w[k] >> 8);
    out[2 * o + 1] = (unsigned char)w[k];
  }
  return true;
}

/* The next space-terminated field of [*p, end); NULL if no space follows.
 * With last set, the field runs to end instead. */
static const char *field(const char **p, const char *end, size_t *n,
                         bool last) {
  const char *start = *p;
  const char *sp = last ? end : memchr(start, ' ', (size_t)(end - start));

  if (sp == NULL)
    return NULL;
  *n = (size_t)(sp - start);
  *p = sp == end ? end : sp + 1;
  return start;
}

/* One v1 address of `family`, telling a valid address of the other family
 * (a family mismatch) apart from junk. */
static int v1_addr(const char *s, size_t n, int family, unsigned char *ip,
                   const char *which, char *err, size_t errlen) {
  unsigned char other[16];
  bool ok = family == AF_INET ? parse_ip4(s, n, ip) : parse_ip6(s, n, ip);

  if (ok)
    return 0;
  if (family == AF_INET ? parse_ip6(s, n, other) : parse_ip4(s, n, other))
    return fail(err, errlen, "v1 address family mismatch (%s address)", which);
  return fail(err, errlen, "bad v1 %s address", which);
}

/* The fields after "PROXY TCP4 " or "PROXY TCP6 ": line[0, n) holds
 * "<src> <dst> <sport> <dport>" without the CRLF. */
static int v1_fields(const char *line, size_t n, int family,
                     struct sockaddr_storage *src, struct sockaddr_storage *dst,
                     char *err, size_t errlen) {
  const char *p = line, *end = line + n, *f[4];
  size_t fl[4];
  unsigned char sip[16], dip[16];
  unsigned sport, dport;

  for (int k = 0; k < 4; k++) {
    f[k] = field(&p, end, &fl[k], k == 3);
    if (f[k] == NULL)
      return fail(err, errlen, "v1 line has too few fields");
  }
  int rc = v1_addr(f[0], fl[0], family, sip, "source", err, errlen);
  if (rc == 0)
    rc = v1_addr(f[1], fl[1], family, dip, "destination", err, errlen);
  if (rc != 0)
    return rc;
  if (!parse_dec(f[2], fl[2], 65535, &sport))
    return fail(err, errlen, "bad v1 source port");
  if (!parse_dec(f[3], fl[3], 65535, &dport))
    return fail(err, errlen, "bad v1 destination port");
  set_addr(src, family, sip, htons((uint16_t)sport));
  set_addr(dst, family, dip, htons((uint16_t)dport));
  return 0;
}

/* The protocol token right after "PROXY ": the bytes so far must be a
 * prefix of one of these (UNKNOWN may be followed by anything before the
 * CRLF, but only after a space). */
static bool v1_token_ok(const char *p, size_t n) {
  static const char *const tokens[] = {"TCP4 ", "TCP6 ", "UNKNOWN ",
                                       "UNKNOWN\r"};
  for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++)
    if (prefix_ok(p, n, tokens[i], strlen(tokens[i])))
      return true;
  return false;
}

/* Find the CRLF ending a v1 line: its total length (CRLF included), 0 if
 * more bytes are needed, or -EINVAL. The line must be printable US-ASCII
 * and a lone CR or LF never ends it (the spec says so explicitly). */
static int v1_line_end(const char *data, size_t len, char *err, size_t errlen) {
  size_t n = len < PROXY_V1_MAX ? len : PROXY_V1_MAX;

  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)data[i];
    if (c == '\r') {
      if (i + 1 == PROXY_V1_MAX)
        break; /* the LF would be byte 108 */
      if (i + 1 == len)
        return 0;
      if (data[i + 1] != '\n')
        return fail(err, errlen, "v1 line has a bare CR");
      return (int)(i + 2);
    }
    if (c == '\n')
      return fail(err, errlen, "v1 line has a bare LF");
    if (c < 0x20 || c > 0x7E)
      return fail(err, errlen, "v1 line has a non-ASCII byte 0x%02x", c);
  }
  if (len < PROXY_V1_MAX)
    return 0;
  return fail(err, errlen, "v1 line has no CRLF in %d bytes", PROXY_V1_MAX);
}

/* data starts with (a prefix of) "PROXY "; see proxy_parse. */
static int parse_v1(const char *data, size_t len, struct sockaddr_storage *src,
                    struct sockaddr_storage *dst, char *err, size_t errlen) {
  if (len > V1_SIG_LEN && !v1_token_ok(data + V1_SIG_LEN, len - V1_SIG_LEN))
    return fail(err, errlen, "bad v1 protocol (not TCP4, TCP6 or UNKNOWN)");
  int n = v1_line_end(data, len, err, errlen);
  if (n <= 0)
    return n;

  const char *tok = data + V1_SIG_LEN;
  size_t rest = (size_t)n - 2 - V1_SIG_LEN; /* token onwards, no CRLF */
  if (rest >= 7 && memcmp(tok, "UNKNOWN", 7) == 0) {
    /* The spec: ignore whatever follows UNKNOWN. */
    set_addr(src, AF_UNSPEC, NULL, 0);
    set_addr(dst, AF_UNSPEC, NULL, 0);
    return n;
  }
  /* v1_token_ok passed on the full line, so this is "TCP4 " or "TCP6 ". */
  int family = tok[3] == '4' ? AF_INET : AF_INET6;
  int rc = v1_fields(tok + 5, rest - 5, family, src, dst, err, errlen);
  return rc != 0 ? rc : n;
}

/* ---- parse: v2 ------------------------------------------------------- */

/* Judge the version/command byte and the family byte as soon as each
 * arrives: 0 if acceptable, -EINVAL otherwise. */
static int v2_check_bytes(const unsigned char *h, size_t len, char *err,
                          size_t errlen) {
  if (len <= 12)
    return 0;
  if ((h[12] & 0xF0) != PP2_VERSION)
    return fail(err, errlen, "bad v2 version %u", h[12] >> 4);
  unsigned cmd = h[12] & 0x0F;
  if (cmd != PP2_CMD_LOCAL && cmd != PP2_CMD_PROXY)
    return fail(err, errlen, "bad v2 command %u", cmd);
  if (len <= 13)
    return 0;
  unsigned fam = h[13] >> 4, trans = h[13] & 0x0F;
  if (fam > PP2_FAM_UNIX)
    return fail(err, errlen, "bad v2 address family %u", fam);
  if (trans > PP2_TRANS_DGRAM)
    return fail(err, errlen, "bad v2 transport %u", trans);
  /* LOCAL ignores the family; a proxied datagram flow cannot be the TCP
   * connection it arrived on. */
  if (cmd == PP2_CMD_PROXY && trans == PP2_TRANS_DGRAM)
    return fail(err, errlen, "v2 datagram transport is not supported");
  return 0;
}

/* The address block a PROXY command's family byte calls for. */
static size_t v2_addr_len(unsigned char fam_byte) {
  if ((fam_byte & 0x0F) == PP2_TRANS_UNSPEC)
    return 0;
  switch (fam_byte >> 4) {
  case PP2_FAM_INET:
    return PP2_ADDR4_LEN;
  case PP2_FAM_INET6:
    return PP2_ADDR6_LEN;
  case PP2_FAM_UNIX:
    return PP2_ADDRUNIX_LEN;
  default:
    return 0;
  }
}

/* data starts with (a prefix of) the v2 signature; see proxy_parse. */
static int parse_v2(const char *data, size_t len, struct sockaddr_storage *src,
                    struct sockaddr_storage *dst, char *err, size_t errlen) {
  const unsigned char *h = (const unsigned char *)data;

  int rc = v2_check_bytes(h, len, err, errlen);
  if (rc != 0 || len < PROXY_V2_HDR)
    return rc;
  size_t body = (size_t)h[14] << 8 | h[15];
  bool proxied = (h[12] & 0x0F) == PP2_CMD_PROXY;
  size_t alen = proxied ? v2_addr_len(h[13]) : 0;
  if (body < alen)
    return fail(err, errlen,
                "v2 length %zu too short for the address block (%zu)", body,
                alen);
  if (len < PROXY_V2_HDR + body)
    return 0;

  /* TLVs after the addresses are skipped: nothing in tlsterm needs them,
   * and the length already tells where the header ends. */
  const unsigned char *a = h + PROXY_V2_HDR;
  if (alen == PP2_ADDR4_LEN || alen == PP2_ADDR6_LEN) {
    int family = alen == PP2_ADDR4_LEN ? AF_INET : AF_INET6;
    size_t n = family == AF_INET ? 4 : 16;
    uint16_t sp, dp;
    memcpy(&sp, a + 2 * n, 2);
    memcpy(&dp, a + 2 * n + 2, 2);
    set_addr(src, family, a, sp);
    set_addr(dst, family, a + n, dp);
  } else {
    /* LOCAL, UNSPEC, or UNIX (which the spec lets a receiver treat as
     * UNSPEC): the caller keeps the real endpoints. */
    set_addr(src, AF_UNSPEC, NULL, 0);
    set_addr(dst, AF_UNSPEC, NULL, 0);
  }
  return (int)(PROXY_V2_HDR + body);
}

/* ---- parse ----------------------------------------------------------- */

/* Parse a v1 or v2 header; see proxy.h. The first byte decides the
 * version ('P' or '\r'), and each later byte must keep the input a valid
 * prefix of a header, or it is refused right away. */
int proxy_parse(const char *data, size_t len, struct sockaddr_storage *src,
                struct sockaddr_storage *dst, char *err, size_t errlen) {
  if (len == 0)
    return 0;
  if (prefix_ok(data, len, (const char *)v2_sig, sizeof v2_sig))
    return parse_v2(data, len, src, dst, err, errlen);
  if (prefix_ok(data, len, V1_SIG, V1_SIG_LEN))
    return parse_v1(data, len, src, dst, err, errlen);
  return fail(err, errlen, "not a PROXY header");
}
