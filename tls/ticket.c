/* ticket.c: session tickets that every loop, and every instance sharing
 * the ticket secret, encrypts and decrypts alike.
 *
 * Any loop must resume any other loop's tickets (with SO_REUSEPORT a client
 * comes back to the same loop only 1/N of the time), and instances that
 * share --ticket-secret-file must too. So no loop ever uses a key of its
 * own. With L = --ticket-lifetime in whole seconds (rounded up, >= 1) and
 * epoch e = floor(now / L), each one derives
 *   prk     = HKDF-Extract(salt = none, secret)
 *   key(e)  = HKDF-Expand(prk, "tlsterm ticket key"  || be32(L) || be64(e))
 *   name(e) = HKDF-Expand(prk, "tlsterm ticket name" || be32(L) || be64(e))
 * and holds key(e), which encrypts new tickets, and key(e-1), which still
 * decrypts. L is mixed in so that instances configured with different
 * lifetimes never share a key, rather than agreeing in some epochs only.
 * No cross-thread traffic is needed: a tick per loop installs the keys of
 * the new epoch (tls_ticket_tick), and a loop whose tick is still to come
 * catches up when it writes or parses a ticket. So every loop of every
 * instance switches keys at the boundary itself, whatever the phase of its
 * timer, and a ticket issued just after a boundary never meets a loop
 * without its key.
 *
 * A ticket issued in epoch e lives L seconds, so it expires during epoch
 * e+1, while key(e) is still installed: every ticket is accepted for its
 * whole lifetime, and a ticket survives one rotation.
 *
 * Why not mbedTLS's ticket module (library/ssl_ticket.c)? Two traps, both
 * from mbedTLS 3.6:
 *  - When its active key is `lifetime` seconds old by mbedtls_time(), or
 *    the clock stepped back, it silently switches to a fresh RANDOM key,
 *    and loops diverge. That could be avoided by re-installing keys often.
 *  - It checks a ticket's age against mbedtls_ms_time(), which on Linux is
 *    CLOCK_BOOTTIME (platform_util.c): time since THIS host booted. A
 *    ticket from another host is judged by two unrelated clocks and comes
 *    out negative or ancient, so instances on different machines would
 *    never resume each other's tickets. That cannot be avoided from
 *    outside: the check runs inside mbedtls_ssl_ticket_parse().
 * So this file implements the callbacks itself, with the same layout:
 *   name[4] | iv[12] | len[2] |
 *     AES-256-GCM(be64(created) || suite_tag[8] || state) | tag[16]
 * where name, iv and len are authenticated data, `created` is the wall
 * clock in ms (CLOCK_REALTIME, which hosts agree on) and `state` is
 * mbedtls_ssl_session_save(). On parse the age is computed from the wall
 * clock, and the session's ticket_creation_time is set back on mbedTLS's
 * own clock, which TLS 1.3 compares with the client's obfuscated ticket
 * age.
 *
 * suite_tag guards TLS 1.2 resumption across a reload. mbedTLS 3.6's TLS
 * 1.2 server picks a cipher suite afresh even when it resumes a ticket,
 * and announces that one in its ServerHello (ssl_tls12_server.c). If it
 * differs from the suite in the ticket (the certificate went from ECDSA to
 * RSA, --ciphers changed), the client aborts the handshake ("old session
 * cipher not returned"). The choice depends on our suite list and on the
 * key types of our certificates, so the tag is a hash of those: a TLS 1.2
 * ticket whose tag differs is refused and the client gets a full
 * handshake. TLS 1.3 resumption carries no such choice and ignores it.
 *
 * The secret file (tls_ticket_secret_load) is read here too, so that the
 * base64 decoder stays behind tls.h. */
#include "tls_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/base64.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_time.h>
#include <mbedtls/platform_util.h>

#include "config.h"

#define TICKET_IV_LEN 12
#define TICKET_LEN_LEN 2
#define TICKET_TAG_LEN 16
#define TICKET_AAD_LEN (TLS_TICKET_NAME_LEN + TICKET_IV_LEN + TICKET_LEN_LEN)
#define TICKET_TIME_LEN 8
#define TICKET_SUITE_TAG_LEN 8
#define TICKET_HEAD_LEN (TICKET_TIME_LEN + TICKET_SUITE_TAG_LEN)
/* Tickets stamped up to this far in the future (another host's clock runs
 * ahead of ours) count as new; beyond it they are refused. */
#define TICKET_SKEW_MS 60000

/* --- keys ----------------------------------------------------------------- */

static const mbedtls_md_info_t *sha256(void) {
  return mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
}

static int expand(const uint8_t prk[32], const char *label, uint32_t lifetime_s,
                  uint64_t epoch, uint8_t *out, size_t outlen) {
  unsigned char info[64];
  size_t n = strlen(label);

  memcpy(info, label, n);
  for (int i = 0; i < 4; i++)
    info[n++] = (unsigned char)(lifetime_s >> (24 - 8 * i));
  for (int i = 0; i < 8; i++)
    info[n++] = (unsigned char)(epoch >> (56 - 8 * i));
  return mbedtls_hkdf_expand(sha256(), prk, 32, info, n, out, outlen);
}

static int derive_prk(const uint8_t prk[32], uint32_t lifetime_s,
                      uint64_t epoch, uint8_t name[TLS_TICKET_NAME_LEN],
                      uint8_t key[TLS_TICKET_KEY_LEN]) {
  int ret = expand(prk, "tlsterm ticket key", lifetime_s, epoch, key,
                   TLS_TICKET_KEY_LEN);

  if (ret == 0)
    ret = expand(prk, "tlsterm ticket name", lifetime_s, epoch, name,
                 TLS_TICKET_NAME_LEN);
  return ret;
}

int tls_ticket_derive(const uint8_t *secret, size_t secret_len,
                      uint32_t lifetime_s, uint64_t epoch,
                      uint8_t name[TLS_TICKET_NAME_LEN],
                      uint8_t key[TLS_TICKET_KEY_LEN]) {
  uint8_t prk[32];
  int ret = mbedtls_hkdf_extract(sha256(), NULL, 0, secret, secret_len, prk);

  if (ret == 0)
    ret = derive_prk(prk, lifetime_s, epoch, name, key);
  mbedtls_platform_zeroize(prk, sizeof prk);
  return ret;
}

uint32_t tls_ticket_lifetime_s(const struct cfg *cfg) {
  if (cfg == NULL || cfg->ticket_lifetime_ms == 0)
    return TLS_TICKET_LIFETIME_DEFAULT_S;
  return (uint32_t)((cfg->ticket_lifetime_ms + 999ull) / 1000);
}

/* Put key(epoch) into its slot, unless it is there already. */
static int install(struct tls_ctx *ctx, uint64_t epoch) {
  struct tls_ticket_key *k = &ctx->keys[epoch & 1];
  uint8_t key[TLS_TICKET_KEY_LEN];
  int ret;

  if (k->set && k->epoch == epoch)
    return 0;
  k->set = false;
  ret =
      derive_prk(ctx->ticket_prk, ctx->ticket_lifetime_s, epoch, k->name, key);
  if (ret == 0)
    ret = mbedtls_gcm_setkey(&k->gcm, MBEDTLS_CIPHER_ID_AES, key,
                             8 * TLS_TICKET_KEY_LEN);
  mbedtls_platform_zeroize(key, sizeof key);
  if (ret == 0) {
    k->epoch = epoch;
    k->set = true;
  }
  return ret;
}

/* The previous epoch's key (epoch 0 wraps: any key will do), then the
 * current one, which encrypts. On failure the keys installed so far stay. */
static int install_pair(struct tls_ctx *ctx, uint64_t epoch) {
  int ret = install(ctx, epoch - 1);

  if (ret == 0)
    ret = install(ctx, epoch);
  if (ret == 0)
    ctx->epoch = epoch;
  return ret;
}

/* SHA-256 of our suite list in order and the key type of every
 * certificate in order, truncated: see the top of this file. */
static int suite_tag(const struct tls_store *st, uint8_t out[8]) {
  mbedtls_md_context_t md;
  unsigned char b[2], sum[32];
  int ret;

  mbedtls_md_init(&md);
  ret = mbedtls_md_setup(&md, sha256(), 0);
  if (ret == 0)
    ret = mbedtls_md_starts(&md);
  for (const int *p = st->suites; ret == 0 && *p != 0; p++) {
    b[0] = (unsigned char)(*p >> 8);
    b[1] = (unsigned char)*p;
    ret = mbedtls_md_update(&md, b, 2);
  }
  for (int i = 0; ret == 0 && i < st->n_certs; i++) {
    b[0] = st->certs[i].ecdsa ? 'E' : 'R';
    ret = mbedtls_md_update(&md, b, 1);
  }
  if (ret == 0)
    ret = mbedtls_md_finish(&md, sum);
  mbedtls_md_free(&md);
  memcpy(out, sum, TICKET_SUITE_TAG_LEN);
  return ret;
}

int tls_ticket_setup(struct tls_ctx *ctx, const uint8_t *secret,
                     size_t secret_len, uint32_t lifetime_s, uint64_t now_s) {
  int ret;

  /* ctx->keys[].gcm were initialised by tls_ctx_new(). */
  ctx->ticket_lifetime_s = lifetime_s > 0 ? lifetime_s : 1;
  if ((ret = suite_tag(ctx->store, ctx->suite_tag)) != 0)
    return ret;
  ret = mbedtls_hkdf_extract(sha256(), NULL, 0, secret, secret_len,
                             ctx->ticket_prk);
  if (ret == 0)
    ret = install_pair(ctx, now_s / ctx->ticket_lifetime_s);
  return ret;
}

unsigned tls_ticket_tick(struct tls_ctx *ctx, uint64_t now_s) {
  uint32_t l = ctx->ticket_lifetime_s;
  uint64_t left = l - now_s % l;

  /* Installing is a no-op within an epoch. A failure (it cannot really
   * happen) keeps the current keys and is retried at the next tick; a
   * half-done rotation leaves key(e-1) active, which every loop can still
   * decrypt. A clock that stepped back simply installs that epoch again. */
  (void)install_pair(ctx, now_s / l);
  return left < TLS_TICKET_REFRESH_S ? (unsigned)left : TLS_TICKET_REFRESH_S;
}

void tls_ticket_cleanup(struct tls_ctx *ctx) {
  for (int i = 0; i < 2; i++) {
    mbedtls_gcm_free(&ctx->keys[i].gcm);
    ctx->keys[i].set = false;
  }
  mbedtls_platform_zeroize(ctx->ticket_prk, sizeof ctx->ticket_prk);
}

/* --- the ticket format ---------------------------------------------------- */

static int64_t wall_ms(void) {
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Install the keys of the epoch NOW_MS is in, if the loop is behind it.
 * The tick timer alone is not enough: it fires up to a second after a
 * boundary, at a phase of its own in each loop and instance. Forward only:
 * a clock that stepped back is tls_ticket_tick()'s to follow. A failure
 * keeps the keys there are, as there. */
static void catch_up(struct tls_ctx *ctx, int64_t now_ms) {
  uint64_t epoch = (uint64_t)now_ms / 1000 / ctx->ticket_lifetime_s;

  if (epoch > ctx->epoch)
    (void)install_pair(ctx, epoch);
}

int tls_ticket_write(void *p, const mbedtls_ssl_session *session,
                     unsigned char *start, const unsigned char *end,
                     size_t *tlen, uint32_t *lifetime) {
  struct tls_ctx *ctx = p;
  struct tls_ticket_key *k;
  unsigned char *iv = start + TLS_TICKET_NAME_LEN;
  unsigned char *len_p = iv + TICKET_IV_LEN;
  unsigned char *clear = start + TICKET_AAD_LEN;
  uint64_t now = (uint64_t)wall_ms();
  size_t room, state_len, clear_len;
  int ret;

  catch_up(ctx, (int64_t)now);
  k = &ctx->keys[ctx->epoch & 1];
  *tlen = 0;
  if (end < start ||
      (size_t)(end - start) < TICKET_AAD_LEN + TICKET_HEAD_LEN + TICKET_TAG_LEN)
    return MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL;
  if (!k->set || k->epoch != ctx->epoch)
    return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
  room = (size_t)(end - clear) - TICKET_HEAD_LEN - TICKET_TAG_LEN;
  ret = mbedtls_ssl_session_save(session, clear + TICKET_HEAD_LEN, room,
                                 &state_len);
  if (ret != 0)
    return ret;
  clear_len = TICKET_HEAD_LEN + state_len;
  if (clear_len > 65535)
    return MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL;
  for (int i = 0; i < 8; i++)
    clear[i] = (unsigned char)(now >> (56 - 8 * i));
  memcpy(clear + TICKET_TIME_LEN, ctx->suite_tag, TICKET_SUITE_TAG_LEN);
  memcpy(start, k->name, TLS_TICKET_NAME_LEN);
  if ((ret = mbedtls_ctr_drbg_random(&ctx->drbg, iv, TICKET_IV_LEN)) != 0)
    return ret;
  len_p[0] = (unsigned char)(clear_len >> 8);
  len_p[1] = (unsigned char)clear_len;
  ret = mbedtls_gcm_crypt_and_tag(&k->gcm, MBEDTLS_GCM_ENCRYPT, clear_len, iv,
                                  TICKET_IV_LEN, start, TICKET_AAD_LEN, clear,
                                  clear, TICKET_TAG_LEN, clear + clear_len);
  if (ret != 0)
    return ret;
  *tlen = TICKET_AAD_LEN + clear_len + TICKET_TAG_LEN;
  *lifetime = ctx->ticket_lifetime_s;
  return 0;
}

int tls_ticket_parse(void *p, mbedtls_ssl_session *session, unsigned char *buf,
                     size_t len) {
  struct tls_ctx *ctx = p;
  struct tls_ticket_key *k = NULL;
  unsigned char *iv = buf + TLS_TICKET_NAME_LEN;
  unsigned char *len_p = iv + TICKET_IV_LEN;
  unsigned char *clear = buf + TICKET_AAD_LEN;
  size_t clear_len;
  uint64_t created = 0;
  int64_t now = wall_ms(), age;
  int ret;

  if (len < TICKET_AAD_LEN + TICKET_HEAD_LEN + TICKET_TAG_LEN)
    return MBEDTLS_ERR_SSL_BAD_INPUT_DATA;
  clear_len = (size_t)len_p[0] << 8 | len_p[1];
  if (len != TICKET_AAD_LEN + clear_len + TICKET_TAG_LEN ||
      clear_len < TICKET_HEAD_LEN)
    return MBEDTLS_ERR_SSL_BAD_INPUT_DATA;
  catch_up(ctx, now);
  for (int i = 0; i < 2; i++)
    if (ctx->keys[i].set &&
        memcmp(ctx->keys[i].name, buf, TLS_TICKET_NAME_LEN) == 0)
      k = &ctx->keys[i];
  /* Unknown key: older than the previous epoch, from an instance with
   * another secret or lifetime, or forged. mbedTLS's own code says
   * "expired" too, and both versions then run a full handshake. */
  if (k == NULL)
    return MBEDTLS_ERR_SSL_SESSION_TICKET_EXPIRED;
  ret = mbedtls_gcm_auth_decrypt(&k->gcm, clear_len, iv, TICKET_IV_LEN, buf,
                                 TICKET_AAD_LEN, clear + clear_len,
                                 TICKET_TAG_LEN, clear, clear);
  if (ret != 0)
    return MBEDTLS_ERR_SSL_INVALID_MAC;
  for (int i = 0; i < 8; i++)
    created = created << 8 | clear[i];
  age = now - (int64_t)created;
  if (age < -TICKET_SKEW_MS || age > (int64_t)ctx->ticket_lifetime_s * 1000)
    return MBEDTLS_ERR_SSL_SESSION_TICKET_EXPIRED;
  if (age < 0)
    age = 0;
  ret = mbedtls_ssl_session_load(session, clear + TICKET_HEAD_LEN,
                                 clear_len - TICKET_HEAD_LEN);
  if (ret != 0)
    return ret;
  /* The caller frees the loaded session when we refuse it. */
  if (session->MBEDTLS_PRIVATE(tls_version) == MBEDTLS_SSL_VERSION_TLS1_2 &&
      memcmp(clear + TICKET_TIME_LEN, ctx->suite_tag, TICKET_SUITE_TAG_LEN))
    return MBEDTLS_ERR_SSL_SESSION_TICKET_EXPIRED;
  /* The saved creation time is on the issuing host's mbedtls_ms_time()
   * clock: restate it on ours (see the top of this file). */
  session->MBEDTLS_PRIVATE(ticket_creation_time) = mbedtls_ms_time() - age;
  return 0;
}

/* --- --ticket-secret-file ------------------------------------------------- */

/* Largest file we read: base64 of TLS_TICKET_SECRET_MAX bytes is 1368
 * characters, plus line breaks. */
#define SECRET_FILE_MAX 4096

static bool is_b64(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=';
}

static bool is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f';
}

/* If buf (n bytes) is base64 text, decode it into out (TLS_TICKET_SECRET_MAX
 * bytes): 1 with *outlen set. 0 if it is not base64 text (raw bytes). -1
 * if it is base64 but too long once decoded. */
static int decode_b64(const unsigned char *buf, size_t n, uint8_t *out,
                      size_t *outlen) {
  unsigned char compact[SECRET_FILE_MAX];
  size_t m = 0;

  for (size_t i = 0; i < n; i++) {
    if (is_space(buf[i]))
      continue;
    if (!is_b64(buf[i]))
      return 0;
    compact[m++] = buf[i];
  }
  if (m == 0 || m % 4 != 0)
    return 0;
  int ret =
      mbedtls_base64_decode(out, TLS_TICKET_SECRET_MAX, outlen, compact, m);
  mbedtls_platform_zeroize(compact, m);
  if (ret == MBEDTLS_ERR_BASE64_BUFFER_TOO_SMALL)
    return -1;
  return ret == 0 ? 1 : 0;
}

int tls_ticket_secret_load(const char *path, uint8_t **out, size_t *outlen,
                           char *warn, size_t warnlen, char *err,
                           size_t errlen) {
  unsigned char buf[SECRET_FILE_MAX + 1];
  uint8_t *secret = NULL;
  size_t n = 0, len = 0;
  struct stat sb;
  int fd, kind;

  *out = NULL;
  *outlen = 0;
  if (warnlen > 0)
    warn[0] = '\0';
  if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
    snprintf(err, errlen, "--ticket-secret-file %s: %s", path, strerror(errno));
    return -1;
  }
  if (fstat(fd, &sb) != 0) {
    snprintf(err, errlen, "--ticket-secret-file %s: %s", path, strerror(errno));
    goto fail;
  }
  if (!S_ISREG(sb.st_mode)) {
    snprintf(err, errlen, "--ticket-secret-file %s: not a regular file", path);
    goto fail;
  }
  if (sb.st_mode & (S_IRGRP | S_IROTH))
    snprintf(warn, warnlen,
             "--ticket-secret-file %s: readable by group or others (mode "
             "%03o); anyone who reads it can decrypt session tickets",
             path, (unsigned)(sb.st_mode & 0777));
  while (n < sizeof buf) {
    ssize_t r = read(fd, buf + n, sizeof buf - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      snprintf(err, errlen, "--ticket-secret-file %s: %s", path,
               strerror(errno));
      goto fail;
    }
    if (r == 0)
      break;
    n += (size_t)r;
  }
  if (n > SECRET_FILE_MAX) {
    snprintf(err, errlen,
             "--ticket-secret-file %s: larger than %d bytes; want %d to %d "
             "random bytes, raw or base64",
             path, SECRET_FILE_MAX, TLS_TICKET_SECRET_LEN,
             TLS_TICKET_SECRET_MAX);
    goto fail;
  }
  if ((secret = malloc(TLS_TICKET_SECRET_MAX)) == NULL) {
    snprintf(err, errlen, "--ticket-secret-file %s: out of memory", path);
    goto fail;
  }
  kind = decode_b64(buf, n, secret, &len);
  if (kind < 0) {
    snprintf(err, errlen,
             "--ticket-secret-file %s: base64 decodes to more than %d bytes",
             path, TLS_TICKET_SECRET_MAX);
    goto fail;
  }
  if (kind == 0) {
    /* Raw bytes, used as they are (a trailing newline included). */
    if (n > TLS_TICKET_SECRET_MAX) {
      snprintf(err, errlen,
               "--ticket-secret-file %s: %zu bytes, more than %d (and not "
               "base64)",
               path, n, TLS_TICKET_SECRET_MAX);
      goto fail;
    }
    memcpy(secret, buf, n);
    len = n;
  }
  if (len < TLS_TICKET_SECRET_LEN) {
    snprintf(err, errlen,
             "--ticket-secret-file %s: too short: %zu bytes%s, need at least "
             "%d (e.g. head -c 48 /dev/urandom | base64)",
             path, len, kind == 1 ? " after base64 decoding" : "",
             TLS_TICKET_SECRET_LEN);
    goto fail;
  }
  mbedtls_platform_zeroize(buf, sizeof buf);
  close(fd);
  *out = secret;
  *outlen = len;
  return 0;

fail:
  mbedtls_platform_zeroize(buf, sizeof buf);
  tls_ticket_secret_free(secret, TLS_TICKET_SECRET_MAX);
  close(fd);
  return -1;
}

void tls_ticket_secret_free(uint8_t *secret, size_t len) {
  if (secret == NULL)
    return;
  mbedtls_platform_zeroize(secret, len);
  free(secret);
}
