/* mempipe.c: see mempipe.h. */
#include "mempipe.h"

#include <mbedtls/ssl.h>
#include <string.h>

#include "buf.h"

int mempipe_send(void *p, const unsigned char *d, size_t n) {
  struct mempipe *m = p;
  return buf_append(m->out, d, n) == 0 ? (int)n : MBEDTLS_ERR_SSL_ALLOC_FAILED;
}

int mempipe_recv(void *p, unsigned char *d, size_t n) {
  struct mempipe *m = p;

  if (buf_used(m->in) == 0)
    return MBEDTLS_ERR_SSL_WANT_READ;
  if (n > buf_used(m->in))
    n = buf_used(m->in);
  memcpy(d, buf_data(m->in), n);
  buf_consume(m->in, n);
  return (int)n;
}
