/* mbedtls_config_tuned.h: tlsterm's tuned mbedTLS 3.6 configuration.
 *
 * Not included by tlsterm's own code. scripts/build-mbedtls appends this
 * file to the end of the upstream default include/mbedtls/mbedtls_config.h
 * of Debian's mbedtls source package before building, so it works like an
 * MBEDTLS_USER_CONFIG_FILE (read after the defaults: #define adds an option,
 * #undef removes one) but is baked into the installed header. That matters:
 * several options change the layout of public structures (the ECDH context
 * with Everest, the SSL context with MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH),
 * so every program built against the library must see exactly the
 * configuration the library was built with, with no -D flag to forget.
 *
 * Part 1 repeats what Debian's debian/rules adds to the defaults, so the
 * tuned build differs from the packaged one only in part 2. Everything
 * tls/tls_int.h checks for (threading, TLS 1.2 and 1.3, tickets, SNI, ALPN,
 * HKDF, GCM, CTR_DRBG, PEM, ...) is on in the defaults and must stay on.
 * Measurements behind each choice: docs/BENCHMARKS.md, "Tuned mbedTLS
 * build". No include guard: this is a fragment of mbedtls_config.h. */

/* --- 1. Debian's additions to the upstream defaults (debian/rules) ------ */
#define MBEDTLS_DEPRECATED_WARNING
#define MBEDTLS_THREADING_C
#define MBEDTLS_THREADING_PTHREAD
#define MBEDTLS_CMAC_C
#define MBEDTLS_SSL_DTLS_SRTP

/* --- 2. tlsterm's tuning ------------------------------------------------ */

/* X25519 from the formally verified Everest (HACL*) code in 3rdparty/
 * instead of the generic ECP code: ~5x faster shared-secret computation
 * (TLS 1.2's whole ECDHE, TLS 1.3's psa_raw_key_agreement). TLS 1.3's own
 * key share (PSA key generation, then export of the public key) would still
 * run the generic code: tls/mbedtls-patches/psa-x25519-public-everest.patch
 * sends that to Everest too. */
#define MBEDTLS_ECDH_VARIANT_EVEREST_ENABLED

/* Tried and not kept (figures in docs/BENCHMARKS.md):
 *   MBEDTLS_SSL_OUT_CONTENT_LEN 4096: -12 KB per idle connection, but
 *     mbedTLS does not fragment outgoing handshake messages, so a
 *     certificate chain longer than the buffer fails every handshake.
 *     Set 8192 or 4096 only if every configured chain fits.
 *   MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH: no change; it only shrinks buffers
 *     to a negotiated max_fragment_length, which clients do not send.
 *   MBEDTLS_PSA_P256M_DRIVER_ENABLED: P-256 through PSA 3 to 16 times
 *     slower on x86-64 (it is written for size).
 *   MBEDTLS_USE_PSA_CRYPTO: no change in the floor or in handshakes.
 * To try one: uncomment it and rerun scripts/build-mbedtls (it rebuilds
 * when this file changes). */
/* #define MBEDTLS_SSL_OUT_CONTENT_LEN 8192 */
/* #define MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH */
/* #define MBEDTLS_USE_PSA_CRYPTO */
