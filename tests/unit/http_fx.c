/* http_fx.c: the struct http test fixture of the src/http.c unit tests
 * (see http_fx.h). */
#include "http_fx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void record(void *arg, const struct http_done *d) {
  struct fx *f = arg;

  ck_assert_int_lt(f->ndone, MAX_DONE);
  f->done[f->ndone] = *d;
  snprintf(f->method[f->ndone], sizeof f->method[0], "%s", d->method);
  snprintf(f->target[f->ndone], sizeof f->target[0], "%s", d->target);
  ck_assert_uint_le(strlen(d->target), HTTP_TARGET_LOG_MAX);
  f->ndone++;
}

/* Defaults: IPv4 client, port 443, SNI "sni.example", head_max 8 KiB. */
struct fx *fx_new(void) {
  struct fx *f = calloc(1, sizeof *f);

  ck_assert_ptr_nonnull(f);
  f->opts.head_max = 8192;
  f->opts.log_targets = true;
  f->peer.client_ip = IP4;
  f->peer.client_port = 51000;
  f->peer.local_port = 443;
  f->peer.host = "sni.example";
  buf_init(&f->up, 1 << 20);
  buf_init(&f->down, 1 << 20);
  return f;
}

/* Call after adjusting opts and peer. */
struct fx *fx_start(struct fx *f) {
  http_init(&f->h, &f->opts, &f->peer, record, f);
  return f;
}

void fx_free(struct fx *f) {
  http_cleanup(&f->h);
  http_cleanup(&f->h); /* safe twice */
  buf_cleanup(&f->up);
  buf_cleanup(&f->down);
  free(f);
}

/* Feed request bytes that must all be consumed. */
void fx_req(struct fx *f, const char *p, size_t n, uint64_t now) {
  ck_assert_int_eq(http_req_feed(&f->h, p, n, &f->up, now), (ssize_t)n);
}

void fx_resp(struct fx *f, const char *p, size_t n, uint64_t now) {
  ck_assert_int_eq(http_resp_feed(&f->h, p, n, &f->down, now), 0);
}

/* The buffer holds exactly s (then empty it). */
void fx_expect(struct buf *b, const char *s, size_t n) {
  ck_assert_msg(buf_used(b) == n && memcmp(buf_data(b), s, n) == 0,
                "got [%.*s] (%zu bytes)\nwant [%.*s] (%zu bytes)",
                (int)buf_used(b), buf_data(b), buf_used(b), (int)n, s, n);
  buf_consume(b, buf_used(b));
}
