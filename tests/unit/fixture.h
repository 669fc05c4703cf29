/* fixture.h: what the tls/ unit tests (test_store.c, test_sess.c,
 * test_client_cert.c) share.
 *
 * - Test certificates and keys, generated once per run with openssl into a
 *   mkdtemp directory and removed at exit, never committed.
 * - A struct cfg naming some of those files.
 * - A tls_ctx on a store, with one of two ticket secrets.
 * - An mbedTLS client over memory buffers, paired with one of our server
 *   sessions, so that handshakes run in-process with no sockets.
 *
 * Files in the directory (see gen_script in fixture.c): ec (ECDSA P-256,
 * example.com and *.example.com), rsa (RSA 2048, example.com), chain
 * (chain.test, leaf + intermediate; key leaf.key), combined.pem (ec with
 * its key appended), cn (names from the CN only), and the refused kinds:
 * other.key (matches nothing), enc.key (encrypted), ed (Ed25519), weak (RSA
 * 1024), k1 (secp256k1), garbage.pem.
 *
 * Client certificates (each NAME.pem with NAME.key): the client CA cca
 * ("O=Example, CN=Client CA") issues alice (ECDSA, "O=Example, CN=alice",
 * clientAuth), alice-rsa (RSA 2048), srvonly (extendedKeyUsage serverAuth
 * only) and old (expired); another CA, rca, issues mallory (subject
 * "O=Example, CN=alice" too). cabundle.pem holds rca then cca, mixed.pem
 * cca then ed (which mbedTLS cannot parse). alice.fp is
 * `openssl x509 -fingerprint -sha256` of alice.pem, alice.der its DER. */
#ifndef TLSTERM_FIXTURE_H
#define TLSTERM_FIXTURE_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>

#include "../common/mempipe.h"
#include "buf.h"
#include "config.h"
#include "tls_int.h"

/* --- generated files ---------------------------------------------------- */

/* Generate every file, once per process (later calls do nothing). Call it
 * from a suite function, so that it runs in Check's parent before any test
 * forks; the directory is removed when that process exits. */
void fixture_gen_files(void);
/* The directory's absolute path ("" if it could not be created). */
const char *fixture_dir(void);

/* Checked fixture for every tls/ test case: fails the test if generation
 * failed, then tls_global_init(); the teardown undoes it. */
void fixture_setup_psa(void);
void fixture_teardown_psa(void);

/* A new test case for tls/ tests, set up the same way for every suite: the
 * files generated (call it from the suite function), the checked fixture
 * above, and a 60 s timeout. */
TCase *fixture_tcase(const char *name);

/* Fill cfg (zeroed first) with n certificates: files[2*i] is the
 * certificate and files[2*i + 1] the key (NULL: the key is in the
 * certificate file), both relative to the directory. The paths are
 * allocated here and freed by fixture_cfg_free(); nothing else is. */
void fixture_cfg(struct cfg *cfg, const char *const *files, int n);
/* Set --client-ca (a file in the directory, or NULL) and --client-verify
 * (enum cfg_client_verify) in cfg; fixture_cfg_free() frees the path. */
void fixture_cfg_client(struct cfg *cfg, const char *ca_file, int verify);
void fixture_cfg_free(struct cfg *cfg);
/* The absolute path of a file in the directory; the caller frees it. */
char *fixture_path(const char *name);

/* --- contexts ----------------------------------------------------------- */

/* Two different ticket secrets (TLS_TICKET_SECRET_LEN bytes each). */
extern const uint8_t fixture_secret_a[TLS_TICKET_SECRET_LEN];
extern const uint8_t fixture_secret_b[TLS_TICKET_SECRET_LEN];

/* A context on st (borrowed; it must outlive the context) with the given
 * ticket secret, at time now (seconds), no per-listener options. Fails the
 * test on error; free with tls_ctx_free(). */
struct tls_ctx *fixture_ctx(const struct tls_store *st, const uint8_t *secret,
                            uint64_t now);

/* --- an mbedTLS client over memory buffers ------------------------------ */

struct fixture_client {
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_ssl_config conf;
  mbedtls_ssl_context ssl;
  mbedtls_x509_crt crt; /* the client certificate, if any */
  mbedtls_pk_context key;
  struct buf in, out;
  struct mempipe pipe; /* the client's I/O: in and out */
};

/* What the client offers. Pointers are borrowed and must outlive the
 * pair. */
struct fixture_client_opts {
  int version;              /* 12, 13, or 0 for both */
  const int *suites;        /* NULL: mbedTLS defaults */
  const uint16_t *sig_algs; /* NULL: mbedTLS defaults */
  const char **alpn;        /* NULL: no ALPN */
  const char *sni;          /* NULL: no SNI */
  int kex_modes;            /* TLS 1.3 key exchange modes; 0: all */
  const uint16_t *groups;   /* NULL: mbedTLS defaults */
  const mbedtls_ssl_session *resume;
  const char *cert, *key; /* files in the directory: a client certificate
                             to present when asked; NULL: none */
};

/* A server session on a ctx with its buffers, and a client. */
struct fixture_pair {
  struct buf in, out;
  struct tls_sess *s;
  struct fixture_client c;
  size_t srv_bytes; /* what the server sent during the handshake */
};

/* A new server session on ctx (borrowed) and a client set up from o. */
void fixture_pair_init(struct fixture_pair *p, struct tls_ctx *ctx,
                       const struct fixture_client_opts *o);
void fixture_pair_free(struct fixture_pair *p);

/* Move everything in `from` to the end of `to`. */
void fixture_move(struct buf *from, struct buf *to);

/* Run both handshakes to the end: 0, a server TLS_FAIL, or a client error
 * (-1 if neither finished in 20 rounds). */
int fixture_handshake(struct fixture_pair *p);

/* The client's read, past the WANT_READ that mbedTLS returns after a
 * post-handshake message even with more data waiting. Returns what
 * mbedtls_ssl_read() does. */
int fixture_client_read(struct fixture_client *c, void *dst, size_t len);

/* The client's session to resume with, into sess (initialised here; the
 * caller frees it with mbedtls_ssl_session_free()). TLS 1.3 tickets arrive
 * after the handshake, so this reads one. */
void fixture_client_session(struct fixture_pair *p, mbedtls_ssl_session *sess);

#endif
