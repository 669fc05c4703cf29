/* ctx.c: process-wide TLS set-up and the per-loop TLS context.
 *
 * A struct tls_ctx is everything mbedTLS needs to run handshakes on one
 * loop without touching another thread's state: its own entropy and DRBG,
 * its own mbedtls_ssl_config (which points at that DRBG, the ticket context
 * and our callbacks), its own parsed copy of every certificate chain and
 * private key (parsed from the store's PEM bytes with this loop's RNG; one
 * RSA key shared by threads would serialise all their signatures on its
 * mutex), its own parse of the --client-ca bundle, its ticket keys and
 * ticket callbacks (ticket.c), and a bounded pool of mbedtls_ssl_context for reuse
 * (sess.c). */
#include "tls_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <psa/crypto.h>

#include "config.h"

int tls_global_init(char *err, size_t errlen) {
  psa_status_t st = psa_crypto_init();

  if (st != PSA_SUCCESS) {
    snprintf(err, errlen, "cannot initialise PSA crypto (status %d)", (int)st);
    return -1;
  }
  return 0;
}

void tls_global_cleanup(void) {
  mbedtls_psa_crypto_free();
}

static int fail_with(int ret, const char *what, char *err, size_t errlen) {
  char why[160];

  tls_strerror(ret, why, sizeof why);
  snprintf(err, errlen, "TLS context: %s: %s", what, why);
  return -1;
}

/* This loop's copy of every chain and key. The store already checked them,
 * so a failure here means memory or RNG trouble. */
static int parse_certs(struct tls_ctx *ctx, char *err, size_t errlen) {
  const struct tls_store *st = ctx->store;
  int ret;

  ctx->certs = calloc((size_t)st->n_certs, sizeof *ctx->certs);
  if (ctx->certs == NULL)
    return fail_with(MBEDTLS_ERR_SSL_ALLOC_FAILED, "certificates", err, errlen);
  for (int i = 0; i < st->n_certs; i++) {
    struct tls_ctx_cert *c = &ctx->certs[i];
    const struct tls_cert *sc = &st->certs[i];

    mbedtls_x509_crt_init(&c->chain);
    mbedtls_pk_init(&c->key);
    ret = mbedtls_x509_crt_parse(&c->chain, sc->cert_pem, sc->cert_len);
    if (ret != 0)
      return fail_with(ret < 0 ? ret : MBEDTLS_ERR_X509_INVALID_FORMAT,
                       sc->cert_path, err, errlen);
    ret = mbedtls_pk_parse_key(&c->key, sc->key_pem, sc->key_len, NULL, 0,
                               mbedtls_ctr_drbg_random, &ctx->drbg);
    if (ret != 0)
      return fail_with(ret, sc->key_path, err, errlen);
  }
  return 0;
}

/* Clients without SNI get the default certificate set (sni.c). */
static int conf_default_certs(struct tls_ctx *ctx) {
  int idx[CFG_MAX_CERTS];
  int n = tls_sni_select(ctx->store, NULL, idx, CFG_MAX_CERTS);

  for (int i = 0; i < n; i++) {
    struct tls_ctx_cert *c = &ctx->certs[idx[i]];
    int ret = mbedtls_ssl_conf_own_cert(&ctx->conf, &c->chain, &c->key);
    if (ret != 0)
      return ret;
  }
  return 0;
}

/* --client-verify: request a certificate (optional, required) and verify
 * it against this loop's own parse of --client-ca. mbedTLS 3.6 semantics,
 * checked against its sources and by test_sess.c:
 *   NONE      no CertificateRequest; verify_result is BADCERT_SKIP_VERIFY.
 *   OPTIONAL  CertificateRequest sent; an empty Certificate, an untrusted
 *             or expired chain, or wrong keyUsage/extendedKeyUsage (fixed
 *             for TLS 1.3 in 3.6.1, CVE-2024-45159) only set flags in
 *             mbedtls_ssl_get_verify_result(). A bad CertificateVerify
 *             signature still fails the handshake.
 *   REQUIRED  any of those fails the handshake with an alert: unknown_ca,
 *             certificate_expired, unsupported_certificate; no certificate:
 *             handshake_failure in TLS 1.2, no_certificate (41) in TLS 1.3.
 *             sess.c sends the TLS 1.2 alerts mbedTLS omits and makes its
 *             TLS 1.3 alerts readable (see tls13_alert_key).
 * A TLS 1.2 ticket carries the peer certificate and its verify result
 * (MBEDTLS_SSL_KEEP_PEER_CERTIFICATE), so a resumed session reports what
 * the full handshake proved. A TLS 1.3 resumption keeps neither (mbedTLS
 * copies only the resumption key and flags from the ticket,
 * ssl_tls13_session_copy_ticket): the resumed session has no certificate
 * and a verify result of 0, which would read as "verified". So when
 * certificates are requested no TLS 1.3 ticket is issued, and every TLS 1.3
 * connection shows its certificate afresh. */
static int conf_client_auth(struct tls_ctx *ctx) {
  const struct tls_client_ca *ca = &ctx->store->client;
  int ret;

  if (ca->verify == CFG_VERIFY_NONE || ca->pem == NULL) {
    mbedtls_ssl_conf_authmode(&ctx->conf, MBEDTLS_SSL_VERIFY_NONE);
    return 0;
  }
  /* The store checked the bundle: anything but 0 is memory trouble. */
  ret = mbedtls_x509_crt_parse(&ctx->client_ca, ca->pem, ca->len);
  if (ret != 0)
    return ret < 0 ? ret : MBEDTLS_ERR_X509_INVALID_FORMAT;
  mbedtls_ssl_conf_ca_chain(&ctx->conf, &ctx->client_ca, NULL);
  mbedtls_ssl_conf_authmode(&ctx->conf, ca->verify == CFG_VERIFY_REQUIRED
                                            ? MBEDTLS_SSL_VERIFY_REQUIRED
                                            : MBEDTLS_SSL_VERIFY_OPTIONAL);
  mbedtls_ssl_conf_new_session_tickets(&ctx->conf, 0);
  return 0;
}

/* The ticket callbacks: ticket.c's, plus a check that a ticket resumes
 * only what a full handshake here would have accepted. Within one process
 * every loop has the same --client-verify, but a ticket secret shared with
 * another instance could bring a ticket from one configured differently: a
 * session without a client certificate must not resume where one is
 * required (mbedTLS does not re-check the authmode on resumption). */
static bool ticket_fits(const struct tls_ctx *ctx,
                        const mbedtls_ssl_session *session) {
  switch (ctx->store->client.verify) {
  case CFG_VERIFY_NONE:
    return true;
  case CFG_VERIFY_OPTIONAL:
    /* TLS 1.3 tickets carry no certificate: we issue none (see
     * conf_client_auth) and take none. */
    return session->MBEDTLS_PRIVATE(tls_version) == MBEDTLS_SSL_VERSION_TLS1_2;
  default:
    return session->MBEDTLS_PRIVATE(tls_version) ==
               MBEDTLS_SSL_VERSION_TLS1_2 &&
           session->MBEDTLS_PRIVATE(peer_cert) != NULL &&
           session->MBEDTLS_PRIVATE(verify_result) == 0;
  }
}

static int ticket_parse_cb(void *p, mbedtls_ssl_session *session,
                           unsigned char *buf, size_t len) {
  struct tls_ctx *ctx = p;
  int ret = tls_ticket_parse(ctx, session, buf, len);

  /* "Expired": both versions then fall back to a full handshake (and free
   * the session). */
  if (ret == 0 && !ticket_fits(ctx, session))
    return MBEDTLS_ERR_SSL_SESSION_TICKET_EXPIRED;
  return ret;
}

static int conf_setup(struct tls_ctx *ctx) {
  const struct tls_store *st = ctx->store;
  mbedtls_ssl_config *conf = &ctx->conf;
  int ret;

  ret = mbedtls_ssl_config_defaults(conf, MBEDTLS_SSL_IS_SERVER,
                                    MBEDTLS_SSL_TRANSPORT_STREAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT);
  if (ret != 0)
    return ret;
  mbedtls_ssl_conf_rng(conf, mbedtls_ctr_drbg_random, &ctx->drbg);
  mbedtls_ssl_conf_min_tls_version(conf, st->min_version);
  mbedtls_ssl_conf_max_tls_version(conf, st->max_version);
  /* The store's arrays outlive every ctx (tls.h: the store is borrowed and
   * must outlive it), as mbedTLS requires of these pointers. */
  mbedtls_ssl_conf_ciphersuites(conf, st->suites);
  mbedtls_ssl_conf_groups(conf, st->groups);
  if (st->alpn != NULL &&
      (ret = mbedtls_ssl_conf_alpn_protocols(conf, st->alpn)) != 0)
    return ret;
  mbedtls_ssl_conf_renegotiation(conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
  /* Tickets only: no session-ID cache is configured (TLS 1.3 never uses
   * one, and a reconnect reaches this loop only 1/N of the time). TLS 1.3
   * resumption must still do a fresh (EC)DHE: psk_dhe_ke only. */
  mbedtls_ssl_conf_session_tickets_cb(conf, tls_ticket_write, ticket_parse_cb,
                                      ctx);
  mbedtls_ssl_conf_tls13_key_exchange_modes(
      conf, MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_EPHEMERAL |
                MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL);
  mbedtls_ssl_conf_new_session_tickets(conf, 1);
  mbedtls_ssl_conf_sni(conf, tls_sni_cb, ctx);
  if ((ret = conf_client_auth(ctx)) != 0)
    return ret;
  return conf_default_certs(ctx);
}

int tls_ctx_new(struct tls_ctx **out, const struct tls_store *store,
                const struct cfg *cfg, const uint8_t *ticket_secret,
                size_t secret_len, uint64_t now_s, char *err, size_t errlen) {
  static const char pers[] = "tlsterm loop";
  struct tls_ctx *ctx;
  int ret;

  /* Everything TLS in cfg was checked into the store, but for the ticket
   * lifetime. */
  *out = NULL;
  if (secret_len < TLS_TICKET_SECRET_LEN ||
      secret_len > TLS_TICKET_SECRET_MAX) {
    snprintf(err, errlen, "TLS context: ticket secret must be %d to %d bytes",
             TLS_TICKET_SECRET_LEN, TLS_TICKET_SECRET_MAX);
    return -1;
  }
  if ((ctx = calloc(1, sizeof *ctx)) == NULL) {
    snprintf(err, errlen, "TLS context: out of memory");
    return -1;
  }
  ctx->store = store;
  mbedtls_entropy_init(&ctx->entropy);
  mbedtls_ctr_drbg_init(&ctx->drbg);
  mbedtls_ssl_config_init(&ctx->conf);
  for (int i = 0; i < 2; i++)
    mbedtls_gcm_init(&ctx->keys[i].gcm);
  mbedtls_x509_crt_init(&ctx->client_ca);

  /* Each loop seeds its own DRBG from the system entropy source. */
  ret = mbedtls_ctr_drbg_seed(&ctx->drbg, mbedtls_entropy_func, &ctx->entropy,
                              (const unsigned char *)pers, sizeof pers);
  if (ret != 0) {
    fail_with(ret, "seeding the DRBG", err, errlen);
    goto fail;
  }
  if (parse_certs(ctx, err, errlen) != 0)
    goto fail;
  if ((ret = tls_ticket_setup(ctx, ticket_secret, secret_len,
                              tls_ticket_lifetime_s(cfg), now_s)) != 0) {
    fail_with(ret, "ticket keys", err, errlen);
    goto fail;
  }
  if ((ret = conf_setup(ctx)) != 0) {
    fail_with(ret, "configuration", err, errlen);
    goto fail;
  }
  *out = ctx;
  return 0;

fail:
  tls_ctx_free(ctx);
  return -1;
}

void tls_ctx_free(struct tls_ctx *ctx) {
  if (ctx == NULL)
    return;
  /* Sessions still out would point at this config: better to leak the
   * whole ctx than to free what they use. */
  if (ctx->n_live > 0)
    return;
  while (ctx->pool != NULL) {
    struct tls_sess *s = ctx->pool;
    ctx->pool = s->next;
    mbedtls_ssl_free(&s->ssl);
    free(s);
  }
  mbedtls_ssl_config_free(&ctx->conf);
  tls_ticket_cleanup(ctx);
  if (ctx->certs != NULL)
    for (int i = 0; i < ctx->store->n_certs; i++) {
      mbedtls_x509_crt_free(&ctx->certs[i].chain);
      mbedtls_pk_free(&ctx->certs[i].key);
    }
  free(ctx->certs);
  mbedtls_x509_crt_free(&ctx->client_ca);
  mbedtls_ctr_drbg_free(&ctx->drbg);
  mbedtls_entropy_free(&ctx->entropy);
  free(ctx);
}

unsigned tls_ctx_tick(struct tls_ctx *ctx, uint64_t now_s) {
  return tls_ticket_tick(ctx, now_s);
}
