/* labels.c: stable names for /metrics (see tls.h).
 *
 * Prometheus labels must come from a small closed set, or every new value
 * becomes a new time series. So failures map onto the TLS alert names an
 * operator already knows, and cipher suites onto a fixed table of IANA
 * names (the AEAD suites tlsterm can be configured with; anything else is
 * "other"). */
#include "tls_int.h"

#include <mbedtls/ssl_ciphersuites.h>
#include <mbedtls/x509.h>

static const char *const reason_names[TLS_FR_N] = {
    [TLS_FR_OTHER] = "other",
    [TLS_FR_NOT_TLS] = "not_tls",
    [TLS_FR_PEER_ALERT] = "peer_alert",
    [TLS_FR_HANDSHAKE_FAILURE] = "handshake_failure",
    [TLS_FR_PROTOCOL_VERSION] = "protocol_version",
    [TLS_FR_NO_APPLICATION_PROTOCOL] = "no_application_protocol",
    [TLS_FR_CERTIFICATE_REQUIRED] = "certificate_required",
    [TLS_FR_BAD_CERTIFICATE] = "bad_certificate",
    [TLS_FR_BAD_RECORD_MAC] = "bad_record_mac",
    [TLS_FR_DECODE_ERROR] = "decode_error",
    [TLS_FR_UNEXPECTED_MESSAGE] = "unexpected_message",
    [TLS_FR_ILLEGAL_PARAMETER] = "illegal_parameter",
    [TLS_FR_UNSUPPORTED_EXTENSION] = "unsupported_extension",
    [TLS_FR_INTERNAL_ERROR] = "internal_error",
};

const char *tls_fail_reason_name(int r) {
  return r >= 0 && r < TLS_FR_N ? reason_names[r] : "other";
}

int tls_fail_reason_of(int code) {
  switch (code) {
  case MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE:
    return TLS_FR_PEER_ALERT;
  case MBEDTLS_ERR_SSL_HANDSHAKE_FAILURE:
    return TLS_FR_HANDSHAKE_FAILURE;
  case MBEDTLS_ERR_SSL_BAD_PROTOCOL_VERSION:
    return TLS_FR_PROTOCOL_VERSION;
  case MBEDTLS_ERR_SSL_NO_APPLICATION_PROTOCOL:
    return TLS_FR_NO_APPLICATION_PROTOCOL;
  case MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE:
    return TLS_FR_CERTIFICATE_REQUIRED;
  case MBEDTLS_ERR_X509_CERT_VERIFY_FAILED:
  case MBEDTLS_ERR_SSL_BAD_CERTIFICATE:
    return TLS_FR_BAD_CERTIFICATE;
  case MBEDTLS_ERR_SSL_INVALID_MAC:
    return TLS_FR_BAD_RECORD_MAC;
  case MBEDTLS_ERR_SSL_DECODE_ERROR:
  case MBEDTLS_ERR_SSL_INVALID_RECORD:
    return TLS_FR_DECODE_ERROR;
  case MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE:
    return TLS_FR_UNEXPECTED_MESSAGE;
  case MBEDTLS_ERR_SSL_ILLEGAL_PARAMETER:
    return TLS_FR_ILLEGAL_PARAMETER;
  case MBEDTLS_ERR_SSL_UNSUPPORTED_EXTENSION:
    return TLS_FR_UNSUPPORTED_EXTENSION;
  case MBEDTLS_ERR_SSL_ALLOC_FAILED:
  case MBEDTLS_ERR_SSL_INTERNAL_ERROR:
    return TLS_FR_INTERNAL_ERROR;
  default:
    return TLS_FR_OTHER;
  }
}

static const struct {
  int id;
  const char *name;
} suites[TLS_CIPHER_SLOTS - 1] = {
    {MBEDTLS_TLS1_3_AES_128_GCM_SHA256, "TLS_AES_128_GCM_SHA256"},
    {MBEDTLS_TLS1_3_AES_256_GCM_SHA384, "TLS_AES_256_GCM_SHA384"},
    {MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256, "TLS_CHACHA20_POLY1305_SHA256"},
    {MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
     "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"},
    {MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
     "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"},
    {MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
     "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"},
    {MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
     "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"},
    {MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
     "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"},
    {MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
     "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"},
    {MBEDTLS_TLS1_3_AES_128_CCM_SHA256, "TLS_AES_128_CCM_SHA256"},
    {MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CCM,
     "TLS_ECDHE_ECDSA_WITH_AES_128_CCM"},
};

const char *tls_cipher_slot_name(int slot) {
  return slot >= 0 && slot < TLS_CIPHER_SLOTS - 1 ? suites[slot].name
                                                  : "other";
}

int tls_cipher_slot_of(int suite_id) {
  for (int i = 0; i < TLS_CIPHER_SLOTS - 1; i++)
    if (suites[i].id == suite_id)
      return i;
  return TLS_CIPHER_SLOTS - 1;
}
