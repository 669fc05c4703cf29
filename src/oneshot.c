/* oneshot.c: one-request plain-HTTP connections (see oneshot.h).
 *
 * A connection owns two handles (the socket and a timer, armed at accept
 * for the head and again for the linger) and one buffer of opts.head_max
 * bytes that every byte of the head is read into and parsed from. Parsing
 * pauses at the end of the head: the request's body, if any, is never
 * parsed. The owner's respond callback turns the head into the response;
 * once it is queued, reading stops. Once it is written we send FIN and
 * linger: read and discard until the client closes or LINGER_MS passes,
 * then close (a write or shutdown error closes at once). Nothing here
 * logs: a failed client costs only its own connection. */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "oneshot.h"

/* How long to keep reading after our FIN. Closing a socket with unread
 * input (a body, a pipelined request, the rest of an oversized head) makes
 * the kernel send RST, which can destroy the response in the client's
 * receive queue before it is read; draining first lets the client see the
 * response and close on its own. Bounded, like conn.c's LINGER_MS, so a
 * client that keeps sending cannot hold the connection. */
#define LINGER_MS 2000

struct oneshot_conn {
  struct oneshot_opts opts;
  struct oneshot_conn *prev, *next; /* on *opts.list, if there is one */
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_write_t wr;
  uv_shutdown_t sd;
  llhttp_t parser;
  int open_handles;
  bool done;    /* a response has been queued */
  bool linger;  /* it is written and FIN sent: reads are discarded */
  bool in_host; /* the header value being read is Host's */
  int hosts;    /* Host lines seen */
  size_t len;   /* bytes of head[] filled */
  size_t url_off, url_len, host_off, host_len, field_len;
  char field[8]; /* the current header name, enough for "host" */
  char *resp;    /* owned: the response being written */
  char head[];   /* opts.head_max bytes */
};

static void close_cb(uv_handle_t *h) {
  struct oneshot_conn *c = h->data;
  if (--c->open_handles > 0)
    return;
  if (c->prev)
    c->prev->next = c->next;
  else if (c->opts.list)
    *c->opts.list = c->next;
  if (c->next)
    c->next->prev = c->prev;
  free(c->resp);
  free(c);
}

static void close_conn(struct oneshot_conn *c) {
  if (!uv_is_closing((uv_handle_t *)&c->tcp)) {
    uv_close((uv_handle_t *)&c->tcp, close_cb);
    uv_close((uv_handle_t *)&c->timer, close_cb);
  }
}

static void timer_cb(uv_timer_t *t) {
  close_conn(t->data);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b);
static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b);

/* FIN is sent: discard what the client still sends until it closes (EOF
 * or error, in read_cb) or the timer, re-armed here, fires. */
static void shutdown_cb(uv_shutdown_t *req, int status) {
  struct oneshot_conn *c = req->data;
  if (status < 0) { /* UV_ECANCELED too: close_conn() is safe twice */
    close_conn(c);
    return;
  }
  c->linger = true;
  uv_timer_start(&c->timer, timer_cb, LINGER_MS, 0);
  if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) != 0)
    close_conn(c);
}

static void write_cb(uv_write_t *req, int status) {
  struct oneshot_conn *c = req->data;
  free(c->resp); /* written: lingering holds no more than head[] */
  c->resp = NULL;
  c->sd.data = c;
  if (status < 0 ||
      uv_shutdown(&c->sd, (uv_stream_t *)&c->tcp, shutdown_cb) != 0)
    close_conn(c);
}

/* ---- parsing ------------------------------------------------------------ */

/* Offsets, not pointers: llhttp hands out pointers into head[], which is
 * where every byte is parsed from. A value split over two reads comes in
 * two calls, contiguous in head[]. */
static int on_url(llhttp_t *p, const char *at, size_t n) {
  struct oneshot_conn *c = p->data;
  if (c->url_len == 0)
    c->url_off = (size_t)(at - c->head);
  c->url_len += n;
  return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n) {
  struct oneshot_conn *c = p->data;
  for (size_t i = 0; i < n; i++)
    if (c->field_len < sizeof c->field)
      c->field[c->field_len++] = (char)tolower((unsigned char)at[i]);
    else
      c->field_len = sizeof c->field + 1; /* too long to be Host */
  return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n) {
  struct oneshot_conn *c = p->data;
  bool host = c->field_len == 4 && memcmp(c->field, "host", 4) == 0;
  if (host) {
    if (!c->in_host)
      c->hosts++; /* a new Host line, not a continued value */
    if (c->host_len == 0)
      c->host_off = (size_t)(at - c->head);
    c->host_len += n;
  }
  c->in_host = host;
  return 0;
}

static int on_header_value_complete(llhttp_t *p) {
  struct oneshot_conn *c = p->data;
  c->field_len = 0;
  c->in_host = false;
  return 0;
}

static int on_headers_complete(llhttp_t *p) {
  (void)p;
  return HPE_PAUSED; /* the head is all we need */
}

static const llhttp_settings_t settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
};

/* ---- answering ---------------------------------------------------------- */

/* parsed: the whole head is in; otherwise it was malformed or too large. */
static void respond(struct oneshot_conn *c, bool parsed) {
  struct oneshot_req req = {
      .method = llhttp_get_method(&c->parser),
      .url = c->head + c->url_off,
      .url_len = c->url_len,
      .host = c->head + c->host_off,
      .host_len = c->host_len,
      .hosts = c->hosts,
  };
  size_t len = 0;
  c->resp = c->opts.respond(c->opts.arg, parsed ? &req : NULL, &len);
  if (c->resp == NULL) {
    close_conn(c);
    return;
  }
  c->done = true;
  uv_read_stop((uv_stream_t *)&c->tcp);
  uv_buf_t b = uv_buf_init(c->resp, (unsigned)len);
  c->wr.data = c;
  if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, write_cb) != 0)
    close_conn(c);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  struct oneshot_conn *c = h->data;
  (void)hint;
  /* Lingering, the head is no longer needed (the respond callback has
   * run): each discarded read overwrites head[] from its start, so
   * discarding costs no memory. */
  size_t off = c->linger ? 0 : c->len;
  *b = uv_buf_init(c->head + off, (unsigned)(c->opts.head_max - off));
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  struct oneshot_conn *c = s->data;
  (void)b;
  if (n < 0) {
    close_conn(c); /* the client left, before our answer or after it */
    return;
  }
  if (c->done || n == 0)
    return; /* answered: what the client still sends is discarded */
  const char *from = c->head + c->len;
  c->len += (size_t)n;
  llhttp_errno_t e = llhttp_execute(&c->parser, from, (size_t)n);
  if (e == HPE_PAUSED)
    respond(c, true);
  else if (e != HPE_OK || c->len == c->opts.head_max)
    respond(c, false); /* malformed, or a head too large */
}

int oneshot_accept(uv_stream_t *server, const struct oneshot_opts *opts) {
  struct oneshot_conn *c = calloc(1, sizeof *c + opts->head_max);
  if (c == NULL)
    return UV_ENOMEM;
  c->opts = *opts;
  if (opts->list) {
    c->next = *opts->list;
    if (c->next)
      c->next->prev = c;
    *opts->list = c;
  }
  uv_tcp_init(server->loop, &c->tcp);
  uv_timer_init(server->loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  c->open_handles = 2;
  int r = uv_accept(server, (uv_stream_t *)&c->tcp);
  if (r != 0) {
    close_conn(c);
    return r;
  }
  llhttp_init(&c->parser, HTTP_REQUEST, &settings);
  c->parser.data = c;
  uv_timer_start(&c->timer, timer_cb, opts->timeout_ms, 0);
  uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
  return 0;
}

void oneshot_close_all(struct oneshot_conn *list) {
  for (struct oneshot_conn *c = list; c; c = c->next)
    close_conn(c);
}
