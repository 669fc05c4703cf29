/* tls.h: everything mbedTLS, behind one header.
 *
 * Nothing outside tls/ includes an mbedTLS header; mbedTLS error codes are
 * translated here and nowhere else.
 *
 * Three kinds of object, by who may touch them:
 *   struct tls_store  immutable after load: the PEM bytes of every
 *                     certificate chain and key, already checked. Shared by
 *                     all threads, read-only.
 *   struct tls_ctx    one per worker loop: ssl_config, DRBG, ticket context,
 *                     parsed certificates and this loop's own parsed copy of
 *                     every private key, and a free list of sessions.
 *                     Used only by the thread that owns the loop.
 *   struct tls_sess   one per connection, driven through memory buffers:
 *                     ciphertext from the socket is appended to `in` by the
 *                     caller; records to send are appended to `out` by the
 *                     library. No socket I/O happens in tls/.
 */
#ifndef TLSTERM_TLS_H
#define TLSTERM_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct cfg;
struct tls_ctx;
struct tls_sess;
struct tls_store;

/* Results of tls_sess_* calls (besides 0 and byte counts). */
enum tls_result {
  TLS_WANT = -1,   /* needs more ciphertext in `in` */
  TLS_CLOSED = -2, /* the peer sent close_notify */
  TLS_FAIL = -3,   /* fatal; tls_sess_error() says why, an alert is queued */
};

/* Ticket secret sizes: a random one is TLS_TICKET_SECRET_LEN bytes, which
 * is also the least a --ticket-secret-file must give. */
#define TLS_TICKET_SECRET_LEN 32
#define TLS_TICKET_SECRET_MAX 1024

/* --- process-wide ------------------------------------------------------- */

/* psa_crypto_init(); once, in the main thread, before any worker starts.
 * Returns 0 or -1 with a reason in err. */
int tls_global_init(char *err, size_t errlen);
/* After every worker has joined. */
void tls_global_cleanup(void);

/* Read --ticket-secret-file: raw bytes used as they are, or base64 text
 * (whitespace and line breaks ignored) used decoded; either way
 * TLS_TICKET_SECRET_LEN to TLS_TICKET_SECRET_MAX bytes. On success *out is
 * a new buffer of *outlen bytes (release it with tls_ticket_secret_free())
 * and warn holds a warning for the log, or "" (e.g. the file is readable by
 * group or others). On failure returns -1 and err holds one line:
 *   "--ticket-secret-file /etc/tlsterm/ticket.key: too short: 16 bytes ..." */
int tls_ticket_secret_load(const char *path, uint8_t **out, size_t *outlen,
                           char *warn, size_t warnlen, char *err,
                           size_t errlen);
/* Zeroize and free a secret from tls_ticket_secret_load(); NULL is fine. */
void tls_ticket_secret_free(uint8_t *secret, size_t len);

/* --- store: immutable certificate and key bytes ------------------------- */

/* Read every --cert/--key file of cfg and check it: the PEM parses, the key
 * matches the certificate, the certificate is ECDSA or RSA. On failure
 * returns -1 and err holds one line naming the file, e.g.
 *   "--cert /etc/tls/a.pem: no certificate found"
 *   "--key /etc/tls/a.key: key does not match certificate /etc/tls/a.pem"
 * Also checks --ciphers, --groups, --alpn names. */
int tls_store_load(struct tls_store **out, const struct cfg *cfg, char *err,
                   size_t errlen);
void tls_store_free(struct tls_store *store);
/* Number of certificates, and a one-line description of certificate i
 * ("CN=example.com ECDSA P-256, names: example.com,*.example.com") for logs
 * and the --test dump. */
int tls_store_count(const struct tls_store *store);
void tls_store_describe(const struct tls_store *store, int i, char *out,
                        size_t outlen);

/* --- ctx: one per worker loop ------------------------------------------- */

/* Build this loop's TLS state from the shared immutable inputs (the store
 * is borrowed and must outlive the ctx; cfg and the secret are only read
 * here, cfg may be NULL for the defaults). The ticket secret
 * (TLS_TICKET_SECRET_LEN to TLS_TICKET_SECRET_MAX bytes) is the same in
 * every loop, and in every instance that shares --ticket-secret-file; each
 * derives the same ticket key per epoch of cfg->ticket_lifetime_ms from it,
 * so any of them resumes the others' tickets. `now_s` is the wall clock in
 * seconds. Returns 0 or -1 with a reason in err. */
int tls_ctx_new(struct tls_ctx **out, const struct tls_store *store,
                const struct cfg *cfg, const uint8_t *ticket_secret,
                size_t secret_len, uint64_t now_s, char *err, size_t errlen);
/* Frees the ctx and its session free list. Every session must have been
 * returned with tls_sess_free() first. */
void tls_ctx_free(struct tls_ctx *ctx);
/* Rotate ticket keys if the epoch changed. Call from a per-loop timer;
 * returns the number of seconds until the next call is due (>= 1, at most
 * 60, and never past the next epoch boundary). */
unsigned tls_ctx_tick(struct tls_ctx *ctx, uint64_t now_s);

/* --- sess: one per connection ------------------------------------------- */

/* A server session bound to the caller's buffers (borrowed; they must
 * outlive the session): `in` holds ciphertext received and not yet
 * consumed, `out` receives ciphertext to send. Taken from the ctx's free
 * list when possible. NULL on allocation failure. */
struct tls_sess *tls_sess_new(struct tls_ctx *ctx, struct buf *in,
                              struct buf *out);
/* Return the session to its ctx's free list (reset, record buffers kept). */
void tls_sess_free(struct tls_sess *s);

/* Advance the handshake with what is in `in`. 0: complete (application
 * data may already be waiting: call tls_sess_read next); TLS_WANT;
 * TLS_FAIL. */
int tls_sess_handshake(struct tls_sess *s);

/* Decrypt into dst. Returns bytes (> 0), TLS_WANT when no whole record is
 * left (in `in` or inside the library), TLS_CLOSED, or TLS_FAIL. Handles
 * records the library drops silently (warning alerts, post-handshake
 * messages): TLS_WANT really means "read the socket". */
int tls_sess_read(struct tls_sess *s, char *dst, size_t len);

/* Encrypt all of src into `out`, as many records as needed. 0 or TLS_FAIL. */
int tls_sess_write(struct tls_sess *s, const char *src, size_t len);

/* Queue a close_notify alert into `out` (only after the handshake; a no-op
 * otherwise). */
void tls_sess_close_notify(struct tls_sess *s);

/* Why the last call failed, for the log: "handshake: no shared cipher suite
 * (-0x7780)", "bad record MAC", "client sent garbage", ... */
const char *tls_sess_error(const struct tls_sess *s);

/* Negotiated parameters, valid after the handshake. */
const char *tls_sess_version(const struct tls_sess *s); /* "TLSv1.3" */
const char *tls_sess_cipher(const struct tls_sess *s);
const char *tls_sess_sni(const struct tls_sess *s);     /* NULL if none */
const char *tls_sess_alpn(const struct tls_sess *s);    /* NULL if none */
bool tls_sess_resumed(const struct tls_sess *s);

/* --- stable labels for /metrics (labels.c) ----------------------------- */

/* Why a handshake failed, a small closed set named after the TLS alert the
 * failure sends (or, for the first two, receives or lacks). */
enum tls_fail_reason {
  TLS_FR_OTHER = 0,           /* "other" */
  TLS_FR_NOT_TLS,             /* "not_tls": garbage, plain HTTP, SSLv2 */
  TLS_FR_PEER_ALERT,          /* "peer_alert": the client sent a fatal alert */
  TLS_FR_HANDSHAKE_FAILURE,   /* no shared suite, group or signature */
  TLS_FR_PROTOCOL_VERSION,
  TLS_FR_NO_APPLICATION_PROTOCOL,
  TLS_FR_CERTIFICATE_REQUIRED,
  TLS_FR_BAD_CERTIFICATE,     /* client certificate refused or unverified */
  TLS_FR_BAD_RECORD_MAC,
  TLS_FR_DECODE_ERROR,        /* malformed message or record */
  TLS_FR_UNEXPECTED_MESSAGE,
  TLS_FR_ILLEGAL_PARAMETER,
  TLS_FR_UNSUPPORTED_EXTENSION,
  TLS_FR_INTERNAL_ERROR,      /* out of memory, output full, library stall */
  TLS_FR_N,
};
/* "not_tls", "handshake_failure", ...: valid for 0 <= r < TLS_FR_N. */
const char *tls_fail_reason_name(int r);
/* Why the session failed (TLS_FR_OTHER if it did not). */
int tls_sess_fail_reason(const struct tls_sess *s);

/* Negotiated cipher suites as slots of a fixed table (the AEAD suites
 * tlsterm can negotiate, then "other"), so per-worker counters can be a
 * plain array. */
#define TLS_CIPHER_SLOTS 12
/* The IANA name of slot i ("TLS_AES_128_GCM_SHA256", ...; "other"). */
const char *tls_cipher_slot_name(int slot);
/* The slot of the session's suite, after the handshake. */
int tls_sess_cipher_slot(const struct tls_sess *s);

/* --- client certificates (--client-ca, --client-verify) ----------------- */

struct tls_client_cert {
  bool presented;           /* the client sent a certificate */
  bool verified;            /* ... and it chains to --client-ca, in date */
  char subject[512];        /* "CN=alice, O=Example" (mbedTLS DN form) */
  char cn[256];             /* the subject's first CN, raw; "" if none */
  char fingerprint[65];     /* SHA-256 of the DER, lowercase hex */
  const unsigned char *der; /* valid while the session lives; NULL if none */
  size_t der_len;
};

/* What the client proved, after the handshake. With --client-verify none
 * nothing is requested and `presented` is false. */
void tls_sess_client_cert(const struct tls_sess *s, struct tls_client_cert *out);

/* The client certificate as PEM ("-----BEGIN CERTIFICATE-----\n..."), for
 * X-Client-Cert. Writes at most outlen bytes including a NUL; returns the
 * length, or -1 if there is no certificate or it does not fit. */
int tls_sess_client_cert_pem(const struct tls_sess *s, char *out,
                             size_t outlen);

/* --- SNI name matching (pure; unit-tested) ------------------------------ */

/* Does the requested host name match a certificate name? Exact match is
 * case-insensitive; "*.example.com" matches exactly one extra leading label
 * ("a.example.com", not "example.com" nor "a.b.example.com"). 1 or 0. */
int tls_sni_match(const char *pattern, const char *host);

#endif
