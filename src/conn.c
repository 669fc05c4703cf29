/* conn.c: the life of a connection (see conn.h), and the relay between the
 * TLS client and the plain backend.
 *
 * TLS runs over memory buffers: ciphertext read from the client lands in
 * `cin`; tls/ decrypts it straight into `bout` (plaintext for the backend)
 * and appends records it wants sent to `cout`. Plaintext read from the
 * backend is encrypted into `cout` before the read callback returns.
 *
 * Each direction has a fill buffer and an in-flight buffer (`cout` and
 * `cout_wr`, `bout` and `bout_wr`) and at most one write in flight: the
 * write callback swaps them. A fill buffer above OUT_HIGH stops reading from
 * its producer (uv_read_stop); the consumer's write callback resumes it. So
 * a connection never holds more than the maxima below, however slow the
 * reader. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "buf.h"
#include "conn.h"
#include "log.h"
#include "tls.h"
#include "worker.h"

/* Largest plaintext one TLS record carries. */
#define TLS_RECORD_MAX 16384
/* Ciphertext read from the client and not yet taken by mbedTLS. */
#define CIN_READ (TLS_RECORD_MAX + 1024)
#define CIN_MAX (2 * CIN_READ)
/* Above this many bytes in a fill buffer, stop reading from its producer. */
#define OUT_HIGH (64 * 1024)
/* Backpressure on the backend lifts once the client has taken this much. */
#define OUT_LOW (16 * 1024)
/* Hard maxima: the high-water mark plus what one read may add on top
 * (a record of plaintext; for cout, a record's ciphertext or a whole
 * handshake flight with its certificate chain). */
#define BOUT_MAX (OUT_HIGH + TLS_RECORD_MAX)
#define COUT_MAX (OUT_HIGH + 64 * 1024)
/* After our FIN, how long to read and discard before closing: closing a
 * socket with unread input sends RST, which may destroy the client's copy of
 * our last bytes (an alert, the end of a response). */
#define LINGER_MS 2000

enum conn_state {
  CONN_HANDSHAKE,
  CONN_CONNECTING,
  CONN_RELAY,
  CONN_CLOSING,
  CONN_CLOSED,
};

struct conn {
  struct worker *w;
  struct conn *prev, *next; /* the worker's list */
  uint64_t id;
  enum conn_state state;
  int open_handles; /* initialised and not yet closed; freed at 0 */

  uv_tcp_t client;
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } backend;
  uv_timer_t timer;
  uv_connect_t connect_req;
  uv_write_t client_wr, backend_wr;
  uv_shutdown_t client_sd, backend_sd;

  struct tls_sess *tls;
  struct buf cin;           /* client ciphertext not yet decrypted */
  struct buf cout, cout_wr; /* ciphertext to the client: filling, in flight */
  struct buf bout, bout_wr; /* plaintext to the backend: filling, in flight */
  uint64_t last_active;     /* uv_now() of the last read, for idle timeout */

  bool backend_open;      /* backend handle initialised */
  bool handshake_done;
  bool notify_sent;       /* close_notify queued */
  bool client_writing;    /* a write to the client is in flight */
  bool backend_writing;
  bool client_paused;     /* client reads stopped by backpressure */
  bool backend_paused;
  bool client_in_done;    /* client sent close_notify or FIN */
  bool backend_in_done;   /* backend sent FIN */
  bool client_shut;       /* we asked for shutdown(client) */
  bool client_shut_done;  /* ... and it completed */
  bool backend_shut;

  char peer[ADDR_TEXT_MAX];
};

static void timer_cb(uv_timer_t *t);
static void client_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b);
static void client_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b);
static void conn_finish(struct conn *c, bool notify);
static void flush_client(struct conn *c);

/* ---- logging ------------------------------------------------------------ */

static void conn_log(int level, const struct conn *c, const char *fields,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void conn_log(int level, const struct conn *c, const char *fields,
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

#define CONN_LOG(lvl, c, fields, ...)                                          \
  do {                                                                         \
    if ((lvl) <= log_level)                                                    \
      conn_log((lvl), (c), (fields), __VA_ARGS__);                             \
  } while (0)

/* ---- state and timers --------------------------------------------------- */

/* The one place a connection changes state; each state arms its timer. */
static void set_state(struct conn *c, enum conn_state s) {
  const struct cfg *cfg = c->w->cfg;
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

static void conn_free(struct conn *c) {
  struct worker *w = c->w;
  if (c->prev)
    c->prev->next = c->next;
  else
    w->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  if (c->tls)
    tls_sess_free(c->tls);
  buf_cleanup(&c->cin);
  buf_cleanup(&c->cout);
  buf_cleanup(&c->cout_wr);
  buf_cleanup(&c->bout);
  buf_cleanup(&c->bout_wr);
  free(c);
  worker_conn_closed(w);
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
  set_state(c, CONN_CLOSED);
  close_handle((uv_handle_t *)&c->client);
  close_handle((uv_handle_t *)&c->timer);
  if (c->backend_open)
    close_handle(&c->backend.handle);
}

struct conn *conn_next(const struct conn *c) { return c->next; }

static void timer_cb(uv_timer_t *t) {
  struct conn *c = t->data;
  const struct cfg *cfg = c->w->cfg;
  switch (c->state) {
  case CONN_HANDSHAKE:
    CONN_LOG(LOG_LEVEL_INFO, c, NULL, "handshake timeout");
    conn_finish(c, false);
    break;
  case CONN_CONNECTING:
    CONN_LOG(LOG_LEVEL_WARN, c, "reason=\"timed out\"",
             "backend connect failed");
    conn_finish(c, true);
    break;
  case CONN_RELAY: {
    /* Reads only stamp last_active; the timer is re-armed here, once per
     * idle period, instead of on every read. */
    uint64_t idle = uv_now(&c->w->loop) - c->last_active;
    if (c->client_shut_done) {
      conn_abort(c); /* we are done sending; the client lingered */
    } else if (idle < cfg->idle_timeout_ms) {
      uv_timer_start(t, timer_cb, cfg->idle_timeout_ms - idle, 0);
    } else {
      CONN_LOG(LOG_LEVEL_DEBUG, c, NULL, "idle timeout");
      conn_finish(c, true);
    }
    break;
  }
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
static void conn_finish(struct conn *c, bool notify) {
  if (c->state == CONN_CLOSING || c->state == CONN_CLOSED)
    return;
  if (notify && c->handshake_done && !c->notify_sent) {
    tls_sess_close_notify(c->tls);
    c->notify_sent = true;
  }
  if (c->backend_open)
    close_handle(&c->backend.handle);
  set_state(c, CONN_CLOSING);
  if (c->client_in_done && !c->client_writing && buf_used(&c->cout) == 0) {
    conn_abort(c); /* nothing to send, nothing to wait for */
    return;
  }
  if (c->client_paused) {
    c->client_paused = false;
    uv_read_start((uv_stream_t *)&c->client, client_alloc_cb, client_read_cb);
  }
  flush_client(c);
  if (c->state == CONN_CLOSING && !c->client_writing)
    shutdown_client(c);
}

/* ---- writing ------------------------------------------------------------ */

static void client_write_cb(uv_write_t *req, int status);
static void backend_write_cb(uv_write_t *req, int status);

/* Start writing the fill buffer if no write is in flight: swap it with the
 * (empty) in-flight buffer so the library can keep appending meanwhile. */
static int start_write(uv_stream_t *s, uv_write_t *req, struct buf *fill,
                       struct buf *flight, uv_write_cb cb) {
  buf_swap(fill, flight);
  uv_buf_t b = uv_buf_init(buf_data(flight), (unsigned)buf_used(flight));
  return uv_write(req, s, &b, 1, cb);
}

static void flush_client(struct conn *c) {
  if (c->client_writing || buf_used(&c->cout) == 0 ||
      c->state == CONN_CLOSED)
    return;
  c->client_wr.data = c;
  if (start_write((uv_stream_t *)&c->client, &c->client_wr, &c->cout,
                  &c->cout_wr, client_write_cb) != 0) {
    conn_abort(c);
    return;
  }
  c->client_writing = true;
}

static void flush_backend(struct conn *c) {
  if (c->backend_writing || buf_used(&c->bout) == 0 || c->state != CONN_RELAY)
    return;
  c->backend_wr.data = c;
  if (start_write(&c->backend.stream, &c->backend_wr, &c->bout, &c->bout_wr,
                  backend_write_cb) != 0) {
    conn_abort(c);
    return;
  }
  c->backend_writing = true;
}

/* Once the backend has said all it will (FIN) and the client has received
 * all of it, close_notify is already queued: send FIN after it. */
static void maybe_shutdown_client(struct conn *c) {
  if (c->backend_in_done && !c->client_writing && buf_used(&c->cout) == 0)
    shutdown_client(c);
}

static void backend_shutdown_cb(uv_shutdown_t *req, int status) {
  (void)req;
  (void)status; /* a failure shows up as a read or write error */
}

/* Once the client has said all it will and the backend has received all of
 * it, half-close the backend so it sees the end of the request stream. */
static void maybe_shutdown_backend(struct conn *c) {
  if (!c->client_in_done || c->backend_shut || c->state != CONN_RELAY ||
      c->backend_writing || buf_used(&c->bout) > 0)
    return;
  c->backend_shut = true;
  c->backend_sd.data = c;
  if (uv_shutdown(&c->backend_sd, &c->backend.stream, backend_shutdown_cb))
    conn_abort(c);
}

/* ---- client to backend -------------------------------------------------- */

static void pause_client(struct conn *c) {
  if (!c->client_paused) {
    uv_read_stop((uv_stream_t *)&c->client);
    c->client_paused = true;
  }
}

static void resume_client(struct conn *c) {
  if (c->client_paused && !c->client_in_done && c->state != CONN_CLOSED) {
    c->client_paused = false;
    uv_read_start((uv_stream_t *)&c->client, client_alloc_cb, client_read_cb);
  }
}

static void client_input_done(struct conn *c) {
  c->client_in_done = true;
  uv_read_stop((uv_stream_t *)&c->client);
  if (c->backend_in_done && c->client_shut_done) {
    conn_abort(c);
    return;
  }
  maybe_shutdown_backend(c);
}

/* Decrypt what the client sent into bout until the library needs more
 * ciphertext or bout is full. Reading from the client resumes only when
 * nothing is left buffered: no socket event would come for it. */
static void decrypt_to_backend(struct conn *c) {
  while (!c->client_in_done && c->state != CONN_CLOSED) {
    if (buf_used(&c->bout) >= OUT_HIGH) {
      pause_client(c);
      break;
    }
    if (buf_reserve(&c->bout, TLS_RECORD_MAX) != 0) {
      conn_abort(c);
      return;
    }
    int n = tls_sess_read(c->tls, buf_tail(&c->bout), buf_room(&c->bout));
    if (n > 0) {
      buf_commit(&c->bout, (size_t)n);
    } else if (n == TLS_WANT) {
      resume_client(c);
      break;
    } else if (n == TLS_CLOSED) {
      client_input_done(c);
      break;
    } else {
      CONN_LOG(LOG_LEVEL_INFO, c, NULL, "TLS error: %s",
               tls_sess_error(c->tls));
      conn_finish(c, false);
      return;
    }
  }
  flush_backend(c);
}

static void backend_write_cb(uv_write_t *req, int status) {
  struct conn *c = req->data;
  c->backend_writing = false;
  buf_consume(&c->bout_wr, buf_used(&c->bout_wr));
  if (c->state != CONN_RELAY)
    return;
  if (status < 0) {
    CONN_LOG(LOG_LEVEL_INFO, c, NULL, "backend write failed: %s",
             uv_strerror(status));
    conn_abort(c);
    return;
  }
  flush_backend(c);
  if (c->client_paused)
    decrypt_to_backend(c);
  if (!c->backend_writing)
    buf_release_if_empty(&c->bout_wr);
  maybe_shutdown_backend(c);
}

/* ---- backend ------------------------------------------------------------ */

static void backend_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  struct conn *c = h->data;
  (void)hint;
  *b = uv_buf_init(c->w->rbuf, sizeof c->w->rbuf);
}

static void backend_input_done(struct conn *c) {
  c->backend_in_done = true;
  uv_read_stop(&c->backend.stream);
  if (!c->notify_sent) {
    tls_sess_close_notify(c->tls);
    c->notify_sent = true;
  }
  flush_client(c);
  maybe_shutdown_client(c);
}

static void backend_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  struct conn *c = s->data;
  if (n == 0 || c->state != CONN_RELAY)
    return;
  if (n < 0) {
    if (n == UV_EOF) {
      backend_input_done(c);
      return;
    }
    /* A reset mid-stream: close without close_notify, so the client sees
     * a truncation rather than a complete response. */
    CONN_LOG(LOG_LEVEL_INFO, c, NULL, "backend read failed: %s",
             uv_strerror((int)n));
    conn_abort(c);
    return;
  }
  c->last_active = uv_now(&c->w->loop);
  if (tls_sess_write(c->tls, b->base, (size_t)n) != 0) {
    CONN_LOG(LOG_LEVEL_INFO, c, NULL, "TLS error: %s", tls_sess_error(c->tls));
    conn_abort(c);
    return;
  }
  flush_client(c);
  if (buf_used(&c->cout) >= OUT_HIGH && !c->backend_paused) {
    uv_read_stop(s);
    c->backend_paused = true;
  }
}

static void backend_connect_cb(uv_connect_t *req, int status) {
  struct conn *c = req->data;
  if (status == UV_ECANCELED || c->state != CONN_CONNECTING)
    return;
  if (status < 0) {
    char fields[160];
    snprintf(fields, sizeof fields, "backend=%s reason=\"%s\"",
             c->w->cfg->backend.text, uv_strerror(status));
    CONN_LOG(LOG_LEVEL_WARN, c, fields, "backend connect failed");
    conn_finish(c, true);
    return;
  }
  if (c->backend.handle.type == UV_TCP)
    uv_tcp_nodelay(&c->backend.tcp, 1);
  set_state(c, CONN_RELAY);
  uv_read_start(&c->backend.stream, backend_alloc_cb, backend_read_cb);
  flush_backend(c);
  maybe_shutdown_backend(c);
}

static void backend_connect(struct conn *c) {
  const struct addr *a = &c->w->cfg->backend;
  int r = 0;
  c->connect_req.data = c;
  if (a->sa.ss_family == AF_UNIX) {
    uv_pipe_init(&c->w->loop, &c->backend.pipe, 0);
    c->backend_open = true;
    c->open_handles++;
    c->backend.handle.data = c;
    uv_pipe_connect(&c->connect_req, &c->backend.pipe,
                    ((const struct sockaddr_un *)&a->sa)->sun_path,
                    backend_connect_cb);
  } else {
    uv_tcp_init(&c->w->loop, &c->backend.tcp);
    c->backend_open = true;
    c->open_handles++;
    c->backend.handle.data = c;
    r = uv_tcp_connect(&c->connect_req, &c->backend.tcp,
                       (const struct sockaddr *)&a->sa, backend_connect_cb);
  }
  set_state(c, CONN_CONNECTING);
  if (r != 0) {
    char fields[160];
    snprintf(fields, sizeof fields, "backend=%s reason=\"%s\"", a->text,
             uv_strerror(r));
    CONN_LOG(LOG_LEVEL_WARN, c, fields, "backend connect failed");
    conn_finish(c, true);
  }
}

/* ---- client ------------------------------------------------------------- */

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
    conn_finish(c, false); /* flushes the alert the library queued */
    return false;
  }
  c->handshake_done = true;
  log_handshake(c);
  backend_connect(c);
  return c->state == CONN_CONNECTING;
}

static void on_client_data(struct conn *c) {
  if (c->state == CONN_HANDSHAKE && !handshake_step(c))
    return;
  /* The client may have sent its request right behind its Finished. */
  if (c->state == CONN_CONNECTING || c->state == CONN_RELAY)
    decrypt_to_backend(c);
  flush_client(c);
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
    c->last_active = uv_now(&c->w->loop);
    if (c->state == CONN_CLOSING)
      buf_consume(&c->cin, buf_used(&c->cin)); /* lingering: discard */
    else
      on_client_data(c);
    if (buf_used(&c->cin) == 0)
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
    client_input_done(c);
    return;
  }
  CONN_LOG(LOG_LEVEL_INFO, c, NULL, "client read failed: %s",
           uv_strerror((int)n));
  conn_abort(c);
}

static void client_write_cb(uv_write_t *req, int status) {
  struct conn *c = req->data;
  c->client_writing = false;
  buf_consume(&c->cout_wr, buf_used(&c->cout_wr));
  if (c->state == CONN_CLOSED)
    return;
  if (status < 0) {
    CONN_LOG(LOG_LEVEL_DEBUG, c, NULL, "client write failed: %s",
             uv_strerror(status));
    conn_abort(c);
    return;
  }
  flush_client(c);
  if (!c->client_writing)
    buf_release_if_empty(&c->cout_wr);
  if (c->state == CONN_CLOSING) {
    if (!c->client_writing)
      shutdown_client(c);
    return;
  }
  if (c->backend_paused && buf_used(&c->cout) < OUT_LOW &&
      c->state == CONN_RELAY) {
    c->backend_paused = false;
    uv_read_start(&c->backend.stream, backend_alloc_cb, backend_read_cb);
  }
  maybe_shutdown_client(c);
}

void conn_accept_cb(uv_stream_t *server, int status) {
  struct worker *w = server->data;
  if (status < 0) {
    log_warn("worker %d: accept: %s", w->id, uv_strerror(status));
    return;
  }
  struct conn *c = calloc(1, sizeof *c);
  if (c == NULL) {
    log_error("worker %d: out of memory accepting a connection", w->id);
    return;
  }
  c->w = w;
  c->id = ++w->next_conn_id;
  c->next = w->conns;
  if (w->conns)
    w->conns->prev = c;
  w->conns = c;
  worker_conn_opened(w);

  buf_init(&c->cin, CIN_MAX);
  buf_init(&c->cout, COUT_MAX);
  buf_init(&c->cout_wr, COUT_MAX);
  buf_init(&c->bout, BOUT_MAX);
  buf_init(&c->bout_wr, BOUT_MAX);
  uv_tcp_init(&w->loop, &c->client);
  uv_timer_init(&w->loop, &c->timer);
  c->client.data = c;
  c->timer.data = c;
  c->open_handles = 2;
  strcpy(c->peer, "-");

  int r = uv_accept(server, (uv_stream_t *)&c->client);
  if (r != 0) {
    log_warn("worker %d: accept: %s", w->id, uv_strerror(r));
    conn_abort(c);
    return;
  }
  struct sockaddr_storage ss;
  int sslen = sizeof ss;
  if (uv_tcp_getpeername(&c->client, (struct sockaddr *)&ss, &sslen) == 0)
    addr_format((struct sockaddr *)&ss, c->peer, sizeof c->peer);
  uv_tcp_nodelay(&c->client, 1);
  c->tls = tls_sess_new(w->tls, &c->cin, &c->cout);
  if (c->tls == NULL) {
    log_error("worker %d: out of memory for a TLS session", w->id);
    conn_abort(c);
    return;
  }
  set_state(c, CONN_HANDSHAKE);
  uv_read_start((uv_stream_t *)&c->client, client_alloc_cb, client_read_cb);
}
