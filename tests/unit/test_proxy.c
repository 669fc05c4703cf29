/* test_proxy.c: unit tests for src/proxy.c: exact v1 and v2 bytes (the v2
 * expectations are hand-computed hex, not produced by the encoder), a TLV
 * walker that decodes what the encoder wrote, the 16-bit limits, every
 * accepted header form, every refusal with its reason and the byte count
 * at which it must happen, round trips, and a mutation test of the
 * parser's "need more / invalid / done" contract.
 *
 * Every parse call gets a heap copy of exactly the bytes it may read, so
 * ASan catches a read one byte past len. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <uv.h>

#include "proxy.h"
#include "unit.h"

/* ---- helpers --------------------------------------------------------- */

/* "" is AF_UNSPEC, "unix" an AF_UNIX address, else IPv6 if it has a ':'. */
static struct sockaddr_storage mk(const char *ip, unsigned port) {
  struct sockaddr_storage ss;

  memset(&ss, 0, sizeof ss);
  if (ip[0] == '\0') {
    ss.ss_family = AF_UNSPEC;
  } else if (strcmp(ip, "unix") == 0) {
    struct sockaddr_un *su = (struct sockaddr_un *)&ss;
    su->sun_family = AF_UNIX;
    strcpy(su->sun_path, "/tmp/x.sock");
  } else if (strchr(ip, ':') != NULL) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    ck_assert_int_eq(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
  } else {
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    ck_assert_int_eq(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
  }
  return ss;
}

/* "1.2.3.4:80", "[::1]:80" or "-" (AF_UNSPEC), via libc, not our code. */
static const char *show(const struct sockaddr_storage *ss, char *out,
                        size_t n) {
  char ip[INET6_ADDRSTRLEN];

  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
    snprintf(out, n, "%s:%u", ip, ntohs(s4->sin_port));
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
    inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
    snprintf(out, n, "[%s]:%u", ip, ntohs(s6->sin6_port));
  } else {
    snprintf(out, n, "%s", ss->ss_family == AF_UNSPEC ? "-" : "?");
  }
  return out;
}

/* Decode "0d0a 'text' 21 00*3" (hex pairs, spaces ignored, quoted ASCII
 * copied, *N repeats a byte) into out; returns the byte count. */
static size_t unhex(const char *s, unsigned char *out, size_t max) {
  size_t n = 0;

  while (*s != '\0') {
    if (*s == ' ') {
      s++;
    } else if (*s == '\'') {
      for (s++; *s != '\''; s++) {
        ck_assert(*s != '\0' && n < max);
        out[n++] = (unsigned char)*s;
      }
      s++;
    } else {
      unsigned v, times = 1;
      int used = 0;
      ck_assert(sscanf(s, "%2x", &v) == 1);
      s += 2;
      if (*s == '*' && sscanf(s, "*%u%n", &times, &used) == 1)
        s += used;
      for (; times > 0; times--) {
        ck_assert(n < max);
        out[n++] = (unsigned char)v;
      }
    }
  }
  return n;
}

/* proxy_parse on a heap copy of exactly data[0, len). */
static int parse(const void *data, size_t len, struct sockaddr_storage *src,
                 struct sockaddr_storage *dst, char *err, size_t errlen) {
  char *copy = malloc(len ? len : 1);
  ck_assert_ptr_nonnull(copy);
  if (len > 0)
    memcpy(copy, data, len);
  int r = proxy_parse(copy, len, src, dst, err, errlen);
  free(copy);
  return r;
}

/* Hex of the bytes in b, for failure messages. */
static const char *hexdump(const struct buf *b, char *out, size_t n) {
  size_t k = 0;
  out[0] = '\0';
  for (size_t i = 0; i < buf_used(b) && k + 3 < n; i++)
    k +=
        (size_t)snprintf(out + k, n - k, "%02x", (unsigned char)buf_data(b)[i]);
  return out;
}

#define SIG "0d0a0d0a000d0a515549540a "

/* ---- v1 encode ------------------------------------------------------- */

static const struct {
  const char *src, *dst;
  unsigned sport, dport;
  const char *want;
} v1_enc[] = {
    {"192.168.0.1", "192.168.0.11", 56324, 443,
     "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"},
    {"0.0.0.0", "255.255.255.255", 0, 65535,
     "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n"},
    {"2001:db8::1", "::1", 51000, 8443,
     "PROXY TCP6 2001:db8::1 ::1 51000 8443\r\n"},
    {"::", "fe80::1:2", 1, 2, "PROXY TCP6 :: fe80::1:2 1 2\r\n"},
    /* RFC 5952: the first of two equal zero runs is compressed, and a
     * lone zero group is not. */
    {"2001:db8:0:0:1:0:0:1", "2001:db8:0:1:1:1:1:1", 1, 2,
     "PROXY TCP6 2001:db8::1:0:0:1 2001:db8:0:1:1:1:1:1 1 2\r\n"},
    {"1:0:0:0:0:0:0:0", "1:0:0:2:0:0:0:3", 1, 2,
     "PROXY TCP6 1:: 1:0:0:2::3 1 2\r\n"},
    /* A v4-compatible address is still hex, never "::1.2.3.4". */
    {"::102:304", "::1", 1, 2, "PROXY TCP6 ::102:304 ::1 1 2\r\n"},
    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, 65535,
     "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"},
    /* A dual-stack socket's view of IPv4 peers: sent as TCP4. */
    {"::ffff:10.0.0.1", "::ffff:10.0.0.2", 40000, 443,
     "PROXY TCP4 10.0.0.1 10.0.0.2 40000 443\r\n"},
    /* Mixed families: the IPv4 side is mapped into IPv6. */
    {"10.0.0.1", "2001:db8::2", 40000, 443,
     "PROXY TCP6 ::ffff:a00:1 2001:db8::2 40000 443\r\n"},
    {"::ffff:10.0.0.1", "2001:db8::2", 40000, 443,
     "PROXY TCP6 ::ffff:a00:1 2001:db8::2 40000 443\r\n"},
    {"2001:db8::2", "10.0.0.1", 40000, 443,
     "PROXY TCP6 2001:db8::2 ::ffff:a00:1 40000 443\r\n"},
    {"::ffff:10.0.0.1", "10.0.0.2", 1, 2,
     "PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\n"},
    {"", "", 0, 0, "PROXY UNKNOWN\r\n"},
    {"unix", "unix", 0, 0, "PROXY UNKNOWN\r\n"},
    {"10.0.0.1", "unix", 1, 0, "PROXY UNKNOWN\r\n"},
    {"", "10.0.0.1", 0, 1, "PROXY UNKNOWN\r\n"},
};

START_TEST(test_v1_encode) {
  struct proxy_info pi = {
      .src = mk(v1_enc[_i].src, v1_enc[_i].sport),
      .dst = mk(v1_enc[_i].dst, v1_enc[_i].dport),
      .sni = "ignored.example", /* v1 has no TLVs */
      .tls_version = "TLSv1.3",
  };
  struct buf b;

  buf_init(&b, 4096);
  ck_assert_int_eq(proxy_v1_encode(&pi, &b), 0);
  const char *want = v1_enc[_i].want;
  ck_assert_msg(buf_used(&b) == strlen(want) &&
                    memcmp(buf_data(&b), want, strlen(want)) == 0,
                "got '%.*s', want '%s'", (int)buf_used(&b), buf_data(&b), want);
  ck_assert_uint_le(buf_used(&b), PROXY_V1_MAX);
  buf_cleanup(&b);
}
END_TEST

START_TEST(test_v1_encode_appends_nothing_on_failure) {
  struct proxy_info pi = {.src = mk("1.2.3.4", 1), .dst = mk("5.6.7.8", 2)};
  struct buf b;

  buf_init(&b, 20);
  ck_assert_int_eq(buf_append(&b, "xyz", 3), 0);
  ck_assert_int_eq(proxy_v1_encode(&pi, &b), UV_ENOBUFS);
  ck_assert_uint_eq(buf_used(&b), 3);
  buf_cleanup(&b);
}
END_TEST

/* ---- v2 encode ------------------------------------------------------- */

static const unsigned char der5[] = {0x30, 0x03, 0x02, 0x01, 0x05};

/* One case per block reads better than bin-packed fields. */
/* clang-format off */
static const struct {
  const char *name;
  struct proxy_info pi;
  const char *src, *dst;
  unsigned sport, dport;
  const char *want; /* hand-computed, see unhex() */
} v2_enc[] = {
    {"ipv4 bare", {.alpn = NULL}, "1.2.3.4", "5.6.7.8", 1000, 443,
     SIG "21 11 000c 01020304 05060708 03e8 01bb"},
    /* len = 12 addr + 5 ALPN + 14 AUTHORITY + 51 SSL + 8 cert = 90. */
    {"ipv4 all TLVs",
     {.alpn = "h2",
      .sni = "example.com",
      .tls_version = "TLSv1.3",
      .cipher = "TLS_AES_128_GCM_SHA256",
      .client_cert = true,
      .client_verified = true,
      .client_cn = "alice",
      .client_der = der5,
      .client_der_len = sizeof der5},
     "1.2.3.4", "5.6.7.8", 1000, 443,
     SIG "21 11 005a 01020304 05060708 03e8 01bb"
         " 01 0002 'h2'"
         " 02 000b 'example.com'"
         " 20 0030 07 00000000"
         "   21 0007 'TLSv1.3' 22 0005 'alice'"
         "   23 0016 'TLS_AES_128_GCM_SHA256'"
         " e0 0005 3003020105"},
    /* Certificate presented but not verified: CONN|SESS set, verify 1.
     * len = 36 addr + 9 AUTHORITY + 48 SSL = 93. */
    {"ipv6 cert not verified",
     {.sni = "a.test",
      .tls_version = "TLSv1.2",
      .cipher = "ECDHE-RSA-AES128-GCM-SHA256",
      .client_cert = true},
     "2001:db8::1", "::1", 51000, 8443,
     SIG "21 21 005d"
         " 20010db8000000000000000000000001"
         " 00000000000000000000000000000001 c738 20fb"
         " 02 0006 'a.test'"
         " 20 002d 07 00000001 21 0007 'TLSv1.2'"
         "   23 001b 'ECDHE-RSA-AES128-GCM-SHA256'"},
    /* No certificate: only PP2_CLIENT_SSL, and verify is non-zero. Empty
     * strings count as absent. */
    {"no client cert",
     {.alpn = "", .sni = "", .tls_version = "TLSv1.3", .cipher = ""},
     "1.2.3.4", "5.6.7.8", 1, 2,
     SIG "21 11 001e 01020304 05060708 0001 0002"
         " 20 000f 01 00000001 21 0007 'TLSv1.3'"},
    /* "verified" without a certificate is not a verified certificate. */
    {"verified without cert",
     {.tls_version = "TLSv1.3", .client_verified = true},
     "1.2.3.4", "5.6.7.8", 1, 2,
     SIG "21 11 001e 01020304 05060708 0001 0002"
         " 20 000f 01 00000001 21 0007 'TLSv1.3'"},
    /* No tls_version: no SSL TLV at all, even with other TLS fields. */
    {"no tls version", {.cipher = "X", .client_cn = "c"}, "1.2.3.4", "5.6.7.8",
     1, 2, SIG "21 11 000c 01020304 05060708 0001 0002"},
    {"mapped is ipv4", {.alpn = NULL}, "::ffff:10.0.0.1", "::ffff:10.0.0.2", 40000, 443,
     SIG "21 11 000c 0a000001 0a000002 9c40 01bb"},
    {"mixed is ipv6", {.alpn = NULL}, "10.0.0.1", "::1", 1, 2,
     SIG "21 21 0024 00000000000000000000ffff0a000001"
         " 00000000000000000000000000000001 0001 0002"},
    {"local", {.alpn = NULL}, "", "", 0, 0, SIG "20 00 0000"},
    {"unix is local", {.alpn = NULL}, "unix", "unix", 0, 0, SIG "20 00 0000"},
    {"local keeps TLVs", {.sni = "x", .tls_version = "TLSv1.3"}, "", "", 0, 0,
     SIG "20 00 0016 02 0001 'x' 20 000f 01 00000001 21 0007 'TLSv1.3'"},
};
/* clang-format on */

START_TEST(test_v2_encode) {
  struct proxy_info pi = v2_enc[_i].pi;
  unsigned char want[512];
  char got[2048];
  struct buf b;

  pi.src = mk(v2_enc[_i].src, v2_enc[_i].sport);
  pi.dst = mk(v2_enc[_i].dst, v2_enc[_i].dport);
  size_t n = unhex(v2_enc[_i].want, want, sizeof want);
  buf_init(&b, 4096);
  ck_assert_int_eq(proxy_v2_encode(&pi, &b), 0);
  ck_assert_msg(buf_used(&b) == n && memcmp(buf_data(&b), want, n) == 0,
                "%s: got %s", v2_enc[_i].name, hexdump(&b, got, sizeof got));
  buf_cleanup(&b);
}
END_TEST

/* A TLV walker written for the test: each TLV of [p, end) in turn. */
struct tlv {
  unsigned type;
  const unsigned char *v;
  size_t n;
};

static size_t walk(const unsigned char *p, size_t len, struct tlv *out,
                   size_t max) {
  size_t k = 0, i = 0;

  while (i < len) {
    ck_assert_uint_ge(len - i, 3);
    size_t n = (size_t)p[i + 1] << 8 | p[i + 2];
    ck_assert_uint_le(n, len - i - 3);
    ck_assert_uint_lt(k, max);
    out[k++] = (struct tlv){p[i], p + i + 3, n};
    i += 3 + n;
  }
  return k;
}

static void assert_tlv(const struct tlv *t, unsigned type, const void *v,
                       size_t n) {
  ck_assert_uint_eq(t->type, type);
  ck_assert_uint_eq(t->n, n);
  ck_assert(memcmp(t->v, v, n) == 0);
}

START_TEST(test_v2_tlv_walk) {
  unsigned char der[300];
  for (size_t i = 0; i < sizeof der; i++)
    der[i] = (unsigned char)(i * 7);
  struct proxy_info pi = {
      .src = mk("2001:db8::5", 1234),
      .dst = mk("2001:db8::6", 443),
      .alpn = "http/1.1",
      .sni = "www.example.org",
      .tls_version = "TLSv1.3",
      .cipher = "TLS_CHACHA20_POLY1305_SHA256",
      .client_cert = true,
      .client_verified = true,
      .client_cn = "CN=bob,O=Example",
      .client_der = der,
      .client_der_len = sizeof der,
  };
  struct buf b;
  struct tlv t[8], sub[8];

  buf_init(&b, 4096);
  ck_assert_int_eq(proxy_v2_encode(&pi, &b), 0);
  const unsigned char *h = (const unsigned char *)buf_data(&b);
  size_t len = (size_t)h[14] << 8 | h[15];
  ck_assert_uint_eq(buf_used(&b), 16 + len);
  ck_assert_uint_eq(h[12], 0x21);
  ck_assert_uint_eq(h[13], 0x21);

  ck_assert_uint_eq(walk(h + 16 + 36, len - 36, t, 8), 4);
  assert_tlv(&t[0], 0x01, "http/1.1", 8);
  assert_tlv(&t[1], 0x02, "www.example.org", 15);
  ck_assert_uint_eq(t[2].type, 0x20);
  ck_assert_uint_eq(t[2].v[0], 0x07);
  ck_assert(memcmp(t[2].v + 1, "\0\0\0\0", 4) == 0);
  ck_assert_uint_eq(walk(t[2].v + 5, t[2].n - 5, sub, 8), 3);
  assert_tlv(&sub[0], 0x21, "TLSv1.3", 7);
  assert_tlv(&sub[1], 0x22, "CN=bob,O=Example", 16);
  assert_tlv(&sub[2], 0x23, "TLS_CHACHA20_POLY1305_SHA256", 28);
  assert_tlv(&t[3], PROXY_TLV_CLIENT_CERT, der, sizeof der);
  buf_cleanup(&b);
}
END_TEST

/* The 16-bit lengths: the largest header that fits is built and parses;
 * one byte more is -E2BIG, as is any single oversized value, and nothing
 * is appended then. */
START_TEST(test_v2_limits) {
  size_t big = 70000;
  unsigned char *der = calloc(1, big);
  char *s = malloc(big + 1);
  struct sockaddr_storage src, dst;
  char err[128];
  struct buf b;

  ck_assert(der != NULL && s != NULL);
  memset(s, 'a', big);
  s[big] = '\0';
  buf_init(&b, 2 * big);
  struct proxy_info pi = {.src = mk("1.2.3.4", 1), .dst = mk("5.6.7.8", 2)};

  pi.client_der = der;
  pi.client_der_len = 65535 - 12 - 3; /* exactly fills the length */
  ck_assert_int_eq(proxy_v2_encode(&pi, &b), 0);
  ck_assert_uint_eq(buf_used(&b), PROXY_MAX);
  ck_assert_int_eq(
      parse(buf_data(&b), buf_used(&b), &src, &dst, err, sizeof err),
      PROXY_MAX);
  buf_consume(&b, buf_used(&b));

  pi.client_der_len++;
  ck_assert_int_eq(proxy_v2_encode(&pi, &b), -E2BIG);
  pi.client_der_len = 65536;
  ck_assert_int_eq(proxy_v2_encode(&pi, &b), -E2BIG);
  pi.client_der_len = 0;
  s[65536] = '\0';
  pi.sni = s;
  ck_assert_int_eq(proxy_v2_encode(&pi, &b), -E2BIG);
  pi.sni = NULL;
  pi.tls_version = "TLSv1.3";
  pi.client_cn = s + 65536 - 65530; /* fits alone, not in the SSL TLV */
  ck_assert_int_eq(proxy_v2_encode(&pi, &b), -E2BIG);
  pi.client_cn = s; /* too long as a sub-TLV */
  ck_assert_int_eq(proxy_v2_encode(&pi, &b), -E2BIG);
  ck_assert_uint_eq(buf_used(&b), 0);
  buf_cleanup(&b);
  free(der);
  free(s);
}
END_TEST

START_TEST(test_v2_encode_appends_nothing_on_failure) {
  struct proxy_info pi = {
      .src = mk("1.2.3.4", 1), .dst = mk("5.6.7.8", 2), .sni = "example.com"};
  struct buf b;

  buf_init(&b, 40);
  ck_assert_int_eq(buf_append(&b, "xyz", 3), 0);
  ck_assert_int_eq(proxy_v2_encode(&pi, &b), UV_ENOBUFS);
  ck_assert_uint_eq(buf_used(&b), 3);
  buf_cleanup(&b);
}
END_TEST

/* ---- parse: accepted ------------------------------------------------- */

/* v1 cases are text; v2 cases (hex set) use unhex(). `tail` bytes follow
 * the header and must not be counted. */
static const struct {
  const char *v1, *hex;
  int len; /* the header's length */
  const char *src, *dst;
} parse_ok[] = {
    {"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET /", NULL, 47,
     "192.168.0.1:56324", "192.168.0.11:443"},
    {"PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n", NULL, 44, "0.0.0.0:0",
     "255.255.255.255:65535"},
    {"PROXY TCP4 10.20.30.40 1.0.0.9 9 10\r\n\x16\x03\x01", NULL, 37,
     "10.20.30.40:9", "1.0.0.9:10"},
    {"PROXY TCP6 ::1 ::1 1 2\r\n", NULL, 24, "[::1]:1", "[::1]:2"},
    {"PROXY TCP6 2001:0DB8:0000:0000:0000:0000:0000:0001 fe80::a:B:c 80 "
     "8080\r\n",
     NULL, 72, "[2001:db8::1]:80", "[fe80::a:b:c]:8080"},
    {"PROXY TCP6 :: 1:: 1 1\r\n", NULL, 23, "[::]:1", "[1::]:1"},
    {"PROXY TCP6 1:2:3:4:5:6:7:8 1:2:3:4:5:6::8 1 1\r\n", NULL, 47,
     "[1:2:3:4:5:6:7:8]:1", "[1:2:3:4:5:6:0:8]:1"},
    /* v4-mapped with a dotted tail, as inet_ntop-based senders write it;
     * kept as IPv6 like a dual-stack peer would be. */
    {"PROXY TCP6 ::ffff:1.2.3.4 1:2:3:4:5:6:7.8.9.10 1 2\r\n", NULL, 52,
     "[::ffff:1.2.3.4]:1", "[1:2:3:4:5:6:708:90a]:2"},
    {"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
     NULL, 104, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
     "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"},
    {"PROXY UNKNOWN\r\nx", NULL, 15, "-", "-"},
    {"PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n", NULL, 35, "-", "-"},
    {"PROXY UNKNOWN anything ~!@# at all\r\n", NULL, 36, "-", "-"},
    /* The spec's worst case: exactly 107 bytes. */
    {"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
     NULL, 107, "-", "-"},
    {NULL, SIG "21 11 000c 01020304 05060708 03e8 01bb 16030100", 28,
     "1.2.3.4:1000", "5.6.7.8:443"},
    {NULL,
     SIG "21 21 0024 20010db8000000000000000000000001"
         " 00000000000000000000000000000001 c738 20fb",
     52, "[2001:db8::1]:51000", "[::1]:8443"},
    /* TLVs (known, unknown, malformed inside) are skipped by length. */
    {NULL,
     SIG "21 11 001b 01020304 05060708 0001 0002 02 0003 'a.b' f0 0002 ffff"
         " f1 0005 aa 16",
     43, "1.2.3.4:1", "5.6.7.8:2"},
    {NULL, SIG "21 11 0010 01020304 05060708 0001 0002 00000000", 32,
     "1.2.3.4:1", "5.6.7.8:2"},
    {NULL, SIG "20 00 0000 16", 16, "-", "-"},
    /* LOCAL ignores the family and any address block, whatever its size. */
    {NULL, SIG "20 11 000c 01020304 05060708 0001 0002", 28, "-", "-"},
    {NULL, SIG "20 11 0000", 16, "-", "-"},
    {NULL, SIG "20 12 0003 aabbcc", 19, "-", "-"},
    /* PROXY with UNSPEC: keep the real endpoints. */
    {NULL, SIG "21 00 0000", 16, "-", "-"},
    {NULL, SIG "21 10 0002 abcd", 18, "-", "-"},
    /* PROXY over a UNIX stream: the spec's fallback to UNSPEC. */
    {NULL, SIG "21 31 00d8 00*216", 232, "-", "-"},
};

/* Bytes of a parse_ok (or parse_bad) case. */
static size_t case_bytes(const char *v1, const char *hex, unsigned char *out,
                         size_t max) {
  if (v1 != NULL) {
    size_t n = strlen(v1);
    ck_assert_uint_le(n, max);
    memcpy(out, v1, n);
    return n;
  }
  return unhex(hex, out, max);
}

START_TEST(test_parse_ok) {
  unsigned char d[512];
  size_t n = case_bytes(parse_ok[_i].v1, parse_ok[_i].hex, d, sizeof d);
  struct sockaddr_storage src, dst;
  char err[128] = "", a[80], b[80];

  int r = parse(d, n, &src, &dst, err, sizeof err);
  ck_assert_msg(r == parse_ok[_i].len, "case %d: got %d (%s)", _i, r, err);
  ck_assert_str_eq(show(&src, a, sizeof a), parse_ok[_i].src);
  ck_assert_str_eq(show(&dst, b, sizeof b), parse_ok[_i].dst);
}
END_TEST

/* Every proper prefix of a valid header is "need more", never an error,
 * and leaves src/dst alone. */
START_TEST(test_parse_ok_prefixes) {
  unsigned char d[512];
  case_bytes(parse_ok[_i].v1, parse_ok[_i].hex, d, sizeof d);
  struct sockaddr_storage src, dst;
  char err[128] = "";

  for (size_t k = 0; k < (size_t)parse_ok[_i].len; k++) {
    memset(&src, 0xAB, sizeof src);
    int r = parse(d, k, &src, &dst, err, sizeof err);
    ck_assert_msg(r == 0, "case %d prefix %zu: got %d (%s)", _i, k, r, err);
    ck_assert_uint_eq(((unsigned char *)&src)[0], 0xAB);
  }
}
END_TEST

/* ---- parse: refused -------------------------------------------------- */

/* Each refused input, a piece of its reason, and `at`: the byte count at
 * which it must be refused (every shorter prefix is "need more"). */
static const struct {
  const char *v1, *hex;
  size_t at;
  const char *why;
} parse_bad[] = {
    /* Not PROXY at all: refused on the first wrong byte. */
    {NULL, "16 0301 0200 01", 1, "not a PROXY header"},
    {"GET / HTTP/1.1\r\n", NULL, 1, "not a PROXY header"},
    {"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", NULL, 1, "not a PROXY header"},
    {"PROXZ", NULL, 5, "not a PROXY header"},
    {"PROXY\r\n", NULL, 6, "not a PROXY header"},
    {NULL, "0d0a0d0a000d0a5155495420", 12, "not a PROXY header"},
    {NULL, "0d0a0d0a01", 5, "not a PROXY header"},
    {NULL, "0d0a 'GET'", 3, "not a PROXY header"},
    /* v1 protocol token. */
    {"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", NULL, 10, "bad v1 protocol"},
    {"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", NULL, 7, "bad v1 protocol"},
    {"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", NULL, 7, "bad v1 protocol"},
    {"PROXY TCP4\r\n", NULL, 11, "bad v1 protocol"},
    {"PROXY UNKNOWNX\r\n", NULL, 14, "bad v1 protocol"},
    {"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", NULL, 8, "bad v1 protocol"},
    {"PROXY \r\n", NULL, 7, "bad v1 protocol"},
    /* v1 line framing. */
    {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", NULL, 31, "bare LF"},
    {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", NULL, 32, "bare CR"},
    {"PROXY UNKNOWN \r\r\n", NULL, 16, "bare CR"},
    {"PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n", NULL, 19, "non-ASCII byte 0x09"},
    {"PROXY UNKNOWN \xc3\xa9\r\n", NULL, 15, "non-ASCII byte 0xc3"},
    {NULL, "'PROXY UNKNOWN ' 00 0d0a", 15, "non-ASCII byte 0x00"},
    /* 108 bytes with the CRLF: one too many. */
    {"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 655356\r\n",
     NULL, 107, "no CRLF in 107 bytes"},
    {"PROXY UNKNOWN "
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n",
     NULL, 107, "no CRLF in 107 bytes"},
    /* v1 fields. */
    {"PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n", NULL, 31, "too few fields"},
    {"PROXY TCP4 1.2.3.4\r\n", NULL, 20, "too few fields"},
    {"PROXY TCP4 \r\n", NULL, 13, "too few fields"},
    {"PROXY TCP4 1.2.3.4 5.6.7.8 80 443 x\r\n", NULL, 37,
     "bad v1 destination port"},
    {"PROXY TCP4 1.2.3.4 5.6.7.8 80 443 \r\n", NULL, 36,
     "bad v1 destination port"},
    {"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", NULL, 33,
     "bad v1 destination address"},
    {"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", NULL, 33, "bad v1 source address"},
    {"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", NULL, 30, "bad v1 source address"},
    {"PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", NULL, 34, "bad v1 source address"},
    {"PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n", NULL, 34, "bad v1 source address"},
    {"PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n", NULL, 31, "bad v1 source address"},
    {"PROXY TCP4 1.2.3.4. 5.6.7.8 1 2\r\n", NULL, 33, "bad v1 source address"},
    {"PROXY TCP4 0x1.2.3.4 5.6.7.8 1 2\r\n", NULL, 34, "bad v1 source address"},
    {"PROXY TCP4 1.2.3.4 5.6.7.8a 1 2\r\n", NULL, 33,
     "bad v1 destination address"},
    {"PROXY TCP4 ::1 5.6.7.8 1 2\r\n", NULL, 28,
     "family mismatch (source address)"},
    {"PROXY TCP6 ::1 5.6.7.8 1 2\r\n", NULL, 28,
     "family mismatch (destination address)"},
    {"PROXY TCP6 1:2:3:4:5:6:7 ::1 1 2\r\n", NULL, 34, "bad v1 source address"},
    {"PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", NULL, 38,
     "bad v1 source address"},
    {"PROXY TCP6 1::2::3 ::1 1 2\r\n", NULL, 28, "bad v1 source address"},
    {"PROXY TCP6 12345::1 ::1 1 2\r\n", NULL, 29, "bad v1 source address"},
    {"PROXY TCP6 ::1%eth0 ::1 1 2\r\n", NULL, 29, "bad v1 source address"},
    {"PROXY TCP6 :1:: ::1 1 2\r\n", NULL, 25, "bad v1 source address"},
    {"PROXY TCP6 1: ::1 1 2\r\n", NULL, 23, "bad v1 source address"},
    {"PROXY TCP6 ::: ::1 1 2\r\n", NULL, 24, "bad v1 source address"},
    {"PROXY TCP6 g::1 ::1 1 2\r\n", NULL, 25, "bad v1 source address"},
    {"PROXY TCP6 1:2:3:4:5:6:7:8:: ::1 1 2\r\n", NULL, 38,
     "bad v1 source address"},
    {"PROXY TCP6 1:2:3:4:5:6:7::8:9 ::1 1 2\r\n", NULL, 39,
     "bad v1 source address"},
    {"PROXY TCP6 1:2:3:4:5:6:7:1.2.3.4 ::1 1 2\r\n", NULL, 42,
     "bad v1 source address"},
    {"PROXY TCP6 ::1.2.3 ::1 1 2\r\n", NULL, 28, "bad v1 source address"},
    {"PROXY TCP6 ::1.2.3.4:5 ::1 1 2\r\n", NULL, 32, "bad v1 source address"},
    {"PROXY TCP6 [::1] ::1 1 2\r\n", NULL, 26, "bad v1 source address"},
    {"PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n", NULL, 34, "bad v1 source port"},
    {"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", NULL, 36, "bad v1 source port"},
    {"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", NULL, 33, "bad v1 source port"},
    {"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", NULL, 33, "bad v1 source port"},
    {"PROXY TCP4 1.2.3.4 5.6.7.8 999999 2\r\n", NULL, 37, "bad v1 source port"},
    {"PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n", NULL, 33,
     "bad v1 destination port"},
    {"PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n", NULL, 31, "bad v1 destination port"},
    {"PROXY TCP4 1.2.3.4 5.6.7.8 1 0x1\r\n", NULL, 34,
     "bad v1 destination port"},
    /* v2: version/command and family bytes are judged on arrival. */
    {NULL, SIG "11 11 000c", 13, "bad v2 version 1"},
    {NULL, SIG "31 11 000c", 13, "bad v2 version 3"},
    {NULL, SIG "01 11 000c", 13, "bad v2 version 0"},
    {NULL, SIG "22 11 000c", 13, "bad v2 command 2"},
    {NULL, SIG "2f 11 000c", 13, "bad v2 command 15"},
    {NULL, SIG "21 41 000c", 14, "bad v2 address family 4"},
    {NULL, SIG "20 f0 0000", 14, "bad v2 address family 15"},
    {NULL, SIG "21 13 000c", 14, "bad v2 transport 3"},
    {NULL, SIG "21 12 000c 01020304 05060708 0001 0002", 14,
     "datagram transport is not supported"},
    {NULL, SIG "21 22 0024", 14, "datagram transport is not supported"},
    {NULL, SIG "21 32 00d8", 14, "datagram transport is not supported"},
    /* v2: the length must cover the family's address block. */
    {NULL, SIG "21 11 000b 01020304 05060708 0001 00", 16,
     "v2 length 11 too short for the address block (12)"},
    {NULL, SIG "21 11 0000", 16, "too short"},
    {NULL, SIG "21 21 000c 01020304 05060708 0001 0002", 16,
     "v2 length 12 too short for the address block (36)"},
    {NULL, SIG "21 31 0024", 16, "too short for the address block (216)"},
};

START_TEST(test_parse_bad) {
  unsigned char d[512];
  size_t n = case_bytes(parse_bad[_i].v1, parse_bad[_i].hex, d, sizeof d);
  struct sockaddr_storage src, dst;
  char err[128];

  ck_assert_msg(parse_bad[_i].at <= n, "case %d: at %zu > %zu", _i,
                parse_bad[_i].at, n);
  for (size_t k = 0; k <= n; k++) {
    err[0] = '\0';
    memset(&src, 0xAB, sizeof src);
    int r = parse(d, k, &src, &dst, err, sizeof err);
    if (k < parse_bad[_i].at) {
      ck_assert_msg(r == 0, "case %d prefix %zu: got %d (%s)", _i, k, r, err);
      continue;
    }
    ck_assert_msg(r == -EINVAL, "case %d prefix %zu: got %d", _i, k, r);
    ck_assert_msg(strstr(err, parse_bad[_i].why) != NULL,
                  "case %d: reason '%s', want '%s'", _i, err,
                  parse_bad[_i].why);
    ck_assert_uint_eq(((unsigned char *)&src)[0], 0xAB);
  }
}
END_TEST

START_TEST(test_parse_err_optional) {
  struct sockaddr_storage src, dst;
  char err[8];

  ck_assert_int_eq(parse("\x16", 1, &src, &dst, NULL, 0), -EINVAL);
  /* A short err buffer is truncated, not overrun. */
  ck_assert_int_eq(parse("\x16", 1, &src, &dst, err, sizeof err), -EINVAL);
  ck_assert_str_eq(err, "not a P");
}
END_TEST

/* ---- round trips ----------------------------------------------------- */

static const struct {
  const char *src, *dst;
  unsigned sport, dport;
  const char *want_src, *want_dst; /* as parsed */
} trips[] = {
    {"203.0.113.7", "198.51.100.1", 61000, 443, "203.0.113.7:61000",
     "198.51.100.1:443"},
    {"2001:db8:1:2:3:4:5:6", "2001:db8::", 1, 65535, "[2001:db8:1:2:3:4:5:6]:1",
     "[2001:db8::]:65535"},
    {"::ffff:192.0.2.1", "::ffff:192.0.2.2", 5, 6, "192.0.2.1:5",
     "192.0.2.2:6"},
    {"192.0.2.1", "::1", 5, 6, "[::ffff:192.0.2.1]:5", "[::1]:6"},
    {"", "", 0, 0, "-", "-"},
};

START_TEST(test_round_trip) {
  struct proxy_info pi = {
      .src = mk(trips[_i].src, trips[_i].sport),
      .dst = mk(trips[_i].dst, trips[_i].dport),
      .alpn = "h2",
      .sni = "rt.example",
      .tls_version = "TLSv1.3",
      .cipher = "TLS_AES_256_GCM_SHA384",
      .client_cert = true,
      .client_cn = "rt",
      .client_der = der5,
      .client_der_len = sizeof der5,
  };
  struct sockaddr_storage src, dst;
  char err[128] = "", a[80], b[80];
  struct buf out;

  buf_init(&out, 4096);
  for (int v = 1; v <= 2; v++) {
    ck_assert_int_eq(
        v == 1 ? proxy_v1_encode(&pi, &out) : proxy_v2_encode(&pi, &out), 0);
    size_t n = buf_used(&out);
    ck_assert_int_eq(buf_append(&out, "\x16\x03\x01", 3), 0);
    int r = parse(buf_data(&out), buf_used(&out), &src, &dst, err, sizeof err);
    ck_assert_msg(r == (int)n, "v%d: got %d (%s)", v, r, err);
    ck_assert_str_eq(show(&src, a, sizeof a), trips[_i].want_src);
    ck_assert_str_eq(show(&dst, b, sizeof b), trips[_i].want_dst);
    buf_consume(&out, buf_used(&out));
  }
  buf_cleanup(&out);
}
END_TEST

/* ---- mutation test --------------------------------------------------- */

static uint32_t rng_state = 2463534242u;

static uint32_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}

/* Mutate d[0, *n) in place: flip, replace with a byte the grammar cares
 * about, insert, delete, or truncate. */
static void mutate(unsigned char *d, size_t *n, size_t max) {
  static const unsigned char special[] = {' ', '\r', '\n', ':',  '.',  '0',
                                          '9', 'f',  0x00, 0xFF, 0x20, 0x21};
  size_t i = *n ? rnd() % *n : 0;

  switch (rnd() % 5) {
  case 0:
    if (*n)
      d[i] ^= (unsigned char)(1u << (rnd() % 8));
    break;
  case 1:
    if (*n)
      d[i] = special[rnd() % sizeof special];
    break;
  case 2:
    if (*n < max) {
      memmove(d + i + 1, d + i, *n - i);
      d[i] = special[rnd() % sizeof special];
      (*n)++;
    }
    break;
  case 3:
    if (*n) {
      memmove(d + i, d + i + 1, *n - i - 1);
      (*n)--;
    }
    break;
  default:
    *n = i;
  }
}

/* Over growing prefixes of any input the answer must go 0... then either
 * -EINVAL for good or the header length for good, never exceed the
 * prefix, and always come with a reason when refusing. */
static void check_monotone(const unsigned char *d, size_t n) {
  struct sockaddr_storage src, dst;
  int state = 0;

  for (size_t k = 0; k <= n; k++) {
    char err[128] = "";
    int r = parse(d, k, &src, &dst, err, sizeof err);
    ck_assert(r == -EINVAL || (r >= 0 && (size_t)r <= k));
    if (r == -EINVAL)
      ck_assert(err[0] != '\0');
    if (state != 0)
      ck_assert_msg(r == state, "prefix %zu: %d after %d", k, r, state);
    state = r;
  }
}

START_TEST(test_parse_mutations) {
  unsigned char d[600];

  for (size_t c = 0; c < sizeof parse_ok / sizeof parse_ok[0]; c++) {
    for (int m = 0; m < 150; m++) {
      size_t n = case_bytes(parse_ok[c].v1, parse_ok[c].hex, d, 500);
      int rounds = 1 + (int)(rnd() % 4);
      for (int j = 0; j < rounds; j++)
        mutate(d, &n, sizeof d);
      check_monotone(d, n);
    }
  }
  for (int m = 0; m < 300; m++) {
    size_t n = rnd() % 64;
    for (size_t i = 0; i < n; i++)
      d[i] = (unsigned char)rnd();
    check_monotone(d, n);
  }
}
END_TEST

Suite *proxy_suite(void) {
  Suite *s = suite_create("proxy");
  TCase *tc = tcase_create("encode");
#define N(a) ((int)(sizeof a / sizeof a[0]))
  tcase_add_loop_test(tc, test_v1_encode, 0, N(v1_enc));
  tcase_add_test(tc, test_v1_encode_appends_nothing_on_failure);
  tcase_add_loop_test(tc, test_v2_encode, 0, N(v2_enc));
  tcase_add_test(tc, test_v2_tlv_walk);
  tcase_add_test(tc, test_v2_limits);
  tcase_add_test(tc, test_v2_encode_appends_nothing_on_failure);
  suite_add_tcase(s, tc);

  tc = tcase_create("parse");
  tcase_add_loop_test(tc, test_parse_ok, 0, N(parse_ok));
  tcase_add_loop_test(tc, test_parse_ok_prefixes, 0, N(parse_ok));
  tcase_add_loop_test(tc, test_parse_bad, 0, N(parse_bad));
  tcase_add_test(tc, test_parse_err_optional);
  tcase_add_loop_test(tc, test_round_trip, 0, N(trips));
  tcase_add_test(tc, test_parse_mutations);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);
#undef N
  return s;
}
