/* test_addr.c: unit tests for src/addr.c: every accepted listen and backend
 * form, every refusal and its reason, and formatting. No test needs the
 * network: the only name resolved is "localhost" (from /etc/hosts). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "addr.h"
#include "unit.h"

static unsigned port_of(const struct addr *a) {
  if (a->sa.ss_family == AF_INET)
    return ntohs(((const struct sockaddr_in *)&a->sa)->sin_port);
  return ntohs(((const struct sockaddr_in6 *)&a->sa)->sin6_port);
}

static const struct {
  const char *in;
  int family;
  unsigned port;
  bool wildcard;
  const char *text; /* normalised */
} listen_ok[] = {
    {"127.0.0.1:8443", AF_INET, 8443, false, "127.0.0.1:8443"},
    {"0.0.0.0:1", AF_INET, 1, false, "0.0.0.0:1"},
    {"[::1]:8443", AF_INET6, 8443, false, "[::1]:8443"},
    {"[::]:65535", AF_INET6, 65535, false, "[::]:65535"},
    {"[0:0:0:0:0:0:0:1]:80", AF_INET6, 80, false, "[::1]:80"},
    {"[2001:DB8::1]:443", AF_INET6, 443, false, "[2001:db8::1]:443"},
    {"*:8443", AF_INET6, 8443, true, "*:8443"},
    {"*:1", AF_INET6, 1, true, "*:1"},
};

START_TEST(test_listen_ok) {
  struct addr a;
  char err[128] = "";

  ck_assert_msg(addr_parse_listen(&a, listen_ok[_i].in, err, sizeof err) == 0,
                "%s: %s", listen_ok[_i].in, err);
  ck_assert_int_eq(a.sa.ss_family, listen_ok[_i].family);
  ck_assert_uint_eq(port_of(&a), listen_ok[_i].port);
  ck_assert_int_eq(a.wildcard, listen_ok[_i].wildcard);
  ck_assert_str_eq(a.text, listen_ok[_i].text);
  ck_assert_uint_eq(a.salen, listen_ok[_i].family == AF_INET
                                 ? sizeof(struct sockaddr_in)
                                 : sizeof(struct sockaddr_in6));
}
END_TEST

START_TEST(test_listen_wildcard_is_any6) {
  struct addr a;
  char err[128];

  ck_assert_int_eq(addr_parse_listen(&a, "*:443", err, sizeof err), 0);
  const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a.sa;
  ck_assert(memcmp(&sin6->sin6_addr, &in6addr_any, sizeof in6addr_any) == 0);
}
END_TEST

/* Each refused value and a piece of the reason it must give. */
static const struct {
  const char *in;
  const char *why;
} listen_bad[] = {
    {"", "missing port in ''"},
    {"127.0.0.1", "missing port in '127.0.0.1'"},
    {"127.0.0.1:", "missing port"},
    {":8443", "missing address in ':8443'"},
    {"127.0.0.1:0", "port must be 1-65535, got '0'"},
    {"127.0.0.1:65536", "port must be 1-65535"},
    {"127.0.0.1:99999999999999999999", "port must be 1-65535"},
    {"127.0.0.1:8a", "invalid port '8a'"},
    {"127.0.0.1:-1", "invalid port '-1'"},
    {"127.0.0.1: 80", "invalid port"},
    {"127.0.0.1:http", "invalid port 'http'"},
    {"localhost:80", "not names"},
    {"example.com:443", "got 'example.com'"},
    {"127.1:80", "expected an IPv4 address"},
    {"1.2.3.256:80", "expected an IPv4 address"},
    {"::1:80", "IPv6 addresses need brackets"},
    {"[::1]", "missing port in '[::1]'"},
    {"[::1", "missing ']'"},
    {"[::1]80", "expected ':' after ']'"},
    {"[::1]:", "missing port"},
    {"[]:80", "missing address"},
    {"[1.2.3.4]:80", "invalid IPv6 address '1.2.3.4'"},
    {"[::g]:80", "invalid IPv6 address"},
    {"*", "expected *:PORT"},
    {"*8443", "expected *:PORT"},
    {"*:0", "port must be 1-65535"},
    {"*:", "missing port"},
    {"unix:/run/x.sock", "unix sockets can only be backends"},
};

START_TEST(test_listen_bad) {
  struct addr a;
  char err[256] = "";

  ck_assert_int_eq(addr_parse_listen(&a, listen_bad[_i].in, err, sizeof err),
                   -EINVAL);
  ck_assert_msg(strstr(err, listen_bad[_i].why) != NULL,
                "'%s': expected '%s' in '%s'", listen_bad[_i].in,
                listen_bad[_i].why, err);
}
END_TEST

static const struct {
  const char *in;
  int family; /* 0: AF_INET or AF_INET6, whichever resolves first */
  unsigned port;
  const char *text;
} backend_ok[] = {
    {"127.0.0.1:8080", AF_INET, 8080, "127.0.0.1:8080"},
    {"[::1]:80", AF_INET6, 80, "[::1]:80"},
    {"localhost:8080", 0, 8080, "localhost:8080"},
    {"unix:/run/app.sock", AF_UNIX, 0, "unix:/run/app.sock"},
    {"unix:relative.sock", AF_UNIX, 0, "unix:relative.sock"},
};

START_TEST(test_backend_ok) {
  struct addr a;
  char err[128] = "";

  ck_assert_msg(addr_parse_backend(&a, backend_ok[_i].in, err, sizeof err) == 0,
                "%s: %s", backend_ok[_i].in, err);
  if (backend_ok[_i].family != 0)
    ck_assert_int_eq(a.sa.ss_family, backend_ok[_i].family);
  else
    ck_assert(a.sa.ss_family == AF_INET || a.sa.ss_family == AF_INET6);
  if (a.sa.ss_family != AF_UNIX)
    ck_assert_uint_eq(port_of(&a), backend_ok[_i].port);
  ck_assert_str_eq(a.text, backend_ok[_i].text);
  ck_assert(!a.wildcard);
}
END_TEST

START_TEST(test_backend_unix_sockaddr) {
  struct addr a;
  char err[128];

  ck_assert_int_eq(addr_parse_backend(&a, "unix:/tmp/s", err, sizeof err), 0);
  const struct sockaddr_un *un = (const struct sockaddr_un *)&a.sa;
  ck_assert_str_eq(un->sun_path, "/tmp/s");
  ck_assert_uint_eq(a.salen, offsetof(struct sockaddr_un, sun_path) + 7);
}
END_TEST

START_TEST(test_backend_unix_path_limit) {
  struct addr a;
  char err[256] = "", text[300];
  size_t max = sizeof((struct sockaddr_un *)0)->sun_path - 1;

  /* The longest path that fits, then one byte more. */
  snprintf(text, sizeof text, "unix:/%0*d", (int)max - 1, 0);
  ck_assert_int_eq(addr_parse_backend(&a, text, err, sizeof err), 0);
  snprintf(text, sizeof text, "unix:/%0*d", (int)max, 0);
  ck_assert_int_eq(addr_parse_backend(&a, text, err, sizeof err), -EINVAL);
  ck_assert_ptr_nonnull(strstr(err, "unix socket path longer than"));
}
END_TEST

static const struct {
  const char *in;
  const char *why;
} backend_bad[] = {
    {"", "missing port"},
    {"127.0.0.1", "missing port in '127.0.0.1'"},
    {"localhost", "missing port in 'localhost'"},
    {"127.0.0.1:0", "port must be 1-65535"},
    {"127.0.0.1:70000", "port must be 1-65535"},
    {"127.0.0.1:x", "invalid port 'x'"},
    {":80", "missing address"},
    {"::1:80", "IPv6 addresses need brackets"},
    {"[::1]", "missing port"},
    {"[localhost]:80", "invalid IPv6 address 'localhost'"},
    {"*:80", "'*' is only valid in listen addresses"},
    {"unix:", "missing path after 'unix:'"},
};

START_TEST(test_backend_bad) {
  struct addr a;
  char err[256] = "";

  ck_assert_int_eq(addr_parse_backend(&a, backend_bad[_i].in, err, sizeof err),
                   -EINVAL);
  ck_assert_msg(strstr(err, backend_bad[_i].why) != NULL,
                "'%s': expected '%s' in '%s'", backend_bad[_i].in,
                backend_bad[_i].why, err);
}
END_TEST

START_TEST(test_backend_long_name) {
  struct addr a;
  char err[512] = "", text[300];

  /* Too long to keep in addr.text: refused before any resolving. */
  memset(text, 'a', 200);
  strcpy(text + 200, ":80");
  ck_assert_int_eq(addr_parse_backend(&a, text, err, sizeof err), -EINVAL);
  ck_assert_ptr_nonnull(strstr(err, "address too long"));
}
END_TEST

START_TEST(test_format) {
  struct sockaddr_storage ss;
  struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
  struct sockaddr_un *un = (struct sockaddr_un *)&ss;
  char out[ADDR_TEXT_MAX];

  memset(&ss, 0, sizeof ss);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(5);
  inet_pton(AF_INET, "1.2.3.4", &sin->sin_addr);
  addr_format((struct sockaddr *)&ss, out, sizeof out);
  ck_assert_str_eq(out, "1.2.3.4:5");

  memset(&ss, 0, sizeof ss);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(443);
  inet_pton(AF_INET6, "::ffff:10.0.0.1", &sin6->sin6_addr);
  addr_format((struct sockaddr *)&ss, out, sizeof out);
  /* An IPv4 client of a dual-stack listener is shown as IPv4. */
  ck_assert_str_eq(out, "10.0.0.1:443");

  inet_pton(AF_INET6, "2001:db8::1", &sin6->sin6_addr);
  addr_format((struct sockaddr *)&ss, out, sizeof out);
  ck_assert_str_eq(out, "[2001:db8::1]:443");

  memset(&ss, 0, sizeof ss);
  un->sun_family = AF_UNIX;
  strcpy(un->sun_path, "/run/x");
  addr_format((struct sockaddr *)&ss, out, sizeof out);
  ck_assert_str_eq(out, "unix:/run/x");

  /* A small output buffer truncates, still terminated. */
  sin->sin_family = AF_INET;
  addr_format((struct sockaddr *)&ss, out, 4);
  ck_assert_uint_eq(strlen(out), 3);
}
END_TEST

START_TEST(test_ip_port) {
  struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(80)};
  char ip[INET6_ADDRSTRLEN];
  uint16_t port;

  inet_pton(AF_INET6, "::ffff:192.0.2.7", &sin6.sin6_addr);
  addr_ip_port((struct sockaddr *)&sin6, ip, sizeof ip, &port);
  ck_assert_str_eq(ip, "192.0.2.7"); /* no brackets, unmapped */
  ck_assert_uint_eq(port, 80);
  inet_pton(AF_INET6, "2001:db8::7", &sin6.sin6_addr);
  addr_ip_port((struct sockaddr *)&sin6, ip, sizeof ip, &port);
  ck_assert_str_eq(ip, "2001:db8::7");
}
END_TEST

/* --trusted-proxy networks: what matches, what does not. */
static const struct {
  const char *cidr, *addr;
  bool match;
} cidr_cases[] = {
    {"10.0.0.0/8", "10.200.3.4", true},
    {"10.0.0.0/8", "11.0.0.1", false},
    {"10.1.2.3", "10.1.2.3", true}, /* a bare address is a /32 */
    {"10.1.2.3", "10.1.2.4", false},
    {"10.1.2.3/8", "10.9.9.9", true}, /* host bits are cleared */
    {"192.168.0.0/23", "192.168.1.255", true},
    {"192.168.0.0/23", "192.168.2.0", false},
    {"0.0.0.0/0", "203.0.113.9", true},
    {"10.0.0.0/8", "::ffff:10.0.0.1", true}, /* mapped matches IPv4 */
    {"2001:db8::/32", "2001:db8:1::5", true},
    {"2001:db8::/32", "2001:db9::5", false},
    {"::1", "::1", true},
    {"2001:db8::/33", "2001:db8:8000::1", false},
    {"10.0.0.0/8", "2001:db8::1", false}, /* families differ */
};

START_TEST(test_cidr_match) {
  struct addr_cidr n;
  struct sockaddr_storage ss = {0};
  char err[128];
  const char *a = cidr_cases[_i].addr;

  ck_assert_int_eq(addr_parse_cidr(&n, cidr_cases[_i].cidr, err, sizeof err),
                   0);
  if (strchr(a, ':')) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    s6->sin6_family = AF_INET6;
    ck_assert_int_eq(inet_pton(AF_INET6, a, &s6->sin6_addr), 1);
  } else {
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    s4->sin_family = AF_INET;
    ck_assert_int_eq(inet_pton(AF_INET, a, &s4->sin_addr), 1);
  }
  ck_assert_msg(addr_in_cidr((struct sockaddr *)&ss, &n) ==
                    cidr_cases[_i].match,
                "%s in %s", a, cidr_cases[_i].cidr);
}
END_TEST

static const char *const cidr_bad[] = {
    "", "10.0.0.0/", "10.0.0.0/33", "2001:db8::/129", "10.0.0.0/-1",
    "10.0.0.0/8x", "example.com/8", "10.0.0/8", "/8",
};

START_TEST(test_cidr_bad) {
  struct addr_cidr n;
  char err[128] = "";
  ck_assert_int_eq(addr_parse_cidr(&n, cidr_bad[_i], err, sizeof err),
                   -EINVAL);
  ck_assert_msg(err[0] != '\0', "no reason for '%s'", cidr_bad[_i]);
}
END_TEST

#define N(table) (int)(sizeof(table) / sizeof(table)[0])

Suite *addr_suite(void) {
  Suite *s = suite_create("addr");
  TCase *tc = tcase_create("core");

  tcase_add_loop_test(tc, test_listen_ok, 0, N(listen_ok));
  tcase_add_test(tc, test_listen_wildcard_is_any6);
  tcase_add_loop_test(tc, test_listen_bad, 0, N(listen_bad));
  tcase_add_loop_test(tc, test_backend_ok, 0, N(backend_ok));
  tcase_add_test(tc, test_backend_unix_sockaddr);
  tcase_add_test(tc, test_backend_unix_path_limit);
  tcase_add_loop_test(tc, test_backend_bad, 0, N(backend_bad));
  tcase_add_test(tc, test_backend_long_name);
  tcase_add_test(tc, test_format);
  tcase_add_test(tc, test_ip_port);
  tcase_add_loop_test(tc, test_cidr_match, 0, N(cidr_cases));
  tcase_add_loop_test(tc, test_cidr_bad, 0, N(cidr_bad));
  suite_add_tcase(s, tc);
  return s;
}
