/* test_sni.c: unit tests for tls/sni.c: host name matching
 * (tls_sni_match) and which certificates a name selects (tls_sni_select),
 * over a store built by hand. */
#include <string.h>

#include "tls_int.h"
#include "unit.h"

static const struct {
  const char *pattern;
  const char *host;
  int want;
} match_cases[] = {
    /* exact, case-insensitive */
    {"example.com", "example.com", 1},
    {"example.com", "EXAMPLE.Com", 1},
    {"Example.COM", "example.com", 1},
    {"example.com", "example.org", 0},
    {"example.com", "www.example.com", 0},
    {"www.example.com", "example.com", 0},
    {"example.com", "example.co", 0},
    {"example.co", "example.com", 0},
    /* trailing dot: the same name, on either side */
    {"example.com", "example.com.", 1},
    {"example.com.", "example.com", 1},
    {"*.example.com", "a.example.com.", 1},
    {"example.com", "example.com..", 0},
    /* wildcard: exactly one leading label */
    {"*.example.com", "a.example.com", 1},
    {"*.example.com", "A.EXAMPLE.COM", 1},
    {"*.example.com", "xn--bcher-kva.example.com", 1},
    {"*.example.com", "example.com", 0},
    {"*.example.com", "a.b.example.com", 0},
    {"*.example.com", ".example.com", 0},
    {"*.example.com", "aexample.com", 0},
    {"*.example.com", "a.example.org", 0},
    {"*.example.com", "*.example.com", 0},
    /* no wildcard over a single remaining label, no bare or odd stars */
    {"*.com", "example.com", 0},
    {"*", "example", 0},
    {"*.", "a.", 0},
    {"**.example.com", "a.example.com", 0},
    {"*.*.example.com", "a.b.example.com", 0},
    {"*..example.com", "a..example.com", 0},
    /* no partial-label wildcards, not even literally */
    {"f*.example.com", "foo.example.com", 0},
    {"f*.example.com", "f*.example.com", 0},
    {"*oo.example.com", "foo.example.com", 0},
    {"www.*.com", "www.example.com", 0},
    {"a.*", "a.b", 0},
    /* punycode is plain text */
    {"xn--bcher-kva.example", "xn--bcher-kva.example", 1},
    {"xn--bcher-kva.example", "XN--BCHER-KVA.example", 1},
    {"xn--bcher-kva.example", "bücher.example", 0},
    {"*.xn--bcher-kva.example", "www.xn--bcher-kva.example", 1},
    /* empty and NULL */
    {"", "", 0},
    {"example.com", "", 0},
    {"", "example.com", 0},
    {".", ".", 0},
    {NULL, "example.com", 0},
    {"example.com", NULL, 0},
    {NULL, NULL, 0},
};

START_TEST(test_match) {
  int i = _i;

  ck_assert_msg(tls_sni_match(match_cases[i].pattern, match_cases[i].host) ==
                    match_cases[i].want,
                "tls_sni_match(\"%s\", \"%s\") != %d",
                match_cases[i].pattern ? match_cases[i].pattern : "(null)",
                match_cases[i].host ? match_cases[i].host : "(null)",
                match_cases[i].want);
}
END_TEST

/* --- selection ---------------------------------------------------------- */

/* A store with names only; selection looks at nothing else. */
static char *n_rsa[] = {"example.com", "www.example.com"};
static char *n_ec[] = {"example.com", "*.example.com"};
static char *n_wild_rsa[] = {"*.example.com"};
static char *n_other[] = {"other.test"};
static char *n_deep[] = {"a.b.example.com"};

static struct tls_cert certs[] = {
    {.ecdsa = false, .names = n_rsa, .n_names = 2},      /* 0: default */
    {.ecdsa = true, .names = n_ec, .n_names = 2},        /* 1 */
    {.ecdsa = false, .names = n_wild_rsa, .n_names = 1}, /* 2 */
    {.ecdsa = true, .names = n_other, .n_names = 1},     /* 3 */
    {.ecdsa = true, .names = NULL, .n_names = 0},        /* 4: no names */
    {.ecdsa = true, .names = n_deep, .n_names = 1},      /* 5 */
};

static const struct {
  const char *host;
  int want[4]; /* -1 terminated */
} select_cases[] = {
    /* exact names win over wildcards; ECDSA first within the set */
    {"example.com", {1, 0, -1}},
    {"EXAMPLE.COM.", {1, 0, -1}},
    {"www.example.com", {0, -1}},
    /* wildcards when nothing is exact: ECDSA first again */
    {"api.example.com", {1, 2, -1}},
    {"a.b.example.com", {5, -1}},
    {"other.test", {3, -1}},
    /* nothing matches: the first certificate and its name-sake, ECDSA
     * first */
    {"unknown.test", {1, 0, -1}},
    {"c.b.example.com", {1, 0, -1}},
    {"", {1, 0, -1}},
    {NULL, {1, 0, -1}},
};

START_TEST(test_select) {
  struct tls_store st = {.certs = certs, .n_certs = 6};
  int i = _i, got[8], n, want_n = 0;

  while (select_cases[i].want[want_n] >= 0)
    want_n++;
  n = tls_sni_select(&st, select_cases[i].host, got, 8);
  ck_assert_msg(n == want_n, "host %s: %d certificates, want %d",
                select_cases[i].host ? select_cases[i].host : "(null)", n,
                want_n);
  for (int k = 0; k < n; k++)
    ck_assert_msg(got[k] == select_cases[i].want[k],
                  "host %s: #%d is certificate %d, want %d",
                  select_cases[i].host ? select_cases[i].host : "(null)", k,
                  got[k], select_cases[i].want[k]);
}
END_TEST

START_TEST(test_select_bounded) {
  struct tls_store st = {.certs = certs, .n_certs = 6};
  int got[1];

  ck_assert_int_eq(tls_sni_select(&st, "api.example.com", got, 1), 1);
  ck_assert_int_eq(got[0], 1);
}
END_TEST

START_TEST(test_select_nameless_default) {
  /* The default certificate may have no names at all. */
  struct tls_store st = {.certs = &certs[4], .n_certs = 2};
  int got[4];

  ck_assert_int_eq(tls_sni_select(&st, "x.test", got, 4), 1);
  ck_assert_int_eq(got[0], 0);
  ck_assert_int_eq(tls_sni_select(&st, "a.b.example.com", got, 4), 1);
  ck_assert_int_eq(got[0], 1);
}
END_TEST

Suite *sni_suite(void) {
  Suite *s = suite_create("sni");
  TCase *tc = tcase_create("match");

  tcase_add_loop_test(tc, test_match, 0,
                      (int)(sizeof match_cases / sizeof match_cases[0]));
  suite_add_tcase(s, tc);
  tc = tcase_create("select");
  tcase_add_loop_test(tc, test_select, 0,
                      (int)(sizeof select_cases / sizeof select_cases[0]));
  tcase_add_test(tc, test_select_bounded);
  tcase_add_test(tc, test_select_nameless_default);
  suite_add_tcase(s, tc);
  return s;
}
