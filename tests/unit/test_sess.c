/* test_sess.c: unit tests for tls/ctx.c, tls/sess.c and tls/ticket.c,
 * through an in-process mbedTLS client over memory buffers (fixture.c):
 * handshakes, certificate choice, the options reaching the handshake, ALPN,
 * garbage input, the read loop, the session pool and tickets that resume
 * on another loop's context. Client certificates are test_client_cert.c's.
 *
 * Certificates are generated at test time with openssl (fixture.c), never
 * committed. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "fixture.h"
#include "tls_int.h"
#include "unit.h"

/* --- stores ------------------------------------------------------------- */

/* ec (example.com, *.example.com), rsa (example.com), chain (chain.test),
 * with the given --ciphers etc. (NULL: the defaults). */
static struct tls_store *store_with(const char *ciphers, const char *groups,
                                    const char *alpn, int tls_min) {
  const char *files[] = {"ec.pem",  "ec.key",    "rsa.pem",
                         "rsa.key", "chain.pem", "leaf.key"};
  struct tls_store *st;
  struct cfg cfg;
  char err[256];

  fixture_cfg(&cfg, files, 3);
  cfg.ciphers = (char *)ciphers;
  cfg.groups = (char *)groups;
  cfg.alpn = (char *)alpn;
  cfg.tls_min = tls_min;
  ck_assert_msg(tls_store_load(&st, &cfg, err, sizeof err) == 0, "%s", err);
  fixture_cfg_free(&cfg);
  return st;
}

static struct tls_store *store3(void) {
  return store_with(NULL, NULL, NULL, 0);
}

/* --- handshakes --------------------------------------------------------- */

static const char *alpn_both[] = {"h2", "http/1.1", NULL};
static const char *alpn_h2[] = {"h2", NULL};

START_TEST(test_handshake_data_close) {
  struct tls_store *st = store3();
  struct tls_ctx *ctx = fixture_ctx(st, fixture_secret_a, (uint64_t)time(NULL));
  struct fixture_client_opts o = {
      .version = 13, .sni = "Example.COM", .alpn = alpn_both};
  struct fixture_pair p;
  char b[64];

  fixture_pair_init(&p, ctx, &o);
  ck_assert_int_eq(fixture_handshake(&p), 0);
  ck_assert_str_eq(tls_sess_version(p.s), "TLSv1.3");
  ck_assert_ptr_nonnull(strstr(tls_sess_cipher(p.s), "TLS1-3-"));
  ck_assert_str_eq(tls_sess_sni(p.s), "example.com");
  ck_assert_str_eq(tls_sess_alpn(p.s), "http/1.1");
  ck_assert(!tls_sess_resumed(p.s));

  /* The client's request may come right behind its Finished. */
  ck_assert_int_eq(mbedtls_ssl_write(&p.c.ssl, (const unsigned char *)"GET", 3),
                   3);
  fixture_move(&p.c.out, &p.in);
  ck_assert_int_eq(tls_sess_read(p.s, b, sizeof b), 3);
  ck_assert_int_eq(memcmp(b, "GET", 3), 0);
  ck_assert_int_eq(tls_sess_read(p.s, b, sizeof b), TLS_WANT);
  ck_assert_int_eq(tls_sess_write(p.s, "200 OK", 6), 0);
  fixture_move(&p.out, &p.c.in);
  /* NewSessionTicket first (reported, not data), then the response. */
  ck_assert_int_eq(fixture_client_read(&p.c, b, sizeof b),
                   MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET);
  ck_assert_int_eq(fixture_client_read(&p.c, b, sizeof b), 6);

  ck_assert_int_eq(mbedtls_ssl_close_notify(&p.c.ssl), 0);
  fixture_move(&p.c.out, &p.in);
  ck_assert_int_eq(tls_sess_read(p.s, b, sizeof b), TLS_CLOSED);
  ck_assert_int_eq(tls_sess_read(p.s, b, sizeof b), TLS_CLOSED);
  /* Half-close: the response may still follow the client's close_notify. */
  ck_assert_int_eq(tls_sess_write(p.s, "late", 4), 0);
  tls_sess_close_notify(p.s);
  ck_assert_uint_gt(buf_used(&p.out), 0);
  fixture_pair_free(&p);
  tls_ctx_free(ctx);
  tls_store_free(st);
}
END_TEST

static const uint16_t p521_first[] = {MBEDTLS_SSL_IANA_TLS_GROUP_SECP521R1,
                                      MBEDTLS_SSL_IANA_TLS_GROUP_X25519, 0};
static const int only_rsa12[] = {MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
                                 0};
static const uint16_t only_rsa_sigs[] = {MBEDTLS_TLS1_3_SIG_RSA_PSS_RSAE_SHA256,
                                         MBEDTLS_TLS1_3_SIG_NONE};

static const struct {
  struct fixture_client_opts o;
  bool rsa;
  const char *cn;
  int chain_len;
  const char *cipher; /* prefix */
} choice_cases[] = {
    {{.version = 13, .sni = "example.com"}, false, "example.com", 1, "TLS1-3-"},
    {{.version = 13, .sni = "example.com", .sig_algs = only_rsa_sigs},
     true,
     "example.com",
     1,
     "TLS1-3-"},
    {{.version = 12, .sni = "example.com"},
     false,
     "example.com",
     1,
     "TLS-ECDHE-ECDSA-WITH-AES-128-GCM"},
    {{.version = 12, .sni = "example.com", .suites = only_rsa12},
     true,
     "example.com",
     1,
     "TLS-ECDHE-RSA-"},
    {{.version = 13, .sni = "chain.test"}, false, "chain.test", 2, "TLS1-3-"},
    /* a key share we do not take: HelloRetryRequest, SNI seen twice */
    {{.version = 13, .sni = "chain.test", .groups = p521_first},
     false,
     "chain.test",
     2,
     "TLS1-3-"},
    {{.version = 12, .sni = "CHAIN.test."}, false, "chain.test", 2, "TLS-"},
    {{.version = 13, .sni = "www.example.com"}, false, "example.com", 1, ""},
    {{.version = 13, .sni = "unknown.test"}, false, "example.com", 1, ""},
    {{.version = 13}, false, "example.com", 1, ""},
    {{.version = 12, .suites = only_rsa12}, true, "example.com", 1, ""},
};

START_TEST(test_certificate_choice) {
  struct tls_store *st = store3();
  struct tls_ctx *ctx = fixture_ctx(st, fixture_secret_a, (uint64_t)time(NULL));
  const mbedtls_x509_crt *peer;
  struct fixture_pair p;
  char cn[64];
  int i = _i, n = 0;

  fixture_pair_init(&p, ctx, &choice_cases[i].o);
  ck_assert_int_eq(fixture_handshake(&p), 0);
  ck_assert_ptr_nonnull(peer = mbedtls_ssl_get_peer_cert(&p.c.ssl));
  ck_assert_int_eq(mbedtls_pk_get_type(&peer->pk) == MBEDTLS_PK_RSA,
                   choice_cases[i].rsa);
  ck_assert_int_gt(mbedtls_x509_dn_gets(cn, sizeof cn, &peer->subject), 0);
  ck_assert_str_eq(cn + 3, choice_cases[i].cn);
  for (const mbedtls_x509_crt *c = peer; c != NULL && c->raw.p != NULL;
       c = c->next)
    n++;
  ck_assert_int_eq(n, choice_cases[i].chain_len);
  ck_assert_msg(strncmp(tls_sess_cipher(p.s), choice_cases[i].cipher,
                        strlen(choice_cases[i].cipher)) == 0,
                "cipher %s", tls_sess_cipher(p.s));
  fixture_pair_free(&p);
  tls_ctx_free(ctx);
  tls_store_free(st);
}
END_TEST

/* The options reach the handshake: --ciphers, --groups, --tls-min, --alpn. */
static const struct {
  const char *ciphers, *groups, *alpn;
  int tls_min;
  struct fixture_client_opts o;
  const char *want; /* cipher prefix, or the server's error */
} option_cases[] = {
    {"TLS_AES_256_GCM_SHA384:TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
     NULL,
     NULL,
     0,
     {.version = 13},
     "TLS1-3-AES-256-GCM-SHA384"},
    {"TLS_AES_256_GCM_SHA384:TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
     NULL,
     NULL,
     0,
     {.version = 12},
     "TLS-ECDHE-ECDSA-WITH-AES-256-GCM-SHA384"},
    {"TLS_AES_256_GCM_SHA384:TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
     NULL,
     NULL,
     0,
     {.version = 12, .suites = only_rsa12},
     "handshake: no shared cipher suite, group or certificate type"},
    {NULL, "secp384r1", NULL, 0, {.version = 13}, "TLS1-3-"},
    {NULL, "secp384r1", NULL, 0, {.version = 12}, "TLS-ECDHE-"},
    {NULL, "x25519", NULL, 0, {.version = 13, .groups = p521_first}, "TLS1-3-"},
    {NULL,
     NULL,
     NULL,
     CFG_TLS_1_3,
     {.version = 12},
     "handshake: no shared protocol version"},
    {NULL,
     NULL,
     "h2,http/1.1",
     0,
     {.version = 13, .alpn = alpn_both},
     "TLS1-3-"},
};

START_TEST(test_options) {
  int i = _i;
  struct tls_store *st =
      store_with(option_cases[i].ciphers, option_cases[i].groups,
                 option_cases[i].alpn, option_cases[i].tls_min);
  struct tls_ctx *ctx = fixture_ctx(st, fixture_secret_a, (uint64_t)time(NULL));
  const char *want = option_cases[i].want;
  struct fixture_pair p;

  fixture_pair_init(&p, ctx, &option_cases[i].o);
  if (strncmp(want, "handshake:", 10) == 0) {
    ck_assert_int_eq(fixture_handshake(&p), TLS_FAIL);
    ck_assert_msg(strncmp(tls_sess_error(p.s), want, strlen(want)) == 0,
                  "error '%s'", tls_sess_error(p.s));
  } else {
    ck_assert_int_eq(fixture_handshake(&p), 0);
    ck_assert_msg(strncmp(tls_sess_cipher(p.s), want, strlen(want)) == 0,
                  "cipher %s", tls_sess_cipher(p.s));
    if (option_cases[i].alpn != NULL)
      ck_assert_str_eq(tls_sess_alpn(p.s), "h2");
  }
  fixture_pair_free(&p);
  tls_ctx_free(ctx);
  tls_store_free(st);
}
END_TEST

START_TEST(test_alpn) {
  struct tls_store *st = store3();
  struct tls_ctx *ctx = fixture_ctx(st, fixture_secret_a, (uint64_t)time(NULL));
  struct fixture_client_opts none = {.version = 13},
                             h2 = {.version = 12, .alpn = alpn_h2};
  struct fixture_pair p;

  fixture_pair_init(&p, ctx, &none);
  ck_assert_int_eq(fixture_handshake(&p), 0);
  ck_assert_ptr_null(tls_sess_alpn(p.s));
  ck_assert_ptr_null(tls_sess_sni(p.s));
  fixture_pair_free(&p);
  /* An offer with no overlap is fatal (no_application_protocol). */
  fixture_pair_init(&p, ctx, &h2);
  ck_assert_int_eq(fixture_handshake(&p), TLS_FAIL);
  ck_assert_str_eq(tls_sess_error(p.s),
                   "handshake: no shared ALPN protocol (-0x7580)");
  ck_assert_uint_gt(buf_used(&p.out), 0); /* the alert */
  ck_assert_int_eq(tls_sess_handshake(p.s), TLS_FAIL);
  fixture_pair_free(&p);
  tls_ctx_free(ctx);
  tls_store_free(st);
}
END_TEST

static const struct {
  const char *bytes;
  size_t len;
  const char *err;
} garbage_cases[] = {
    {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27,
     "handshake: client sent garbage (plain HTTP?)"},
    {"\x01\x02\x03\x04\x05\x06\x07\x08\x09", 9,
     "handshake: client sent garbage (not TLS)"},
    /* a handshake record holding a one-byte ClientHello */
    {"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x05", 10, "handshake: "},
};

START_TEST(test_garbage) {
  struct tls_store *st = store3();
  struct tls_ctx *ctx = fixture_ctx(st, fixture_secret_a, (uint64_t)time(NULL));
  struct buf in, out;
  struct tls_sess *s;
  char b[16];
  int i = _i;

  buf_init(&in, 4096);
  buf_init(&out, 4096);
  ck_assert_ptr_nonnull(s = tls_sess_new(ctx, &in, &out));
  buf_append(&in, garbage_cases[i].bytes, garbage_cases[i].len);
  ck_assert_int_eq(tls_sess_handshake(s), TLS_FAIL);
  ck_assert_msg(strncmp(tls_sess_error(s), garbage_cases[i].err,
                        strlen(garbage_cases[i].err)) == 0,
                "error '%s'", tls_sess_error(s));
  ck_assert_int_eq(tls_sess_read(s, b, sizeof b), TLS_FAIL);
  tls_sess_free(s);
  buf_cleanup(&in);
  buf_cleanup(&out);
  tls_ctx_free(ctx);
  tls_store_free(st);
}
END_TEST

/* The read trap: several records, a warning alert and a split record in
 * `in` at once must all come out before TLS_WANT. */
START_TEST(test_read_loop) {
  struct tls_store *st = store3();
  struct tls_ctx *ctx = fixture_ctx(st, fixture_secret_a, (uint64_t)time(NULL));
  struct fixture_client_opts o = {.version = _i == 0 ? 12 : 13};
  struct fixture_pair p;
  char b[8], got[64];
  size_t n = 0, half;
  int r;

  fixture_pair_init(&p, ctx, &o);
  ck_assert_int_eq(fixture_handshake(&p), 0);
  ck_assert_int_eq(mbedtls_ssl_write(&p.c.ssl, (const unsigned char *)"one", 3),
                   3);
  if (_i == 0)
    ck_assert_int_eq(mbedtls_ssl_send_alert_message(
                         &p.c.ssl, MBEDTLS_SSL_ALERT_LEVEL_WARNING,
                         MBEDTLS_SSL_ALERT_MSG_NO_RENEGOTIATION),
                     0);
  ck_assert_int_eq(mbedtls_ssl_write(&p.c.ssl, (const unsigned char *)"two", 3),
                   3);
  ck_assert_int_eq(
      mbedtls_ssl_write(&p.c.ssl, (const unsigned char *)"three", 5), 5);
  /* All of it but half of the last record. */
  half = buf_used(&p.c.out) - 10;
  buf_append(&p.in, buf_data(&p.c.out), half);
  buf_consume(&p.c.out, half);
  while ((r = tls_sess_read(p.s, b, 2)) > 0) {
    memcpy(got + n, b, (size_t)r);
    n += (size_t)r;
  }
  ck_assert_int_eq(r, TLS_WANT);
  ck_assert_uint_eq(buf_used(&p.in), 0);
  ck_assert_int_eq(memcmp(got, "onetwo", 6), 0);
  fixture_move(&p.c.out, &p.in);
  while ((r = tls_sess_read(p.s, b, sizeof b)) > 0) {
    memcpy(got + n, b, (size_t)r);
    n += (size_t)r;
  }
  ck_assert_int_eq(r, TLS_WANT);
  ck_assert_uint_eq(n, 11);
  ck_assert_int_eq(memcmp(got, "onetwothree", 11), 0);
  fixture_pair_free(&p);
  tls_ctx_free(ctx);
  tls_store_free(st);
}
END_TEST

START_TEST(test_write_large) {
  struct tls_store *st = store3();
  struct tls_ctx *ctx = fixture_ctx(st, fixture_secret_a, (uint64_t)time(NULL));
  struct fixture_client_opts o = {.version = 12};
  static char big[100000], back[100000];
  struct fixture_pair p;
  size_t n = 0;

  for (size_t k = 0; k < sizeof big; k++)
    big[k] = (char)(k * 7);
  fixture_pair_init(&p, ctx, &o);
  ck_assert_int_eq(fixture_handshake(&p), 0);
  ck_assert_int_eq(tls_sess_write(p.s, big, sizeof big), 0);
  ck_assert_int_eq(tls_sess_write(p.s, big, 0), 0);
  fixture_move(&p.out, &p.c.in);
  while (n < sizeof back) {
    int r = fixture_client_read(&p.c, back + n, sizeof back - n);
    ck_assert_int_gt(r, 0);
    n += (size_t)r;
  }
  ck_assert_int_eq(memcmp(big, back, sizeof big), 0);
  fixture_pair_free(&p);
  tls_ctx_free(ctx);
  tls_store_free(st);
}
END_TEST

START_TEST(test_misuse) {
  struct tls_store *st = store3();
  struct tls_ctx *ctx = fixture_ctx(st, fixture_secret_a, (uint64_t)time(NULL)),
                 *bad;
  struct fixture_client_opts o = {.version = 13};
  struct buf in, out;
  struct tls_sess *s;
  struct fixture_pair p;
  char err[128];

  /* Nothing to close before the handshake; nothing to write either. */
  buf_init(&in, 4096);
  buf_init(&out, 4096);
  ck_assert_ptr_nonnull(s = tls_sess_new(ctx, &in, &out));
  ck_assert_int_eq(tls_sess_handshake(s), TLS_WANT);
  tls_sess_close_notify(s);
  ck_assert_uint_eq(buf_used(&out), 0);
  ck_assert_str_eq(tls_sess_error(s), "no error");
  ck_assert_int_eq(tls_sess_write(s, "x", 1), TLS_FAIL);
  ck_assert_str_eq(tls_sess_error(s), "write: handshake not complete");
  tls_sess_free(s);
  buf_cleanup(&in);
  buf_cleanup(&out);

  /* An output buffer too small for the server's first flight. */
  fixture_pair_init(&p, ctx, &o);
  p.out.max = 100;
  ck_assert_int_eq(fixture_handshake(&p), TLS_FAIL);
  ck_assert_ptr_nonnull(strstr(tls_sess_error(p.s), "output buffer full"));
  fixture_pair_free(&p);

  ck_assert_int_eq(
      tls_ctx_new(&bad, st, NULL, fixture_secret_a, 8, 0, err, sizeof err), -1);
  ck_assert_ptr_null(bad);
  ck_assert_ptr_nonnull(strstr(err, "ticket secret"));
  tls_ctx_free(NULL);
  tls_ctx_free(ctx);
  tls_store_free(st);
}
END_TEST

START_TEST(test_pool) {
  struct tls_store *st = store3();
  struct tls_ctx *ctx = fixture_ctx(st, fixture_secret_a, (uint64_t)time(NULL));
  struct tls_sess *s[TLS_CTX_POOL_MAX + 6], *reused;
  struct buf in, out;
  struct fixture_client_opts o = {.version = 13};
  struct fixture_pair p;

  buf_init(&in, 4096);
  buf_init(&out, 4096);
  for (size_t k = 0; k < sizeof s / sizeof s[0]; k++)
    ck_assert_ptr_nonnull(s[k] = tls_sess_new(ctx, &in, &out));
  ck_assert_uint_eq(ctx->n_live, sizeof s / sizeof s[0]);
  for (size_t k = 0; k < sizeof s / sizeof s[0]; k++)
    tls_sess_free(s[k]);
  ck_assert_uint_eq(ctx->n_pool, TLS_CTX_POOL_MAX);
  ck_assert_uint_eq(ctx->n_live, 0);
  reused = ctx->pool;
  /* Reused contexts run fresh handshakes, one after another. */
  for (int k = 0; k < 2; k++) {
    fixture_pair_init(&p, ctx, &o);
    ck_assert_ptr_eq(p.s, reused);
    ck_assert_int_eq(fixture_handshake(&p), 0);
    ck_assert(!tls_sess_resumed(p.s));
    fixture_pair_free(&p);
  }
  buf_cleanup(&in);
  buf_cleanup(&out);
  tls_ctx_free(ctx);
  tls_store_free(st);
}
END_TEST

/* --- tickets ------------------------------------------------------------ */

/* What a full handshake of the current test's version sent. */
static size_t full_bytes;

/* Handshake on ctx, resuming `sess` if given (else a full handshake whose
 * session is saved in `next`): was it resumed? */
static bool resumes(struct tls_ctx *ctx, int version, mbedtls_ssl_session *sess,
                    int kex_modes, mbedtls_ssl_session *next) {
  struct fixture_client_opts o = {.version = version,
                                  .sni = "example.com",
                                  .resume = sess,
                                  .kex_modes = kex_modes};
  struct fixture_pair p;
  bool resumed;

  fixture_pair_init(&p, ctx, &o);
  ck_assert_int_eq(fixture_handshake(&p), 0);
  resumed = tls_sess_resumed(p.s);
  /* Cross-check without the library's state: a full handshake sends our
   * certificate and a signature, several hundred bytes a resumed one
   * does not. */
  if (sess == NULL)
    full_bytes = p.srv_bytes;
  else
    ck_assert_msg(resumed == (p.srv_bytes + 300 < full_bytes),
                  "resumed %d, sent %zu bytes, full handshake %zu", resumed,
                  p.srv_bytes, full_bytes);
  if (next != NULL)
    fixture_client_session(&p, next);
  fixture_pair_free(&p);
  return resumed;
}

START_TEST(test_resume_across_loops) {
  int version = _i == 0 ? 12 : 13;
  uint64_t now = (uint64_t)time(NULL), e = TLS_TICKET_LIFETIME_DEFAULT_S;
  struct tls_store *st = store3();
  struct tls_ctx *a = fixture_ctx(st, fixture_secret_a, now),
                 *b = fixture_ctx(st, fixture_secret_a, now);
  struct tls_ctx *other = fixture_ctx(st, fixture_secret_b, now);
  struct tls_ctx *next = fixture_ctx(st, fixture_secret_a, now + e);
  struct tls_ctx *later = fixture_ctx(st, fixture_secret_a, now + 2 * e);
  mbedtls_ssl_session sess;
  uint8_t name[TLS_TICKET_NAME_LEN], key[TLS_TICKET_KEY_LEN];

  ck_assert(!resumes(a, version, NULL, 0, &sess));
  /* The ticket is under the key every loop derives for this epoch. */
  ck_assert_int_eq(tls_ticket_derive(fixture_secret_a, sizeof fixture_secret_a,
                                     (uint32_t)e, now / e, name, key),
                   0);
  ck_assert_uint_gt(sess.MBEDTLS_PRIVATE(ticket_len), TLS_TICKET_NAME_LEN);
  ck_assert_int_eq(memcmp(sess.MBEDTLS_PRIVATE(ticket), name, sizeof name), 0);
  ck_assert_uint_eq(sess.MBEDTLS_PRIVATE(ticket_lifetime),
                    TLS_TICKET_LIFETIME_DEFAULT_S);

  ck_assert(resumes(a, version, &sess, 0, NULL));
  ck_assert(resumes(b, version, &sess, 0, NULL));      /* another loop */
  ck_assert(!resumes(other, version, &sess, 0, NULL)); /* another secret */
  ck_assert(resumes(next, version, &sess, 0, NULL));   /* one rotation */
  ck_assert(!resumes(later, version, &sess, 0, NULL)); /* two rotations */
  if (version == 13)
    /* A ticket offered for psk_ke only (no fresh ECDHE) is refused: full
     * handshake, even though the ticket itself decrypts. */
    ck_assert(!resumes(b, version, &sess,
                       MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK |
                           MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL,
                       NULL));
  mbedtls_ssl_session_free(&sess);
  tls_ctx_free(a);
  tls_ctx_free(b);
  tls_ctx_free(other);
  tls_ctx_free(next);
  tls_ctx_free(later);
  tls_store_free(st);
}
END_TEST

/* A store of one certificate (example.com), as a reload might load. */
static struct tls_store *store_one(const char *pem, const char *key) {
  const char *files[] = {pem, key};
  struct tls_store *st;
  struct cfg cfg;
  char err[256];

  fixture_cfg(&cfg, files, 1);
  ck_assert_msg(tls_store_load(&st, &cfg, err, sizeof err) == 0, "%s", err);
  fixture_cfg_free(&cfg);
  return st;
}

/* A reload: the same secret, a new store. A renewed certificate of the
 * same type keeps every ticket. A switch from ECDSA to RSA changes the
 * TLS 1.2 suite mbedTLS picks, which it would announce for the resumed
 * session; such a ticket must give a full handshake (that succeeds), not a
 * broken resumption. TLS 1.3 tickets resume either way. */
START_TEST(test_resume_after_reload) {
  int version = _i == 0 ? 12 : 13;
  uint64_t now = (uint64_t)time(NULL);
  struct tls_store *ec = store_one("ec.pem", "ec.key"),
                   *renewed = store_one("combined.pem", NULL),
                   *rsa = store_one("rsa.pem", "rsa.key");
  struct tls_ctx *a = fixture_ctx(ec, fixture_secret_a, now),
                 *b = fixture_ctx(renewed, fixture_secret_a, now),
                 *c = fixture_ctx(rsa, fixture_secret_a, now);
  mbedtls_ssl_session sess;

  ck_assert(!resumes(a, version, NULL, 0, &sess));
  ck_assert(resumes(b, version, &sess, 0, NULL));
  ck_assert(resumes(c, version, &sess, 0, NULL) == (version == 13));
  mbedtls_ssl_session_free(&sess);
  tls_ctx_free(a);
  tls_ctx_free(b);
  tls_ctx_free(c);
  tls_store_free(ec);
  tls_store_free(renewed);
  tls_store_free(rsa);
}
END_TEST

START_TEST(test_tick) {
  uint64_t e = TLS_TICKET_LIFETIME_DEFAULT_S, now = (uint64_t)time(NULL);
  uint64_t start = now - now % e; /* this epoch began at start */
  struct tls_store *st = store3();
  struct tls_ctx *a = fixture_ctx(st, fixture_secret_a, now);
  mbedtls_ssl_session sess;

  ck_assert(!resumes(a, 13, NULL, 0, &sess));
  /* Mid-epoch: come back in a minute to refresh the keys; near the end:
   * at the boundary. */
  ck_assert_uint_eq(tls_ctx_tick(a, start), TLS_TICKET_REFRESH_S);
  ck_assert_uint_eq(tls_ctx_tick(a, start + e - 5), 5);
  ck_assert(resumes(a, 13, &sess, 0, NULL));
  ck_assert_uint_eq(tls_ctx_tick(a, start + e), TLS_TICKET_REFRESH_S);
  ck_assert_uint_eq(a->epoch, start / e + 1);
  ck_assert(resumes(a, 13, &sess, 0, NULL)); /* the old key decrypts */
  tls_ctx_tick(a, start + 2 * e);
  ck_assert(!resumes(a, 13, &sess, 0, NULL)); /* gone after two */
  /* A clock that jumps back installs that epoch's keys again. */
  tls_ctx_tick(a, now);
  ck_assert(resumes(a, 13, &sess, 0, NULL));
  mbedtls_ssl_session_free(&sess);
  tls_ctx_free(a);
  tls_store_free(st);
}
END_TEST

/* A loop whose tick for the new epoch has not come yet (its timer has a
 * phase of its own) still resumes a ticket another loop issued under the
 * new key: it catches up with the wall clock when it parses the ticket. */
START_TEST(test_late_tick) {
  int version = _i == 0 ? 12 : 13;
  uint64_t e = TLS_TICKET_LIFETIME_DEFAULT_S, now = (uint64_t)time(NULL);
  struct tls_store *st = store3();
  struct tls_ctx *a = fixture_ctx(st, fixture_secret_a, now),
                 *late = fixture_ctx(st, fixture_secret_a, now - e);
  mbedtls_ssl_session sess;

  ck_assert_uint_eq(late->epoch, now / e - 1);
  ck_assert(!resumes(a, version, NULL, 0, &sess));
  ck_assert(resumes(late, version, &sess, 0, NULL));
  ck_assert_uint_eq(late->epoch, now / e);
  mbedtls_ssl_session_free(&sess);
  tls_ctx_free(a);
  tls_ctx_free(late);
  tls_store_free(st);
}
END_TEST

START_TEST(test_derive) {
  uint8_t n1[TLS_TICKET_NAME_LEN], k1[TLS_TICKET_KEY_LEN];
  uint8_t n2[TLS_TICKET_NAME_LEN], k2[TLS_TICKET_KEY_LEN];

  ck_assert_int_eq(tls_ticket_derive(fixture_secret_a, 32, 3600, 7, n1, k1), 0);
  ck_assert_int_eq(tls_ticket_derive(fixture_secret_a, 32, 3600, 7, n2, k2), 0);
  ck_assert_int_eq(memcmp(n1, n2, sizeof n1) | memcmp(k1, k2, sizeof k1), 0);
  ck_assert_int_eq(tls_ticket_derive(fixture_secret_a, 32, 3600, 8, n2, k2), 0);
  ck_assert_int_ne(memcmp(k1, k2, sizeof k1), 0);
  ck_assert_int_ne(memcmp(n1, n2, sizeof n1), 0);
  ck_assert_int_eq(tls_ticket_derive(fixture_secret_b, 32, 3600, 7, n2, k2), 0);
  ck_assert_int_ne(memcmp(k1, k2, sizeof k1), 0);
  /* The lifetime is part of the derivation: same secret and epoch number,
   * another lifetime, another key. */
  ck_assert_int_eq(tls_ticket_derive(fixture_secret_a, 32, 3601, 7, n2, k2), 0);
  ck_assert_int_ne(memcmp(k1, k2, sizeof k1), 0);
  ck_assert_int_ne(memcmp(n1, n2, sizeof n1), 0);
}
END_TEST

/* --- shared secrets and lifetimes ---------------------------------------- */

/* A ctx as a worker builds it: the secret from a --ticket-secret-file and
 * the lifetime from cfg. */
static struct tls_ctx *ctx_with(const struct tls_store *st, const uint8_t *sec,
                                size_t len, unsigned lifetime_ms,
                                uint64_t now) {
  struct cfg cfg;
  struct tls_ctx *ctx;
  char err[256];

  memset(&cfg, 0, sizeof cfg);
  cfg.ticket_lifetime_ms = lifetime_ms;
  ck_assert_msg(tls_ctx_new(&ctx, st, &cfg, sec, len, now, err, sizeof err) ==
                    0,
                "%s", err);
  return ctx;
}

/* Write `len` bytes to a new file in a temp dir with `mode`; returns its
 * path (static storage, one at a time). */
static const char *secret_file(const void *data, size_t len, mode_t mode) {
  static char path[64];
  FILE *f;

  snprintf(path, sizeof path, "/tmp/tlsterm-secret.XXXXXX");
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(fchmod(fd, mode), 0);
  ck_assert_ptr_nonnull(f = fdopen(fd, "wb"));
  ck_assert_uint_eq(fwrite(data, 1, len, f), len);
  ck_assert_int_eq(fclose(f), 0);
  return path;
}

/* Load `text` as a secret file: 0 with the secret, or -1 with err. */
static int load_text(const char *text, size_t len, mode_t mode, uint8_t **sec,
                     size_t *sec_len, char *warn, char *err) {
  const char *path = secret_file(text, len, mode);
  int rc = tls_ticket_secret_load(path, sec, sec_len, warn, 256, err, 256);

  unlink(path);
  return rc;
}

static const struct {
  const char *what, *text;
  size_t len; /* 0: strlen */
  int rc;
  size_t secret_len;  /* on success */
  const char *in_msg; /* in err (failure) or warn (success, 0600 file) */
} secret_cases[] = {
    {"base64 of 48 bytes, newline",
     "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g"
     "ISIjJCUmJygpKissLS4v\n",
     0, 0, 48, NULL},
    {"base64 wrapped over lines, CRLF, spaces",
     " AAECAwQFBgcICQoLDA0ODxAREhMU\r\nFRYXGBkaGxwdHh8gISIjJCUmJygp\n"
     "KissLS4v \n",
     0, 0, 48, NULL},
    {"raw bytes", "\x01\x02\xff binary secret that is long enough!\n", 0, 0, 39,
     NULL},
    {"base64 too short (16 bytes)", "AAECAwQFBgcICQoLDA0ODw==\n", 0, -1, 0,
     "too short: 16 bytes after base64 decoding"},
    {"raw too short", "short secret\n", 0, -1, 0, "too short: 13 bytes"},
    {"empty", "", 0, -1, 0, "too short: 0 bytes"},
    {"whitespace only", " \n\n", 0, -1, 0, "too short: 3 bytes"},
};

START_TEST(test_secret_load) {
  uint8_t *sec = NULL;
  size_t len = 0, n = secret_cases[_i].len ? secret_cases[_i].len
                                           : strlen(secret_cases[_i].text);
  char warn[256], err[256] = "";
  int rc = load_text(secret_cases[_i].text, n, 0600, &sec, &len, warn, err);

  ck_assert_msg(rc == secret_cases[_i].rc, "%s: rc %d (%s)",
                secret_cases[_i].what, rc, err);
  if (rc == 0) {
    ck_assert_uint_eq(len, secret_cases[_i].secret_len);
    ck_assert_str_eq(warn, "");
    if (len == 48) /* the base64 cases decode to bytes 0..47 */
      for (size_t k = 0; k < len; k++)
        ck_assert_uint_eq(sec[k], k);
    tls_ticket_secret_free(sec, len);
  } else {
    ck_assert_ptr_null(sec);
    ck_assert_msg(strncmp(err, "--ticket-secret-file /tmp/", 26) == 0, "%s",
                  err);
    ck_assert_msg(strstr(err, secret_cases[_i].in_msg) != NULL, "%s: %s",
                  secret_cases[_i].what, err);
  }
}
END_TEST

START_TEST(test_secret_load_file) {
  static const char b64[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g\n";
  char big[TLS_TICKET_SECRET_MAX + 1], warn[256], err[256];
  uint8_t *sec;
  size_t len;

  /* Readable by others: a warning, not a failure. */
  ck_assert_int_eq(load_text(b64, strlen(b64), 0644, &sec, &len, warn, err), 0);
  ck_assert_uint_eq(len, 33);
  ck_assert_ptr_nonnull(strstr(warn, "readable by group or others"));
  tls_ticket_secret_free(sec, len);
  /* Raw and longer than the maximum. */
  memset(big, 0xA5, sizeof big);
  ck_assert_int_eq(load_text(big, sizeof big, 0600, &sec, &len, warn, err), -1);
  ck_assert_ptr_nonnull(strstr(err, "more than 1024"));
  /* Missing, and a directory. */
  ck_assert_int_eq(tls_ticket_secret_load("/nonexistent/ticket.key", &sec, &len,
                                          warn, sizeof warn, err, sizeof err),
                   -1);
  ck_assert_str_eq(err, "--ticket-secret-file /nonexistent/ticket.key: No such "
                        "file or directory");
  ck_assert_int_eq(tls_ticket_secret_load("/tmp", &sec, &len, warn, sizeof warn,
                                          err, sizeof err),
                   -1);
  ck_assert_str_eq(err, "--ticket-secret-file /tmp: not a regular file");
}
END_TEST

/* Two contexts built from the same file bytes (as two instances would)
 * resume each other's tickets; another file's do not. */
START_TEST(test_shared_secret_file) {
  int version = _i == 0 ? 12 : 13;
  static const char text_a[] =
      "c2hhcmVkIHRpY2tldCBzZWNyZXQgZm9yIHRoZSBjbHVzdGVyLCA0OCBieXRlcyEh\n";
  static const char text_b[] =
      "YW5vdGhlciBjbHVzdGVyIHNlY3JldCwgYWxzbyBmb3J0eS1laWdodCBieXRlcyEh\n";
  uint64_t now = (uint64_t)time(NULL);
  struct tls_store *st = store3();
  uint8_t *a1, *a2, *b;
  size_t la1, la2, lb;
  char warn[256], err[256];
  mbedtls_ssl_session sess;

  ck_assert_int_eq(
      load_text(text_a, strlen(text_a), 0600, &a1, &la1, warn, err), 0);
  ck_assert_int_eq(
      load_text(text_a, strlen(text_a), 0400, &a2, &la2, warn, err), 0);
  ck_assert_int_eq(load_text(text_b, strlen(text_b), 0600, &b, &lb, warn, err),
                   0);
  ck_assert_uint_eq(la1, 48);
  struct tls_ctx *x = ctx_with(st, a1, la1, 3600000, now),
                 *y = ctx_with(st, a2, la2, 3600000, now),
                 *z = ctx_with(st, b, lb, 3600000, now),
                 *w = ctx_with(st, a1, la1, 7200000, now);
  /* The caller may free the secret once the contexts are built. */
  tls_ticket_secret_free(a1, la1);
  tls_ticket_secret_free(a2, la2);
  tls_ticket_secret_free(b, lb);

  ck_assert(!resumes(x, version, NULL, 0, &sess));
  ck_assert_uint_eq(sess.MBEDTLS_PRIVATE(ticket_lifetime), 3600);
  ck_assert(resumes(y, version, &sess, 0, NULL));  /* the same file */
  ck_assert(!resumes(z, version, &sess, 0, NULL)); /* another file */
  ck_assert(!resumes(w, version, &sess, 0, NULL)); /* another lifetime */
  ck_assert(resumes(x, version, &sess, 0, NULL));
  mbedtls_ssl_session_free(&sess);
  tls_ctx_free(x);
  tls_ctx_free(y);
  tls_ctx_free(z);
  tls_ctx_free(w);
  tls_store_free(st);
}
END_TEST

/* A short lifetime: a ticket of epoch e resumes in epoch e+1 and not in
 * e+2, through both a fresh context and tls_ctx_tick(); ticks come at the
 * epoch boundaries. */
START_TEST(test_short_lifetime) {
  int version = _i == 0 ? 12 : 13;
  const uint64_t l = 10; /* seconds */
  uint64_t now = (uint64_t)time(NULL), start = now - now % l;
  struct tls_store *st = store3();
  struct tls_ctx *a = ctx_with(st, fixture_secret_a, 32, 10000, now),
                 *next = ctx_with(st, fixture_secret_a, 32, 10000, now + l),
                 *later =
                     ctx_with(st, fixture_secret_a, 32, 10000, now + 2 * l),
                 *odd = ctx_with(st, fixture_secret_a, 32, 9001, now);
  mbedtls_ssl_session sess;

  ck_assert_uint_eq(a->ticket_lifetime_s, 10);
  ck_assert_uint_eq(odd->ticket_lifetime_s, 10); /* 9.001 s: rounded up */
  ck_assert_uint_eq(a->epoch, now / l);
  ck_assert(!resumes(a, version, NULL, 0, &sess));
  ck_assert_uint_eq(sess.MBEDTLS_PRIVATE(ticket_lifetime), 10);
  ck_assert(resumes(next, version, &sess, 0, NULL));   /* epoch e+1 */
  ck_assert(!resumes(later, version, &sess, 0, NULL)); /* epoch e+2 */
  /* The same rotation by ticking one context. */
  ck_assert_uint_eq(tls_ctx_tick(a, start), 10);
  ck_assert_uint_eq(tls_ctx_tick(a, start + 3), 7);
  ck_assert_uint_eq(tls_ctx_tick(a, start + l), 10);
  ck_assert_uint_eq(a->epoch, now / l + 1);
  ck_assert(resumes(a, version, &sess, 0, NULL));
  tls_ctx_tick(a, start + 2 * l);
  ck_assert(!resumes(a, version, &sess, 0, NULL));
  mbedtls_ssl_session_free(&sess);
  tls_ctx_free(a);
  tls_ctx_free(next);
  tls_ctx_free(later);
  tls_ctx_free(odd);
  tls_store_free(st);
}
END_TEST

/* A ticket older than its lifetime is refused even while its key is still
 * installed: 1 s lifetime, a 2.2 s wait. The keys are those of an epoch a
 * minute ahead of the wall clock, which a loop never leaves for an older
 * one by itself, so only the ticket's age can refuse it. */
START_TEST(test_ticket_expires) {
  struct tls_store *st = store3();
  uint64_t ahead = (uint64_t)time(NULL) + 60;
  struct tls_ctx *a = ctx_with(st, fixture_secret_a, 32, 1, ahead);
  mbedtls_ssl_session sess;
  struct timespec ts = {.tv_sec = 2, .tv_nsec = 200000000};

  ck_assert_uint_eq(a->ticket_lifetime_s, 1);
  ck_assert(!resumes(a, 12, NULL, 0, &sess));
  ck_assert(resumes(a, 12, &sess, 0, NULL));
  nanosleep(&ts, NULL);
  ck_assert(!resumes(a, 12, &sess, 0, NULL));
  ck_assert_uint_eq(a->epoch, ahead); /* the key is still there */
  mbedtls_ssl_session_free(&sess);
  tls_ctx_free(a);
  tls_store_free(st);
}
END_TEST

/* Loops on threads: each its own ctx over the one shared store, running
 * handshakes at once; then every loop's ticket resumes on another ctx. */
#define THREADS 4

struct loop_arg {
  const struct tls_store *st;
  int version;
  int resumed;
  mbedtls_ssl_session sess;
};

static void *loop_thread(void *p) {
  struct loop_arg *a = p;
  struct tls_ctx *ctx =
      fixture_ctx(a->st, fixture_secret_a, (uint64_t)time(NULL));
  struct fixture_client_opts o = {.version = a->version, .sni = "example.com"};
  struct fixture_pair pr;

  for (int k = 0; k < 8; k++) {
    mbedtls_ssl_session_free(&a->sess);
    o.resume = NULL;
    fixture_pair_init(&pr, ctx, &o);
    if (fixture_handshake(&pr) == 0 && !tls_sess_resumed(pr.s))
      fixture_client_session(&pr, &a->sess);
    fixture_pair_free(&pr);
    o.resume = &a->sess;
    fixture_pair_init(&pr, ctx, &o);
    if (fixture_handshake(&pr) == 0 && tls_sess_resumed(pr.s))
      a->resumed++;
    fixture_pair_free(&pr);
  }
  tls_ctx_free(ctx);
  return NULL;
}

START_TEST(test_threads) {
  struct tls_store *st = store3();
  struct tls_ctx *ctx = fixture_ctx(st, fixture_secret_a, (uint64_t)time(NULL));
  struct loop_arg a[THREADS];
  pthread_t t[THREADS];

  for (int i = 0; i < THREADS; i++) {
    a[i] = (struct loop_arg){.st = st, .version = i % 2 ? 13 : 12};
    mbedtls_ssl_session_init(&a[i].sess);
    ck_assert_int_eq(pthread_create(&t[i], NULL, loop_thread, &a[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) {
    ck_assert_int_eq(pthread_join(t[i], NULL), 0);
    ck_assert_int_eq(a[i].resumed, 8);
    ck_assert(!resumes(ctx, a[i].version, NULL, 0, NULL));
    ck_assert(resumes(ctx, a[i].version, &a[i].sess, 0, NULL));
    mbedtls_ssl_session_free(&a[i].sess);
  }
  tls_ctx_free(ctx);
  tls_store_free(st);
}
END_TEST

Suite *sess_suite(void) {
  Suite *s = suite_create("sess");
  TCase *tc = fixture_tcase("ctx");

  tcase_add_test(tc, test_handshake_data_close);
  tcase_add_loop_test(tc, test_certificate_choice, 0,
                      (int)(sizeof choice_cases / sizeof choice_cases[0]));
  tcase_add_loop_test(tc, test_options, 0,
                      (int)(sizeof option_cases / sizeof option_cases[0]));
  tcase_add_test(tc, test_alpn);
  tcase_add_loop_test(tc, test_garbage, 0,
                      (int)(sizeof garbage_cases / sizeof garbage_cases[0]));
  tcase_add_loop_test(tc, test_read_loop, 0, 2);
  tcase_add_test(tc, test_write_large);
  tcase_add_test(tc, test_misuse);
  tcase_add_test(tc, test_pool);
  tcase_add_loop_test(tc, test_resume_across_loops, 0, 2);
  tcase_add_loop_test(tc, test_resume_after_reload, 0, 2);
  tcase_add_test(tc, test_tick);
  tcase_add_loop_test(tc, test_late_tick, 0, 2);
  tcase_add_test(tc, test_derive);
  tcase_add_loop_test(tc, test_secret_load, 0,
                      sizeof secret_cases / sizeof secret_cases[0]);
  tcase_add_test(tc, test_secret_load_file);
  tcase_add_loop_test(tc, test_shared_secret_file, 0, 2);
  tcase_add_loop_test(tc, test_short_lifetime, 0, 2);
  tcase_add_test(tc, test_ticket_expires);
  tcase_add_test(tc, test_threads);
  suite_add_tcase(s, tc);
  return s;
}
