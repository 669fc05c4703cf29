/* sni.c: which certificate a client gets for the name it asked for.
 *
 * Names come from the store (SAN dNSNames, else the subject CN, already
 * lower-cased). For a requested host we offer, in this order of precedence:
 * the certificates with an exact name, else those with a matching wildcard,
 * else the default: the first certificate, with any other certificate that
 * carries its first name (so an ECDSA + RSA pair stays a pair). Within the
 * chosen set ECDSA comes first: mbedTLS takes the first certificate the
 * client can use, so ECDSA-capable clients get the cheap signature and the
 * others still get RSA. */
#include "tls_int.h"

#include <string.h>
#include <strings.h>

#include "config.h"

/* Length without one trailing dot ("example.com." is the same name). */
static size_t name_len(const char *s) {
  size_t n = strlen(s);

  return n > 0 && s[n - 1] == '.' ? n - 1 : n;
}

static bool same(const char *a, size_t alen, const char *b, size_t blen) {
  return alen == blen && strncasecmp(a, b, alen) == 0;
}

int tls_sni_match(const char *pattern, const char *host) {
  size_t plen, hlen;
  const char *dot;

  if (pattern == NULL || host == NULL)
    return 0;
  plen = name_len(pattern);
  hlen = name_len(host);
  /* A '*' in a host is never a name we issued; an empty first label is not
   * a name at all. */
  if (plen == 0 || hlen == 0 || host[0] == '.' || memchr(host, '*', hlen))
    return 0;
  if (pattern[0] != '*')
    /* Partial-label wildcards (f*.example.com) are refused, not compared. */
    return memchr(pattern, '*', plen) == NULL &&
           same(pattern, plen, host, hlen);

  /* "*.rest": rest must hold no other '*' and at least two labels (no
   * "*.com"); the host's first label is replaced by exactly one label. */
  const char *rest = pattern + 2;
  size_t rlen = plen - 2;
  if (plen < 4 || pattern[1] != '.' || rest[0] == '.' ||
      memchr(rest, '*', rlen) != NULL || memchr(rest, '.', rlen) == NULL)
    return 0;
  dot = memchr(host, '.', hlen);
  if (dot == NULL)
    return 0;
  return same(dot + 1, hlen - (size_t)(dot + 1 - host), rest, rlen);
}

enum pick { PICK_EXACT, PICK_WILDCARD, PICK_DEFAULT };

static bool cert_fits(const struct tls_store *st, int i, const char *host,
                      enum pick how) {
  const struct tls_cert *c = &st->certs[i];

  if (how == PICK_DEFAULT && i == 0)
    return true;
  for (int k = 0; k < c->n_names; k++) {
    const char *name = c->names[k];
    bool wild = name[0] == '*';

    if (how == PICK_DEFAULT && host != NULL && strcmp(name, host) == 0)
      return true;
    if (how == PICK_EXACT && !wild && tls_sni_match(name, host))
      return true;
    if (how == PICK_WILDCARD && wild && tls_sni_match(name, host))
      return true;
  }
  return false;
}

/* Every certificate that fits, ECDSA ones first, each once, config order
 * otherwise. */
static int pick(const struct tls_store *st, const char *host, enum pick how,
                int *out, int max) {
  int n = 0;

  for (int ecdsa = 1; ecdsa >= 0; ecdsa--)
    for (int i = 0; i < st->n_certs && n < max; i++)
      if (st->certs[i].ecdsa == (ecdsa == 1) && cert_fits(st, i, host, how))
        out[n++] = i;
  return n;
}

int tls_sni_select(const struct tls_store *st, const char *host, int *out,
                   int max) {
  int n = 0;

  if (host != NULL && host[0] != '\0') {
    n = pick(st, host, PICK_EXACT, out, max);
    if (n == 0)
      n = pick(st, host, PICK_WILDCARD, out, max);
  }
  if (n == 0 && st->n_certs > 0)
    n = pick(st, st->certs[0].n_names > 0 ? st->certs[0].names[0] : NULL,
             PICK_DEFAULT, out, max);
  return n;
}

/* Keep a bounded, printable, lower-case copy of what the client asked for:
 * it goes to the logs and is what we match. */
static void copy_sni(char *dst, const unsigned char *name, size_t len) {
  if (len > TLS_SNI_MAX)
    len = TLS_SNI_MAX;
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = name[i];
    dst[i] = ch > 0x20 && ch < 0x7f
                 ? (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch)
                 : '?';
  }
  dst[len] = '\0';
}

int tls_sni_cb(void *p, mbedtls_ssl_context *ssl, const unsigned char *name,
               size_t len) {
  struct tls_ctx *ctx = p;
  struct tls_sess *s = mbedtls_ssl_get_user_data_p(ssl);
  int idx[CFG_MAX_CERTS], n, ret;

  if (s == NULL)
    return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
  copy_sni(s->sni, name, len);
  n = tls_sni_select(ctx->store, s->sni, idx, CFG_MAX_CERTS);
  /* The callback runs again for the second ClientHello after a
   * HelloRetryRequest: start from an empty list, not a doubled one. */
  if ((ret = mbedtls_ssl_set_hs_own_cert(ssl, NULL, NULL)) != 0)
    return ret;
  for (int i = 0; i < n; i++) {
    struct tls_ctx_cert *c = &ctx->certs[idx[i]];
    if ((ret = mbedtls_ssl_set_hs_own_cert(ssl, &c->chain, &c->key)) != 0)
      return ret;
  }
  return 0;
}
