/* upstream.c: a connection's backend socket (TCP or Unix): connecting,
 * reading, writing with backpressure, half-close. What to do with the bytes
 * is relay.c's business. */
#include <stdbool.h>
#include <stdio.h>
#include <sys/un.h>

#include "conn_int.h"
#include "worker.h"

static void backend_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  struct conn *c = h->data;
  (void)hint;
  /* Plaintext from a backend is consumed before the read callback returns,
   * so one buffer per worker serves every connection. */
  *b = uv_buf_init(c->w->rbuf, sizeof c->w->rbuf);
}

static void backend_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  struct conn *c = s->data;
  if (n == 0 || c->state != CONN_RELAY)
    return;
  if (n == UV_EOF) {
    c->backend_in_done = true;
    uv_read_stop(s);
    relay_backend_eof(c);
    return;
  }
  if (n < 0) {
    relay_backend_failed(c, 502, uv_strerror((int)n));
    return;
  }
  c->last_active = uv_now(&c->w->loop);
  relay_from_backend(c, b->base, (size_t)n);
  if (c->state == CONN_RELAY && !c->backend_paused &&
      buf_used(&c->cout) >= OUT_HIGH) {
    uv_read_stop(s);
    c->backend_paused = true;
  }
}

void upstream_resume(struct conn *c) {
  if (c->backend_paused && c->state == CONN_RELAY && !c->backend_in_done) {
    c->backend_paused = false;
    uv_read_start(&c->backend.stream, backend_alloc_cb, backend_read_cb);
  }
}

static void backend_write_cb(uv_write_t *req, int status) {
  struct conn *c = req->data;
  c->backend_writing = false;
  buf_consume(&c->bout_wr, buf_used(&c->bout_wr));
  if (c->state != CONN_RELAY)
    return;
  if (status < 0) {
    relay_backend_failed(c, 502, uv_strerror(status));
    return;
  }
  upstream_flush(c);
  if (c->client_paused)
    relay_from_client(c);
  if (!c->backend_writing)
    buf_release_if_empty(&c->bout_wr);
  upstream_maybe_shutdown(c);
}

/* A direct write first, as for the client (conn.c, client_try_write): it
 * usually takes everything. Returns true if it did. */
static bool backend_try_write(struct conn *c) {
  uv_buf_t b = uv_buf_init(buf_data(&c->bout), (unsigned)buf_used(&c->bout));
  int n = uv_try_write(&c->backend.stream, &b, 1);
  if (n == UV_EAGAIN || n == UV_ENOSYS)
    return false;
  if (n < 0) {
    relay_backend_failed(c, 502, uv_strerror(n));
    return false;
  }
  buf_consume(&c->bout, (size_t)n);
  return buf_used(&c->bout) == 0;
}

void upstream_flush(struct conn *c) {
  if (c->backend_writing || buf_used(&c->bout) == 0 || c->state != CONN_RELAY)
    return;
  if (backend_try_write(c)) {
    buf_release_if_empty(&c->bout);
    /* No write callback will come to lift the backpressure: take what the
     * client sent meanwhile now, as backend_write_cb does, or a client
     * paused at OUT_HIGH would never be read again. */
    if (c->client_paused)
      relay_from_client(c);
    upstream_maybe_shutdown(c);
    return;
  }
  if (c->state != CONN_RELAY)
    return;
  buf_swap(&c->bout, &c->bout_wr);
  uv_buf_t b = uv_buf_init(buf_data(&c->bout_wr), (unsigned)buf_used(&c->bout_wr));
  c->backend_wr.data = c;
  if (uv_write(&c->backend_wr, &c->backend.stream, &b, 1, backend_write_cb)) {
    conn_abort(c);
    return;
  }
  c->backend_writing = true;
}

static void backend_shutdown_cb(uv_shutdown_t *req, int status) {
  (void)req;
  (void)status; /* a failure shows up as a read or write error */
}

/* Once the client has said all it will and the backend has received all of
 * it, half-close the backend so it sees the end of the request stream. */
void upstream_maybe_shutdown(struct conn *c) {
  if (!c->client_in_done || c->backend_shut || c->state != CONN_RELAY ||
      c->backend_writing || buf_used(&c->bout) > 0)
    return;
  c->backend_shut = true;
  c->backend_sd.data = c;
  if (uv_shutdown(&c->backend_sd, &c->backend.stream, backend_shutdown_cb))
    conn_abort(c);
}

static void backend_connect_cb(uv_connect_t *req, int status) {
  struct conn *c = req->data;
  if (status == UV_ECANCELED || c->state != CONN_CONNECTING)
    return;
  if (status < 0) {
    relay_backend_failed(c, 502, uv_strerror(status));
    return;
  }
  if (c->backend.handle.type == UV_TCP)
    uv_tcp_nodelay(&c->backend.tcp, 1);
  conn_set_state(c, CONN_RELAY);
  relay_backend_connected(c);
  uv_read_start(&c->backend.stream, backend_alloc_cb, backend_read_cb);
  upstream_flush(c);
  upstream_maybe_shutdown(c);
}

void upstream_connect(struct conn *c) {
  const struct addr *a = &c->cfg->backend;
  int r = 0;
  c->connect_req.data = c;
  if (a->sa.ss_family == AF_UNIX) {
    uv_pipe_init(&c->w->loop, &c->backend.pipe, 0);
    uv_pipe_connect(&c->connect_req, &c->backend.pipe,
                    ((const struct sockaddr_un *)&a->sa)->sun_path,
                    backend_connect_cb);
  } else {
    uv_tcp_init(&c->w->loop, &c->backend.tcp);
    r = uv_tcp_connect(&c->connect_req, &c->backend.tcp,
                       (const struct sockaddr *)&a->sa, backend_connect_cb);
  }
  c->backend_open = true;
  c->open_handles++;
  c->backend.handle.data = c;
  conn_set_state(c, CONN_CONNECTING);
  if (r != 0)
    relay_backend_failed(c, 502, uv_strerror(r));
}
