/* listener.c: opening the listening sockets (see listener.h). Plain
 * syscalls, no loop: the control thread runs this before workers exist. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listener.h"

#define LISTEN_BACKLOG 511

static int open_socket(const struct addr *a, int reuseport, char *err,
                       size_t errlen) {
  int family = a->sa.ss_family;
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    goto fail;
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
    goto fail;
  if (reuseport &&
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    goto fail;
  if (family == AF_INET6) {
    int v6only = a->wildcard ? 0 : 1;
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) != 0)
      goto fail;
  }
  if (bind(fd, (const struct sockaddr *)&a->sa, a->salen) != 0)
    goto fail;
  return fd;

fail:;
  int e = errno;
  snprintf(err, errlen, "%s: %s", a->text, strerror(e));
  if (fd >= 0)
    close(fd);
  return -e;
}

int listener_probe(const struct addr *a, char *err, size_t errlen) {
  int fd = open_socket(a, 0, err, errlen);
  if (fd < 0)
    return fd;
  close(fd);
  return 0;
}

int listener_open(const struct addr *a, char *err, size_t errlen) {
  int fd = open_socket(a, 1, err, errlen);
  if (fd < 0)
    return fd;
  if (listen(fd, LISTEN_BACKLOG) != 0) {
    int e = errno;
    snprintf(err, errlen, "%s: %s", a->text, strerror(e));
    close(fd);
    return -e;
  }
  return fd;
}
