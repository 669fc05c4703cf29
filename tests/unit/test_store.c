/* test_store.c: unit tests for tls/store.c and tls/opts.c: loading and
 * checking certificates and keys, the --client-ca bundle, and the
 * --ciphers/--groups/--alpn and --tls-min/--tls-max lists. Handshakes, sessions
 * and tickets are in test_sess.c.
 *
 * Certificates are generated at test time with openssl (fixture.c), never
 * committed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fixture.h"
#include "tls_int.h"
#include "unit.h"

/* --- loading ------------------------------------------------------------ */

static const struct {
  const char *what;
  const char *cert, *key;
  const char *err_flag; /* NULL: loads; else the error names this file */
  const char *err_text; /* loads: in the description; else in the error */
} load_cases[] = {
    {"ECDSA P-256", "ec.pem", "ec.key", NULL,
     "CN=example.com ECDSA P-256, names: example.com,*.example.com, expires"},
    {"RSA 2048", "rsa.pem", "rsa.key", NULL, "RSA 2048, names: example.com"},
    {"chain with an intermediate", "chain.pem", "leaf.key", NULL,
     "CN=chain.test ECDSA P-256, names: chain.test"},
    {"key in the certificate file", "combined.pem", NULL, NULL, "ECDSA P-256"},
    {"names from the CN without SANs", "cn.pem", "cn.key", NULL,
     "names: cnonly.test"},
    {"mismatched key", "ec.pem", "other.key", "--key other.key",
     "key does not match certificate"},
    {"RSA key for an ECDSA certificate", "ec.pem", "rsa.key", "--key rsa.key",
     "key does not match certificate"},
    {"missing certificate file", "missing.pem", "ec.key", "--cert missing.pem",
     "cannot read: No such file"},
    {"missing key file", "ec.pem", "missing.key", "--key missing.key",
     "cannot read: No such file"},
    {"a directory", ".", "ec.key", "--cert .", "cannot read"},
    {"garbage certificate", "garbage.pem", "ec.key", "--cert garbage.pem",
     "no certificate found"},
    {"a key as certificate", "ec.key", "ec.key", "--cert ec.key",
     "no certificate found"},
    {"garbage key", "ec.pem", "garbage.pem", "--key garbage.pem",
     "no private key found"},
    {"no key anywhere", "ec.pem", NULL, "--cert ec.pem",
     "no private key found"},
    {"encrypted key", "ec.pem", "enc.key", "--key enc.key", "encrypted"},
    {"Ed25519", "ed.pem", "ed.key", "--cert ed.pem",
     "unsupported signature or key algorithm"},
    {"Ed25519 key", "ec.pem", "ed.key", "--key ed.key", "unsupported key type"},
    {"RSA 1024", "weak.pem", "weak.key", "--cert weak.pem", "too weak"},
    {"secp256k1", "k1.pem", "k1.key", "--cert k1.pem", "ECDSA curve secp256k1"},
};

START_TEST(test_load) {
  int i = _i;
  const char *files[2] = {load_cases[i].cert, load_cases[i].key};
  static const uint8_t secret[TLS_TICKET_SECRET_LEN];
  struct tls_store *st = (struct tls_store *)1;
  struct tls_ctx *ctx;
  struct cfg cfg;
  char err[256] = "", want[128], desc[512];
  int rc;

  fixture_cfg(&cfg, files, 1);
  rc = tls_store_load(&st, &cfg, err, sizeof err);
  if (load_cases[i].err_flag == NULL) {
    ck_assert_msg(rc == 0, "%s: %s", load_cases[i].what, err);
    ck_assert_int_eq(tls_store_count(st), 1);
    tls_store_describe(st, 0, desc, sizeof desc);
    ck_assert_msg(strstr(desc, load_cases[i].err_text) != NULL,
                  "%s: description '%s'", load_cases[i].what, desc);
    /* What the store accepted, a loop can build a context from. */
    ck_assert_msg(tls_ctx_new(&ctx, st, &cfg, secret, sizeof secret, 0, err,
                              sizeof err) == 0,
                  "%s: %s", load_cases[i].what, err);
    tls_ctx_free(ctx);
    tls_store_free(st);
  } else {
    /* "--cert FILE" with FILE made absolute: "--cert /tmp/x/FILE" */
    const char *sp = strchr(load_cases[i].err_flag, ' ');
    snprintf(want, sizeof want, "%.*s %s/%s",
             (int)(sp - load_cases[i].err_flag), load_cases[i].err_flag,
             fixture_dir(), sp + 1);
    ck_assert_msg(rc == -1, "%s: loaded", load_cases[i].what);
    ck_assert_ptr_null(st);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0 &&
                      strstr(err, load_cases[i].err_text) != NULL,
                  "%s: error '%s'", load_cases[i].what, err);
    ck_assert_ptr_null(strchr(err, '\n'));
  }
  fixture_cfg_free(&cfg);
}
END_TEST

START_TEST(test_load_several) {
  const char *files[] = {"ec.pem",  "ec.key",    "rsa.pem",
                         "rsa.key", "chain.pem", "leaf.key"};
  struct tls_store *st;
  struct cfg cfg;
  char err[256], desc[512];

  fixture_cfg(&cfg, files, 3);
  ck_assert_msg(tls_store_load(&st, &cfg, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(tls_store_count(st), 3);
  tls_store_describe(st, 1, desc, sizeof desc);
  ck_assert_ptr_nonnull(strstr(desc, "RSA 2048"));
  tls_store_describe(st, 3, desc, sizeof desc);
  ck_assert_str_eq(desc, "");
  /* The defaults: AEAD only, TLS 1.3 first, ECDSA before RSA for 1.2. */
  ck_assert_int_eq(st->suites[0], MBEDTLS_TLS1_3_AES_128_GCM_SHA256);
  ck_assert_int_eq(st->suites[3],
                   MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256);
  ck_assert_int_eq(st->suites[6],
                   MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256);
  ck_assert_int_eq(st->suites[9], 0);
  ck_assert_int_eq(st->groups[0], MBEDTLS_SSL_IANA_TLS_GROUP_X25519);
  ck_assert_int_eq(st->groups[3], MBEDTLS_SSL_IANA_TLS_GROUP_NONE);
  ck_assert_str_eq(st->alpn[0], "http/1.1");
  ck_assert_ptr_null(st->alpn[1]);
  tls_store_free(st);

  /* The first bad file stops the load, and is the one named. */
  free(cfg.certs[1].key_file);
  cfg.certs[1].key_file = strdup(cfg.certs[0].key_file);
  ck_assert_int_eq(tls_store_load(&st, &cfg, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "rsa.pem"));
  fixture_cfg_free(&cfg);
  cfg.n_certs = 0;
  ck_assert_int_eq(tls_store_load(&st, &cfg, err, sizeof err), -1);
  ck_assert_str_eq(err, "--cert: no certificate configured");
}
END_TEST

/* --- client CA bundle --------------------------------------------------- */

static const struct {
  const char *what;
  const char *ca; /* --client-ca, a file in the directory; NULL: none */
  int verify;
  int n_certs;          /* loads: certificates in the bundle */
  const char *err_text; /* NULL: loads; else in the error, which starts
                           with "--client-ca /DIR/FILE: " when ca is set */
} client_ca_cases[] = {
    {"one CA", "cca.pem", CFG_VERIFY_OPTIONAL, 1, NULL},
    {"a bundle of two", "cabundle.pem", CFG_VERIFY_REQUIRED, 2, NULL},
    {"checked even when not used", "cca.pem", CFG_VERIFY_NONE, 1, NULL},
    {"nothing configured", NULL, CFG_VERIFY_NONE, 0, NULL},
    {"missing file", "missing.pem", CFG_VERIFY_OPTIONAL, 0,
     "cannot read: No such file"},
    {"missing file, verify none", "missing.pem", CFG_VERIFY_NONE, 0,
     "cannot read: No such file"},
    {"a directory", ".", CFG_VERIFY_OPTIONAL, 0, "cannot read"},
    {"garbage", "garbage.pem", CFG_VERIFY_REQUIRED, 0, "no certificate found"},
    {"a key", "cca.key", CFG_VERIFY_OPTIONAL, 0, "no certificate found"},
    {"only an end-entity certificate", "alice.pem", CFG_VERIFY_OPTIONAL, 0,
     "no CA certificate in the bundle"},
    {"one certificate mbedTLS cannot parse", "mixed.pem", CFG_VERIFY_OPTIONAL,
     0, "1 certificate(s) in the bundle could not be parsed"},
    {"verify without a CA", NULL, CFG_VERIFY_OPTIONAL, 0,
     "--client-verify optional needs --client-ca"},
    {"required without a CA", NULL, CFG_VERIFY_REQUIRED, 0,
     "--client-verify required needs --client-ca"},
};

START_TEST(test_client_ca) {
  int i = _i;
  const char *files[] = {"ec.pem", "ec.key"};
  static const uint8_t secret[TLS_TICKET_SECRET_LEN];
  struct tls_store *st = (struct tls_store *)1;
  struct tls_ctx *ctx;
  struct cfg cfg;
  char err[256] = "", want[160];
  int rc;

  fixture_cfg(&cfg, files, 1);
  fixture_cfg_client(&cfg, client_ca_cases[i].ca, client_ca_cases[i].verify);
  rc = tls_store_load(&st, &cfg, err, sizeof err);
  if (client_ca_cases[i].err_text == NULL) {
    ck_assert_msg(rc == 0, "%s: %s", client_ca_cases[i].what, err);
    ck_assert_int_eq(st->client.n_certs, client_ca_cases[i].n_certs);
    ck_assert_int_eq(st->client.verify, client_ca_cases[i].verify);
    ck_assert_msg(tls_ctx_new(&ctx, st, &cfg, secret, sizeof secret, 0, err,
                              sizeof err) == 0,
                  "%s: %s", client_ca_cases[i].what, err);
    /* Each loop parses its own copy, only when it asks for certificates. */
    ck_assert_int_eq(ctx->client_ca.raw.p == NULL,
                     client_ca_cases[i].verify == CFG_VERIFY_NONE);
    tls_ctx_free(ctx);
    tls_store_free(st);
  } else {
    ck_assert_msg(rc == -1, "%s: loaded", client_ca_cases[i].what);
    ck_assert_ptr_null(st);
    if (client_ca_cases[i].ca != NULL)
      snprintf(want, sizeof want, "--client-ca %s/%s: ", fixture_dir(),
               client_ca_cases[i].ca);
    else
      want[0] = '\0';
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0 &&
                      strstr(err, client_ca_cases[i].err_text) != NULL,
                  "%s: error '%s'", client_ca_cases[i].what, err);
    ck_assert_ptr_null(strchr(err, '\n'));
  }
  fixture_cfg_free(&cfg);
}
END_TEST

/* --- option lists ------------------------------------------------------- */

static const struct {
  const char *ciphers, *groups, *alpn;
  int tls_min, tls_max;
  const char *err; /* NULL: valid; else a part of the error */
} list_cases[] = {
    /* IANA names, mbedTLS names, any case, commas and blanks */
    {"TLS_AES_128_GCM_SHA256:TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", NULL,
     NULL, 0, 0, NULL},
    {"TLS1-3-AES-256-GCM-SHA384:TLS-ECDHE-ECDSA-WITH-CHACHA20-POLY1305-SHA256",
     NULL, NULL, 0, 0, NULL},
    {" tls_chacha20_poly1305_sha256 , TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
     NULL, NULL, 0, 0, NULL},
    {"TLS_AES_128_GCM_SHA256", NULL, NULL, CFG_TLS_1_3, CFG_TLS_1_3, NULL},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", NULL, NULL, CFG_TLS_1_2,
     CFG_TLS_1_2, NULL},
    {"TLS_AES_128_GCM_SHA256:TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", NULL,
     NULL, 0, 0,
     "--ciphers: TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256 is not "
     "an AEAD suite"},
    {"TLS_AES_128_GCM_SHA256:TLS_RSA_WITH_AES_128_GCM_SHA256", NULL, NULL, 0, 0,
     "is not an ECDHE-ECDSA or ECDHE-RSA suite"},
    {"TLS_AES_128_GCM_SHA256:TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", NULL, NULL,
     0, 0, "--ciphers: TLS_DHE_RSA"},
    {"TLS_AES_128_GCM_SHA256:TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8", NULL, NULL, 0,
     0, "--ciphers: TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8"},
    {"TLS_AES_128_GCM_SHA256:FOO", NULL, NULL, 0, 0,
     "--ciphers: unknown cipher suite 'FOO'"},
    {"TLS_AES_128_GCM_SHA256::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", NULL,
     NULL, 0, 0, "--ciphers: empty suite name"},
    {"", NULL, NULL, 0, 0, "--ciphers: empty suite name"},
    {"TLS_AES_128_GCM_SHA256:TLS1-3-AES-128-GCM-SHA256", NULL, NULL,
     CFG_TLS_1_3, 0, "listed twice"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", NULL, NULL, 0, 0,
     "--ciphers: no TLS 1.3 suite"},
    {"TLS_AES_128_GCM_SHA256", NULL, NULL, 0, 0, "--ciphers: no TLS 1.2 suite"},
    {"TLS_AES_128_GCM_SHA256:TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", NULL, NULL,
     0, 0, "fits the certificates"},
    /* groups */
    {NULL, "x25519:P-256:secp384r1", NULL, 0, 0, NULL},
    {NULL, "X25519, prime256v1,p-384,secp521r1", NULL, 0, 0, NULL},
    {NULL, "x25519:brainpool", NULL, 0, 0,
     "--groups: unknown group 'brainpool'"},
    {NULL, "secp256k1", NULL, 0, 0, "--groups: unknown group 'secp256k1'"},
    {NULL, "x25519:X25519", NULL, 0, 0, "--groups: X25519 is listed twice"},
    {NULL, "", NULL, 0, 0, "--groups: unknown group ''"},
    /* alpn */
    {NULL, NULL, "h2,http/1.1", 0, 0, NULL},
    {NULL, NULL, "", 0, 0, NULL},
    {NULL, NULL, "http/1.1,,h2", 0, 0, "--alpn: empty protocol name"},
    {NULL, NULL, "http/1.1,http/1.1", 0, 0, "--alpn: http/1.1 is listed twice"},
    {NULL, NULL, "a b", 0, 0, "--alpn: invalid character"},
    {NULL, NULL, "x", 0, 0, NULL},
    /* versions */
    {NULL, NULL, NULL, CFG_TLS_1_3, CFG_TLS_1_2, "--tls-min/--tls-max"},
    {NULL, NULL, NULL, 11, 0, "--tls-min/--tls-max"},
};

START_TEST(test_lists) {
  int i = _i;
  const char *files[] = {"ec.pem", "ec.key"};
  struct tls_store *st;
  struct cfg cfg;
  char err[256] = "";
  int rc;

  fixture_cfg(&cfg, files, 1);
  cfg.ciphers = (char *)list_cases[i].ciphers;
  cfg.groups = (char *)list_cases[i].groups;
  cfg.alpn = (char *)list_cases[i].alpn;
  cfg.tls_min = list_cases[i].tls_min;
  cfg.tls_max = list_cases[i].tls_max;
  rc = tls_store_load(&st, &cfg, err, sizeof err);
  if (list_cases[i].err == NULL) {
    ck_assert_msg(rc == 0, "case %d: %s", i, err);
    tls_store_free(st);
  } else {
    ck_assert_msg(rc == -1 && strstr(err, list_cases[i].err) != NULL,
                  "case %d: rc %d, error '%s', want '%s'", i, rc, err,
                  list_cases[i].err);
  }
  fixture_cfg_free(&cfg);
}
END_TEST

START_TEST(test_alpn_too_long) {
  const char *files[] = {"ec.pem", "ec.key"};
  struct tls_store *st;
  struct cfg cfg;
  char err[256], alpn[300];

  memset(alpn, 'a', 256);
  alpn[256] = '\0';
  fixture_cfg(&cfg, files, 1);
  cfg.alpn = alpn;
  ck_assert_int_eq(tls_store_load(&st, &cfg, err, sizeof err), -1);
  ck_assert_str_eq(err, "--alpn: protocol name longer than 255 bytes");
  alpn[255] = '\0';
  ck_assert_int_eq(tls_store_load(&st, &cfg, err, sizeof err), 0);
  tls_store_free(st);
  fixture_cfg_free(&cfg);
}
END_TEST

Suite *store_suite(void) {
  Suite *s = suite_create("store");
  TCase *tc = fixture_tcase("load");

  tcase_add_loop_test(tc, test_load, 0,
                      (int)(sizeof load_cases / sizeof load_cases[0]));
  tcase_add_test(tc, test_load_several);
  tcase_add_loop_test(
      tc, test_client_ca, 0,
      (int)(sizeof client_ca_cases / sizeof client_ca_cases[0]));
  tcase_add_loop_test(tc, test_lists, 0,
                      (int)(sizeof list_cases / sizeof list_cases[0]));
  tcase_add_test(tc, test_alpn_too_long);
  suite_add_tcase(s, tc);
  return s;
}
