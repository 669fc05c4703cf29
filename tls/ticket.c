/* ticket.c: session-ticket keys that every loop derives alike.
 *
 * Any loop must resume any other loop's tickets (with SO_REUSEPORT a client
 * comes back to the same loop only 1/N of the time), and instances that
 * share the ticket secret must too. So no loop ever uses a key of its own:
 * for epoch e = now / TLS_TICKET_EPOCH_S each one derives
 *   key(e)  = HKDF-SHA256(secret, info = "tlsterm ticket key"  || be64(e))
 *   name(e) = HKDF-SHA256(secret, info = "tlsterm ticket name" || be64(e))
 * and installs key(e-1) then key(e) with mbedtls_ssl_ticket_rotate(): the
 * context holds two keys, encrypts with the newer, decrypts with either.
 * No cross-thread traffic is needed.
 *
 * The trap, from library/ssl_ticket.c of mbedTLS 3.6 (ssl_ticket_update_keys,
 * run before every ticket write and parse):
 *     if (current_time >= key_time &&
 *         (uint64_t) (current_time - key_time) < key->lifetime) {
 *         return 0;
 *     }
 *     ctx->active = 1 - ctx->active;  ...  return ssl_ticket_gen_key(...);
 * where key_time is mbedtls_time() when mbedtls_ssl_ticket_rotate() ran and
 * key->lifetime is the `lifetime` passed to it. Once the active key is
 * `lifetime` seconds old by that clock, or the clock stepped backwards, the
 * library silently replaces it with a RANDOM key, and loops diverge.
 * (lifetime 0 would disable that, but mbedtls_ssl_ticket_parse() then
 * rejects every ticket: its expiry check is age > lifetime * 1000 ms.)
 * We avoid it by re-installing the current keys on every tick, at most
 * TLS_TICKET_REFRESH_S (60 s) apart, so the active key is never anywhere
 * near TLS_TICKET_LIFETIME_S (6 h) old, and a backwards clock step is
 * repaired within a minute. The same `lifetime` is the ticket lifetime we
 * advertise and the age limit the parser enforces; the key of epoch e stays
 * installed until epoch e+2 begins, so a ticket of any age within its
 * lifetime still finds its key. */
#include "tls_int.h"

#include <string.h>

#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>

static int hkdf(const uint8_t *secret, size_t secret_len, const char *label,
                uint64_t epoch, uint8_t *out, size_t outlen) {
  unsigned char info[64];
  size_t n = strlen(label);

  memcpy(info, label, n);
  for (int i = 0; i < 8; i++)
    info[n + (size_t)i] = (unsigned char)(epoch >> (56 - 8 * i));
  return mbedtls_hkdf(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), NULL, 0,
                      secret, secret_len, info, n + 8, out, outlen);
}

int tls_ticket_derive(const uint8_t *secret, size_t secret_len, uint64_t epoch,
                      uint8_t name[TLS_TICKET_NAME_LEN],
                      uint8_t key[TLS_TICKET_KEY_LEN]) {
  int ret = hkdf(secret, secret_len, "tlsterm ticket key", epoch, key,
                 TLS_TICKET_KEY_LEN);

  if (ret == 0)
    ret = hkdf(secret, secret_len, "tlsterm ticket name", epoch, name,
               TLS_TICKET_NAME_LEN);
  return ret;
}

/* Make key(epoch) the active key; the previously active one stays for
 * decryption (rotate overwrites the inactive slot). */
static int install(struct tls_ctx *ctx, uint64_t epoch) {
  uint8_t name[TLS_TICKET_NAME_LEN], key[TLS_TICKET_KEY_LEN];
  int ret = tls_ticket_derive(ctx->secret, ctx->secret_len, epoch, name, key);

  if (ret == 0)
    ret = mbedtls_ssl_ticket_rotate(&ctx->ticket, name, sizeof name, key,
                                    sizeof key, TLS_TICKET_LIFETIME_S);
  mbedtls_platform_zeroize(key, sizeof key);
  return ret;
}

/* Both slots: the previous epoch's key, then the current one (active). */
static int install_pair(struct tls_ctx *ctx, uint64_t epoch) {
  int ret = install(ctx, epoch - 1); /* epoch 0 wraps: any key will do */

  if (ret == 0)
    ret = install(ctx, epoch);
  if (ret == 0)
    ctx->epoch = epoch;
  return ret;
}

int tls_ticket_setup(struct tls_ctx *ctx, uint64_t now_s) {
  /* Setup generates two random keys; install_pair replaces both before any
   * ticket is written. AES-256-GCM: at least as strong as any suite. */
  int ret = mbedtls_ssl_ticket_setup(&ctx->ticket, mbedtls_ctr_drbg_random,
                                     &ctx->drbg, MBEDTLS_CIPHER_AES_256_GCM,
                                     TLS_TICKET_LIFETIME_S);

  if (ret == 0)
    ret = install_pair(ctx, now_s / TLS_TICKET_EPOCH_S);
  return ret;
}

unsigned tls_ticket_tick(struct tls_ctx *ctx, uint64_t now_s) {
  uint64_t epoch = now_s / TLS_TICKET_EPOCH_S;
  unsigned left = TLS_TICKET_EPOCH_S - (unsigned)(now_s % TLS_TICKET_EPOCH_S);

  /* Re-install even within an epoch: it resets the keys' generation time
   * (see the trap above). Derivation and two AES key schedules cost a few
   * microseconds. A failure (it cannot really happen) keeps the previous
   * keys, which every loop also holds. */
  (void)install_pair(ctx, epoch);
  return left < TLS_TICKET_REFRESH_S ? left : TLS_TICKET_REFRESH_S;
}
