/* addr.h: listen and backend addresses.
 *
 * Accepted forms:
 *   127.0.0.1:8443   [::1]:8443   *:8443 (all IPv4 and IPv6)   [::]:8443
 *   host.example:80  (backend only; resolved once at start-up)
 *   unix:/run/app.sock   (backend only)
 */
#ifndef TLSTERM_ADDR_H
#define TLSTERM_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ADDR_TEXT_MAX 128

struct addr {
  struct sockaddr_storage sa; /* AF_INET, AF_INET6 or AF_UNIX */
  socklen_t salen;
  bool wildcard;              /* "*:PORT": also bound as [::]:PORT */
  char text[ADDR_TEXT_MAX];   /* as normalised for logs, e.g. "[::1]:8443" */
};

/* Parse a --listen value. Hostnames are not accepted (listeners are bound
 * to addresses, not names); port must be 1-65535. Returns 0 or -EINVAL with
 * a reason in err ("expected ADDR:PORT", "port out of range", ...). */
int addr_parse_listen(struct addr *a, const char *text, char *err, size_t errlen);

/* Parse a --backend value: HOST:PORT (a name is resolved now, first result
 * wins) or unix:/path. Returns 0 or -EINVAL with a reason in err. */
int addr_parse_backend(struct addr *a, const char *text, char *err, size_t errlen);

/* Format a socket address as "1.2.3.4:5" or "[::1]:5" into out. */
void addr_format(const struct sockaddr *sa, char *out, size_t outlen);

/* Would two listen addresses receive each other's connections? Same port
 * and the same address, or either is a wildcard of a family both share
 * (SO_REUSEPORT lets such sockets bind together and the kernel then splits
 * connections between them at random). */
bool addr_overlap(const struct addr *a, const struct addr *b);

/* A network for --trusted-proxy: 10.0.0.0/8, 2001:db8::/32, or one
 * address (a /32 or /128). */
struct addr_cidr {
  int family;               /* AF_INET or AF_INET6 */
  unsigned char bytes[16];  /* network address, host bits cleared */
  unsigned prefix;          /* 0-32 or 0-128 */
  char text[64];
};

/* Parse "ADDR[/PREFIX]". 0, or -EINVAL with a reason in err. */
int addr_parse_cidr(struct addr_cidr *n, const char *text, char *err,
                    size_t errlen);

/* Is the socket address inside the network? An IPv4-mapped IPv6 address
 * matches IPv4 networks. */
bool addr_in_cidr(const struct sockaddr *sa, const struct addr_cidr *n);

/* The IP (no brackets; an IPv4-mapped IPv6 address as plain IPv4) and the
 * port of a socket address, for headers such as X-Forwarded-For. */
void addr_ip_port(const struct sockaddr *sa, char *ip, size_t iplen,
                  uint16_t *port);

#endif
