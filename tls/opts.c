/* opts.c: the TLS option lists: --ciphers, --groups, --alpn and
 * --tls-min/--tls-max, turned into the arrays mbedtls_ssl_config points at.
 *
 * Called by tls_store_load() once, in the main thread, before any worker
 * starts. The arrays live in the struct tls_store and never change
 * afterwards, so every loop's config shares them read-only. Names are
 * accepted the way people write them (IANA or mbedTLS spelling, any case,
 * ':' or ',' between items, blanks around them); every refusal is one line
 * that names the option. */
#include "tls_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mbedtls/ecp.h>
#include <mbedtls/ssl_ciphersuites.h>

#include "config.h"
#include "err.h"

/* AEAD only. TLS 1.3 follows the client's order among these; for TLS 1.2
 * ours wins, and ECDSA comes first because an RSA-2048 signature costs ~8x
 * an ECDSA P-256 one. */
static const int default_suites[] = {
    MBEDTLS_TLS1_3_AES_128_GCM_SHA256,
    MBEDTLS_TLS1_3_AES_256_GCM_SHA384,
    MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    0,
};

static const uint16_t default_groups[] = {
    MBEDTLS_SSL_IANA_TLS_GROUP_X25519,
    MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1,
    MBEDTLS_SSL_IANA_TLS_GROUP_SECP384R1,
    MBEDTLS_SSL_IANA_TLS_GROUP_NONE,
};

/* Names accepted by --groups (case-insensitive), OpenSSL's and NIST's. */
static const struct {
  const char *names[3];
  uint16_t id;
} group_table[] = {
    {{"x25519", NULL, NULL}, MBEDTLS_SSL_IANA_TLS_GROUP_X25519},
    {{"secp256r1", "P-256", "prime256v1"},
     MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1},
    {{"secp384r1", "P-384", NULL}, MBEDTLS_SSL_IANA_TLS_GROUP_SECP384R1},
    {{"secp521r1", "P-521", NULL}, MBEDTLS_SSL_IANA_TLS_GROUP_SECP521R1},
    {{"x448", NULL, NULL}, MBEDTLS_SSL_IANA_TLS_GROUP_X448},
};

/* Split `text` in place at any of `seps`, trimming blanks around each item.
 * Returns the number of items written to items (at most max), or -1 if
 * there are more. */
static int split(char *text, const char *seps, char **items, int max) {
  int n = 0;

  for (char *p = text;;) {
    char *end = p + strcspn(p, seps);
    char last = *end;
    char *tail = end;

    while (p < end && isspace((unsigned char)*p))
      p++;
    while (tail > p && isspace((unsigned char)tail[-1]))
      tail--;
    *tail = '\0';
    if (n == max)
      return -1;
    items[n++] = p;
    if (last == '\0')
      return n;
    p = end + 1;
  }
}

static int count_items(const char *text, const char *seps) {
  int n = 1;

  for (const char *p = text; *p != '\0'; p++)
    if (strchr(seps, *p) != NULL)
      n++;
  return n;
}

/* Split a private copy of `text` (see split()). On success *copy owns the
 * text, *items (n + 1 slots, NULL-terminated) points into it, and the
 * result is n; the caller frees both. -1 if out of memory, with nothing
 * left allocated. */
static int split_copy(const char *text, const char *seps, char **copy,
                      char ***items) {
  int n = count_items(text, seps);

  *copy = strdup(text);
  *items = calloc((size_t)n + 1, sizeof **items);
  if (*copy == NULL || *items == NULL) {
    free(*copy);
    free(*items);
    *copy = NULL;
    *items = NULL;
    return -1;
  }
  return split(*copy, seps, *items, n);
}

/* mbedTLS spells suites TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256 and
 * TLS1-3-AES-128-GCM-SHA256; IANA spells them with underscores and without
 * the "1-3". Compare both in one canonical form. */
static void canonical_suite(const char *in, char *out, size_t outlen) {
  size_t j = 0;

  if (strncmp(in, "TLS1-3-", 7) == 0 || strncmp(in, "TLS1_3_", 7) == 0) {
    snprintf(out, outlen, "TLS-");
    j = strlen(out);
    in += 7;
  }
  for (; *in != '\0' && j + 1 < outlen; in++)
    out[j++] = *in == '_' ? '-' : (char)toupper((unsigned char)*in);
  out[j] = '\0';
}

static int suite_id(const char *name) {
  char want[96], have[96];
  int id = mbedtls_ssl_get_ciphersuite_id(name);

  if (id != 0)
    return id;
  canonical_suite(name, want, sizeof want);
  for (const int *p = mbedtls_ssl_list_ciphersuites(); *p != 0; p++) {
    const mbedtls_ssl_ciphersuite_t *info = mbedtls_ssl_ciphersuite_from_id(*p);
    if (info == NULL)
      continue;
    canonical_suite(mbedtls_ssl_ciphersuite_get_name(info), have, sizeof have);
    if (strcmp(want, have) == 0)
      return *p;
  }
  return 0;
}

static bool starts_with(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Why an (mbedTLS-named) suite is refused, or NULL. Names carry what we
 * check, and mbedtls_ssl_ciphersuite_t keeps the same facts private. */
static const char *suite_refusal(const char *name) {
  bool aead = strstr(name, "-GCM-") != NULL || strstr(name, "-CCM") != NULL ||
              strstr(name, "-CHACHA20-POLY1305-") != NULL;

  if (!aead)
    return "is not an AEAD suite (CBC and NULL suites are refused)";
  if (strstr(name, "-CCM-8") != NULL)
    return "has a short 8-byte tag";
  if (!starts_with(name, "TLS1-3-") &&
      !starts_with(name, "TLS-ECDHE-ECDSA-WITH-") &&
      !starts_with(name, "TLS-ECDHE-RSA-WITH-"))
    return "is not an ECDHE-ECDSA or ECDHE-RSA suite (only forward-secret "
           "certificate suites are allowed)";
  return NULL;
}

/* Which TLS 1.2 certificate type a suite needs: 'E'CDSA, 'R'SA, or 0 for a
 * TLS 1.3 suite (any certificate). */
static char suite_cert_type(int id) {
  const char *name =
      mbedtls_ssl_ciphersuite_get_name(mbedtls_ssl_ciphersuite_from_id(id));

  if (starts_with(name, "TLS1-3-"))
    return 0;
  return starts_with(name, "TLS-ECDHE-ECDSA-") ? 'E' : 'R';
}

static int parse_suites(struct tls_store *st, const char *text, char *err,
                        size_t errlen) {
  char *copy = NULL, **items = NULL;
  int n, rc = -EINVAL;

  if (text == NULL) {
    if ((st->suites = malloc(sizeof default_suites)) == NULL)
      return err_set(err, errlen, "--ciphers: out of memory");
    memcpy(st->suites, default_suites, sizeof default_suites);
    return 0;
  }
  if ((n = split_copy(text, ":,", &copy, &items)) < 0 ||
      (st->suites = calloc((size_t)n + 1, sizeof *st->suites)) == NULL) {
    err_set(err, errlen, "--ciphers: out of memory");
    goto fail;
  }
  for (int i = 0; i < n; i++) {
    int id = suite_id(items[i]);
    const char *why;

    if (items[i][0] == '\0') {
      err_set(err, errlen, "--ciphers: empty suite name in '%s'", text);
      goto fail;
    }
    if (id == 0) {
      err_set(err, errlen, "--ciphers: unknown cipher suite '%s'", items[i]);
      goto fail;
    }
    why = suite_refusal(
        mbedtls_ssl_ciphersuite_get_name(mbedtls_ssl_ciphersuite_from_id(id)));
    if (why != NULL) {
      err_set(err, errlen, "--ciphers: %s %s", items[i], why);
      goto fail;
    }
    for (int j = 0; j < i; j++)
      if (st->suites[j] == id) {
        err_set(err, errlen, "--ciphers: %s is listed twice", items[i]);
        goto fail;
      }
    st->suites[i] = id;
  }
  rc = 0;
fail:
  free(items);
  free(copy);
  return rc;
}

/* With explicit --ciphers, every enabled version needs a suite, and TLS 1.2
 * needs one that a loaded certificate can sign for. */
int tls_opts_check_suites(const struct tls_store *st, char *err,
                          size_t errlen) {
  bool v13 = false, v12 = false, v12_usable = false;

  for (const int *p = st->suites; *p != 0; p++) {
    char type = suite_cert_type(*p);
    if (type == 0) {
      v13 = true;
      continue;
    }
    v12 = true;
    for (int i = 0; i < st->n_certs; i++)
      if (st->certs[i].ecdsa == (type == 'E'))
        v12_usable = true;
  }
  if (st->max_version == MBEDTLS_SSL_VERSION_TLS1_3 && !v13)
    return err_set(err, errlen,
                   "--ciphers: no TLS 1.3 suite listed but TLS 1.3 is enabled "
                   "(add TLS_AES_128_GCM_SHA256 or set --tls-max 1.2)");
  if (st->min_version == MBEDTLS_SSL_VERSION_TLS1_2 && !v12)
    return err_set(err, errlen,
                   "--ciphers: no TLS 1.2 suite listed but TLS 1.2 is enabled "
                   "(add one or set --tls-min 1.3)");
  if (st->min_version == MBEDTLS_SSL_VERSION_TLS1_2 && !v12_usable)
    return err_set(err, errlen,
                   "--ciphers: no listed TLS 1.2 suite fits the certificates "
                   "(ECDHE-ECDSA suites need an ECDSA certificate, ECDHE-RSA "
                   "an RSA one)");
  return 0;
}

static int group_id(const char *name) {
  for (size_t i = 0; i < sizeof group_table / sizeof group_table[0]; i++)
    for (int j = 0; j < 3 && group_table[i].names[j] != NULL; j++)
      if (strcasecmp(name, group_table[i].names[j]) == 0)
        return group_table[i].id;
  return 0;
}

static int parse_groups(struct tls_store *st, const char *text, char *err,
                        size_t errlen) {
  char *copy = NULL, **items = NULL;
  int n, rc = -EINVAL;

  if (text == NULL) {
    if ((st->groups = malloc(sizeof default_groups)) == NULL)
      return err_set(err, errlen, "--groups: out of memory");
    memcpy(st->groups, default_groups, sizeof default_groups);
    return 0;
  }
  if ((n = split_copy(text, ":,", &copy, &items)) < 0 ||
      (st->groups = calloc((size_t)n + 1, sizeof *st->groups)) == NULL) {
    err_set(err, errlen, "--groups: out of memory");
    goto fail;
  }
  for (int i = 0; i < n; i++) {
    int id = group_id(items[i]);

    if (id == 0 || mbedtls_ecp_curve_info_from_tls_id((uint16_t)id) == NULL) {
      err_set(err, errlen,
              "--groups: unknown group '%s' (use x25519, secp256r1, "
              "secp384r1, secp521r1 or x448)",
              items[i]);
      goto fail;
    }
    for (int j = 0; j < i; j++)
      if (st->groups[j] == id) {
        err_set(err, errlen, "--groups: %s is listed twice", items[i]);
        goto fail;
      }
    st->groups[i] = (uint16_t)id;
  }
  rc = 0;
fail:
  free(items);
  free(copy);
  return rc;
}

/* ALPN protocol ids are 1-255 bytes (RFC 7301); we also keep them to
 * visible ASCII so they log cleanly. An empty --alpn disables ALPN. */
static int parse_alpn(struct tls_store *st, const char *text, char *err,
                      size_t errlen) {
  char **items;
  int n;

  if (text == NULL)
    text = "http/1.1";
  if (text[strspn(text, " \t")] == '\0')
    return 0;
  if ((n = split_copy(text, ",", &st->alpn_text, &items)) < 0)
    return err_set(err, errlen, "--alpn: out of memory");
  /* The NULL-terminated list mbedtls_ssl_conf_alpn_protocols() wants, over
   * st->alpn_text; the store frees both. */
  st->alpn = (const char **)items;
  for (int i = 0; i < n; i++) {
    const char *p = st->alpn[i];
    size_t len = strlen(p);

    if (len == 0)
      return err_set(err, errlen, "--alpn: empty protocol name in '%s'", text);
    if (len > 255)
      return err_set(err, errlen,
                     "--alpn: protocol name longer than 255 bytes");
    for (size_t k = 0; k < len; k++)
      if (p[k] <= 0x20 || p[k] >= 0x7f)
        return err_set(err, errlen, "--alpn: invalid character in '%s'", p);
    for (int j = 0; j < i; j++)
      if (strcmp(st->alpn[j], p) == 0)
        return err_set(err, errlen, "--alpn: %s is listed twice", p);
  }
  return 0;
}

static int parse_versions(struct tls_store *st, const struct cfg *cfg,
                          char *err, size_t errlen) {
  int lo = cfg->tls_min != 0 ? cfg->tls_min : CFG_TLS_1_2;
  int hi = cfg->tls_max != 0 ? cfg->tls_max : CFG_TLS_1_3;

  if ((lo != CFG_TLS_1_2 && lo != CFG_TLS_1_3) ||
      (hi != CFG_TLS_1_2 && hi != CFG_TLS_1_3) || lo > hi)
    return err_set(err, errlen,
                   "--tls-min/--tls-max: expected 1.2 or 1.3 with min <= max");
  st->min_version = lo == CFG_TLS_1_3 ? MBEDTLS_SSL_VERSION_TLS1_3
                                      : MBEDTLS_SSL_VERSION_TLS1_2;
  st->max_version = hi == CFG_TLS_1_3 ? MBEDTLS_SSL_VERSION_TLS1_3
                                      : MBEDTLS_SSL_VERSION_TLS1_2;
  return 0;
}

/* Versions, then --ciphers, --groups, --alpn: the first refusal is the one
 * reported. */
int tls_opts_parse(struct tls_store *st, const struct cfg *cfg, char *err,
                   size_t errlen) {
  if (parse_versions(st, cfg, err, errlen) != 0 ||
      parse_suites(st, cfg->ciphers, err, errlen) != 0 ||
      parse_groups(st, cfg->groups, err, errlen) != 0 ||
      parse_alpn(st, cfg->alpn, err, errlen) != 0)
    return -EINVAL;
  return 0;
}
