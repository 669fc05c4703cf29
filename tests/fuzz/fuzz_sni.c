/* fuzz_sni.c: choosing a certificate by server name (tls/sni.c).
 *
 * Input: lines. The first is the name a client asks for; each later line
 * is one certificate name (a SAN dNSName or CN, as tls/store.c keeps them:
 * lower case), the certificates taking them in turn, four names each at
 * most, odd certificates RSA and even ones ECDSA. Checked, besides the
 * sanitizers:
 *   - tls_sni_match: a name without '*' matches exactly the names equal to
 *     it but for case and one trailing dot; a wildcard matches only a host
 *     with exactly one more leading label; a host with '*' never matches;
 *     case never matters;
 *   - tls_sni_select: at least one certificate when there are any, each
 *     index valid and listed once, ECDSA ones first.
 * The SNI callback itself (tls_sni_cb) runs in fuzz_tls_handshake. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "fuzz.h"
#include "tls_int.h"

#define NAMES_MAX 64
#define NAME_MAX_LEN 300

static size_t bare_len(const char *s) {
  size_t n = strlen(s);

  return n > 0 && s[n - 1] == '.' ? n - 1 : n;
}

static void upper(char *dst, const char *src) {
  for (; *src; src++)
    *dst++ = (char)toupper((unsigned char)*src);
  *dst = '\0';
}

static size_t labels(const char *s, size_t n) {
  size_t k = 1;

  for (size_t i = 0; i < n; i++)
    k += s[i] == '.';
  return k;
}

static void check_match(const char *pat, const char *host) {
  char up[NAME_MAX_LEN + 1];
  int m = tls_sni_match(pat, host);
  size_t pl = bare_len(pat), hl = bare_len(host);

  FUZZ_CHECK(m == 0 || m == 1);
  upper(up, host);
  FUZZ_CHECK(tls_sni_match(pat, up) == m);
  upper(up, pat);
  FUZZ_CHECK(tls_sni_match(up, host) == m);
  if (!m)
    return;
  FUZZ_CHECK(memchr(host, '*', hl) == NULL);
  if (pat[0] != '*') {
    FUZZ_CHECK(pl == hl && strncasecmp(pat, host, pl) == 0);
    return;
  }
  /* "*.rest" took exactly one label off the host. */
  FUZZ_CHECK(labels(host, hl) == labels(pat, pl));
  FUZZ_CHECK(hl > pl - 1 &&
             strncasecmp(host + hl - (pl - 1), pat + 1, pl - 1) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char lines[NAMES_MAX + 1][NAME_MAX_LEN + 1];
  char *names[NAMES_MAX];
  struct tls_cert certs[NAMES_MAX];
  struct tls_store st = {.certs = certs};
  int n = 0, idx[CFG_MAX_CERTS], got;
  size_t at = 0;

  /* Split into lines, NUL-free, each cut at NAME_MAX_LEN. */
  while (n <= NAMES_MAX && at <= size) {
    size_t k = 0;
    while (at < size && data[at] != '\n') {
      if (k < NAME_MAX_LEN && data[at] != '\0')
        lines[n][k++] = (char)data[at];
      at++;
    }
    lines[n][k] = '\0';
    n++;
    at++;
  }
  if (n < 1)
    return 0;

  const char *host = lines[0];
  int nnames = n - 1;
  for (int i = 0; i < nnames; i++) {
    char *s = lines[i + 1];
    for (char *c = s; *c; c++)
      *c = (char)tolower((unsigned char)*c);
    names[i] = s;
    check_match(s, host);
  }

  memset(certs, 0, sizeof certs);
  for (int i = 0; i < nnames; i += 4) {
    struct tls_cert *c = &certs[st.n_certs];
    c->names = &names[i];
    c->n_names = nnames - i < 4 ? nnames - i : 4;
    c->ecdsa = st.n_certs % 2 == 0;
    st.n_certs++;
  }
  for (int pass = 0; pass < 2; pass++) {
    const char *h = pass == 0 ? host : NULL;
    bool seen[NAMES_MAX] = {false}, rsa = false;

    got = tls_sni_select(&st, h, idx, CFG_MAX_CERTS);
    FUZZ_CHECK(got >= 0 && got <= CFG_MAX_CERTS);
    FUZZ_CHECK(st.n_certs == 0 ? got == 0 : got >= 1);
    for (int i = 0; i < got; i++) {
      FUZZ_CHECK(idx[i] >= 0 && idx[i] < st.n_certs && !seen[idx[i]]);
      seen[idx[i]] = true;
      FUZZ_CHECK(!(rsa && certs[idx[i]].ecdsa)); /* ECDSA first */
      rsa |= !certs[idx[i]].ecdsa;
    }
  }
  return 0;
}
