/* tls_int.h: the structures shared by the files of tls/, and nothing else.
 *
 * Who owns what (see tls.h for the three kinds of object):
 *   store.c   struct tls_store: file bytes, certificate names
 *   opts.c    the store's parsed --ciphers/--groups/--alpn/--tls-* lists
 *   ctx.c     struct tls_ctx: one loop's config, DRBG, keys, session pool
 *   sess.c    struct tls_sess: one connection over memory buffers
 *   sni.c     name matching and certificate selection
 *   ticket.c  ticket keys derived per epoch, alike in every loop; the
 *             ticket format; reading --ticket-secret-file
 *   labels.c  stable names for /metrics: failure reasons, cipher suites
 *
 * Only files in tls/ (and the unit tests) include this header. */
#ifndef TLSTERM_TLS_INT_H
#define TLSTERM_TLS_INT_H

#include <mbedtls/build_info.h>

/* 3.6.6 fixes server-side CVEs (see docs/ARCHITECTURE.md). TLS 1.3 always
 * goes through PSA's global key store, shared by every worker thread, so the
 * library must be thread-safe even though our own contexts are per loop. */
#if MBEDTLS_VERSION_NUMBER < 0x03060600
#error "tlsterm needs mbedTLS 3.6.6 or later"
#endif
#if !defined(MBEDTLS_THREADING_C) || !defined(MBEDTLS_THREADING_PTHREAD)
#error                                                                         \
    "tlsterm needs mbedTLS built with MBEDTLS_THREADING_C and MBEDTLS_THREADING_PTHREAD"
#endif
#if !defined(MBEDTLS_SSL_SRV_C) || !defined(MBEDTLS_SSL_PROTO_TLS1_2) ||       \
    !defined(MBEDTLS_SSL_PROTO_TLS1_3) || !defined(MBEDTLS_GCM_C) ||           \
    !defined(MBEDTLS_SSL_SESSION_TICKETS) || !defined(MBEDTLS_BASE64_C) ||     \
    !defined(MBEDTLS_SSL_SERVER_NAME_INDICATION) ||                            \
    !defined(MBEDTLS_SSL_ALPN) || !defined(MBEDTLS_HKDF_C) ||                  \
    !defined(MBEDTLS_CTR_DRBG_C) || !defined(MBEDTLS_ENTROPY_C) ||             \
    !defined(MBEDTLS_X509_CRT_PARSE_C) || !defined(MBEDTLS_PEM_PARSE_C) ||     \
    !defined(MBEDTLS_HAVE_TIME) ||                                             \
    !defined(MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_EPHEMERAL_ENABLED)
#error                                                                         \
    "mbedTLS lacks a feature tlsterm needs (server, TLS 1.2+1.3, tickets, SNI, ALPN, HKDF, GCM, CTR_DRBG, PEM)"
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/gcm.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "tls.h"

/* --- tickets ------------------------------------------------------------ */

/* Ticket keys change every epoch of --ticket-lifetime seconds (rounded up
 * to whole seconds; default 6 h); a key stays installed (for decryption)
 * one more epoch, so a ticket issued late in epoch k is still decryptable
 * until it expires, one lifetime later, in epoch k+1. See ticket.c. */
#define TLS_TICKET_LIFETIME_DEFAULT_S (6u * 3600u)
/* The longest gap between two tls_ctx_tick() calls even within an epoch,
 * so that a step of the wall clock is noticed within a minute. */
#define TLS_TICKET_REFRESH_S 60u
#define TLS_TICKET_NAME_LEN 4 /* MBEDTLS_SSL_TICKET_KEY_NAME_BYTES */
#define TLS_TICKET_KEY_LEN 32 /* AES-256-GCM */

/* One epoch's ticket key, in slot epoch % 2 of its ctx. */
struct tls_ticket_key {
  mbedtls_gcm_context gcm;
  uint8_t name[TLS_TICKET_NAME_LEN];
  uint64_t epoch;
  bool set;
};

/* --- store -------------------------------------------------------------- */

/* One --cert (and its key), read and checked once at start-up. */
struct tls_cert {
  char *cert_path;         /* as configured, for messages */
  char *key_path;          /* as configured; equals cert_path if the key is
                              in the certificate file */
  unsigned char *cert_pem; /* file bytes plus a NUL; cert_len counts it, */
  size_t cert_len;         /* as mbedTLS's PEM parsers require */
  unsigned char *key_pem;  /* same for the key (zeroed on free) */
  size_t key_len;
  bool ecdsa;   /* else RSA */
  char **names; /* SAN dNSNames, else the subject CN; lower case,
                   no trailing dot */
  int n_names;
  char desc[512]; /* tls_store_describe() */
};

/* --client-ca and --client-verify, read and checked once at start-up. */
struct tls_client_ca {
  char *path;         /* as configured, for messages; NULL: no --client-ca */
  unsigned char *pem; /* file bytes plus a NUL, like tls_cert's */
  size_t len;
  int n_certs; /* certificates in the bundle, all of them parsed */
  int verify;  /* enum cfg_client_verify */
};

struct tls_store {
  struct tls_cert *certs;
  int n_certs;
  struct tls_client_ca client;
  int min_version; /* mbedtls_ssl_protocol_version */
  int max_version;
  int *suites;       /* 0-terminated, our order of preference */
  uint16_t *groups;  /* MBEDTLS_SSL_IANA_TLS_GROUP_NONE-terminated */
  char *alpn_text;   /* storage for the strings alpn points at */
  const char **alpn; /* NULL-terminated; NULL: ALPN disabled */
};

/* --- ctx ---------------------------------------------------------------- */

/* This loop's own parsed copy of one certificate chain and its key. */
struct tls_ctx_cert {
  mbedtls_x509_crt chain;
  mbedtls_pk_context key;
};

/* Sessions kept for reuse per loop: each holds ~33 KB of record buffers,
 * so the pool costs at most about 2 MB per loop. */
#define TLS_CTX_POOL_MAX 64

struct tls_ctx {
  const struct tls_store *store; /* borrowed */
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_ssl_config conf;
  struct tls_ctx_cert *certs;    /* store->n_certs of them */
  mbedtls_x509_crt client_ca;    /* this loop's parse of --client-ca; empty
                                    unless client certificates are requested */
  uint8_t ticket_prk[32];        /* HKDF-Extract of the ticket secret */
  uint32_t ticket_lifetime_s;    /* --ticket-lifetime, whole seconds, >= 1 */
  struct tls_ticket_key keys[2]; /* epochs `epoch` and `epoch - 1` */
  uint64_t epoch;                /* of the key that encrypts new tickets */
  uint8_t suite_tag[8];          /* what TLS 1.2 suite choice depends on
                                    (ticket.c) */
  struct tls_sess *pool;         /* free list, reset and ready */
  unsigned n_pool;
  unsigned n_live; /* sessions handed out */
};

/* --- sess --------------------------------------------------------------- */

#define TLS_SNI_MAX 255
#define TLS_ERR_MAX 192

struct tls_sess {
  mbedtls_ssl_context ssl;
  struct tls_ctx *ctx;
  struct buf *in;        /* borrowed: ciphertext received */
  struct buf *out;       /* borrowed: ciphertext to send */
  struct tls_sess *next; /* in ctx->pool */
  int first_byte;        /* first byte the client sent, -1 before */
  bool hs_done;
  bool sent_cert; /* a Certificate message went out: full handshake */
  bool failed;
  int fail_state; /* the handshake state whose step failed, -1 if none */
  int fail_reason; /* enum tls_fail_reason */
  bool peer_closed;
  bool notified; /* our close_notify is queued */
  bool out_full; /* the send callback hit out's maximum */
  char sni[TLS_SNI_MAX + 1];
  char err[TLS_ERR_MAX];
};

/* --- internal functions ------------------------------------------------- */

/* labels.c: the enum tls_fail_reason of an mbedTLS error code, and the
 * cipher slot of an IANA suite id. */
int tls_fail_reason_of(int code);
int tls_cipher_slot_of(int suite_id);

/* sni.c: the certificates to offer for `host` (NULL: no SNI), as indices
 * into store->certs, ECDSA ones first; exact names win over wildcards,
 * which win over the default (the first certificate, with any other that
 * carries its first name). Returns the count (>= 1 if there are
 * certificates), at most `max`. */
int tls_sni_select(const struct tls_store *store, const char *host, int *out,
                   int max);
/* sni.c: the mbedtls_ssl_conf_sni() callback; p is the struct tls_ctx. */
int tls_sni_cb(void *p, mbedtls_ssl_context *ssl, const unsigned char *name,
               size_t len);

/* ticket.c: derive the key name and key of `epoch` from the secret, for a
 * lifetime of lifetime_s seconds. 0 or an mbedTLS error. */
int tls_ticket_derive(const uint8_t *secret, size_t secret_len,
                      uint32_t lifetime_s, uint64_t epoch,
                      uint8_t name[TLS_TICKET_NAME_LEN],
                      uint8_t key[TLS_TICKET_KEY_LEN]);
/* ticket.c: --ticket-lifetime in whole seconds (rounded up, at least 1);
 * cfg NULL or a lifetime of 0: the default. */
uint32_t tls_ticket_lifetime_s(const struct cfg *cfg);
/* ticket.c: keep the secret's HKDF PRK and the lifetime in ctx (whose
 * keys[].gcm are initialised already), and install the keys of now_s's
 * epoch and the one before. 0 or an mbedTLS error. */
int tls_ticket_setup(struct tls_ctx *ctx, const uint8_t *secret,
                     size_t secret_len, uint32_t lifetime_s, uint64_t now_s);
/* ticket.c: install the keys for now_s if the epoch changed; returns the
 * seconds until the next call is due. */
unsigned tls_ticket_tick(struct tls_ctx *ctx, uint64_t now_s);
/* ticket.c: zeroize and free the keys. */
void tls_ticket_cleanup(struct tls_ctx *ctx);
/* ticket.c: the mbedtls_ssl_conf_session_tickets_cb() pair, p being the
 * struct tls_ctx. Parse returns MBEDTLS_ERR_SSL_SESSION_TICKET_EXPIRED for
 * an unknown key or an expired ticket. */
int tls_ticket_write(void *p, const mbedtls_ssl_session *session,
                     unsigned char *start, const unsigned char *end,
                     size_t *tlen, uint32_t *lifetime);
int tls_ticket_parse(void *p, mbedtls_ssl_session *session, unsigned char *buf,
                     size_t len);

/* store.c: "message (-0xXXXX)" for an mbedTLS error code, into out. */
void tls_strerror(int code, char *out, size_t outlen);

/* opts.c: check cfg's --tls-min/--tls-max, --ciphers, --groups and --alpn
 * (NULL: the defaults) and set st's versions, suites, groups and alpn
 * arrays, which st owns (tls_store_free() frees them, also after a
 * failure). 0, or -EINVAL with one line naming the option in err. */
int tls_opts_parse(struct tls_store *st, const struct cfg *cfg, char *err,
                   size_t errlen);
/* opts.c: with explicit --ciphers, check once the certificates are loaded
 * that every enabled version has a suite and that a TLS 1.2 suite fits a
 * certificate. 0, or -EINVAL with the reason in err. */
int tls_opts_check_suites(const struct tls_store *st, char *err,
                          size_t errlen);

#endif
