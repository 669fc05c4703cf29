/* sess.c: one TLS connection, driven through memory buffers.
 *
 * The caller appends ciphertext from the socket to `in`; our recv callback
 * hands it to mbedTLS and says WANT_READ when it runs out. Our send callback
 * appends each whole record to `out` and reports it all sent, so mbedTLS
 * never sees WANT_WRITE; the caller flushes `out` once per libuv callback.
 * No socket I/O happens here, and mbedTLS error codes stop here: callers
 * get enum tls_result and a sentence from tls_sess_error().
 *
 * Traps handled here (see DESIGN.md): mbedTLS reads one record at a time
 * and may say WANT_READ while data still waits (a warning alert it dropped,
 * records still in `in`), so a read stops only on WANT_READ with `in` empty
 * and nothing pending inside the library; and there is no public getter
 * for "was this handshake resumed", so the handshake is driven step by step
 * and we note whether it ever reached the state that sends our Certificate,
 * which only a full handshake does (TLS 1.2 and 1.3 alike).
 *
 * After the handshake it also reports the client's certificate
 * (--client-verify): whether one was presented and verified, its subject,
 * SHA-256 fingerprint, DER and PEM. */
#include "tls_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/sha256.h>

#include "buf.h"
#include "config.h"

/* A read or handshake call loops while mbedTLS reports WANT_READ but data
 * remains. Each round consumes input, so this bound is only a guard
 * against a library that stops consuming. */
#define STALL_MAX 64

/* --- memory BIO --------------------------------------------------------- */

static int send_cb(void *p, const unsigned char *data, size_t len) {
  struct tls_sess *s = p;

  if (buf_append(s->out, data, len) != 0) {
    s->out_full = true;
    return MBEDTLS_ERR_SSL_ALLOC_FAILED;
  }
  return (int)len; /* a record is at most ~17 KB */
}

static int recv_cb(void *p, unsigned char *dst, size_t len) {
  struct tls_sess *s = p;
  size_t n = buf_used(s->in);

  if (n == 0)
    return MBEDTLS_ERR_SSL_WANT_READ;
  if (n > len)
    n = len;
  if (n > INT_MAX)
    n = INT_MAX;
  if (s->first_byte < 0)
    s->first_byte = (unsigned char)buf_data(s->in)[0];
  memcpy(dst, buf_data(s->in), n);
  buf_consume(s->in, n);
  return (int)n;
}

/* Is there anything left to process, in `in` or inside the library? */
static bool more_input(const struct tls_sess *s) {
  return buf_used(s->in) > 0 || mbedtls_ssl_check_pending(&s->ssl) != 0;
}

/* --- errors ------------------------------------------------------------- */

/* Why a client certificate was refused, from the verify flags. */
static const char *verify_reason(uint32_t flags) {
  if (flags == (uint32_t)-1)
    return "not verified";
  if (flags & MBEDTLS_X509_BADCERT_MISSING)
    return "no certificate";
  if (flags & MBEDTLS_X509_BADCERT_EXPIRED)
    return "expired";
  if (flags & MBEDTLS_X509_BADCERT_FUTURE)
    return "not yet valid";
  if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
    return "not issued by --client-ca";
  if (flags &
      (MBEDTLS_X509_BADCERT_KEY_USAGE | MBEDTLS_X509_BADCERT_EXT_KEY_USAGE |
       MBEDTLS_X509_BADCERT_NS_CERT_TYPE))
    return "not for client authentication (key usage)";
  if (flags & (MBEDTLS_X509_BADCERT_BAD_MD | MBEDTLS_X509_BADCERT_BAD_PK |
               MBEDTLS_X509_BADCERT_BAD_KEY))
    return "unacceptable algorithm or key";
  return "verification failed";
}

/* A sentence for the codes we know; buf (len bytes) may hold it. The
 * server reads the client's CertificateVerify in a state of its own in
 * TLS 1.3 (CERTIFICATE_VERIFY is the server's there). */
/* Did the client's CertificateVerify fail? Its signature check's own codes
 * (ECP, RSA, PK, or a plain handshake failure in TLS 1.3) say little; the
 * state says what failed. */
static bool cv_failed(const struct tls_sess *s, int code) {
  int cv_state =
      mbedtls_ssl_get_version_number(&s->ssl) == MBEDTLS_SSL_VERSION_TLS1_3
          ? MBEDTLS_SSL_CLIENT_CERTIFICATE_VERIFY
          : MBEDTLS_SSL_CERTIFICATE_VERIFY;
  return s->fail_state == cv_state && code != MBEDTLS_ERR_SSL_ALLOC_FAILED;
}

static const char *known_reason(const struct tls_sess *s, int code, char *buf,
                                size_t len) {
  if (cv_failed(s, code))
    return "client certificate: CertificateVerify signature does not verify";
  switch (code) {
  case MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE:
    return "client sent no certificate (--client-verify required)";
  case MBEDTLS_ERR_X509_CERT_VERIFY_FAILED:
  case MBEDTLS_ERR_SSL_BAD_CERTIFICATE:
    snprintf(buf, len, "client certificate refused: %s",
             verify_reason(mbedtls_ssl_get_verify_result(&s->ssl)));
    return buf;
  case MBEDTLS_ERR_SSL_INVALID_MAC:
    return "bad record MAC";
  case MBEDTLS_ERR_SSL_INVALID_RECORD:
    return "invalid record";
  case MBEDTLS_ERR_SSL_DECODE_ERROR:
    return "malformed message";
  case MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE:
    return "unexpected message";
  case MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE:
    return "client sent a fatal alert";
  case MBEDTLS_ERR_SSL_HANDSHAKE_FAILURE:
    return "no shared cipher suite, group or certificate type";
  case MBEDTLS_ERR_SSL_BAD_PROTOCOL_VERSION:
    return "no shared protocol version";
  case MBEDTLS_ERR_SSL_NO_APPLICATION_PROTOCOL:
    return "no shared ALPN protocol";
  case MBEDTLS_ERR_SSL_ILLEGAL_PARAMETER:
    return "illegal parameter";
  case MBEDTLS_ERR_SSL_UNSUPPORTED_EXTENSION:
    return "unsupported extension";
  case MBEDTLS_ERR_SSL_ALLOC_FAILED:
    return s->out_full ? "output buffer full" : "out of memory";
  default:
    return NULL;
  }
}

/* Record why the session failed; every later call returns TLS_FAIL too. */
static int fail(struct tls_sess *s, const char *what, int code) {
  char lib[128];
  const char *why = known_reason(s, code, lib, sizeof lib);

  s->fail_reason = cv_failed(s, code) ? TLS_FR_BAD_CERTIFICATE
                                      : tls_fail_reason_of(code);
  /* Something that does not start with a handshake record is not TLS: say
   * so rather than repeat the parser's complaint. */
  if (!s->hs_done && s->first_byte >= 0 && s->first_byte != 0x16) {
    why = s->first_byte >= 'A' && s->first_byte <= 'Z'
              ? "client sent garbage (plain HTTP?)"
              : "client sent garbage (not TLS)";
    s->fail_reason = TLS_FR_NOT_TLS;
  }
  if (why == NULL) {
    mbedtls_strerror(code, lib, sizeof lib);
    why = lib;
  }
  snprintf(s->err, sizeof s->err, "%s: %s (-0x%04x)", what, why,
           (unsigned)-code);
  s->failed = true;
  return TLS_FAIL;
}

static int fail_msg(struct tls_sess *s, const char *msg) {
  snprintf(s->err, sizeof s->err, "%s", msg);
  s->fail_reason = TLS_FR_INTERNAL_ERROR;
  s->failed = true;
  return TLS_FAIL;
}

/* --- life cycle --------------------------------------------------------- */

struct tls_sess *tls_sess_new(struct tls_ctx *ctx, struct buf *in,
                              struct buf *out) {
  struct tls_sess *s = ctx->pool;

  if (s != NULL) {
    ctx->pool = s->next;
    ctx->n_pool--;
  } else {
    if ((s = calloc(1, sizeof *s)) == NULL)
      return NULL;
    mbedtls_ssl_init(&s->ssl);
    /* Allocates the two ~16.7 KB record buffers the pool then keeps. */
    if (mbedtls_ssl_setup(&s->ssl, &ctx->conf) != 0) {
      mbedtls_ssl_free(&s->ssl);
      free(s);
      return NULL;
    }
  }
  s->ctx = ctx;
  s->in = in;
  s->out = out;
  s->next = NULL;
  s->first_byte = -1;
  s->hs_done = s->sent_cert = s->failed = false;
  s->fail_state = -1;
  s->fail_reason = TLS_FR_OTHER;
  s->peer_closed = s->notified = s->out_full = false;
  s->sni[0] = '\0';
  s->err[0] = '\0';
  mbedtls_ssl_set_bio(&s->ssl, s, send_cb, recv_cb, NULL);
  /* The SNI callback finds the session through this. */
  mbedtls_ssl_set_user_data_p(&s->ssl, s);
  ctx->n_live++;
  return s;
}

void tls_sess_free(struct tls_sess *s) {
  struct tls_ctx *ctx;

  if (s == NULL)
    return;
  ctx = s->ctx;
  ctx->n_live--;
  /* Reset now, not on reuse: a pooled context holds no keys or plaintext
   * of the connection that used it. */
  if (ctx->n_pool < TLS_CTX_POOL_MAX &&
      mbedtls_ssl_session_reset(&s->ssl) == 0) {
    s->in = s->out = NULL;
    s->next = ctx->pool;
    ctx->pool = s;
    ctx->n_pool++;
    return;
  }
  mbedtls_ssl_free(&s->ssl);
  free(s);
}

/* --- handshake, read, write, close -------------------------------------- */

/* mbedTLS 3.6 sends a TLS 1.3 server's alerts about the client's second
 * flight (Certificate, CertificateVerify, Finished) under the handshake
 * traffic key, but the server's Finished already switched the client to
 * the server's application traffic key (RFC 8446 7.1 and 5.1: records
 * after the Finished use it), so the client sees bad_record_mac instead of
 * the alert. The library switches its output to the application key only
 * at wrap-up. Switch it when the server starts reading the second flight:
 * nothing else is sent under the handshake key after the Finished (whose
 * record is already encrypted), and mbedTLS's own switch at wrap-up
 * restarts the sequence number at 0 again, as here. What
 * mbedtls_ssl_set_outbound_transform() does, through private fields. */
static void tls13_alert_key(struct tls_sess *s, int state) {
  mbedtls_ssl_context *ssl = &s->ssl;
  mbedtls_ssl_transform *app = ssl->MBEDTLS_PRIVATE(transform_application);

  if ((state != MBEDTLS_SSL_CLIENT_CERTIFICATE &&
       state != MBEDTLS_SSL_CLIENT_CERTIFICATE_VERIFY &&
       state != MBEDTLS_SSL_CLIENT_FINISHED) ||
      mbedtls_ssl_get_version_number(ssl) != MBEDTLS_SSL_VERSION_TLS1_3 ||
      app == NULL || ssl->MBEDTLS_PRIVATE(transform_out) == app)
    return;
  ssl->MBEDTLS_PRIVATE(transform_out) = app;
  memset(ssl->MBEDTLS_PRIVATE(cur_out_ctr), 0,
         sizeof ssl->MBEDTLS_PRIVATE(cur_out_ctr));
}

/* mbedTLS fails some TLS 1.2 client-authentication steps without an alert:
 * no certificate under --client-verify required (mbedtls_ssl_parse_certificate
 * returns NO_CLIENT_CERTIFICATE silently) and a CertificateVerify whose
 * signature does not verify. Send what RFC 5246 asks for (7.4.6:
 * handshake_failure; 7.2.2: decrypt_error) when the failed step sent
 * nothing. TLS 1.3 alerts by itself. */
static void tls12_client_auth_alert(struct tls_sess *s, int state, int ret,
                                    size_t out_before) {
  unsigned char alert;

  if (buf_used(s->out) != out_before ||
      mbedtls_ssl_get_version_number(&s->ssl) != MBEDTLS_SSL_VERSION_TLS1_2)
    return;
  if (state == MBEDTLS_SSL_CLIENT_CERTIFICATE &&
      ret == MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE)
    alert = MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE;
  else if (state == MBEDTLS_SSL_CERTIFICATE_VERIFY)
    alert = MBEDTLS_SSL_ALERT_MSG_DECRYPT_ERROR;
  else
    return;
  (void)mbedtls_ssl_send_alert_message(&s->ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL,
                                       alert);
}

/* What mbedtls_ssl_handshake() does, one step at a time, so that we see
 * every state. Reading the state is private access: mbedTLS 3.6 has no
 * public way for a server to tell a resumed handshake, and the unit tests
 * check this against real resumptions. */
static int steps(struct tls_sess *s) {
  int state, ret;

  while ((state = s->ssl.MBEDTLS_PRIVATE(state)) !=
         MBEDTLS_SSL_HANDSHAKE_OVER) {
    size_t out_before = buf_used(s->out);

    if (state == MBEDTLS_SSL_SERVER_CERTIFICATE)
      s->sent_cert = true;
    tls13_alert_key(s, state);
    if ((ret = mbedtls_ssl_handshake_step(&s->ssl)) != 0) {
      if (ret != MBEDTLS_ERR_SSL_WANT_READ) {
        s->fail_state = state;
        tls12_client_auth_alert(s, state, ret, out_before);
      }
      return ret;
    }
  }
  return 0;
}

int tls_sess_handshake(struct tls_sess *s) {
  if (s->failed)
    return TLS_FAIL;
  if (s->hs_done)
    return 0;
  for (int stalls = 0;;) {
    size_t before = buf_used(s->in);
    int ret = steps(s);

    if (ret == 0) {
      s->hs_done = true;
      return 0;
    }
    if (ret != MBEDTLS_ERR_SSL_WANT_READ)
      return fail(s, "handshake", ret);
    if (!more_input(s))
      return TLS_WANT;
    stalls = buf_used(s->in) < before ? 0 : stalls + 1;
    if (stalls > STALL_MAX)
      return fail_msg(s, "handshake: the library stopped consuming input");
  }
}

int tls_sess_read(struct tls_sess *s, char *dst, size_t len) {
  int ret;

  if (s->failed)
    return TLS_FAIL;
  if (s->peer_closed)
    return TLS_CLOSED;
  if (!s->hs_done && (ret = tls_sess_handshake(s)) != 0)
    return ret;
  if (len > INT_MAX)
    len = INT_MAX;
  for (int stalls = 0;;) {
    size_t before = buf_used(s->in);

    ret = mbedtls_ssl_read(&s->ssl, (unsigned char *)dst, len);
    if (ret > 0)
      return ret;
    switch (ret) {
    case MBEDTLS_ERR_SSL_WANT_READ:
      /* Perhaps only a dropped warning alert or a post-handshake message:
       * go on while anything is left. */
      if (!more_input(s))
        return TLS_WANT;
      stalls = buf_used(s->in) < before ? 0 : stalls + 1;
      if (stalls > STALL_MAX)
        return fail_msg(s, "read: the library stopped consuming input");
      continue;
    case MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET:
      /* Documented as a client-side event; harmless to retry. Early data
       * (MBEDTLS_ERR_SSL_RECEIVED_EARLY_DATA) is never enabled, so it is
       * left to the default case: it would need mbedtls_ssl_read_early_data. */
      continue;
    case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
      s->peer_closed = true;
      return TLS_CLOSED;
    case 0:
      /* Only when recv says EOF, which ours never does; or len == 0. */
      return len == 0 ? TLS_WANT : fail_msg(s, "read: unexpected end of data");
    default:
      return fail(s, "read", ret);
    }
  }
}

int tls_sess_write(struct tls_sess *s, const char *src, size_t len) {
  const unsigned char *p = (const unsigned char *)src;

  if (s->failed)
    return TLS_FAIL;
  if (!s->hs_done)
    return fail_msg(s, "write: handshake not complete");
  /* mbedtls_ssl_write() writes at most one record per call. */
  while (len > 0) {
    int ret = mbedtls_ssl_write(&s->ssl, p, len);

    if (ret <= 0)
      return ret == 0 ? fail_msg(s, "write: no progress")
                      : fail(s, "write", ret);
    p += ret;
    len -= (size_t)ret;
  }
  return 0;
}

void tls_sess_close_notify(struct tls_sess *s) {
  if (!s->hs_done || s->failed || s->notified)
    return;
  s->notified = true;
  /* With our send callback this cannot block; a full `out` only loses the
   * alert, and the connection is closing anyway. */
  (void)mbedtls_ssl_close_notify(&s->ssl);
}

/* --- what was negotiated ------------------------------------------------ */

const char *tls_sess_error(const struct tls_sess *s) {
  return s->err[0] != '\0' ? s->err : "no error";
}

const char *tls_sess_version(const struct tls_sess *s) {
  return mbedtls_ssl_get_version(&s->ssl);
}

const char *tls_sess_cipher(const struct tls_sess *s) {
  return mbedtls_ssl_get_ciphersuite(&s->ssl);
}

int tls_sess_fail_reason(const struct tls_sess *s) { return s->fail_reason; }

int tls_sess_cipher_slot(const struct tls_sess *s) {
  return tls_cipher_slot_of(mbedtls_ssl_get_ciphersuite_id_from_ssl(&s->ssl));
}

const char *tls_sess_sni(const struct tls_sess *s) {
  return s->sni[0] != '\0' ? s->sni : NULL;
}

const char *tls_sess_alpn(const struct tls_sess *s) {
  return mbedtls_ssl_get_alpn_protocol(&s->ssl);
}

bool tls_sess_resumed(const struct tls_sess *s) {
  return s->hs_done && !s->sent_cert;
}

/* --- client certificates ------------------------------------------------ */

/* The client's certificate, or NULL. Only when this ctx asks for one: with
 * --client-verify none nothing is requested, and nothing is reported. */
static const mbedtls_x509_crt *client_crt(const struct tls_sess *s) {
  const mbedtls_x509_crt *crt;

  if (!s->hs_done || s->ctx->store->client.verify == CFG_VERIFY_NONE)
    return NULL;
  crt = mbedtls_ssl_get_peer_cert(&s->ssl);
  return crt != NULL && crt->raw.p != NULL && crt->raw.len > 0 ? crt : NULL;
}

/* The first CN attribute, taken from the parsed name rather than from the
 * escaped DN string; printable ASCII only, else left empty. */
static void common_name(const mbedtls_x509_name *name, char *out,
                        size_t outlen) {
  out[0] = '\0';
  for (; name != NULL; name = name->next) {
    if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &name->oid) != 0)
      continue;
    if (name->val.len >= outlen)
      return;
    for (size_t i = 0; i < name->val.len; i++)
      if (name->val.p[i] < 0x20 || name->val.p[i] > 0x7e)
        return;
    memcpy(out, name->val.p, name->val.len);
    out[name->val.len] = '\0';
    return;
  }
}

void tls_sess_client_cert(const struct tls_sess *s,
                          struct tls_client_cert *out) {
  static const char hex[] = "0123456789abcdef";
  const mbedtls_x509_crt *crt = client_crt(s);
  unsigned char md[32];

  memset(out, 0, sizeof *out);
  if (crt == NULL)
    return;
  out->presented = true;
  /* 0 only when the chain verified against --client-ca, in date, with a
   * usage fit for client authentication; -1u when no result exists. In a
   * resumed TLS 1.2 session both the certificate and this result come back
   * from the ticket. */
  out->verified = mbedtls_ssl_get_verify_result(&s->ssl) == 0;
  /* RFC 4514-style escaping, printable ASCII only. A name that does not
   * fit is left out rather than cut: a truncated name could read as
   * another. */
  if (mbedtls_x509_dn_gets(out->subject, sizeof out->subject, &crt->subject) <
      0)
    out->subject[0] = '\0';
  common_name(&crt->subject, out->cn, sizeof out->cn);
  if (mbedtls_sha256(crt->raw.p, crt->raw.len, md, 0) == 0) {
    for (size_t i = 0; i < sizeof md; i++) {
      out->fingerprint[2 * i] = hex[md[i] >> 4];
      out->fingerprint[2 * i + 1] = hex[md[i] & 15];
    }
    out->fingerprint[2 * sizeof md] = '\0';
  }
  out->der = crt->raw.p;
  out->der_len = crt->raw.len;
}

int tls_sess_client_cert_pem(const struct tls_sess *s, char *out,
                             size_t outlen) {
  const mbedtls_x509_crt *crt = client_crt(s);
  size_t olen = 0;

  if (crt == NULL || out == NULL || outlen == 0)
    return -1;
  /* olen counts the NUL that mbedtls_pem_write_buffer() writes. */
  if (mbedtls_pem_write_buffer(
          "-----BEGIN CERTIFICATE-----\n", "-----END CERTIFICATE-----\n",
          crt->raw.p, crt->raw.len, (unsigned char *)out, outlen, &olen) != 0 ||
      olen == 0 || olen > outlen || olen - 1 > INT_MAX) {
    out[0] = '\0';
    return -1;
  }
  return (int)(olen - 1);
}
