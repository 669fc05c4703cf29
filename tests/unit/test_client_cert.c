/* test_client_cert.c: unit tests for client certificates (--client-ca,
 * --client-verify) in tls/ctx.c, tls/sess.c and tls/ticket.c, through an
 * in-process mbedTLS client over memory buffers (fixture.c): what each
 * verify mode accepts or refuses and with which alert, what the server
 * learns of the certificate, and which tickets carry it.
 *
 * Certificates are generated at test time with openssl (fixture.c), never
 * committed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "fixture.h"
#include "tls_int.h"
#include "unit.h"

/* ec (example.com) with --client-ca ca (NULL: none) and --client-verify. */
static struct tls_store *store_client(const char *ca, int verify) {
  const char *files[] = {"ec.pem", "ec.key"};
  struct tls_store *st;
  struct cfg cfg;
  char err[256];

  fixture_cfg(&cfg, files, 1);
  fixture_cfg_client(&cfg, ca, verify);
  ck_assert_msg(tls_store_load(&st, &cfg, err, sizeof err) == 0, "%s", err);
  fixture_cfg_free(&cfg);
  return st;
}

/* A file of the fixture directory, with a NUL after its len bytes. */
static char *slurp(const char *name, size_t *len) {
  char *path = fixture_path(name), *p;
  FILE *f = fopen(path, "rb");
  long n;

  ck_assert_msg(f != NULL, "cannot open %s", path);
  ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
  ck_assert_int_ge(n = ftell(f), 0);
  rewind(f);
  ck_assert_ptr_nonnull(p = malloc((size_t)n + 1));
  ck_assert_uint_eq(fread(p, 1, (size_t)n, f), (size_t)n);
  p[n] = '\0';
  fclose(f);
  free(path);
  *len = (size_t)n;
  return p;
}

/* After the server failed: hand what it sent to the client, and return the
 * description of the fatal alert the client then reads (-1: none). */
static int client_alert(struct fixture_pair *p) {
  unsigned char b[16];
  int ret;

  fixture_move(&p->out, &p->c.in);
  if (!mbedtls_ssl_is_handshake_over(&p->c.ssl))
    ret = mbedtls_ssl_handshake(&p->c.ssl);
  else /* TLS 1.3: the client finished before the server judged it */
    ret = fixture_client_read(&p->c, b, sizeof b);
  if (ret != MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) {
    fprintf(stderr, "client_alert: ret -0x%04x over=%d srv='%s'\n",
            (unsigned)-ret, mbedtls_ssl_is_handshake_over(&p->c.ssl),
            tls_sess_error(p->s));
    return -1;
  }
  return p->c.ssl.MBEDTLS_PRIVATE(in_msg)[1];
}

#define BADCERT(x) MBEDTLS_X509_BADCERT_##x

static const struct {
  int verify;
  const char *cert, *key; /* the client's (NULL: none) */
  const char *subject;    /* NULL: nothing presented (or a failure) */
  bool verified;
  uint32_t flags;  /* mbedtls_ssl_get_verify_result() on the server */
  const char *err; /* NULL: the handshake completes; else in the error */
  int alert[2];    /* failures: the alert for TLS 1.2, TLS 1.3 */
} cc_cases[] = {
    /* none: nothing is requested, so the client keeps its certificate */
    {CFG_VERIFY_NONE,
     "alice.pem",
     "alice.key",
     NULL,
     false,
     BADCERT(SKIP_VERIFY),
     NULL,
     {0, 0}},
    /* optional: the handshake completes whatever the client shows */
    {CFG_VERIFY_OPTIONAL,
     NULL,
     NULL,
     NULL,
     false,
     BADCERT(MISSING),
     NULL,
     {0, 0}},
    {CFG_VERIFY_OPTIONAL,
     "alice.pem",
     "alice.key",
     "O=Example, CN=alice",
     true,
     0,
     NULL,
     {0, 0}},
    {CFG_VERIFY_OPTIONAL,
     "alice-rsa.pem",
     "alice-rsa.key",
     "O=Example, CN=alice-rsa",
     true,
     0,
     NULL,
     {0, 0}},
    {CFG_VERIFY_OPTIONAL,
     "mallory.pem",
     "mallory.key",
     "O=Example, CN=alice",
     false,
     BADCERT(NOT_TRUSTED),
     NULL,
     {0, 0}},
    /* CVE-2024-45159 (fixed in 3.6.1): a TLS 1.3 server with optional
     * authentication reported a bad extendedKeyUsage as success */
    {CFG_VERIFY_OPTIONAL,
     "srvonly.pem",
     "srvonly.key",
     "O=Example, CN=srvonly",
     false,
     BADCERT(EXT_KEY_USAGE),
     NULL,
     {0, 0}},
    {CFG_VERIFY_OPTIONAL,
     "old.pem",
     "old.key",
     "O=Example, CN=old",
     false,
     BADCERT(EXPIRED),
     NULL,
     {0, 0}},
    /* ... but not a CertificateVerify made with another key */
    {CFG_VERIFY_OPTIONAL,
     "alice.pem",
     "mallory.key",
     NULL,
     false,
     0,
     "handshake: client certificate: CertificateVerify signature does not "
     "verify",
     {MBEDTLS_SSL_ALERT_MSG_DECRYPT_ERROR,
      MBEDTLS_SSL_ALERT_MSG_DECRYPT_ERROR}},
    /* required: a verified certificate or no handshake */
    {CFG_VERIFY_REQUIRED,
     "alice.pem",
     "alice.key",
     "O=Example, CN=alice",
     true,
     0,
     NULL,
     {0, 0}},
    {CFG_VERIFY_REQUIRED,
     NULL,
     NULL,
     NULL,
     false,
     BADCERT(MISSING),
     "handshake: client sent no certificate",
     {MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE, MBEDTLS_SSL_ALERT_MSG_NO_CERT}},
    {CFG_VERIFY_REQUIRED,
     "mallory.pem",
     "mallory.key",
     NULL,
     false,
     BADCERT(NOT_TRUSTED),
     "handshake: client certificate refused: not issued by --client-ca",
     {MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA, MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA}},
    {CFG_VERIFY_REQUIRED,
     "srvonly.pem",
     "srvonly.key",
     NULL,
     false,
     BADCERT(EXT_KEY_USAGE),
     "handshake: client certificate refused: not for client authentication",
     {MBEDTLS_SSL_ALERT_MSG_UNSUPPORTED_CERT,
      MBEDTLS_SSL_ALERT_MSG_UNSUPPORTED_CERT}},
    {CFG_VERIFY_REQUIRED,
     "old.pem",
     "old.key",
     NULL,
     false,
     BADCERT(EXPIRED),
     "handshake: client certificate refused: expired",
     {MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED, MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED}},
};

START_TEST(test_client_cert) {
  int c = _i / 2, version = _i % 2 ? 13 : 12;
  struct tls_store *st = store_client("cca.pem", cc_cases[c].verify);
  struct tls_ctx *ctx = fixture_ctx(st, fixture_secret_a, (uint64_t)time(NULL));
  struct fixture_client_opts o = {
      .version = version, .cert = cc_cases[c].cert, .key = cc_cases[c].key};
  struct tls_client_cert cc;
  struct fixture_pair p;
  char b[8];
  int rc;

  fixture_pair_init(&p, ctx, &o);
  rc = fixture_handshake(&p);
  if (cc_cases[c].flags != 0 || cc_cases[c].err == NULL)
    ck_assert_msg(mbedtls_ssl_get_verify_result(&p.s->ssl) == cc_cases[c].flags,
                  "case %d TLS %d: verify flags %#x", c, version,
                  mbedtls_ssl_get_verify_result(&p.s->ssl));
  tls_sess_client_cert(p.s, &cc);
  if (cc_cases[c].err != NULL) {
    ck_assert_msg(rc == TLS_FAIL, "case %d TLS %d: rc %d", c, version, rc);
    ck_assert_msg(
        strstr(tls_sess_error(p.s), cc_cases[c].err) == tls_sess_error(p.s),
        "case %d TLS %d: error '%s'", c, version, tls_sess_error(p.s));
    ck_assert(!cc.presented); /* nothing to report without a handshake */
    rc = client_alert(&p);
    ck_assert_msg(rc == cc_cases[c].alert[version - 12],
                  "case %d TLS %d: alert %d", c, version, rc);
  } else {
    ck_assert_msg(rc == 0, "case %d TLS %d: %s", c, version,
                  tls_sess_error(p.s));
    ck_assert_int_eq(cc.presented, cc_cases[c].subject != NULL);
    ck_assert_int_eq(cc.verified, cc_cases[c].verified);
    if (cc.presented) {
      ck_assert_str_eq(cc.subject, cc_cases[c].subject);
      /* Every case's subject ends with its CN. */
      ck_assert_str_eq(cc.cn, strstr(cc_cases[c].subject, "CN=") + 3);
      ck_assert_uint_eq(strlen(cc.fingerprint), 64);
      ck_assert_uint_eq(strspn(cc.fingerprint, "0123456789abcdef"), 64);
      ck_assert_ptr_nonnull(cc.der);
      ck_assert_uint_gt(cc.der_len, 100);
    } else {
      ck_assert_str_eq(cc.subject, "");
      ck_assert_str_eq(cc.cn, "");
      ck_assert_str_eq(cc.fingerprint, "");
      ck_assert_ptr_null(cc.der);
      ck_assert_uint_eq(cc.der_len, 0);
      ck_assert_int_eq(tls_sess_client_cert_pem(p.s, b, sizeof b), -1);
    }
    if (cc_cases[c].verify == CFG_VERIFY_NONE)
      ck_assert_ptr_null(mbedtls_ssl_get_peer_cert(&p.s->ssl));
    /* and the connection works */
    ck_assert_int_eq(
        mbedtls_ssl_write(&p.c.ssl, (const unsigned char *)"hi", 2), 2);
    fixture_move(&p.c.out, &p.in);
    ck_assert_int_eq(tls_sess_read(p.s, b, sizeof b), 2);
  }
  fixture_pair_free(&p);
  tls_ctx_free(ctx);
  tls_store_free(st);
}
END_TEST

/* Fingerprint, DER and PEM against openssl's view of the same file. */
START_TEST(test_client_cert_details) {
  struct tls_store *st = store_client("cca.pem", CFG_VERIFY_OPTIONAL);
  struct tls_ctx *ctx = fixture_ctx(st, fixture_secret_a, (uint64_t)time(NULL));
  struct fixture_client_opts o = {
      .version = _i == 0 ? 12 : 13, .cert = "alice.pem", .key = "alice.key"};
  struct tls_client_cert cc;
  struct fixture_pair p;
  mbedtls_x509_crt back;
  size_t fp_len, der_len, pem_len, k = 0;
  char *fp = slurp("alice.fp", &fp_len), *der = slurp("alice.der", &der_len);
  char *pem = slurp("alice.pem", &pem_len), want[65], out[2048];
  const char *eq = strchr(fp, '=');

  /* "sha256 Fingerprint=AB:CD:..." -> "abcd..." */
  ck_assert_ptr_nonnull(eq);
  for (const char *q = eq + 1; *q != '\0' && *q != '\n' && k < 64; q++)
    if (*q != ':')
      want[k++] = (char)(*q >= 'A' && *q <= 'F' ? *q - 'A' + 'a' : *q);
  want[k] = '\0';
  ck_assert_uint_eq(k, 64);

  fixture_pair_init(&p, ctx, &o);
  ck_assert_int_eq(fixture_handshake(&p), 0);
  tls_sess_client_cert(p.s, &cc);
  ck_assert(cc.presented && cc.verified);
  ck_assert_str_eq(cc.fingerprint, want);
  ck_assert_uint_eq(cc.der_len, der_len);
  ck_assert_int_eq(memcmp(cc.der, der, der_len), 0);

  /* The PEM is what openssl wrote: same header, 64-column lines. */
  ck_assert_int_eq(tls_sess_client_cert_pem(p.s, out, sizeof out),
                   (int)pem_len);
  ck_assert_str_eq(out, pem);
  /* ... and parses back to the same DER. */
  mbedtls_x509_crt_init(&back);
  ck_assert_int_eq(
      mbedtls_x509_crt_parse(&back, (const unsigned char *)out, pem_len + 1),
      0);
  ck_assert_uint_eq(back.raw.len, der_len);
  ck_assert_int_eq(memcmp(back.raw.p, der, der_len), 0);
  mbedtls_x509_crt_free(&back);
  /* Exactly big enough (with the NUL), one byte short, nothing. */
  ck_assert_int_eq(tls_sess_client_cert_pem(p.s, out, pem_len + 1),
                   (int)pem_len);
  ck_assert_int_eq(tls_sess_client_cert_pem(p.s, out, pem_len), -1);
  ck_assert_str_eq(out, "");
  ck_assert_int_eq(tls_sess_client_cert_pem(p.s, out, 0), -1);

  fixture_pair_free(&p);
  free(fp);
  free(der);
  free(pem);
  tls_ctx_free(ctx);
  tls_store_free(st);
}
END_TEST

/* A handshake on ctx presenting NAME.pem/NAME.key (NULL: nothing),
 * resuming `resume` if given: was it resumed, and what did the server
 * learn of the client (cc->der is cleared: it dies with the session). With
 * next, the client's session is saved there. */
static bool cc_handshake(struct tls_ctx *ctx, int version, const char *name,
                         const mbedtls_ssl_session *resume,
                         struct tls_client_cert *cc,
                         mbedtls_ssl_session *next) {
  char cert[64], key[64];
  struct fixture_client_opts o = {.version = version, .resume = resume};
  struct fixture_pair p;
  bool resumed;

  if (name != NULL) {
    snprintf(cert, sizeof cert, "%s.pem", name);
    snprintf(key, sizeof key, "%s.key", name);
    o.cert = cert;
    o.key = key;
  }
  fixture_pair_init(&p, ctx, &o);
  ck_assert_msg(fixture_handshake(&p) == 0, "%s", tls_sess_error(p.s));
  resumed = tls_sess_resumed(p.s);
  tls_sess_client_cert(p.s, cc);
  cc->der = NULL;
  if (next != NULL)
    fixture_client_session(&p, next);
  fixture_pair_free(&p);
  return resumed;
}

/* TLS 1.2 tickets carry the client certificate and its verify result. */
START_TEST(test_client_cert_resume12) {
  uint64_t now = (uint64_t)time(NULL);
  struct tls_store *opt = store_client("cca.pem", CFG_VERIFY_OPTIONAL);
  struct tls_store *req = store_client("cca.pem", CFG_VERIFY_REQUIRED);
  struct tls_store *none = store_client(NULL, CFG_VERIFY_NONE);
  struct tls_ctx *a = fixture_ctx(opt, fixture_secret_a, now),
                 *b = fixture_ctx(opt, fixture_secret_a, now);
  struct tls_ctx *r = fixture_ctx(req, fixture_secret_a, now),
                 *n = fixture_ctx(none, fixture_secret_a, now);
  const char *names[] = {"alice", "mallory", NULL};
  struct tls_client_cert full, again;
  mbedtls_ssl_session sess;

  for (int k = 0; k < 3; k++) {
    ck_assert(!cc_handshake(a, 12, names[k], NULL, &full, &sess));
    /* on another loop, the client not even holding a certificate now */
    ck_assert(cc_handshake(b, 12, NULL, &sess, &again, NULL));
    ck_assert_int_eq(again.presented, names[k] != NULL);
    ck_assert_int_eq(again.verified, names[k] != NULL && k == 0);
    ck_assert_str_eq(again.subject, full.subject);
    ck_assert_str_eq(again.fingerprint, full.fingerprint);
    /* A required loop resumes only a ticket with a verified certificate;
     * the others get a full handshake (with alice's certificate here). */
    ck_assert_int_eq(cc_handshake(r, 12, "alice", &sess, &again, NULL), k == 0);
    ck_assert(again.presented && again.verified);
    mbedtls_ssl_session_free(&sess);
  }
  /* A ticket from a loop that asks for nothing does not resume where a
   * certificate is required, and resumes as "none" where it is optional. */
  ck_assert(!cc_handshake(n, 12, "alice", NULL, &full, &sess));
  ck_assert(!full.presented);
  ck_assert(!cc_handshake(r, 12, "alice", &sess, &again, NULL));
  ck_assert(again.presented && again.verified);
  ck_assert(cc_handshake(a, 12, "alice", &sess, &again, NULL));
  ck_assert(!again.presented);
  mbedtls_ssl_session_free(&sess);
  tls_ctx_free(a);
  tls_ctx_free(b);
  tls_ctx_free(r);
  tls_ctx_free(n);
  tls_store_free(opt);
  tls_store_free(req);
  tls_store_free(none);
}
END_TEST

/* TLS 1.3 tickets carry no certificate: none is issued when certificates
 * are requested, and one from elsewhere is not taken. */
START_TEST(test_client_cert_tls13_tickets) {
  uint64_t now = (uint64_t)time(NULL);
  struct tls_store *opt = store_client("cca.pem", CFG_VERIFY_OPTIONAL);
  struct tls_store *none = store_client(NULL, CFG_VERIFY_NONE);
  struct tls_ctx *a = fixture_ctx(opt, fixture_secret_a, now),
                 *n = fixture_ctx(none, fixture_secret_a, now);
  struct fixture_client_opts o = {
      .version = 13, .cert = "alice.pem", .key = "alice.key"};
  struct tls_client_cert cc;
  struct fixture_pair p;
  mbedtls_ssl_session sess;
  char b[8];

  fixture_pair_init(&p, a, &o);
  ck_assert_int_eq(fixture_handshake(&p), 0);
  ck_assert_int_eq(tls_sess_write(p.s, "x", 1), 0);
  fixture_move(&p.out, &p.c.in);
  /* the data, with no NewSessionTicket before it */
  ck_assert_int_eq(fixture_client_read(&p.c, b, sizeof b), 1);
  fixture_pair_free(&p);

  ck_assert(!cc_handshake(n, 13, "alice", NULL, &cc, &sess));
  ck_assert(cc_handshake(n, 13, "alice", &sess, &cc, NULL));
  ck_assert(!cc_handshake(a, 13, "alice", &sess, &cc, NULL));
  ck_assert(cc.presented && cc.verified);
  mbedtls_ssl_session_free(&sess);
  tls_ctx_free(a);
  tls_ctx_free(n);
  tls_store_free(opt);
  tls_store_free(none);
}
END_TEST

Suite *client_cert_suite(void) {
  Suite *s = suite_create("client_cert");
  TCase *tc = fixture_tcase("client_cert");

  tcase_add_loop_test(tc, test_client_cert, 0,
                      (int)(2 * sizeof cc_cases / sizeof cc_cases[0]));
  tcase_add_loop_test(tc, test_client_cert_details, 0, 2);
  tcase_add_test(tc, test_client_cert_resume12);
  tcase_add_test(tc, test_client_cert_tls13_tickets);
  suite_add_tcase(s, tc);
  return s;
}
