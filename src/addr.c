/* addr.c: parsing and formatting of listen and backend addresses (see
 * addr.h).
 *
 * Listen addresses must be numeric: a listener binds an address, and a name
 * that resolves differently tomorrow would silently move it. Backends may
 * be names, resolved once here at start-up (first result wins) so that no
 * worker ever blocks on DNS. Error texts say what is wrong with the value
 * but not which flag it came from; config.c adds that. */
#include "addr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "err.h"

/* A host must fit in addr.text with its ":PORT", so a dump says what was
 * given. */
#define HOST_MAX (ADDR_TEXT_MAX - 16)
#define UNIX_PREFIX "unix:"

/* A HOST:PORT or [HOST]:PORT split in two. */
struct hostport {
  char host[HOST_MAX];
  unsigned port;
  bool bracketed; /* written as [HOST]: must be IPv6 */
};

/* Digits only (no sign, no spaces, no service names), 1-65535. */
static int parse_port(const char *s, const char *text, unsigned *port,
                      char *err, size_t errlen) {
  unsigned long v = 0;

  if (*s == '\0')
    return err_set(err, errlen, "missing port in '%s'", text);
  for (const char *p = s; *p != '\0'; p++) {
    if (*p < '0' || *p > '9')
      return err_set(err, errlen, "invalid port '%s' in '%s'", s, text);
    if (v <= 65535) /* stop growing once out of range: no overflow */
      v = v * 10 + (unsigned long)(*p - '0');
  }
  if (v < 1 || v > 65535)
    return err_set(err, errlen, "port must be 1-65535, got '%s'", s);
  *port = (unsigned)v;
  return 0;
}

/* Split "HOST:PORT" or "[HOST]:PORT". An unbracketed host with a colon is
 * an IPv6 address whose last group could be mistaken for the port, so it is
 * refused rather than guessed at. */
static int split(const char *text, struct hostport *hp, char *err,
                 size_t errlen) {
  const char *host = text, *colon;
  size_t hostlen;

  memset(hp, 0, sizeof *hp);
  if (text[0] == '[') {
    const char *close = strchr(text, ']');
    if (close == NULL)
      return err_set(err, errlen, "missing ']' in '%s'", text);
    if (close[1] == '\0')
      return err_set(err, errlen, "missing port in '%s'", text);
    if (close[1] != ':')
      return err_set(err, errlen, "expected ':' after ']' in '%s'", text);
    host = text + 1;
    hostlen = (size_t)(close - host);
    colon = close + 1;
    hp->bracketed = true;
  } else {
    colon = strrchr(text, ':');
    if (colon == NULL)
      return err_set(err, errlen, "missing port in '%s'", text);
    if (strchr(text, ':') != colon)
      return err_set(err, errlen,
                     "IPv6 addresses need brackets, e.g. [::1]:8443; got '%s'",
                     text);
    hostlen = (size_t)(colon - text);
  }
  if (hostlen == 0)
    return err_set(err, errlen, "missing address in '%s'", text);
  if (hostlen >= sizeof hp->host)
    return err_set(err, errlen, "address too long in '%s'", text);
  memcpy(hp->host, host, hostlen);
  return parse_port(colon + 1, text, &hp->port, err, errlen);
}

/* Fill a from a numeric host: IPv4 unbracketed, IPv6 bracketed. inet_pton
 * is used rather than getaddrinfo because it rejects the legacy forms
 * ("127.1", "0x7f.1") that inet_aton would quietly accept. */
static bool set_numeric(struct addr *a, const struct hostport *hp) {
  struct sockaddr_in *sin = (struct sockaddr_in *)&a->sa;
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->sa;

  memset(&a->sa, 0, sizeof a->sa);
  if (!hp->bracketed && inet_pton(AF_INET, hp->host, &sin->sin_addr) == 1) {
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)hp->port);
    a->salen = sizeof *sin;
    return true;
  }
  if (hp->bracketed && inet_pton(AF_INET6, hp->host, &sin6->sin6_addr) == 1) {
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons((uint16_t)hp->port);
    a->salen = sizeof *sin6;
    return true;
  }
  return false;
}

/* "*:PORT": the IPv6 any address; the listener makes it dual-stack. */
static int parse_wildcard(struct addr *a, const char *text, char *err,
                          size_t errlen) {
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->sa;
  unsigned port;

  if (text[1] != ':')
    return err_set(err, errlen, "expected *:PORT, got '%s'", text);
  if (parse_port(text + 2, text, &port, err, errlen) != 0)
    return -EINVAL;
  sin6->sin6_family = AF_INET6;
  sin6->sin6_addr = in6addr_any;
  sin6->sin6_port = htons((uint16_t)port);
  a->salen = sizeof *sin6;
  a->wildcard = true;
  snprintf(a->text, sizeof a->text, "*:%u", port);
  return 0;
}

/* IPv4:PORT, [IPv6]:PORT or *:PORT; never a name. 0 or -EINVAL with the
 * reason in err. */
int addr_parse_listen(struct addr *a, const char *text, char *err,
                      size_t errlen) {
  struct hostport hp;

  memset(a, 0, sizeof *a);
  if (text[0] == '*')
    return parse_wildcard(a, text, err, errlen);
  if (strncmp(text, UNIX_PREFIX, strlen(UNIX_PREFIX)) == 0)
    return err_set(err, errlen, "unix sockets can only be backends, got '%s'",
                   text);
  if (split(text, &hp, err, errlen) != 0)
    return -EINVAL;
  if (!set_numeric(a, &hp)) {
    if (hp.bracketed)
      return err_set(err, errlen, "invalid IPv6 address '%s'", hp.host);
    return err_set(err, errlen,
                   "expected an IPv4 address, [IPv6] or *, got '%s' "
                   "(listeners bind addresses, not names)",
                   hp.host);
  }
  addr_format((struct sockaddr *)&a->sa, a->text, sizeof a->text);
  return 0;
}

static int parse_unix(struct addr *a, const char *text, char *err,
                      size_t errlen) {
  struct sockaddr_un *un = (struct sockaddr_un *)&a->sa;
  const char *path = text + strlen(UNIX_PREFIX);
  size_t n = strlen(path);

  if (n == 0)
    return err_set(err, errlen, "missing path after 'unix:'");
  if (n >= sizeof un->sun_path)
    return err_set(err, errlen, "unix socket path longer than %zu bytes: '%s'",
                   sizeof un->sun_path - 1, path);
  un->sun_family = AF_UNIX;
  memcpy(un->sun_path, path, n + 1);
  a->salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
  snprintf(a->text, sizeof a->text, "%s%s", UNIX_PREFIX, path);
  return 0;
}

/* Resolve a name now; the first result wins (getaddrinfo has already
 * sorted them by RFC 6724 preference). */
static int resolve(struct addr *a, const struct hostport *hp, char *err,
                   size_t errlen) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  struct addrinfo *res = NULL;

  int rc = getaddrinfo(hp->host, NULL, &hints, &res);
  if (rc != 0)
    return err_set(err, errlen, "cannot resolve '%s': %s", hp->host,
                   gai_strerror(rc));
  if (res->ai_addrlen > sizeof a->sa) {
    freeaddrinfo(res);
    return err_set(err, errlen, "cannot resolve '%s': odd address", hp->host);
  }
  memcpy(&a->sa, res->ai_addr, res->ai_addrlen);
  a->salen = res->ai_addrlen;
  freeaddrinfo(res);
  if (a->sa.ss_family == AF_INET)
    ((struct sockaddr_in *)&a->sa)->sin_port = htons((uint16_t)hp->port);
  else if (a->sa.ss_family == AF_INET6)
    ((struct sockaddr_in6 *)&a->sa)->sin6_port = htons((uint16_t)hp->port);
  else
    return err_set(err, errlen, "'%s' resolved to a non-IP address", hp->host);
  /* Keep the name in the text: it is what the operator wrote, and what a
   * dumped config must say to resolve the same way again. */
  snprintf(a->text, sizeof a->text, "%s:%u", hp->host, hp->port);
  return 0;
}

/* unix:/PATH, IPv4:PORT, [IPv6]:PORT or HOST:PORT (resolved now). 0 or
 * -EINVAL with the reason in err. */
int addr_parse_backend(struct addr *a, const char *text, char *err,
                       size_t errlen) {
  struct hostport hp;

  memset(a, 0, sizeof *a);
  if (strncmp(text, UNIX_PREFIX, strlen(UNIX_PREFIX)) == 0)
    return parse_unix(a, text, err, errlen);
  if (text[0] == '*')
    return err_set(err, errlen, "'*' is only valid in listen addresses");
  if (split(text, &hp, err, errlen) != 0)
    return -EINVAL;
  if (set_numeric(a, &hp)) {
    addr_format((struct sockaddr *)&a->sa, a->text, sizeof a->text);
    return 0;
  }
  if (hp.bracketed)
    return err_set(err, errlen, "invalid IPv6 address '%s'", hp.host);
  return resolve(a, &hp, err, errlen);
}

/* The same forms the parsers accept, so a formatted address parses back.
 * Always NUL-terminates when outlen > 0. */
void addr_ip_port(const struct sockaddr *sa, char *ip, size_t iplen,
                  uint16_t *port) {
  if (iplen > 0)
    ip[0] = '\0';
  *port = 0;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &sin->sin_addr, ip, (socklen_t)iplen);
    *port = ntohs(sin->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
    /* A "*:PORT" listener is dual-stack: IPv4 clients arrive mapped
     * (::ffff:a.b.c.d). Backends and logs want the plain IPv4 address. */
    if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
      inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], ip, (socklen_t)iplen);
    else
      inet_ntop(AF_INET6, &sin6->sin6_addr, ip, (socklen_t)iplen);
    *port = ntohs(sin6->sin6_port);
  }
}

void addr_format(const struct sockaddr *sa, char *out, size_t outlen) {
  char ip[INET6_ADDRSTRLEN];
  uint16_t port;

  if (outlen == 0)
    return;
  switch (sa->sa_family) {
  case AF_INET:
  case AF_INET6:
    addr_ip_port(sa, ip, sizeof ip, &port);
    snprintf(out, outlen, strchr(ip, ':') ? "[%s]:%u" : "%s:%u", ip, port);
    break;
  case AF_UNIX: {
    /* sun_path need not be NUL-terminated when full. */
    const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
    snprintf(out, outlen, "%s%.*s", UNIX_PREFIX, (int)sizeof un->sun_path,
             un->sun_path);
    break;
  }
  default:
    snprintf(out, outlen, "(family %d)", sa->sa_family);
  }
}

int addr_parse_cidr(struct addr_cidr *n, const char *text, char *err,
                    size_t errlen) {
  char ip[INET6_ADDRSTRLEN + 1];
  const char *slash = strchr(text, '/');
  size_t iplen = slash ? (size_t)(slash - text) : strlen(text);

  memset(n, 0, sizeof *n);
  if (iplen == 0 || iplen >= sizeof ip)
    return err_set(err, errlen, "expected ADDR or ADDR/PREFIX, got '%s'", text);
  memcpy(ip, text, iplen);
  ip[iplen] = '\0';
  if (inet_pton(AF_INET, ip, n->bytes) == 1)
    n->family = AF_INET;
  else if (inet_pton(AF_INET6, ip, n->bytes) == 1)
    n->family = AF_INET6;
  else
    return err_set(err, errlen, "'%s' is not an IPv4 or IPv6 address", ip);
  unsigned max = n->family == AF_INET ? 32 : 128;
  n->prefix = max;
  if (slash) {
    char *end;
    errno = 0;
    unsigned long v = strtoul(slash + 1, &end, 10);
    if (slash[1] == '\0' || *end != '\0' || errno || v > max ||
        !isdigit((unsigned char)slash[1]))
      return err_set(err, errlen, "prefix of '%s' must be 0 to %u", text, max);
    n->prefix = (unsigned)v;
  }
  /* Clear the host bits, so matching compares whole bytes and one mask. */
  for (unsigned bit = n->prefix; bit < max; bit++)
    n->bytes[bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
  snprintf(n->text, sizeof n->text, "%s/%u", ip, n->prefix);
  return 0;
}

bool addr_in_cidr(const struct sockaddr *sa, const struct addr_cidr *n) {
  const unsigned char *p;
  int family = sa->sa_family;

  if (family == AF_INET) {
    p = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
  } else if (family == AF_INET6) {
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    p = a6->s6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a6)) {
      family = AF_INET;
      p += 12;
    }
  } else {
    return false;
  }
  if (family != n->family)
    return false;
  unsigned full = n->prefix / 8, rest = n->prefix % 8;
  if (memcmp(p, n->bytes, full) != 0)
    return false;
  if (rest == 0)
    return true;
  unsigned char mask = (unsigned char)(0xff00u >> rest);
  return (p[full] & mask) == n->bytes[full];
}

/* The port, the family and whether the address is the family's "any". */
static uint16_t sa_port(const struct sockaddr_storage *ss, bool *any) {
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
    *any = sin->sin_addr.s_addr == htonl(INADDR_ANY);
    return ntohs(sin->sin_port);
  }
  const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
  *any = IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
  return ntohs(sin6->sin6_port);
}

bool addr_overlap(const struct addr *a, const struct addr *b) {
  bool any_a, any_b;
  if (sa_port(&a->sa, &any_a) != sa_port(&b->sa, &any_b))
    return false;
  if (a->wildcard || b->wildcard) /* "*": dual-stack, every address */
    return true;
  if (a->sa.ss_family != b->sa.ss_family)
    return false;
  if (any_a || any_b)
    return true;
  return a->salen == b->salen && memcmp(&a->sa, &b->sa, a->salen) == 0;
}
