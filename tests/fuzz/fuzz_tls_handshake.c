/* fuzz_tls_handshake.c: the server side of a connection's TLS (tls/sess.c,
 * tls/sni.c, tls/ticket.c over mbedTLS) fed a client's ciphertext.
 *
 * Input: one control byte, then the bytes a client sends.
 *   bits 0-1: the server context (tls_fx.h: defaults, client certificates
 *             optional or required, TLS 1.3 with P-256 only)
 *   bits 2-4: how the bytes arrive: in one read, or in reads of 1, 2, 5,
 *             16, 100, 517 or 4096 bytes
 * Each read is appended to the session's input buffer (at most 34 KiB, as
 * src/conn.c's cin) and the handshake advanced, the way src/conn.c's
 * handshake_step does; what the server sends is taken away after each step.
 * Once the handshake completes, the rest is read as application data, as
 * the relay does. The session comes from the context's pool, so its reset
 * path is exercised too.
 *
 * Checked, besides the sanitizers: TLS_WANT only with the input buffer
 * empty (the read-loop rule of docs/ARCHITECTURE.md); a failure has a
 * reason and a /metrics label; a server name, when one was read, is
 * printable lower-case text of at most 255 bytes. Seeds are real client
 * flights (openssl, Python, mbedTLS), each behind its control byte. */
#include <ctype.h>
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "tls_fx.h"

#define TLS_RECORD_MAX 16384
#define CIN_MAX (2 * (TLS_RECORD_MAX + 1024)) /* src/conn_int.h */
#define COUT_MAX (128 * 1024)

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  tls_fx_init();
  return 0;
}

static void check_failed(const struct tls_sess *s) {
  int why = tls_sess_fail_reason(s);

  FUZZ_CHECK(strcmp(tls_sess_error(s), "no error") != 0);
  FUZZ_CHECK(why >= 0 && why < TLS_FR_N);
  FUZZ_CHECK(tls_fail_reason_name(why) != NULL);
}

static void check_sni(const struct tls_sess *s) {
  const char *sni = tls_sess_sni(s);

  if (sni == NULL)
    return;
  FUZZ_CHECK(strlen(sni) <= 255);
  for (const char *c = sni; *c; c++)
    FUZZ_CHECK(isprint((unsigned char)*c) && !isupper((unsigned char)*c));
}

/* What the relay learns after a handshake. */
static void check_done(const struct tls_sess *s) {
  struct tls_client_cert cc;
  char pem[4096];
  int slot = tls_sess_cipher_slot(s);

  FUZZ_CHECK(tls_sess_version(s) != NULL && tls_sess_cipher(s) != NULL);
  FUZZ_CHECK(slot >= 0 && slot < TLS_CIPHER_SLOTS);
  (void)tls_sess_alpn(s);
  (void)tls_sess_resumed(s);
  tls_sess_client_cert(s, &cc);
  FUZZ_CHECK(!cc.verified || cc.presented);
  (void)tls_sess_client_cert_pem(s, pem, sizeof pem);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const size_t chunks[] = {0, 1, 2, 5, 16, 100, 517, 4096};
  struct fuzz_in in = {data, size};
  uint8_t ctl = fuzz_byte(&in);
  struct tls_ctx *ctx = tls_fx_ctx(ctl & 3);
  size_t chunk = chunks[(ctl >> 2) & 7];
  struct buf cin, cout;
  struct tls_sess *s;
  bool done = false;
  int r = TLS_WANT;
  static char plain[TLS_RECORD_MAX];

  tls_fx_reseed(&ctx->drbg, ctl & 3);
  buf_init(&cin, CIN_MAX);
  buf_init(&cout, COUT_MAX);
  s = tls_sess_new(ctx, &cin, &cout);
  FUZZ_CHECK(s != NULL);

  while (in.n > 0 && r != TLS_FAIL && r != TLS_CLOSED) {
    size_t n = chunk == 0 || chunk > in.n ? in.n : chunk;

    if (buf_append(&cin, in.p, n) != 0)
      break; /* cin full: the connection reads no more, then times out */
    in.p += n;
    in.n -= n;
    if (!done) {
      r = tls_sess_handshake(s);
      FUZZ_CHECK(r == 0 || r == TLS_WANT || r == TLS_FAIL);
      if (r == 0) {
        done = true;
        check_done(s);
      }
    }
    /* Application data right behind the Finished, and everything after. */
    while (done && (r = tls_sess_read(s, plain, sizeof plain)) > 0)
      FUZZ_CHECK((size_t)r <= sizeof plain);
    FUZZ_CHECK(r != TLS_WANT || buf_used(&cin) == 0);
    buf_consume(&cout, buf_used(&cout)); /* sent to the client */
  }
  check_sni(s);
  if (r == TLS_FAIL)
    check_failed(s);
  else
    tls_sess_close_notify(s);
  tls_sess_free(s);
  buf_cleanup(&cin);
  buf_cleanup(&cout);
  return 0;
}
