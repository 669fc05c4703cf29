/* tls_fx.h: what the TLS fuzz targets (fuzz_tls_handshake.c,
 * fuzz_tls_app.c) share: tlsterm's TLS state on a fixed certificate, and
 * random numbers that are the same on every run.
 *
 * The certificate and key are a small self-signed ECDSA P-256 pair for
 * fuzz.example and *.fuzz.example, embedded in tls_fx.c (its expiry does
 * not matter: a server does not check its own certificate, and the
 * in-memory client does not verify). They are written to memfds and
 * loaded through tls_store_load, as --cert and --key files would be. The
 * certificate is also a CA, so it serves as --client-ca for the contexts
 * that ask for client certificates. */
#ifndef TLSTERM_TLS_FX_H
#define TLSTERM_TLS_FX_H

#include <stddef.h>
#include <stdint.h>

#include "tls_int.h"

/* The server contexts a target can pick from. */
enum tls_fx_kind {
  TLS_FX_DEFAULT,         /* TLS 1.2 and 1.3, defaults, no client certs */
  TLS_FX_CLIENT_OPTIONAL, /* --client-ca, --client-verify optional */
  TLS_FX_CLIENT_REQUIRED, /* --client-ca, --client-verify required */
  TLS_FX_TLS13_P256,      /* --tls-min 1.3 --groups secp256r1 (a client
                             sharing an X25519 key first gets a
                             HelloRetryRequest) */
  TLS_FX_KINDS
};

/* Once per process: PSA, the store and one ctx of each kind. Aborts on
 * failure. */
void tls_fx_init(void);
/* The context of a kind (owned by tls_fx). */
struct tls_ctx *tls_fx_ctx(int kind);

/* Re-seed a DRBG from a fixed entropy source, so that the same input
 * draws the same random numbers (server random, ECDHE keys in TLS 1.2,
 * ticket IVs) and a crash replays the same way. Call before each run.
 * TLS 1.3 key shares come from PSA's own RNG, which stays random. */
void tls_fx_reseed(mbedtls_ctr_drbg_context *drbg, uint8_t salt);
/* Re-seed every context's DRBG. */
void tls_fx_reseed_all(void);

#endif
