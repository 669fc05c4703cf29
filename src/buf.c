/* buf.c: byte buffers with a hard maximum (see buf.h).
 *
 * Connection buffers are built on this, so the memory a connection can
 * hold is bounded by the maxima its owner chose. Storage is
 * allocated lazily and can be released when empty, so an idle connection
 * costs no buffer memory at all. Growth doubles (amortised O(1) appends)
 * but is clamped to `max`; before growing, consumed space at the front is
 * reclaimed by moving the live bytes down, which is cheap for the short
 * tails a partially written socket leaves behind. */
#include "buf.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

/* Empty, no storage yet; see buf.h. */
void buf_init(struct buf *b, size_t max) {
  memset(b, 0, sizeof *b);
  b->max = max;
}

/* Frees the storage but keeps max, so the buffer can be used again. */
void buf_cleanup(struct buf *b) {
  free(b->base);
  b->base = NULL;
  b->off = b->len = b->cap = 0;
}

/* Move the live bytes to offset 0. */
static void compact(struct buf *b) {
  size_t used = buf_used(b);

  if (b->off == 0)
    return;
  if (used > 0)
    memmove(b->base, b->base + b->off, used);
  b->off = 0;
  b->len = used;
}

/* The capacity to grow to for `need` bytes: double (clamped to max, and
 * never overflowing), or `need` if that is more. The caller has checked
 * need <= max. */
static size_t grown_cap(const struct buf *b, size_t need) {
  size_t cap = b->cap > b->max / 2 ? b->max : b->cap * 2;

  return cap < need ? need : cap;
}

/* Room for n more bytes: compact first, grow only if that is not enough.
 * 0, UV_ENOBUFS (max would be exceeded) or UV_ENOMEM (contents intact). */
int buf_reserve(struct buf *b, size_t n) {
  size_t used = buf_used(b);

  if (buf_room(b) >= n)
    return 0;
  if (used > b->max || n > b->max - used)
    return UV_ENOBUFS;
  compact(b);
  if (buf_room(b) >= n)
    return 0;

  size_t cap = grown_cap(b, used + n);
  char *p = realloc(b->base, cap);
  if (p == NULL)
    return UV_ENOMEM; /* the buffer is intact, only compacted */
  b->base = p;
  b->cap = cap;
  return 0;
}

/* Copy n bytes to the tail; 0, UV_ENOBUFS or UV_ENOMEM (nothing copied). */
int buf_append(struct buf *b, const void *p, size_t n) {
  int rc;

  /* Nothing to copy: don't allocate, and don't memcpy to a NULL base. */
  if (n == 0)
    return 0;
  rc = buf_reserve(b, n);
  if (rc != 0)
    return rc;
  memcpy(buf_tail(b), p, n);
  b->len += n;
  return 0;
}

/* n bytes written at buf_tail() are now data (n <= buf_room()). */
void buf_commit(struct buf *b, size_t n) {
  assert(n <= buf_room(b));
  b->len += n;
}

/* Drop n bytes from the front (n <= buf_used()). */
void buf_consume(struct buf *b, size_t n) {
  assert(n <= buf_used(b));
  b->off += n;
  /* Rewinding when empty makes the common "read all, write all" cycle
   * reuse the front of the buffer without ever moving a byte. */
  if (b->off == b->len)
    b->off = b->len = 0;
}

/* Exchange everything, storage and max included: no bytes are copied. */
void buf_swap(struct buf *a, struct buf *b) {
  struct buf t = *a;

  *a = *b;
  *b = t;
}

/* Give the storage back when nothing is buffered. */
void buf_release_if_empty(struct buf *b) {
  if (buf_used(b) == 0)
    buf_cleanup(b);
}
