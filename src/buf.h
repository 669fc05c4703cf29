/* buf.h: a byte buffer with a hard maximum.
 *
 * Bytes live in base[off, len). Storage is allocated on first use and can be
 * released when the buffer is empty, so an idle connection holds none. */
#ifndef TLSTERM_BUF_H
#define TLSTERM_BUF_H

#include <stddef.h>

struct buf {
  char *base;
  size_t off; /* first unconsumed byte */
  size_t len; /* one past the last byte */
  size_t cap; /* allocated size */
  size_t max; /* hard maximum for cap */
};

/* An empty buffer that may grow to `max` bytes. Allocates nothing. */
void buf_init(struct buf *b, size_t max);
/* Frees the storage; the buffer is empty and reusable afterwards. */
void buf_cleanup(struct buf *b);

static inline size_t buf_used(const struct buf *b) { return b->len - b->off; }
/* NULL for a buffer without storage: NULL + 0 is undefined in C (UBSan
 * stops on it), and an empty buffer is read on every pass of the relay. */
static inline char *buf_data(const struct buf *b) {
  return b->base != NULL ? b->base + b->off : NULL;
}
/* Bytes that can be appended without growing. */
static inline size_t buf_room(const struct buf *b) { return b->cap - b->len; }
static inline char *buf_tail(const struct buf *b) {
  return b->base != NULL ? b->base + b->len : NULL;
}

/* Make room for at least `n` more bytes at the tail, compacting or growing
 * (never beyond max). Returns 0, or UV_ENOBUFS if max would be exceeded,
 * or UV_ENOMEM. */
int buf_reserve(struct buf *b, size_t n);
/* Append n bytes (reserving as needed). 0, UV_ENOBUFS or UV_ENOMEM. */
int buf_append(struct buf *b, const void *p, size_t n);
/* Mark n bytes at the tail as written (after writing into buf_tail()). */
void buf_commit(struct buf *b, size_t n);
/* Drop n bytes from the front; an emptied buffer rewinds to offset 0. */
void buf_consume(struct buf *b, size_t n);
/* Exchange contents (storage included) of two buffers. */
void buf_swap(struct buf *a, struct buf *b);
/* Release the storage if the buffer is empty (idle connections hold none). */
void buf_release_if_empty(struct buf *b);

#endif
