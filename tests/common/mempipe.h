/* mempipe.h: mbedTLS I/O callbacks for one end of a TLS connection held in
 * memory, as the unit tests' and fuzz targets' clients use it: what the end
 * sends is appended to *out, what it receives is taken from *in (WANT_READ
 * when that is empty). The buffers belong to the caller. */
#ifndef TLSTERM_MEMPIPE_H
#define TLSTERM_MEMPIPE_H

#include <stddef.h>

struct buf;

struct mempipe {
  struct buf *in;  /* bytes for this end to read */
  struct buf *out; /* bytes this end wrote */
};

/* mbedtls_ssl_send_t and mbedtls_ssl_recv_t; p is a struct mempipe. */
int mempipe_send(void *p, const unsigned char *d, size_t n);
int mempipe_recv(void *p, unsigned char *d, size_t n);

#endif
