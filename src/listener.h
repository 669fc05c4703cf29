/* listener.h: listening sockets, opened by the control thread.
 *
 * Every worker accepts on its own socket for each --listen address, all
 * bound with SO_REUSEPORT so the kernel spreads connections over workers.
 * The sockets are opened before any worker starts, so "address in use" or
 * "permission denied" is a start-up error (exit 2) rather than a worker that
 * silently serves nothing. */
#ifndef TLSTERM_LISTENER_H
#define TLSTERM_LISTENER_H

#include <stddef.h>

#include "addr.h"

/* Check that nobody else holds the address: SO_REUSEPORT alone would let a
 * second instance bind the same port and silently split its traffic. Returns
 * 0 or a negative errno with a reason in err ("address already in use"). */
int listener_probe(const struct addr *a, char *err, size_t errlen);

/* Open, bind and listen on one SO_REUSEPORT socket for `a`. "*:PORT" is a
 * dual-stack IPv6 socket; an explicit IPv6 address is IPv6-only, so
 * "0.0.0.0:P" and "[::]:P" can be listed together. The fd is non-blocking
 * and close-on-exec; the caller owns it. Returns the fd or a negative errno
 * with a reason in err. */
int listener_open(const struct addr *a, char *err, size_t errlen);

#endif
