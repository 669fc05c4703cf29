/* conn.c: the life of a connection (see conn.h): accepting, the state
 * machine and its timers, the client socket, closing.
 *
 * TLS runs over memory buffers: ciphertext read from the client lands in
 * `cin`; tls/ appends records it wants sent to `cout`. Moving plaintext
 * between the two sides is relay.c's job, the backend socket upstream.c's.
 *
 * Each direction has a fill buffer and an in-flight buffer (`cout` and
 * `cout_wr`, `bout` and `bout_wr`) and at most one write in flight: the
 * write callback swaps them. A fill buffer above OUT_HIGH stops reading from
 * its producer (uv_read_stop); the consumer's write callback resumes it. So
 * a connection never holds more than the maxima in conn_int.h, however slow
 * the reader. */
#include <inttypes.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn_int.h"
#include "proxy.h"
#include "tls.h"
#include "worker.h"

static void timer_cb(uv_timer_t *t);
static void note_names(struct conn *c);
static void client_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b);
static void client_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b);

/* ---- logging ------------------------------------------------------------ */

void conn_log(int level, const struct conn *c, const char *fields,
              const char *fmt, ...) {
  char prefix[512], msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  snprintf(prefix, sizeof prefix, "worker=%d conn=%" PRIu64 " client=%s%s%s",
           c->w->id, c->id, c->peer, fields ? " " : "", fields ? fields : "");
  log_write(level, prefix, "%s", msg);
}

/* ---- state and timers --------------------------------------------------- */

/* The one place a connection changes state; each state arms its timer. */
void conn_set_state(struct conn *c, enum conn_state s) {
  const struct cfg *cfg = c->cfg;
  uint64_t ms = 0;
  c->state = s;
  switch (s) {
  case CONN_HANDSHAKE:
    ms = cfg->handshake_timeout_ms;
    break;
  case CONN_CONNECTING:
    ms = cfg->backend_connect_timeout_ms;
    break;
  case CONN_RELAY:
    c->last_active = uv_now(&c->w->loop);
    ms = cfg->idle_timeout_ms;
    break;
  case CONN_CLOSING:
    ms = LINGER_MS;
    break;
  case CONN_CLOSED:
    uv_timer_stop(&c->timer);
    return;
  }
  uv_timer_start(&c->timer, timer_cb, ms, 0);
}

void conn_arm_deadline(struct conn *c, uint64_t deadline_ms) {
  uint64_t now = uv_now(&c->w->loop);
  uint64_t in = deadline_ms > now ? deadline_ms - now : 0;
  if (!uv_is_active((uv_handle_t *)&c->timer) ||
      uv_timer_get_due_in(&c->timer) > in)
    uv_timer_start(&c->timer, timer_cb, in, 0);
}

static void conn_free(struct conn *c) {
  struct worker *w = c->w;
  if (c->prev)
    c->prev->next = c->next;
  else
    w->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  if (c->http_on)
    http_cleanup(&c->http);
  if (c->tls)
    tls_sess_free(c->tls);
  buf_cleanup(&c->cin);
  buf_cleanup(&c->cout);
  buf_cleanup(&c->cout_wr);
  buf_cleanup(&c->bout);
  buf_cleanup(&c->bout_wr);
  buf_cleanup(&c->pin);
  free(c->client_headers);
  struct worker_gen *wg = c->wg;
  free(c);
  worker_conn_closed(w, wg); /* after tls_sess_free: may free wg's ctx */
}

static void close_cb(uv_handle_t *h) {
  struct conn *c = h->data;
  if (--c->open_handles == 0)
    conn_free(c);
}

static void close_handle(uv_handle_t *h) {
  if (!uv_is_closing(h))
    uv_close(h, close_cb);
}

/* Close every handle now. Pending writes, shutdowns and the connect request
 * complete with UV_ECANCELED before the close callbacks run. */
void conn_abort(struct conn *c) {
  if (c->state == CONN_CLOSED)
    return;
  conn_set_state(c, CONN_CLOSED);
  close_handle((uv_handle_t *)&c->client);
  close_handle((uv_handle_t *)&c->timer);
  if (c->backend_open)
    close_handle(&c->backend.handle);
}

struct conn *conn_next(const struct conn *c) { return c->next; }

void conn_drain(struct conn *c) {
  if (c->state == CONN_RELAY)
    relay_drain(c);
}

static void timer_cb(uv_timer_t *t) {
  struct conn *c = t->data;
  switch (c->state) {
  case CONN_HANDSHAKE:
    CONN_LOG(LOG_LEVEL_INFO, c, NULL, "handshake timeout");
    metrics_add(&c->w->metrics.hs_timeouts, 1);
    conn_finish(c, false);
    break;
  case CONN_CONNECTING:
    relay_backend_failed(c, 504, "timed out");
    break;
  case CONN_RELAY:
    if (c->client_shut_done)
      conn_abort(c); /* we are done sending; the client lingered */
    else
      relay_timer(c);
    break;
  case CONN_CLOSING:
    conn_abort(c);
    break;
  case CONN_CLOSED:
    break;
  }
}

/* ---- closing ------------------------------------------------------------ */

static void client_shutdown_cb(uv_shutdown_t *req, int status) {
  struct conn *c = req->data;
  if (status == UV_ECANCELED || c->state == CONN_CLOSED)
    return;
  c->client_shut_done = true;
  if (status < 0 || c->client_in_done) {
    conn_abort(c);
    return;
  }
  /* The client may still be sending; give it a short while, then close. */
  if (c->state == CONN_RELAY)
    uv_timer_start(&c->timer, timer_cb, LINGER_MS, 0);
}

static void shutdown_client(struct conn *c) {
  if (c->client_shut)
    return;
  c->client_shut = true;
  c->client_sd.data = c;
  if (uv_shutdown(&c->client_sd, (uv_stream_t *)&c->client,
                  client_shutdown_cb) != 0)
    conn_abort(c);
}

/* End the connection gracefully from any state: optionally queue a
 * close_notify, flush what is queued for the client, send FIN, then read and
 * discard until the client closes or LINGER_MS passes. */
void conn_finish(struct conn *c, bool notify) {
  if (c->state == CONN_CLOSING || c->state == CONN_CLOSED)
    return;
  if (notify && c->handshake_done && !c->notify_sent) {
    tls_sess_close_notify(c->tls);
    c->notify_sent = true;
  }
  if (c->backend_open)
    close_handle(&c->backend.handle);
  conn_set_state(c, CONN_CLOSING);
  if (c->client_in_done && !c->client_writing && buf_used(&c->cout) == 0) {
    conn_abort(c); /* nothing to send, nothing to wait for */
    return;
  }
  if (c->client_paused) {
    c->client_paused = false;
    uv_read_start((uv_stream_t *)&c->client, client_alloc_cb, client_read_cb);
  }
  conn_flush_client(c);
  if (c->state == CONN_CLOSING && !c->client_writing)
    shutdown_client(c);
}

void conn_maybe_shutdown_client(struct conn *c) {
  if (c->backend_in_done && !c->client_writing && buf_used(&c->cout) == 0)
    shutdown_client(c);
}

/* ---- the client socket -------------------------------------------------- */

static void client_write_cb(uv_write_t *req, int status);

/* What follows a completed write to the client, however it completed. */
static void client_wrote(struct conn *c) {
  if (c->state == CONN_CLOSING) {
    if (!c->client_writing)
      shutdown_client(c);
    return;
  }
  if (c->backend_paused && buf_used(&c->cout) < OUT_LOW)
    upstream_resume(c);
  conn_maybe_shutdown_client(c);
}

/* Most writes to a socket complete at once. Trying that first spares the
 * loop a queued write request, and libuv (1.44) an epoll_ctl() for each
 * one: two syscalls per request on a keep-alive connection. Whatever the
 * socket does not take goes out through uv_write as before. Returns true if
 * everything was written. */
static bool client_try_write(struct conn *c) {
  uv_buf_t b = uv_buf_init(buf_data(&c->cout), (unsigned)buf_used(&c->cout));
  int n = uv_try_write((uv_stream_t *)&c->client, &b, 1);
  if (n == UV_EAGAIN || n == UV_ENOSYS)
    return false;
  if (n < 0) {
    CONN_LOG(LOG_LEVEL_DEBUG, c, NULL, "client write failed: %s",
             uv_strerror(n));
    conn_abort(c);
    return false;
  }
  metrics_add(&c->w->metrics.bytes_out, (uint64_t)n);
  buf_consume(&c->cout, (size_t)n);
  return buf_used(&c->cout) == 0;
}

void conn_flush_client(struct conn *c) {
  if (c->client_writing || buf_used(&c->cout) == 0 ||
      c->state == CONN_CLOSED)
    return;
  if (client_try_write(c)) {
    buf_release_if_empty(&c->cout);
    client_wrote(c);
    return;
  }
  if (c->state == CONN_CLOSED)
    return;
  /* Swap the fill buffer with the (empty) in-flight one so the library can
   * keep appending while this write is under way. */
  buf_swap(&c->cout, &c->cout_wr);
  uv_buf_t b = uv_buf_init(buf_data(&c->cout_wr), (unsigned)buf_used(&c->cout_wr));
  c->client_wr.data = c;
  if (uv_write(&c->client_wr, (uv_stream_t *)&c->client, &b, 1,
               client_write_cb) != 0) {
    conn_abort(c);
    return;
  }
  c->client_writing = true;
}

static void client_write_cb(uv_write_t *req, int status) {
  struct conn *c = req->data;
  c->client_writing = false;
  if (status >= 0)
    metrics_add(&c->w->metrics.bytes_out, buf_used(&c->cout_wr));
  buf_consume(&c->cout_wr, buf_used(&c->cout_wr));
  if (c->state == CONN_CLOSED)
    return;
  if (status < 0) {
    CONN_LOG(LOG_LEVEL_DEBUG, c, NULL, "client write failed: %s",
             uv_strerror(status));
    conn_abort(c);
    return;
  }
  conn_flush_client(c);
  if (!c->client_writing)
    buf_release_if_empty(&c->cout_wr);
  client_wrote(c);
}

void conn_pause_client(struct conn *c) {
  if (!c->client_paused) {
    uv_read_stop((uv_stream_t *)&c->client);
    c->client_paused = true;
  }
}

void conn_resume_client(struct conn *c) {
  if (c->client_paused && !c->client_in_done && c->state != CONN_CLOSED) {
    c->client_paused = false;
    uv_read_start((uv_stream_t *)&c->client, client_alloc_cb, client_read_cb);
  }
}

void conn_client_input_done(struct conn *c) {
  c->client_in_done = true;
  uv_read_stop((uv_stream_t *)&c->client);
  if (c->backend_in_done && c->client_shut_done) {
    conn_abort(c);
    return;
  }
  upstream_maybe_shutdown(c);
}

static void log_handshake(struct conn *c) {
  if (LOG_LEVEL_DEBUG > log_level)
    return;
  const char *sni = tls_sess_sni(c->tls), *alpn = tls_sess_alpn(c->tls);
  char fields[256];
  snprintf(fields, sizeof fields,
           "version=%s cipher=%s sni=%s alpn=%s resumed=%s",
           tls_sess_version(c->tls), tls_sess_cipher(c->tls), sni ? sni : "-",
           alpn ? alpn : "-", tls_sess_resumed(c->tls) ? "yes" : "no");
  conn_log(LOG_LEVEL_DEBUG, c, fields, "handshake done");
}

/* Returns true while the connection is still handshaking or going on. */
static bool handshake_step(struct conn *c) {
  int r = tls_sess_handshake(c->tls);
  if (r == TLS_WANT)
    return true;
  if (r != 0) {
    CONN_LOG(LOG_LEVEL_INFO, c, NULL, "handshake failed: %s",
             tls_sess_error(c->tls));
    metrics_add(&c->w->metrics.hs_failed[tls_sess_fail_reason(c->tls)], 1);
    conn_finish(c, false); /* flushes the alert the library queued */
    return false;
  }
  c->handshake_done = true;
  metrics_handshake(&c->w->metrics, c->tls);
  log_handshake(c);
  relay_start(c);
  if (c->state == CONN_CLOSED)
    return false;
  upstream_connect(c);
  return c->state == CONN_CONNECTING;
}

static void note_names(struct conn *c) {
  const struct sockaddr *sa = (const struct sockaddr *)&c->client_sa;
  char ip[INET6_ADDRSTRLEN];
  addr_format(sa, c->peer, sizeof c->peer);
  addr_ip_port(sa, c->client_ip, sizeof c->client_ip, &c->client_port);
  addr_ip_port((const struct sockaddr *)&c->local_sa, ip, sizeof ip,
               &c->local_port);
}

/* --accept-proxy: the balancer's PROXY header precedes the ClientHello.
 * Its addresses replace the socket's everywhere (headers, PROXY out, logs).
 * Returns true once it has been read. */
static bool read_proxy_header(struct conn *c) {
  struct sockaddr_storage src, dst;
  char why[160];
  int n = proxy_parse(buf_data(&c->cin), buf_used(&c->cin), &src, &dst, why,
                      sizeof why);
  if (n == 0 && buf_used(&c->cin) + CIN_READ > CIN_MAX) {
    /* A v2 header may claim up to 64 KiB of TLVs; ours holds less. */
    snprintf(why, sizeof why, "longer than %d bytes", CIN_MAX - CIN_READ);
    n = -1;
  }
  if (n == 0)
    return false;
  if (n < 0) {
    CONN_LOG(LOG_LEVEL_WARN, c, NULL, "bad PROXY header: %s", why);
    conn_abort(c);
    return false;
  }
  buf_consume(&c->cin, (size_t)n);
  c->expect_proxy = false;
  if (src.ss_family != AF_UNSPEC) { /* LOCAL: the balancer's own check */
    char from[ADDR_TEXT_MAX];
    snprintf(from, sizeof from, "%s", c->peer);
    c->client_sa = src;
    c->local_sa = dst;
    note_names(c);
    CONN_LOG(LOG_LEVEL_DEBUG, c, NULL, "PROXY header from %s", from);
  }
  return true;
}

static void on_client_data(struct conn *c) {
  if (c->expect_proxy && !read_proxy_header(c))
    return;
  if (c->state == CONN_HANDSHAKE && !handshake_step(c))
    return;
  /* The client may have sent its request right behind its Finished. */
  if (c->state == CONN_CONNECTING || c->state == CONN_RELAY)
    relay_from_client(c);
  conn_flush_client(c);
}

static void client_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  struct conn *c = h->data;
  (void)hint;
  if (buf_reserve(&c->cin, CIN_READ) != 0) {
    *b = uv_buf_init(NULL, 0); /* the read callback sees UV_ENOBUFS */
    return;
  }
  *b = uv_buf_init(buf_tail(&c->cin), (unsigned)buf_room(&c->cin));
}

static void client_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  struct conn *c = s->data;
  (void)b;
  if (n > 0) {
    buf_commit(&c->cin, (size_t)n);
    metrics_add(&c->w->metrics.bytes_in, (uint64_t)n);
    c->last_active = uv_now(&c->w->loop);
    if (c->state == CONN_CLOSING)
      buf_consume(&c->cin, buf_used(&c->cin)); /* lingering: discard */
    else
      on_client_data(c);
    buf_release_if_empty(&c->cin);
    return;
  }
  if (n == 0 || c->state == CONN_CLOSED)
    return;
  if (c->state == CONN_CLOSING || c->state == CONN_HANDSHAKE) {
    if (c->state == CONN_HANDSHAKE)
      CONN_LOG(LOG_LEVEL_DEBUG, c, NULL, "client left during handshake");
    conn_abort(c);
    return;
  }
  if (n == UV_EOF) {
    if (!c->client_in_done)
      CONN_LOG(LOG_LEVEL_DEBUG, c, NULL, "client EOF without close_notify");
    conn_client_input_done(c);
    return;
  }
  CONN_LOG(LOG_LEVEL_INFO, c, NULL, "client read failed: %s",
           uv_strerror((int)n));
  conn_abort(c);
}

/* ---- accepting ---------------------------------------------------------- */

static void note_addresses(struct conn *c) {
  int len = sizeof c->client_sa;
  uv_tcp_getpeername(&c->client, (struct sockaddr *)&c->client_sa, &len);
  len = sizeof c->local_sa;
  uv_tcp_getsockname(&c->client, (struct sockaddr *)&c->local_sa, &len);
  note_names(c);
}

/* Only --trusted-proxy sources may speak for their clients. */
static bool trusted_source(const struct conn *c) {
  const struct cfg *cfg = c->cfg;
  for (int i = 0; i < cfg->n_trusted; i++)
    if (addr_in_cidr((const struct sockaddr *)&c->client_sa, &cfg->trusted[i]))
      return true;
  return false;
}

static struct conn *conn_new(struct worker *w) {
  struct conn *c = calloc(1, sizeof *c);
  if (c == NULL)
    return NULL;
  c->w = w;
  c->id = ++w->next_conn_id;
  metrics_add(&w->metrics.conns_total, 1);
  c->next = w->conns;
  if (w->conns)
    w->conns->prev = c;
  w->conns = c;
  c->wg = worker_conn_opened(w);
  c->cfg = c->wg->cfg;

  buf_init(&c->cin, CIN_MAX);
  buf_init(&c->cout, COUT_MAX);
  buf_init(&c->cout_wr, COUT_MAX);
  size_t bout_max = OUT_HIGH + TLS_RECORD_MAX + BOUT_SLACK +
                    (size_t)c->cfg->max_header_size;
  buf_init(&c->bout, bout_max);
  buf_init(&c->bout_wr, bout_max);
  buf_init(&c->pin, PIN_MAX);
  uv_tcp_init(&w->loop, &c->client);
  uv_timer_init(&w->loop, &c->timer);
  c->client.data = c;
  c->timer.data = c;
  c->open_handles = 2;
  c->accepted_ms = uv_now(&w->loop);
  strcpy(c->peer, "-");
  strcpy(c->client_ip, "-");
  return c;
}

void conn_accept_cb(uv_stream_t *server, int status) {
  struct worker *w = server->data;
  if (status < 0) {
    worker_accept_failed(w, status);
    return;
  }
  struct conn *c = conn_new(w);
  if (c == NULL) {
    log_error("worker %d: out of memory accepting a connection", w->id);
    return;
  }
  int r = uv_accept(server, (uv_stream_t *)&c->client);
  if (r != 0) {
    log_warn("worker %d: accept: %s", w->id, uv_strerror(r));
    conn_abort(c);
    return;
  }
  note_addresses(c);
  struct worker_listener *l =
      (struct worker_listener *)((char *)server -
                                 offsetof(struct worker_listener, handle));
  if (l->accept_proxy) {
    if (!trusted_source(c)) {
      CONN_LOG(LOG_LEVEL_WARN, c, NULL,
               "PROXY header expected from an untrusted source: closing");
      conn_abort(c);
      return;
    }
    c->expect_proxy = true;
  }
  uv_tcp_nodelay(&c->client, 1);
  c->tls = tls_sess_new(c->wg->tls, &c->cin, &c->cout);
  if (c->tls == NULL) {
    log_error("worker %d: out of memory for a TLS session", w->id);
    conn_abort(c);
    return;
  }
  conn_set_state(c, CONN_HANDSHAKE);
  uv_read_start((uv_stream_t *)&c->client, client_alloc_cb, client_read_cb);
}
