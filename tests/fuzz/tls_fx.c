/* tls_fx.c: tlsterm's TLS state for the fuzz targets, on a fixed
 * certificate, with a repeatable DRBG (see tls_fx.h). */
#include "tls_fx.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

/* openssl req -x509 -days 36500 -subj /CN=fuzz.example, P-256,
 * subjectAltName DNS:fuzz.example, DNS:*.fuzz.example; CA:TRUE, no key
 * usage extension (so it may also sign and verify as a client CA). */
static const char cert_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBrjCCAVSgAwIBAgIUVF35SubdXavMJYepaHgh6RFZieYwCgYIKoZIzj0EAwIw\n"
    "FzEVMBMGA1UEAwwMZnV6ei5leGFtcGxlMCAXDTI2MTEyNDIyMjU1MFoYDzIxMjYx\n"
    "MDMxMjIyNTUwWjAXMRUwEwYDVQQDDAxmdXp6LmV4YW1wbGUwWTATBgcqhkjOPQIB\n"
    "BggqhkjOPQMBBwNCAASLunsNpwGH639GgFHs6Efy08x8IAO20VUWp/Kc6dfTcPcB\n"
    "QUBfgf4ZQBjXt5CLXXA5tIAYRN1ulCDRPKchcjaWo3wwejAdBgNVHQ4EFgQUMRZ5\n"
    "WMk8h0+T/xyT5AAkvjtV0L8wHwYDVR0jBBgwFoAUMRZ5WMk8h0+T/xyT5AAkvjtV\n"
    "0L8wDwYDVR0TAQH/BAUwAwEB/zAnBgNVHREEIDAeggxmdXp6LmV4YW1wbGWCDiou\n"
    "ZnV6ei5leGFtcGxlMAoGCCqGSM49BAMCA0gAMEUCIQCuIIf89QWc53v7JaNuwP3m\n"
    "RPnSfxqi+oc5SUBa+XJH0gIgSXHYS9GYo92swR8tjrL3B/GqCmIAkLPPKMSRzneC\n"
    "KHY=\n"
    "-----END CERTIFICATE-----\n";

static const char key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgHBCQ+09p5KDVVKIs\n"
    "l4d03Cuzou8xS9JTs25Z01yd7YehRANCAASLunsNpwGH639GgFHs6Efy08x8IAO2\n"
    "0VUWp/Kc6dfTcPcBQUBfgf4ZQBjXt5CLXXA5tIAYRN1ulCDRPKchcjaW\n"
    "-----END PRIVATE KEY-----\n";

static const uint8_t secret[TLS_TICKET_SECRET_LEN] =
    "fuzzing ticket secret, 32 bytes";

static char cert_path[64], key_path[64];
static struct tls_store *stores[TLS_FX_KINDS];
static struct tls_ctx *ctxs[TLS_FX_KINDS];

static void memfd_file(char *path, size_t len, const char *text) {
  int fd = memfd_create("tls_fx", MFD_CLOEXEC);
  size_t n = strlen(text);

  FUZZ_CHECK(fd >= 0 && write(fd, text, n) == (ssize_t)n);
  snprintf(path, len, "/proc/self/fd/%d", fd); /* open for the process */
}

static void make_kind(int kind) {
  struct cfg cfg;
  char err[512];

  memset(&cfg, 0, sizeof cfg);
  cfg.certs[0].cert_file = cert_path;
  cfg.certs[0].key_file = key_path;
  cfg.n_certs = 1;
  if (kind == TLS_FX_CLIENT_OPTIONAL || kind == TLS_FX_CLIENT_REQUIRED) {
    cfg.client_ca = cert_path;
    cfg.client_verify = kind == TLS_FX_CLIENT_OPTIONAL ? CFG_VERIFY_OPTIONAL
                                                       : CFG_VERIFY_REQUIRED;
  }
  if (kind == TLS_FX_TLS13_P256) {
    cfg.tls_min = CFG_TLS_1_3;
    cfg.tls_max = CFG_TLS_1_3;
    cfg.groups = "secp256r1";
  }
  if (tls_store_load(&stores[kind], &cfg, err, sizeof err) != 0 ||
      tls_ctx_new(&ctxs[kind], stores[kind], &cfg, secret, sizeof secret,
                  (uint64_t)time(NULL), err, sizeof err) != 0) {
    fprintf(stderr, "tls_fx: %s\n", err);
    abort();
  }
}

void tls_fx_init(void) {
  char err[256];

  if (ctxs[0] != NULL)
    return;
  if (tls_global_init(err, sizeof err) != 0) {
    fprintf(stderr, "tls_fx: %s\n", err);
    abort();
  }
  memfd_file(cert_path, sizeof cert_path, cert_pem);
  memfd_file(key_path, sizeof key_path, key_pem);
  for (int k = 0; k < TLS_FX_KINDS; k++)
    make_kind(k);
  tls_fx_reseed_all();
}

struct tls_ctx *tls_fx_ctx(int kind) {
  return ctxs[kind];
}

/* The same "entropy" every time. */
static int fixed_entropy(void *p, unsigned char *out, size_t len) {
  (void)p;
  for (size_t i = 0; i < len; i++)
    out[i] = (unsigned char)(i * 31 + 7);
  return 0;
}

void tls_fx_reseed(mbedtls_ctr_drbg_context *drbg, uint8_t salt) {
  /* In place: the ssl_config holds this DRBG's address. */
  mbedtls_ctr_drbg_free(drbg);
  mbedtls_ctr_drbg_init(drbg);
  FUZZ_CHECK(mbedtls_ctr_drbg_seed(drbg, fixed_entropy, NULL, &salt, 1) == 0);
}

void tls_fx_reseed_all(void) {
  for (int k = 0; k < TLS_FX_KINDS; k++)
    tls_fx_reseed(&ctxs[k]->drbg, (uint8_t)k);
}
