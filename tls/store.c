/* store.c: the immutable certificate store.
 *
 * tls_store_load() runs once in the main thread before any worker starts.
 * It reads every --cert/--key file, checks it the way a handshake would use
 * it (the PEM parses, the key type is ECDSA or RSA, the key matches the
 * certificate), and keeps only plain bytes and strings: the PEM bytes that
 * every loop parses into its own chain and key (an RSA key must not be
 * shared between threads: its mutex would serialise every handshake), the
 * names SNI matches against, and a line for the logs. It also holds the
 * --client-ca bundle's bytes (checked: every certificate parses, at least
 * one is a CA) and the --client-verify mode. The --ciphers, --groups and
 * --alpn arrays it also holds are built by opts.c.
 *
 * Every failure is one line that names the option and the file. */
#include "tls_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ecp.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/platform_util.h>

#include "config.h"
#include "err.h"

/* Certificate and key files are small; refuse to slurp anything big. */
#define FILE_MAX (1u << 20)

void tls_strerror(int code, char *out, size_t outlen) {
  char text[128];

  mbedtls_strerror(code, text, sizeof text);
  snprintf(out, outlen, "%s (-0x%04x)", text, (unsigned)-code);
}

/* --- files -------------------------------------------------------------- */

/* Read a whole file and append a NUL (mbedTLS's PEM parsers want it counted
 * in the length). */
static int read_file(const char *flag, const char *path, unsigned char **out,
                     size_t *outlen, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  unsigned char *p = NULL;
  size_t len = 0, cap = 4096;

  if (f == NULL)
    return err_set(err, errlen, "%s %s: cannot read: %s", flag, path,
                   strerror(errno));
  if ((p = malloc(cap)) == NULL)
    goto nomem;
  for (;;) {
    if (cap - len < 2) {
      unsigned char *q;
      if (cap > FILE_MAX) {
        err_set(err, errlen, "%s %s: file is larger than %u bytes", flag, path,
                FILE_MAX);
        goto fail;
      }
      if ((q = realloc(p, cap * 2)) == NULL)
        goto nomem;
      p = q;
      cap *= 2;
    }
    size_t n = fread(p + len, 1, cap - len - 1, f);
    len += n;
    if (n == 0) {
      if (ferror(f)) {
        err_set(err, errlen, "%s %s: cannot read: %s", flag, path,
                strerror(errno));
        goto fail;
      }
      break;
    }
  }
  fclose(f);
  p[len] = '\0';
  *out = p;
  *outlen = len + 1;
  return 0;

nomem:
  err_set(err, errlen, "%s %s: out of memory", flag, path);
fail:
  free(p);
  fclose(f);
  return -1;
}

/* Free PEM bytes that may hold a private key: zero them first. */
static void free_secret(unsigned char *p, size_t len) {
  if (p == NULL)
    return;
  mbedtls_platform_zeroize(p, len);
  free(p);
}

/* --- certificate names and description ---------------------------------- */

/* Copy a DNS name from a certificate: lower case, one trailing dot removed.
 * NULL for names we refuse to match (empty, too long, control bytes or
 * spaces: a NUL inside a SAN is a classic attack). */
static char *dup_name(const unsigned char *p, size_t len) {
  char *s;

  if (len > 0 && p[len - 1] == '.')
    len--;
  if (len == 0 || len > TLS_SNI_MAX)
    return NULL;
  for (size_t i = 0; i < len; i++)
    if (p[i] <= 0x20 || p[i] >= 0x7f)
      return NULL;
  if ((s = malloc(len + 1)) == NULL)
    return NULL;
  for (size_t i = 0; i < len; i++)
    s[i] = (char)tolower(p[i]);
  s[len] = '\0';
  return s;
}

static bool is_dns_san(const mbedtls_x509_sequence *seq) {
  return seq->buf.tag ==
         (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_DNS_NAME);
}

static const mbedtls_x509_buf *subject_cn(const mbedtls_x509_crt *crt) {
  for (const mbedtls_x509_name *n = &crt->subject; n != NULL; n = n->next)
    if (n->oid.p != NULL && MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0)
      return &n->val;
  return NULL;
}

/* The names SNI matches: the SAN dNSNames; the subject CN only when there
 * are none (RFC 6125 6.4.4). */
static int collect_names(struct tls_cert *c, const mbedtls_x509_crt *crt) {
  const mbedtls_x509_sequence *seq;
  const mbedtls_x509_buf *cn;
  int n = 0;

  for (seq = &crt->subject_alt_names; seq != NULL; seq = seq->next)
    if (seq->buf.p != NULL && is_dns_san(seq))
      n++;
  cn = n == 0 ? subject_cn(crt) : NULL;
  if (n == 0 && cn == NULL)
    return 0;
  if ((c->names = calloc(n > 0 ? (size_t)n : 1, sizeof *c->names)) == NULL)
    return -1;
  if (cn != NULL) {
    if ((c->names[0] = dup_name(cn->p, cn->len)) != NULL)
      c->n_names = 1;
    return 0;
  }
  for (seq = &crt->subject_alt_names; seq != NULL; seq = seq->next) {
    if (seq->buf.p == NULL || !is_dns_san(seq))
      continue;
    char *name = dup_name(seq->buf.p, seq->buf.len);
    if (name != NULL)
      c->names[c->n_names++] = name;
  }
  return 0;
}

static void describe(struct tls_cert *c, const mbedtls_x509_crt *crt,
                     const char *key_desc) {
  const mbedtls_x509_buf *cn = subject_cn(crt);
  const mbedtls_x509_time *t = &crt->valid_to;
  size_t off;
  int cn_len = cn != NULL && cn->len < 256 ? (int)cn->len : 0;

  off = (size_t)snprintf(c->desc, sizeof c->desc, "CN=%.*s %s, names: ", cn_len,
                         cn != NULL ? (const char *)cn->p : "", key_desc);
  for (int i = 0; i < c->n_names && off < sizeof c->desc; i++)
    off += (size_t)snprintf(c->desc + off, sizeof c->desc - off, "%s%s",
                            i > 0 ? "," : "", c->names[i]);
  if (c->n_names == 0 && off < sizeof c->desc)
    off += (size_t)snprintf(c->desc + off, sizeof c->desc - off, "(none)");
  if (off < sizeof c->desc)
    snprintf(c->desc + off, sizeof c->desc - off, ", expires %04d-%02d-%02d%s",
             t->year, t->mon, t->day,
             mbedtls_x509_time_is_past(t) ? " (EXPIRED)" : "");
}

/* --- certificates and keys ---------------------------------------------- */

/* Accept the key of a certificate (or a private key) for signing TLS
 * handshakes: RSA >= 2048 bits or ECDSA on a curve TLS 1.3 can sign with. */
static int check_key_type(const char *flag, const char *path,
                          const mbedtls_pk_context *pk, bool *ecdsa, char *desc,
                          size_t desclen, char *err, size_t errlen) {
  mbedtls_pk_type_t type = mbedtls_pk_get_type(pk);
  size_t bits = mbedtls_pk_get_bitlen(pk);

  if (type == MBEDTLS_PK_RSA) {
    if (bits < 2048)
      return err_set(err, errlen,
                     "%s %s: RSA key of %zu bits is too weak (need 2048 or "
                     "more)",
                     flag, path, bits);
    *ecdsa = false;
    snprintf(desc, desclen, "RSA %zu", bits);
    return 0;
  }
  if (type == MBEDTLS_PK_ECKEY || type == MBEDTLS_PK_ECDSA) {
    mbedtls_ecp_group_id grp =
        mbedtls_ecp_keypair_get_group_id(mbedtls_pk_ec(*pk));
    const char *name = grp == MBEDTLS_ECP_DP_SECP256R1   ? "P-256"
                       : grp == MBEDTLS_ECP_DP_SECP384R1 ? "P-384"
                       : grp == MBEDTLS_ECP_DP_SECP521R1 ? "P-521"
                                                         : NULL;
    if (name == NULL) {
      const mbedtls_ecp_curve_info *info =
          mbedtls_ecp_curve_info_from_grp_id(grp);
      return err_set(err, errlen,
                     "%s %s: ECDSA curve %s cannot sign TLS handshakes (use "
                     "P-256, P-384 or P-521)",
                     flag, path, info != NULL ? info->name : "?");
    }
    *ecdsa = true;
    snprintf(desc, desclen, "ECDSA %s", name);
    return 0;
  }
  return err_set(err, errlen,
                 "%s %s: unsupported key type %s (only ECDSA and RSA)", flag,
                 path, mbedtls_pk_get_name(pk));
}

static int parse_chain(struct tls_cert *c, mbedtls_x509_crt *chain, char *err,
                       size_t errlen) {
  char why[160];
  int ret;

  if (strstr((const char *)c->cert_pem, "-----BEGIN CERTIFICATE-----") == NULL)
    return err_set(err, errlen,
                   "--cert %s: no certificate found (expected PEM)",
                   c->cert_path);
  ret = mbedtls_x509_crt_parse(chain, c->cert_pem, c->cert_len);
  /* High-level part of the code: Ed25519 and friends end up here. */
  if (ret < 0 && (-ret & 0xff80) == -MBEDTLS_ERR_X509_UNKNOWN_SIG_ALG)
    return err_set(err, errlen,
                   "--cert %s: unsupported signature or key algorithm (only "
                   "ECDSA and RSA)",
                   c->cert_path);
  if (ret < 0) {
    tls_strerror(ret, why, sizeof why);
    return err_set(err, errlen, "--cert %s: bad certificate: %s", c->cert_path,
                   why);
  }
  if (ret > 0)
    return err_set(err, errlen,
                   "--cert %s: %d certificate(s) in the chain could not be "
                   "parsed",
                   c->cert_path, ret);
  return 0;
}

static int parse_key(struct tls_cert *c, bool own_file, mbedtls_pk_context *key,
                     mbedtls_ctr_drbg_context *drbg, char *err, size_t errlen) {
  const char *flag = own_file ? "--key" : "--cert";
  char why[160];
  int ret;

  if (strstr((const char *)c->key_pem, "PRIVATE KEY-----") == NULL)
    return err_set(err, errlen, "%s %s: no private key found%s", flag,
                   c->key_path,
                   own_file ? ""
                            : " (give --key, or append the key to the "
                              "certificate file)");
  ret = mbedtls_pk_parse_key(key, c->key_pem, c->key_len, NULL, 0,
                             mbedtls_ctr_drbg_random, drbg);
  if (ret == MBEDTLS_ERR_PK_PASSWORD_REQUIRED ||
      ret == MBEDTLS_ERR_PK_PASSWORD_MISMATCH)
    return err_set(err, errlen,
                   "%s %s: the key is encrypted (tlsterm needs an unencrypted "
                   "key file)",
                   flag, c->key_path);
  if (ret == MBEDTLS_ERR_PK_UNKNOWN_PK_ALG)
    return err_set(err, errlen,
                   "%s %s: unsupported key type (only ECDSA and RSA)", flag,
                   c->key_path);
  if (ret != 0) {
    tls_strerror(ret, why, sizeof why);
    return err_set(err, errlen, "%s %s: bad private key: %s", flag, c->key_path,
                   why);
  }
  return 0;
}

/* The key bytes: the --key file, or a copy of the certificate file. */
static int read_key(struct tls_cert *c, bool own_file, char *err,
                    size_t errlen) {
  if (own_file)
    return read_file("--key", c->key_path, &c->key_pem, &c->key_len, err,
                     errlen);
  if ((c->key_pem = malloc(c->cert_len)) == NULL)
    return err_set(err, errlen, "--cert %s: out of memory", c->cert_path);
  memcpy(c->key_pem, c->cert_pem, c->cert_len);
  c->key_len = c->cert_len;
  return 0;
}

/* Read, parse and check one --cert/--key pair into c. */
static int load_cert(struct tls_cert *c, const struct cfg_cert *cc,
                     mbedtls_ctr_drbg_context *drbg, char *err, size_t errlen) {
  mbedtls_x509_crt chain;
  mbedtls_pk_context key;
  char key_desc[32];
  bool own_file = cc->key_file != NULL;
  int rc = -1;

  mbedtls_x509_crt_init(&chain);
  mbedtls_pk_init(&key);
  c->cert_path = strdup(cc->cert_file);
  c->key_path = strdup(own_file ? cc->key_file : cc->cert_file);
  if (c->cert_path == NULL || c->key_path == NULL) {
    err_set(err, errlen, "--cert %s: out of memory", cc->cert_file);
    goto fail;
  }
  if (read_file("--cert", c->cert_path, &c->cert_pem, &c->cert_len, err,
                errlen) != 0 ||
      parse_chain(c, &chain, err, errlen) != 0 ||
      check_key_type("--cert", c->cert_path, &chain.pk, &c->ecdsa, key_desc,
                     sizeof key_desc, err, errlen) != 0)
    goto fail;
  if (read_key(c, own_file, err, errlen) != 0 ||
      parse_key(c, own_file, &key, drbg, err, errlen) != 0)
    goto fail;
  /* Also refuses a key of another type (MBEDTLS_ERR_PK_TYPE_MISMATCH), so
   * the key is ECDSA or RSA like the certificate checked above. */
  if (mbedtls_pk_check_pair(&chain.pk, &key, mbedtls_ctr_drbg_random, drbg) !=
      0) {
    err_set(err, errlen, "%s %s: key does not match certificate %s",
            own_file ? "--key" : "--cert", c->key_path, c->cert_path);
    goto fail;
  }
  if (collect_names(c, &chain) != 0) {
    err_set(err, errlen, "--cert %s: out of memory", c->cert_path);
    goto fail;
  }
  describe(c, &chain, key_desc);
  rc = 0;

fail:
  mbedtls_x509_crt_free(&chain);
  mbedtls_pk_free(&key);
  return rc;
}

static void cert_cleanup(struct tls_cert *c) {
  free_secret(c->cert_pem, c->cert_len);
  free_secret(c->key_pem, c->key_len);
  for (int i = 0; i < c->n_names; i++)
    free(c->names[i]);
  free(c->names);
  free(c->cert_path);
  free(c->key_path);
}

/* --- the client CA bundle ----------------------------------------------- */

/* Can this certificate issue client certificates? A v3 certificate must say
 * CA:TRUE in basicConstraints; a locally trusted v1/v2 root is accepted
 * without it, as mbedTLS's chain building does (x509_crt_check_parent). */
static bool can_issue(const mbedtls_x509_crt *crt) {
  return crt->version < 3 || mbedtls_x509_crt_get_ca_istrue(crt) == 1;
}

/* --client-ca: read the bundle, check that every certificate in it parses
 * and that at least one is a CA. Each loop parses its own copy (ctx.c). A
 * certificate we cannot parse is refused rather than skipped: it would
 * silently reject every client it issued. */
static int load_client_ca(struct tls_client_ca *ca, const struct cfg *cfg,
                          char *err, size_t errlen) {
  static const char *const modes[] = {"none", "optional", "required"};
  mbedtls_x509_crt chain;
  char why[160];
  int ret, rc = -1, n_ca = 0;

  ca->verify = cfg->client_verify;
  if (ca->verify < CFG_VERIFY_NONE || ca->verify > CFG_VERIFY_REQUIRED)
    return err_set(err, errlen, "--client-verify: unknown mode %d", ca->verify);
  if (cfg->client_ca == NULL) {
    /* config.c refuses this too; the store does not rely on it. */
    if (ca->verify != CFG_VERIFY_NONE)
      return err_set(err, errlen, "--client-verify %s needs --client-ca",
                     modes[ca->verify]);
    return 0;
  }
  if ((ca->path = strdup(cfg->client_ca)) == NULL)
    return err_set(err, errlen, "--client-ca %s: out of memory",
                   cfg->client_ca);
  if (read_file("--client-ca", ca->path, &ca->pem, &ca->len, err, errlen) != 0)
    return -1;
  if (strstr((const char *)ca->pem, "-----BEGIN CERTIFICATE-----") == NULL)
    return err_set(err, errlen,
                   "--client-ca %s: no certificate found (expected a PEM CA "
                   "bundle)",
                   ca->path);
  mbedtls_x509_crt_init(&chain);
  ret = mbedtls_x509_crt_parse(&chain, ca->pem, ca->len);
  if (ret < 0 && (-ret & 0xff80) == -MBEDTLS_ERR_X509_UNKNOWN_SIG_ALG) {
    err_set(err, errlen,
            "--client-ca %s: unsupported signature or key algorithm (only "
            "ECDSA and RSA)",
            ca->path);
    goto fail;
  }
  if (ret < 0) {
    tls_strerror(ret, why, sizeof why);
    err_set(err, errlen, "--client-ca %s: bad certificate: %s", ca->path, why);
    goto fail;
  }
  if (ret > 0) {
    err_set(err, errlen,
            "--client-ca %s: %d certificate(s) in the bundle could not be "
            "parsed",
            ca->path, ret);
    goto fail;
  }
  for (const mbedtls_x509_crt *c = &chain; c != NULL && c->raw.p != NULL;
       c = c->next) {
    ca->n_certs++;
    if (can_issue(c))
      n_ca++;
  }
  if (n_ca == 0) {
    err_set(err, errlen,
            "--client-ca %s: no CA certificate in the bundle (%d without "
            "basicConstraints CA:TRUE)",
            ca->path, ca->n_certs);
    goto fail;
  }
  rc = 0;
fail:
  mbedtls_x509_crt_free(&chain);
  return rc;
}

/* --- the store ---------------------------------------------------------- */

static int load_certs(struct tls_store *st, const struct cfg *cfg, char *err,
                      size_t errlen) {
  static const char pers[] = "tlsterm store";
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  int rc = -1;

  /* Parsing an RSA key and checking a key pair both want an RNG (blinding). */
  mbedtls_entropy_init(&entropy);
  mbedtls_ctr_drbg_init(&drbg);
  if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
                            (const unsigned char *)pers, sizeof pers) != 0) {
    err_set(err, errlen, "cannot seed the random generator");
    goto fail;
  }
  if ((st->certs = calloc((size_t)cfg->n_certs, sizeof *st->certs)) == NULL) {
    err_set(err, errlen, "--cert: out of memory");
    goto fail;
  }
  for (int i = 0; i < cfg->n_certs; i++) {
    st->n_certs++;
    if (load_cert(&st->certs[i], &cfg->certs[i], &drbg, err, errlen) != 0)
      goto fail;
  }
  rc = 0;
fail:
  mbedtls_ctr_drbg_free(&drbg);
  mbedtls_entropy_free(&entropy);
  return rc;
}

int tls_store_load(struct tls_store **out, const struct cfg *cfg, char *err,
                   size_t errlen) {
  struct tls_store *st = calloc(1, sizeof *st);

  *out = NULL;
  if (st == NULL) {
    err_set(err, errlen, "out of memory");
    goto fail; /* tls_store_free(NULL) is a no-op */
  }
  if (cfg->n_certs <= 0) {
    err_set(err, errlen, "--cert: no certificate configured");
    goto fail;
  }
  /* The lists first (opts.c): their errors need no file system. */
  if (tls_opts_parse(st, cfg, err, errlen) != 0 ||
      load_certs(st, cfg, err, errlen) != 0 ||
      load_client_ca(&st->client, cfg, err, errlen) != 0)
    goto fail;
  if (cfg->ciphers != NULL && tls_opts_check_suites(st, err, errlen) != 0)
    goto fail;
  *out = st;
  return 0;
fail:
  tls_store_free(st);
  return -1;
}

void tls_store_free(struct tls_store *st) {
  if (st == NULL)
    return;
  for (int i = 0; i < st->n_certs; i++)
    cert_cleanup(&st->certs[i]);
  free(st->certs);
  free(st->client.path);
  free(st->client.pem);
  free(st->suites);
  free(st->groups);
  free(st->alpn);
  free(st->alpn_text);
  free(st);
}

int tls_store_count(const struct tls_store *st) {
  return st->n_certs;
}

void tls_store_describe(const struct tls_store *st, int i, char *out,
                        size_t outlen) {
  if (outlen == 0)
    return;
  if (i < 0 || i >= st->n_certs) {
    out[0] = '\0';
    return;
  }
  snprintf(out, outlen, "%s", st->certs[i].desc);
}
