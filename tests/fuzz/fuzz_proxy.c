/* fuzz_proxy.c: the PROXY protocol, v1 and v2 (src/proxy.c).
 *
 * Input: the bytes an L4 balancer sends first (no control bytes, so a seed
 * is a real header). Checked:
 *   - proxy_parse on every prefix (as the bytes arrive over several reads,
 *     the way src/conn.c's read_proxy_header calls it) never reads past
 *     its length (ASan), never returns more than it was given, and judges
 *     consistently: once refused, refused for every longer prefix; once
 *     accepted, the same length and addresses for every longer prefix;
 *   - an accepted header's addresses, encoded again as v1 and as v2, parse
 *     back to the same addresses and the encoded length;
 *   - proxy_v2_encode with TLV values taken from the input (the SNI name
 *     and client-certificate CN and DER are the client's choice) produces a
 *     header whose TLVs exactly fill its length and parses back whole. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "proxy.h"

/* Prefixes parsed one by one (past the longest v1 header and a v2 header
 * with IPv6 addresses), then the whole input. */
#define PREFIX_MAX 128

static int parse(const uint8_t *d, size_t n, struct sockaddr_storage *src,
                 struct sockaddr_storage *dst) {
  char err[160];
  int r;

  memset(src, 0xAA, sizeof *src);
  memset(dst, 0xAA, sizeof *dst);
  err[0] = '\0';
  r = proxy_parse((const char *)d, n, src, dst, err, sizeof err);
  FUZZ_CHECK(r == -EINVAL || (r >= 0 && (size_t)r <= n));
  FUZZ_CHECK(r != -EINVAL || err[0] != '\0');
  FUZZ_CHECK(r != 0 || n < PROXY_MAX);
  return r;
}

/* An address as the encoder would send it: v4-mapped IPv6 as IPv4. */
static void normalize(struct sockaddr_storage *ss) {
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
  struct sockaddr_in s4 = {.sin_family = AF_INET};

  if (ss->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
    return;
  s4.sin_port = s6->sin6_port;
  memcpy(&s4.sin_addr, &s6->sin6_addr.s6_addr[12], 4);
  memset(ss, 0, sizeof *ss);
  memcpy(ss, &s4, sizeof s4);
}

static bool same_addr(const struct sockaddr_storage *a,
                      const struct sockaddr_storage *b) {
  const struct sockaddr_in *a4 = (const void *)a, *b4 = (const void *)b;
  const struct sockaddr_in6 *a6 = (const void *)a, *b6 = (const void *)b;

  if (a->ss_family != b->ss_family)
    return false;
  if (a->ss_family == AF_INET)
    return a4->sin_port == b4->sin_port &&
           a4->sin_addr.s_addr == b4->sin_addr.s_addr;
  if (a->ss_family == AF_INET6)
    return a6->sin6_port == b6->sin6_port &&
           memcmp(&a6->sin6_addr, &b6->sin6_addr, 16) == 0;
  return a->ss_family == AF_UNSPEC;
}

/* Parse the prefixes and the whole; the whole's verdict is returned. */
static int parse_prefixes(const uint8_t *data, size_t size,
                          struct sockaddr_storage *src,
                          struct sockaddr_storage *dst) {
  int first = 0;
  struct sockaddr_storage s0, d0, s, d;
  size_t last = size < PREFIX_MAX ? size : PREFIX_MAX;

  for (size_t n = 0; n <= size; n = n < last ? n + 1 : size) {
    int r = parse(data, n, &s, &d);

    if (first < 0)
      FUZZ_CHECK(r < 0);
    if (first > 0) {
      FUZZ_CHECK(r == first);
      FUZZ_CHECK(same_addr(&s, &s0) && same_addr(&d, &d0));
    }
    if (first == 0 && r != 0) {
      first = r;
      s0 = s;
      d0 = d;
    }
    if (n == size)
      break;
  }
  *src = s0;
  *dst = d0;
  return first;
}

/* Encode pi with `encode`, parse it back: the whole header, with pi's
 * addresses when both are IP. */
static void round_trip(int (*encode)(const struct proxy_info *, struct buf *),
                       const struct proxy_info *pi, bool addrs) {
  struct sockaddr_storage s, d, ws = pi->src, wd = pi->dst;
  struct buf out;
  int rc;

  buf_init(&out, 1 << 18);
  rc = encode(pi, &out);
  if (rc == 0) {
    FUZZ_CHECK(parse((const uint8_t *)buf_data(&out), buf_used(&out), &s, &d) ==
               (int)buf_used(&out));
    if (addrs) {
      normalize(&ws);
      normalize(&wd);
      if (ws.ss_family != wd.ss_family) {
        /* A v4/v6 mix goes as IPv6 with the v4 side mapped. */
        normalize(&s);
        normalize(&d);
      }
      FUZZ_CHECK(same_addr(&s, &ws) && same_addr(&d, &wd));
    }
  } else {
    FUZZ_CHECK(rc == -E2BIG && buf_used(&out) == 0);
  }
  buf_cleanup(&out);
}

/* The TLVs after a v2 header's addresses exactly fill its length, and the
 * AUTHORITY TLV holds the SNI name. */
static void check_tlvs(const struct buf *out, const char *sni) {
  const uint8_t *h = (const uint8_t *)buf_data(out);
  size_t len = buf_used(out), body, at, alen;
  bool saw_sni = false;

  FUZZ_CHECK(len >= PROXY_V2_HDR);
  body = (size_t)h[14] << 8 | h[15];
  FUZZ_CHECK(PROXY_V2_HDR + body == len);
  alen = (h[13] >> 4) == 1 ? 12 : (h[13] >> 4) == 2 ? 36 : 0;
  for (at = PROXY_V2_HDR + alen; at + 3 <= len;) {
    size_t tl = (size_t)h[at + 1] << 8 | h[at + 2];
    FUZZ_CHECK(at + 3 + tl <= len);
    if (h[at] == 0x02) {
      FUZZ_CHECK(tl == strlen(sni) && memcmp(h + at + 3, sni, tl) == 0);
      saw_sni = true;
    }
    at += 3 + tl;
  }
  FUZZ_CHECK(at == len);
  FUZZ_CHECK(saw_sni == (sni[0] != '\0'));
}

/* A string of at most max bytes from d: up to the first NUL. */
static void take_str(char *dst, size_t max, const uint8_t *d, size_t n) {
  size_t k = n < max ? n : max;

  memcpy(dst, d, k);
  dst[k] = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct sockaddr_storage src, dst;
  int r = parse_prefixes(data, size, &src, &dst);
  struct proxy_info pi = {0};
  char sni[256], cn[256];
  struct buf out;

  if (r > 0) {
    bool ip = src.ss_family == AF_INET || src.ss_family == AF_INET6;
    pi.src = src;
    pi.dst = dst;
    round_trip(proxy_v1_encode, &pi, ip);
    round_trip(proxy_v2_encode, &pi, ip);
  }

  /* The encoder with the client's strings: the SNI name, the CN and the
   * DER certificate, all from the input. */
  if (r <= 0) {
    struct sockaddr_in *s4 = (struct sockaddr_in *)&pi.src;
    struct sockaddr_in6 *d6 = (struct sockaddr_in6 *)&pi.dst;
    s4->sin_family = AF_INET;
    s4->sin_port = htons(51000);
    s4->sin_addr.s_addr = htonl(0xC0000201);
    d6->sin6_family = AF_INET6;
    d6->sin6_port = htons(443);
    d6->sin6_addr = in6addr_loopback;
  }
  take_str(sni, 255, data, size);
  take_str(cn, 255, data + size / 2, size - size / 2);
  pi.sni = sni;
  pi.alpn = size & 1 ? "http/1.1" : NULL;
  pi.tls_version = size & 2 ? "TLSv1.3" : NULL;
  pi.cipher = "TLS_AES_128_GCM_SHA256";
  pi.client_cert = size & 4;
  pi.client_verified = size & 8;
  pi.client_cn = cn;
  pi.client_der = data;
  pi.client_der_len = size;
  buf_init(&out, 1 << 18);
  if (proxy_v2_encode(&pi, &out) == 0) {
    struct sockaddr_storage s, d;
    check_tlvs(&out, sni);
    FUZZ_CHECK(parse((const uint8_t *)buf_data(&out), buf_used(&out), &s, &d) ==
               (int)buf_used(&out));
  }
  buf_consume(&out, buf_used(&out));
  FUZZ_CHECK(proxy_v1_encode(&pi, &out) == 0);
  buf_cleanup(&out);
  return 0;
}
