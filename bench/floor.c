/* floor.c: the crypto floor for tlsterm's benchmarks.
 *
 * Times, on one thread, each mbedTLS primitive a TLS terminator pays for
 * (the handshake signature, both halves of the ECDHE key exchange, record
 * encryption, the TLS 1.3 key schedule's HKDF and transcript hash), so that
 * each benchmark workload can be reported as overhead above this floor.
 *
 * It calls the API each primitive is reached through in a tlsterm
 * handshake on Debian's mbedTLS 3.6 build, where MBEDTLS_USE_PSA_CRYPTO is
 * off (each result line says which TLS version takes that path: tls=):
 *   - signatures: mbedtls_pk_sign (TLS 1.2) and mbedtls_pk_sign_ext (TLS 1.3,
 *     which signs with RSA-PSS) on a key parsed from PEM as tls/ctx.c does.
 *     Without USE_PSA_CRYPTO both run the legacy ECDSA and RSA code.
 *   - key exchange: TLS 1.3 always goes through PSA (psa_generate_key +
 *     psa_export_public_key for our share, psa_raw_key_agreement for the
 *     secret); TLS 1.2 uses mbedtls_ecdh (setup + make_params for the
 *     ServerKeyExchange, read_public + calc_secret for the ClientKeyExchange).
 *   - records: mbedtls_cipher_auth_encrypt_ext in place, with a 12-byte
 *     nonce, a 5-byte header as additional data and a 16-byte tag.
 *   - key schedule: PSA HKDF-Expand (TLS 1.3 only); SHA-256 transcript.
 * PSA ECDSA and PSA AEAD are timed beside them as what-ifs (tls=none): what
 * a build with USE_PSA_CRYPTO would pay instead.
 *
 * Keys are generated at start, so no files are needed. Each operation is
 * warmed up, then timed in 5 batches of a fixed length; the median batch is
 * reported in process CPU time (CLOCK_PROCESS_CPUTIME_ID, the unit the
 * benchmarks measure proxies in) and, separately, in wall time.
 *
 * This is a standalone tool, not part of the proxy: measuring mbedTLS is
 * its whole job, so it includes mbedTLS headers outside tls/. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/build_info.h>
#include <mbedtls/cipher.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdh.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>
#include <mbedtls/version.h>
#include <psa/crypto.h>

/* Which TLS version reaches each path (see the top comment). A build with
 * USE_PSA_CRYPTO moves TLS 1.2 key exchange and all records to PSA. */
#if defined(MBEDTLS_USE_PSA_CRYPTO)
#define TLS_KEX_LEGACY "none"
#define TLS_KEX_PSA "1.2+1.3"
#define TLS_AEAD_LEGACY "none"
#define TLS_AEAD_PSA "1.2+1.3"
#else
#define TLS_KEX_LEGACY "1.2"
#define TLS_KEX_PSA "1.3"
#define TLS_AEAD_LEGACY "1.2+1.3"
#define TLS_AEAD_PSA "none"
#endif

#define BATCHES 5
#define MAX_RESULTS 48
#define MAX_RECORD 16384
#define TAG_LEN 16
#define TRANSCRIPT_LEN 4096

/* One timed operation: fn(arg) once per iteration; 0 or an mbedTLS/PSA
 * error code. bytes is the payload per call, 0 for non-bulk operations. */
struct op {
  const char *name;
  const char *api;
  const char *tls;
  size_t bytes;
  int (*fn)(void *arg);
  void *arg;
};

struct result {
  char name[40];
  const char *api;
  const char *tls;
  size_t bytes;
  unsigned long iters;   /* per batch */
  double us, wall_us;    /* medians of the batches, per operation */
  double us_min, us_max; /* CPU time, fastest and slowest batch */
};

struct bench {
  bool quick, json;
  double warm_s, batch_s;
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  struct result res[MAX_RESULTS];
  int n_res;
};

/* ---- timing ------------------------------------------------------------ */

static double clock_s(clockid_t id) {
  struct timespec ts;

  clock_gettime(id, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;

  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return v[n / 2];
}

static int fail_op(const char *what, int ret) {
  char why[128] = "";

#if defined(MBEDTLS_ERROR_C)
  mbedtls_strerror(ret, why, sizeof why);
#endif
  /* PSA statuses (-128..-255) are not in mbedtls_strerror's table. */
  fprintf(stderr, "floor: %s failed: error %d (-0x%04x) %s\n", what, ret,
          (unsigned)-ret, why);
  return -1;
}

/* Warm up for warm_s of wall time, which also estimates the cost of one
 * call; then run BATCHES batches of about batch_s each and keep the
 * medians. */
static int measure(struct bench *b, const struct op *op) {
  double cpu[BATCHES], wall[BATCHES], t0, elapsed;
  unsigned long n = 0, iters;
  struct result *r;
  int ret;

  if (b->n_res == MAX_RESULTS)
    return fail_op("result table", MBEDTLS_ERR_ERROR_GENERIC_ERROR);
  t0 = clock_s(CLOCK_MONOTONIC);
  do {
    if ((ret = op->fn(op->arg)) != 0)
      return fail_op(op->name, ret);
    n++;
  } while ((elapsed = clock_s(CLOCK_MONOTONIC) - t0) < b->warm_s);
  iters = (unsigned long)(b->batch_s / (elapsed / (double)n));
  if (iters == 0)
    iters = 1;

  for (int i = 0; i < BATCHES; i++) {
    double c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    double w0 = clock_s(CLOCK_MONOTONIC);

    for (unsigned long k = 0; k < iters; k++)
      if ((ret = op->fn(op->arg)) != 0)
        return fail_op(op->name, ret);
    cpu[i] = (clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0) / (double)iters * 1e6;
    wall[i] = (clock_s(CLOCK_MONOTONIC) - w0) / (double)iters * 1e6;
  }

  r = &b->res[b->n_res++];
  snprintf(r->name, sizeof r->name, "%s", op->name);
  r->api = op->api;
  r->tls = op->tls;
  r->bytes = op->bytes;
  r->iters = iters;
  r->us = median(cpu, BATCHES); /* sorts cpu */
  r->us_min = cpu[0];
  r->us_max = cpu[BATCHES - 1];
  r->wall_us = median(wall, BATCHES);
  if (!b->json) {
    printf("floor: op=%s us=%.2f wall_us=%.2f ops_per_s=%.0f", r->name, r->us,
           r->wall_us, 1e6 / r->us);
    if (r->bytes > 0)
      printf(" bytes=%zu mib_per_s=%.1f", r->bytes,
             (double)r->bytes / r->us * 1e6 / (1024.0 * 1024.0));
    printf(" api=%s tls=%s iters=%lu us_min=%.2f us_max=%.2f\n", r->api, r->tls,
           r->iters, r->us_min, r->us_max);
    fflush(stdout);
  }
  return 0;
}

/* ---- signatures -------------------------------------------------------- */

struct sign_arg {
  mbedtls_pk_context *pk;
  mbedtls_pk_type_t type; /* MBEDTLS_PK_RSASSA_PSS: mbedtls_pk_sign_ext */
  mbedtls_ctr_drbg_context *drbg;
  mbedtls_svc_key_id_t psa_key; /* for psa_sign_op */
  psa_algorithm_t psa_alg;
  unsigned char hash[32];
};

/* What ssl_tls12_server.c (ServerKeyExchange) and ssl_tls13_generic.c
 * (CertificateVerify, through mbedtls_pk_sign_ext) call. */
static int pk_sign_op(void *p) {
  struct sign_arg *a = p;
  unsigned char sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
  size_t len;

  if (a->type == MBEDTLS_PK_RSASSA_PSS)
    return mbedtls_pk_sign_ext(MBEDTLS_PK_RSASSA_PSS, a->pk, MBEDTLS_MD_SHA256,
                               a->hash, sizeof a->hash, sig, sizeof sig, &len,
                               mbedtls_ctr_drbg_random, a->drbg);
  return mbedtls_pk_sign(a->pk, MBEDTLS_MD_SHA256, a->hash, sizeof a->hash, sig,
                         sizeof sig, &len, mbedtls_ctr_drbg_random, a->drbg);
}

static int psa_sign_op(void *p) {
  struct sign_arg *a = p;
  unsigned char sig[PSA_SIGNATURE_MAX_SIZE];
  size_t len;

  return psa_sign_hash(a->psa_key, a->psa_alg, a->hash, sizeof a->hash, sig,
                       sizeof sig, &len);
}

/* Generate a key, write it as PEM and parse that into *out the way
 * tls/ctx.c parses the store's PEM bytes. *out must be initialised. */
static int make_key(struct bench *b, mbedtls_pk_context *out,
                    mbedtls_pk_type_t type) {
  mbedtls_pk_context gen;
  unsigned char pem[4096];
  int ret;

  mbedtls_pk_init(&gen);
  if ((ret = mbedtls_pk_setup(&gen, mbedtls_pk_info_from_type(type))) != 0)
    goto done;
  if (type == MBEDTLS_PK_RSA)
    ret = mbedtls_rsa_gen_key(mbedtls_pk_rsa(gen), mbedtls_ctr_drbg_random,
                              &b->drbg, 2048, 65537);
  else
    ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(gen),
                              mbedtls_ctr_drbg_random, &b->drbg);
  if (ret != 0)
    goto done;
  if ((ret = mbedtls_pk_write_key_pem(&gen, pem, sizeof pem)) != 0)
    goto done;
  ret = mbedtls_pk_parse_key(out, pem, strlen((const char *)pem) + 1, NULL, 0,
                             mbedtls_ctr_drbg_random, &b->drbg);
done:
  mbedtls_pk_free(&gen);
  mbedtls_platform_zeroize(pem, sizeof pem);
  return ret;
}

static int bench_signatures(struct bench *b) {
  static const char msg[] = "tlsterm crypto floor";
  mbedtls_pk_context ec, rsa;
  mbedtls_svc_key_id_t det = MBEDTLS_SVC_KEY_ID_INIT;
  mbedtls_svc_key_id_t rnd = MBEDTLS_SVC_KEY_ID_INIT;
  psa_key_attributes_t attr = PSA_KEY_ATTRIBUTES_INIT;
  struct sign_arg a = {.drbg = &b->drbg};
  int ret, rc = -1;

  mbedtls_pk_init(&ec);
  mbedtls_pk_init(&rsa);
  if ((ret = mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
                        (const unsigned char *)msg, sizeof msg, a.hash)) != 0 ||
      (ret = make_key(b, &ec, MBEDTLS_PK_ECKEY)) != 0 ||
      (ret = make_key(b, &rsa, MBEDTLS_PK_RSA)) != 0) {
    fail_op("key generation", ret);
    goto fail;
  }

  /* The same key in PSA's key store, once per ECDSA flavour: the
   * deterministic one is what pk_sign computes. */
  if ((ret = mbedtls_pk_get_psa_attributes(&ec, PSA_KEY_USAGE_SIGN_HASH,
                                           &attr)) != 0) {
    fail_op("PSA key attributes", ret);
    goto fail;
  }
  psa_set_key_algorithm(&attr, PSA_ALG_DETERMINISTIC_ECDSA(PSA_ALG_SHA_256));
  if ((ret = mbedtls_pk_import_into_psa(&ec, &attr, &det)) == 0) {
    psa_set_key_algorithm(&attr, PSA_ALG_ECDSA(PSA_ALG_SHA_256));
    ret = mbedtls_pk_import_into_psa(&ec, &attr, &rnd);
  }
  if (ret != 0) {
    fail_op("PSA key import", ret);
    goto fail;
  }

  a.pk = &ec;
  a.type = MBEDTLS_PK_ECKEY;
  if (measure(b, &(struct op){"ecdsa_p256_sign", "pk", "1.2+1.3", 0, pk_sign_op,
                              &a}) != 0)
    goto fail;
  a.psa_key = det;
  a.psa_alg = PSA_ALG_DETERMINISTIC_ECDSA(PSA_ALG_SHA_256);
  if (measure(b, &(struct op){"ecdsa_p256_sign_psa_det", "psa", "none", 0,
                              psa_sign_op, &a}) != 0)
    goto fail;
  a.psa_key = rnd;
  a.psa_alg = PSA_ALG_ECDSA(PSA_ALG_SHA_256);
  if (measure(b, &(struct op){"ecdsa_p256_sign_psa", "psa", "none", 0,
                              psa_sign_op, &a}) != 0)
    goto fail;

  a.pk = &rsa;
  a.type = MBEDTLS_PK_RSA;
  if (measure(b, &(struct op){"rsa2048_sign_pkcs1", "pk", "1.2", 0, pk_sign_op,
                              &a}) != 0)
    goto fail;
  a.type = MBEDTLS_PK_RSASSA_PSS;
  if (measure(b, &(struct op){"rsa2048_sign_pss", "pk_ext", "1.3", 0,
                              pk_sign_op, &a}) != 0)
    goto fail;
  rc = 0;

fail:
  psa_reset_key_attributes(&attr);
  psa_destroy_key(det);
  psa_destroy_key(rnd);
  mbedtls_pk_free(&rsa);
  mbedtls_pk_free(&ec);
  return rc;
}

/* ---- key exchange ------------------------------------------------------ */

/* TLS 1.3 (ssl_tls13_*.c): our share from a fresh PSA key, then the secret
 * against the client's share. */
struct psa_kex_arg {
  psa_key_attributes_t attr;
  mbedtls_svc_key_id_t fixed; /* our key for the _shared operation */
  unsigned char peer[PSA_EXPORT_PUBLIC_KEY_MAX_SIZE];
  size_t peer_len;
};

static int psa_keygen_op(void *p) {
  struct psa_kex_arg *a = p;
  mbedtls_svc_key_id_t id = MBEDTLS_SVC_KEY_ID_INIT;
  unsigned char pub[PSA_EXPORT_PUBLIC_KEY_MAX_SIZE];
  size_t len;
  psa_status_t st;

  if ((st = psa_generate_key(&a->attr, &id)) != PSA_SUCCESS)
    return (int)st;
  st = psa_export_public_key(id, pub, sizeof pub, &len);
  psa_destroy_key(id);
  return (int)st;
}

static int psa_shared_op(void *p) {
  struct psa_kex_arg *a = p;
  unsigned char z[PSA_RAW_KEY_AGREEMENT_OUTPUT_MAX_SIZE];
  size_t len;

  return (int)psa_raw_key_agreement(PSA_ALG_ECDH, a->fixed, a->peer,
                                    a->peer_len, z, sizeof z, &len);
}

/* TLS 1.2 (ssl_tls12_server.c without USE_PSA_CRYPTO): a fresh context and
 * key for the ServerKeyExchange, then the ClientKeyExchange's point read
 * and the secret computed. */
struct ecdh_arg {
  mbedtls_ecp_group_id grp;
  mbedtls_ecdh_context fixed; /* our key for the _shared operation */
  unsigned char peer[MBEDTLS_ECP_MAX_PT_LEN + 1];
  size_t peer_len;
  mbedtls_ctr_drbg_context *drbg;
};

static int ecdh_keygen_op(void *p) {
  struct ecdh_arg *a = p;
  mbedtls_ecdh_context ctx;
  unsigned char params[MBEDTLS_ECP_MAX_PT_LEN + 8];
  size_t len;
  int ret;

  mbedtls_ecdh_init(&ctx);
  ret = mbedtls_ecdh_setup(&ctx, a->grp);
  if (ret == 0)
    ret = mbedtls_ecdh_make_params(&ctx, &len, params, sizeof params,
                                   mbedtls_ctr_drbg_random, a->drbg);
  mbedtls_ecdh_free(&ctx);
  return ret;
}

static int ecdh_shared_op(void *p) {
  struct ecdh_arg *a = p;
  unsigned char z[MBEDTLS_ECP_MAX_BYTES];
  size_t len;
  int ret;

  if ((ret = mbedtls_ecdh_read_public(&a->fixed, a->peer, a->peer_len)) != 0)
    return ret;
  return mbedtls_ecdh_calc_secret(&a->fixed, &len, z, sizeof z,
                                  mbedtls_ctr_drbg_random, a->drbg);
}

static int bench_group(struct bench *b, const char *name,
                       mbedtls_ecp_group_id grp, psa_ecc_family_t family,
                       size_t bits) {
  struct psa_kex_arg pa = {.attr = PSA_KEY_ATTRIBUTES_INIT,
                           .fixed = MBEDTLS_SVC_KEY_ID_INIT};
  struct ecdh_arg ea = {.grp = grp, .drbg = &b->drbg};
  mbedtls_svc_key_id_t peer = MBEDTLS_SVC_KEY_ID_INIT;
  mbedtls_ecdh_context cli;
  unsigned char params[MBEDTLS_ECP_MAX_PT_LEN + 8];
  char op[4][40];
  size_t len;
  int ret, rc = -1;

  mbedtls_ecdh_init(&ea.fixed);
  mbedtls_ecdh_init(&cli);
  snprintf(op[0], sizeof op[0], "%s_keygen", name);
  snprintf(op[1], sizeof op[1], "%s_shared", name);
  snprintf(op[2], sizeof op[2], "%s_keygen_ecdh", name);
  snprintf(op[3], sizeof op[3], "%s_shared_ecdh", name);

  /* The attributes mbedTLS sets for a TLS 1.3 key share. */
  psa_set_key_type(&pa.attr, PSA_KEY_TYPE_ECC_KEY_PAIR(family));
  psa_set_key_bits(&pa.attr, bits);
  psa_set_key_usage_flags(&pa.attr, PSA_KEY_USAGE_DERIVE);
  psa_set_key_algorithm(&pa.attr, PSA_ALG_ECDH);
  if ((ret = psa_generate_key(&pa.attr, &pa.fixed)) != 0 ||
      (ret = psa_generate_key(&pa.attr, &peer)) != 0 ||
      (ret = psa_export_public_key(peer, pa.peer, sizeof pa.peer,
                                   &pa.peer_len)) != 0) {
    fail_op(name, ret);
    goto fail;
  }
  if (measure(b, &(struct op){op[0], "psa", TLS_KEX_PSA, 0, psa_keygen_op,
                              &pa}) != 0 ||
      measure(b, &(struct op){op[1], "psa", TLS_KEX_PSA, 0, psa_shared_op,
                              &pa}) != 0)
    goto fail;

  /* Our fixed key as in a ServerKeyExchange; the client's public point as
   * in its ClientKeyExchange. */
  if ((ret = mbedtls_ecdh_setup(&ea.fixed, grp)) != 0 ||
      (ret = mbedtls_ecdh_make_params(&ea.fixed, &len, params, sizeof params,
                                      mbedtls_ctr_drbg_random, &b->drbg)) !=
          0 ||
      (ret = mbedtls_ecdh_setup(&cli, grp)) != 0 ||
      (ret =
           mbedtls_ecdh_make_public(&cli, &ea.peer_len, ea.peer, sizeof ea.peer,
                                    mbedtls_ctr_drbg_random, &b->drbg)) != 0) {
    fail_op(name, ret);
    goto fail;
  }
  if (measure(b, &(struct op){op[2], "ecdh", TLS_KEX_LEGACY, 0, ecdh_keygen_op,
                              &ea}) != 0 ||
      measure(b, &(struct op){op[3], "ecdh", TLS_KEX_LEGACY, 0, ecdh_shared_op,
                              &ea}) != 0)
    goto fail;
  rc = 0;

fail:
  mbedtls_ecdh_free(&cli);
  mbedtls_ecdh_free(&ea.fixed);
  psa_destroy_key(peer);
  psa_destroy_key(pa.fixed);
  psa_reset_key_attributes(&pa.attr);
  return rc;
}

static int bench_kex(struct bench *b) {
  if (bench_group(b, "x25519", MBEDTLS_ECP_DP_CURVE25519,
                  PSA_ECC_FAMILY_MONTGOMERY, 255) != 0)
    return -1;
  return bench_group(b, "p256", MBEDTLS_ECP_DP_SECP256R1,
                     PSA_ECC_FAMILY_SECP_R1, 256);
}

/* ---- records ----------------------------------------------------------- */

struct aead_arg {
  mbedtls_cipher_context_t cipher;
  mbedtls_svc_key_id_t key;
  psa_algorithm_t alg;
  unsigned char *buf; /* len + TAG_LEN bytes, encrypted in place */
  size_t len;
  unsigned char iv[12];
  uint64_t seq;
};

/* The per-record nonce: the static IV XORed with the sequence number, as
 * TLS 1.3 does (and TLS 1.2's ChaCha20; its GCM sends 8 bytes of it). The
 * additional data is a TLS 1.3 record header. */
static void next_record(struct aead_arg *a, unsigned char nonce[12],
                        unsigned char hdr[5]) {
  size_t outer = a->len + TAG_LEN;

  memcpy(nonce, a->iv, 12);
  for (int i = 0; i < 8; i++)
    nonce[11 - i] ^= (unsigned char)(a->seq >> (8 * i));
  a->seq++;
  hdr[0] = 23;
  hdr[1] = 3;
  hdr[2] = 3;
  hdr[3] = (unsigned char)(outer >> 8);
  hdr[4] = (unsigned char)outer;
}

/* What ssl_msg.c's mbedtls_ssl_encrypt_buf does without USE_PSA_CRYPTO. */
static int cipher_encrypt_op(void *p) {
  struct aead_arg *a = p;
  unsigned char nonce[12], hdr[5];
  size_t olen;

  next_record(a, nonce, hdr);
  return mbedtls_cipher_auth_encrypt_ext(&a->cipher, nonce, sizeof nonce, hdr,
                                         sizeof hdr, a->buf, a->len, a->buf,
                                         a->len + TAG_LEN, &olen, TAG_LEN);
}

/* ... and with it. */
static int psa_encrypt_op(void *p) {
  struct aead_arg *a = p;
  unsigned char nonce[12], hdr[5];
  size_t olen;

  next_record(a, nonce, hdr);
  return (int)psa_aead_encrypt(a->key, a->alg, nonce, sizeof nonce, hdr,
                               sizeof hdr, a->buf, a->len, a->buf,
                               a->len + TAG_LEN, &olen);
}

static const struct aead_kind {
  const char *name;
  mbedtls_cipher_type_t type;
  psa_key_type_t psa_type;
  psa_algorithm_t psa_alg;
  size_t key_bits;
} aead_kinds[] = {
    {"aes128gcm", MBEDTLS_CIPHER_AES_128_GCM, PSA_KEY_TYPE_AES, PSA_ALG_GCM,
     128},
    {"aes256gcm", MBEDTLS_CIPHER_AES_256_GCM, PSA_KEY_TYPE_AES, PSA_ALG_GCM,
     256},
    {"chacha20poly1305", MBEDTLS_CIPHER_CHACHA20_POLY1305,
     PSA_KEY_TYPE_CHACHA20, PSA_ALG_CHACHA20_POLY1305, 256},
};

/* 16 KiB is a full record (bulk transfer); 1 KiB a small response. */
static const struct {
  const char *suffix;
  size_t len;
} record_sizes[] = {{"16k", MAX_RECORD}, {"1k", 1024}};

static int bench_aead(struct bench *b, const struct aead_kind *k, bool psa,
                      unsigned char *buf) {
  struct aead_arg a = {
      .key = MBEDTLS_SVC_KEY_ID_INIT, .alg = k->psa_alg, .buf = buf};
  psa_key_attributes_t attr = PSA_KEY_ATTRIBUTES_INIT;
  unsigned char key[32];
  int ret, rc = -1;

  mbedtls_cipher_init(&a.cipher);
  psa_set_key_type(&attr, k->psa_type);
  psa_set_key_bits(&attr, k->key_bits);
  psa_set_key_usage_flags(&attr, PSA_KEY_USAGE_ENCRYPT);
  psa_set_key_algorithm(&attr, k->psa_alg);
  if ((ret = mbedtls_ctr_drbg_random(&b->drbg, key, sizeof key)) == 0 &&
      (ret = mbedtls_ctr_drbg_random(&b->drbg, a.iv, sizeof a.iv)) == 0) {
    if (psa)
      ret = (int)psa_import_key(&attr, key, k->key_bits / 8, &a.key);
    else if ((ret = mbedtls_cipher_setup(
                  &a.cipher, mbedtls_cipher_info_from_type(k->type))) == 0)
      ret = mbedtls_cipher_setkey(&a.cipher, key, (int)k->key_bits,
                                  MBEDTLS_ENCRYPT);
  }
  if (ret != 0) {
    fail_op(k->name, ret);
    goto fail;
  }

  for (size_t i = 0; i < sizeof record_sizes / sizeof record_sizes[0]; i++) {
    char name[40];

    snprintf(name, sizeof name, "%s_%s%s", k->name, record_sizes[i].suffix,
             psa ? "_psa" : "");
    a.len = record_sizes[i].len;
    if (measure(b, &(struct op){name, psa ? "psa" : "cipher",
                                psa ? TLS_AEAD_PSA : TLS_AEAD_LEGACY, a.len,
                                psa ? psa_encrypt_op : cipher_encrypt_op,
                                &a}) != 0)
      goto fail;
  }
  rc = 0;

fail:
  mbedtls_platform_zeroize(key, sizeof key);
  psa_reset_key_attributes(&attr);
  psa_destroy_key(a.key);
  mbedtls_cipher_free(&a.cipher);
  return rc;
}

static int bench_records(struct bench *b) {
  size_t n = sizeof aead_kinds / sizeof aead_kinds[0];
  unsigned char *buf = calloc(1, MAX_RECORD + TAG_LEN);
  int rc = -1;

  if (buf == NULL) {
    fail_op("record buffer", MBEDTLS_ERR_CIPHER_ALLOC_FAILED);
    return -1;
  }
  for (int psa = 0; psa <= 1; psa++)
    for (size_t i = 0; i < n; i++)
      if (bench_aead(b, &aead_kinds[i], psa, buf) != 0)
        goto fail;
  rc = 0;
fail:
  free(buf);
  return rc;
}

/* ---- key schedule ------------------------------------------------------ */

struct kdf_arg {
  unsigned char secret[32];
  unsigned char info[2 + 1 + 18 + 1 + 32]; /* an HkdfLabel, RFC 8446 7.1 */
  unsigned char transcript[TRANSCRIPT_LEN];
};

/* One HKDF-Expand-Label to 32 bytes, as ssl_tls13_keys.c does through
 * PSA. A full TLS 1.3 handshake runs about 20 of these and 3 extracts. */
static int hkdf_expand_op(void *p) {
  struct kdf_arg *a = p;
  psa_key_derivation_operation_t op = PSA_KEY_DERIVATION_OPERATION_INIT;
  unsigned char out[32];
  psa_status_t st;

  st = psa_key_derivation_setup(&op, PSA_ALG_HKDF_EXPAND(PSA_ALG_SHA_256));
  if (st == PSA_SUCCESS)
    st = psa_key_derivation_input_bytes(&op, PSA_KEY_DERIVATION_INPUT_SECRET,
                                        a->secret, sizeof a->secret);
  if (st == PSA_SUCCESS)
    st = psa_key_derivation_input_bytes(&op, PSA_KEY_DERIVATION_INPUT_INFO,
                                        a->info, sizeof a->info);
  if (st == PSA_SUCCESS)
    st = psa_key_derivation_output_bytes(&op, out, sizeof out);
  psa_key_derivation_abort(&op);
  return (int)st;
}

/* A handshake's worth of transcript (ClientHello, ServerHello,
 * EncryptedExtensions, Certificate, CertificateVerify, Finished) through
 * SHA-256 once. */
static int sha256_op(void *p) {
  struct kdf_arg *a = p;
  unsigned char out[32];

  return mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), a->transcript,
                    sizeof a->transcript, out);
}

static int bench_kdf(struct bench *b) {
  static const char label[] = "tls13 c hs traffic";
  struct kdf_arg *a = calloc(1, sizeof *a);
  unsigned char *p;
  int ret, rc = -1;

  if (a == NULL) {
    fail_op("kdf buffers", MBEDTLS_ERR_MD_ALLOC_FAILED);
    return -1;
  }
  p = a->info;
  *p++ = 0;
  *p++ = 32;
  *p++ = (unsigned char)(sizeof label - 1);
  memcpy(p, label, sizeof label - 1);
  p += sizeof label - 1;
  *p++ = 32; /* context: a transcript hash */
  if ((ret = mbedtls_ctr_drbg_random(&b->drbg, p, 32)) != 0 ||
      (ret = mbedtls_ctr_drbg_random(&b->drbg, a->secret, sizeof a->secret)) !=
          0) {
    fail_op("kdf inputs", ret);
    goto fail;
  }
  /* SHA-256 does not care what the bytes are (and the DRBG gives at most
   * 1 KiB a call). */
  for (size_t i = 0; i < sizeof a->transcript; i++)
    a->transcript[i] = (unsigned char)(i * 131 + 7);
  if (measure(b, &(struct op){"sha256_4k", "md", "1.2+1.3", TRANSCRIPT_LEN,
                              sha256_op, a}) != 0 ||
      measure(b, &(struct op){"hkdf_expand_label", "psa", "1.3", 0,
                              hkdf_expand_op, a}) != 0)
    goto fail;
  rc = 0;
fail:
  free(a);
  return rc;
}

/* ---- main -------------------------------------------------------------- */

static const char *lib_version(void) {
#if defined(MBEDTLS_VERSION_C)
  static char v[18];

  mbedtls_version_get_string(v);
  return v;
#else
  return MBEDTLS_VERSION_STRING;
#endif
}

static bool use_psa_crypto(void) {
#if defined(MBEDTLS_USE_PSA_CRYPTO)
  return true;
#else
  return false;
#endif
}

static void print_json(const struct bench *b) {
  printf("{\"mbedtls\": \"%s\", \"use_psa_crypto\": %s, \"quick\": %s, "
         "\"batches\": %d, \"clock\": \"process_cputime\", \"results\": [",
         lib_version(), use_psa_crypto() ? "true" : "false",
         b->quick ? "true" : "false", BATCHES);
  for (int i = 0; i < b->n_res; i++) {
    const struct result *r = &b->res[i];

    printf("%s\n  {\"op\": \"%s\", \"us\": %.3f, \"wall_us\": %.3f, "
           "\"ops_per_s\": %.1f",
           i == 0 ? "" : ",", r->name, r->us, r->wall_us, 1e6 / r->us);
    if (r->bytes > 0)
      printf(", \"bytes\": %zu, \"mib_per_s\": %.2f", r->bytes,
             (double)r->bytes / r->us * 1e6 / (1024.0 * 1024.0));
    printf(", \"api\": \"%s\", \"tls\": \"%s\", \"iters\": %lu, "
           "\"us_min\": %.3f, \"us_max\": %.3f}",
           r->api, r->tls, r->iters, r->us_min, r->us_max);
  }
  printf("\n]}\n");
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: floor [--quick] [--json]\n"
          "Times the mbedTLS primitives a TLS terminator pays for, one "
          "thread,\nmedian of %d batches, in process CPU time and wall "
          "time.\n"
          "  --quick  short batches (about 2 s in all), to check that it "
          "runs\n"
          "  --json   one JSON object instead of 'floor:' lines\n",
          BATCHES);
}

int main(int argc, char **argv) {
  static const char pers[] = "tlsterm floor";
  struct bench *b;
  psa_status_t st;
  int ret, rc = 1;

  if ((b = calloc(1, sizeof *b)) == NULL) {
    fprintf(stderr, "floor: out of memory\n");
    return 1;
  }
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) {
      b->quick = true;
    } else if (strcmp(argv[i], "--json") == 0) {
      b->json = true;
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      free(b);
      return 0;
    } else {
      usage(stderr);
      free(b);
      return 2;
    }
  }
  /* About 0.35 s an operation in all (2 s for --quick), so the whole
   * run stays around 10 s plus RSA key generation. */
  b->warm_s = b->quick ? 0.005 : 0.05;
  b->batch_s = b->quick ? 0.008 : 0.06;

  mbedtls_entropy_init(&b->entropy);
  mbedtls_ctr_drbg_init(&b->drbg);
  if ((st = psa_crypto_init()) != PSA_SUCCESS) {
    fail_op("psa_crypto_init", (int)st);
    goto fail;
  }
  if ((ret = mbedtls_ctr_drbg_seed(&b->drbg, mbedtls_entropy_func, &b->entropy,
                                   (const unsigned char *)pers, sizeof pers)) !=
      0) {
    fail_op("seeding the DRBG", ret);
    goto fail;
  }
  if (!b->json)
    printf("floor: info mbedtls=%s use_psa_crypto=%s quick=%s batches=%d "
           "batch_ms=%.0f clock=process_cputime\n",
           lib_version(), use_psa_crypto() ? "yes" : "no",
           b->quick ? "yes" : "no", BATCHES, b->batch_s * 1e3);
  if (bench_signatures(b) != 0 || bench_kex(b) != 0 || bench_records(b) != 0 ||
      bench_kdf(b) != 0)
    goto fail;
  if (b->json)
    print_json(b);
  rc = 0;

fail:
  mbedtls_ctr_drbg_free(&b->drbg);
  mbedtls_entropy_free(&b->entropy);
  mbedtls_psa_crypto_free();
  free(b);
  return rc;
}
