/* x25519_check.c: scripts/build-mbedtls compiles this against the library
 * it has just built and runs it, so a patched X25519 public-key path that
 * disagrees with RFC 7748 never gets installed. It checks, through PSA as
 * TLS 1.3 does, the public keys of the RFC's two test keys (section 6.1)
 * and that both sides of an exchange agree on the shared secret. Exit 0 and
 * one line on success; 1 and what differed otherwise. */
#include <psa/crypto.h>
#include <stdio.h>
#include <string.h>

static int unhex(const char *hex, unsigned char out[32]) {
  for (int i = 0; i < 32; i++)
    if (sscanf(hex + 2 * i, "%2hhx", &out[i]) != 1)
      return -1;
  return 0;
}

static psa_key_id_t import_x25519(const unsigned char priv[32]) {
  psa_key_attributes_t attr = PSA_KEY_ATTRIBUTES_INIT;
  psa_key_id_t id = 0;

  psa_set_key_type(&attr, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_MONTGOMERY));
  psa_set_key_bits(&attr, 255);
  psa_set_key_usage_flags(&attr, PSA_KEY_USAGE_DERIVE);
  psa_set_key_algorithm(&attr, PSA_ALG_ECDH);
  if (psa_import_key(&attr, priv, 32, &id) != PSA_SUCCESS)
    return 0;
  return id;
}

/* RFC 7748 6.1: the private key, its public key, the shared secret. */
static const char *const alice[2] = {
    "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"};
static const char *const bob[2] = {
    "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
    "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"};
static const char shared_hex[] =
    "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

int main(void) {
  const char *const *keys[2] = {alice, bob};
  unsigned char priv[32], want[32], pub[2][32], secret[2][32], shared[32];
  psa_key_id_t id[2] = {0, 0};
  size_t len;
  int rc = 1;

  if (psa_crypto_init() != PSA_SUCCESS)
    return 1;
  for (int i = 0; i < 2; i++) {
    if (unhex(keys[i][0], priv) || unhex(keys[i][1], want) ||
        (id[i] = import_x25519(priv)) == 0 ||
        psa_export_public_key(id[i], pub[i], 32, &len) != PSA_SUCCESS ||
        len != 32 || memcmp(pub[i], want, 32) != 0) {
      fprintf(stderr, "x25519_check: public key %d differs from RFC 7748\n", i);
      goto done;
    }
  }
  for (int i = 0; i < 2; i++)
    if (psa_raw_key_agreement(PSA_ALG_ECDH, id[i], pub[1 - i], 32, secret[i],
                              32, &len) != PSA_SUCCESS || len != 32) {
      fprintf(stderr, "x25519_check: key agreement %d failed\n", i);
      goto done;
    }
  if (unhex(shared_hex, shared) || memcmp(secret[0], shared, 32) != 0 ||
      memcmp(secret[1], shared, 32) != 0) {
    fprintf(stderr, "x25519_check: shared secret differs from RFC 7748\n");
    goto done;
  }
  printf("x25519_check: RFC 7748 public keys and shared secret match\n");
  rc = 0;
done:
  for (int i = 0; i < 2; i++)
    psa_destroy_key(id[i]);
  mbedtls_psa_crypto_free();
  return rc;
}
