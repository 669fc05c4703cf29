/* admin.c: the --admin listener (see admin.h).
 *
 * Runs on the control thread's loop, so it keeps answering while workers
 * drain: /healthz turns to 503 once SIGTERM/SIGINT started a drain, which
 * is what a load balancer needs to stop sending traffic. One request per
 * connection, then close (like redirect.c): the head is parsed with llhttp
 * into a bounded buffer; a client that does not finish it within
 * --handshake-timeout is closed without an answer.
 *
 * /metrics reads every worker's struct metrics with relaxed atomic loads
 * and sums them; the workers never wait for a scrape. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <llhttp.h>

#include "admin.h"
#include "log.h"
#include "metrics.h"
#include "worker.h"

#define ADMIN_HEAD_MAX 4096

struct admin_conn {
  struct admin *a;
  struct admin_conn *prev, *next;
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_write_t wr;
  llhttp_t parser;
  int open_handles;
  bool done;        /* a response has been queued */
  size_t len;       /* bytes of head[] filled */
  size_t url_off, url_len;
  char head[ADMIN_HEAD_MAX];
  char *resp;       /* owned: the response being written */
};

static void close_cb(uv_handle_t *h) {
  struct admin_conn *c = h->data;
  if (--c->open_handles > 0)
    return;
  if (c->prev)
    c->prev->next = c->next;
  else
    c->a->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  free(c->resp);
  free(c);
}

static void conn_close(struct admin_conn *c) {
  if (!uv_is_closing((uv_handle_t *)&c->tcp)) {
    uv_close((uv_handle_t *)&c->tcp, close_cb);
    uv_close((uv_handle_t *)&c->timer, close_cb);
  }
}

static void timer_cb(uv_timer_t *t) { conn_close(t->data); }

static void write_cb(uv_write_t *req, int status) {
  (void)status;
  conn_close(req->data);
}

static int on_url(llhttp_t *p, const char *at, size_t n) {
  struct admin_conn *c = p->data;
  if (c->url_len == 0)
    c->url_off = (size_t)(at - c->head);
  c->url_len += n;
  return 0;
}

static int on_headers_complete(llhttp_t *p) {
  (void)p;
  return HPE_PAUSED; /* the head is all we need */
}

static const llhttp_settings_t settings = {
    .on_url = on_url,
    .on_headers_complete = on_headers_complete,
};

/* ---- /metrics ----------------------------------------------------------- */

/* Sum one field over every worker. */
#define SUM(a, field)                                                          \
  ({                                                                           \
    uint64_t s_ = 0;                                                           \
    for (int i_ = 0; i_ < (a)->n_workers; i_++)                                \
      s_ += metrics_get(&(a)->workers[i_].metrics.field);                      \
    s_;                                                                        \
  })

static void head(FILE *f, const char *name, const char *type,
                 const char *help) {
  fprintf(f, "# HELP tlsterm_%s %s\n# TYPE tlsterm_%s %s\n", name, help, name,
          type);
}

static void render_metrics(const struct admin *a, FILE *f) {
  head(f, "connections_open", "gauge", "Client connections open now.");
  for (int i = 0; i < a->n_workers; i++)
    fprintf(f, "tlsterm_connections_open{worker=\"%d\"} %" PRIu64 "\n", i,
            metrics_get(&a->workers[i].metrics.conns_open));
  head(f, "connections_total", "counter", "Client connections accepted.");
  for (int i = 0; i < a->n_workers; i++)
    fprintf(f, "tlsterm_connections_total{worker=\"%d\"} %" PRIu64 "\n", i,
            metrics_get(&a->workers[i].metrics.conns_total));

  head(f, "handshakes_total", "counter", "TLS handshakes completed.");
  fprintf(f, "tlsterm_handshakes_total{result=\"full\"} %" PRIu64 "\n",
          SUM(a, hs_full));
  fprintf(f, "tlsterm_handshakes_total{result=\"resumed\"} %" PRIu64 "\n",
          SUM(a, hs_resumed));
  head(f, "handshake_failures_total", "counter",
       "TLS handshakes that failed (error) or timed out.");
  fprintf(f, "tlsterm_handshake_failures_total{reason=\"error\"} %" PRIu64
             "\n", SUM(a, hs_failed[METRICS_HS_ERROR]));
  fprintf(f, "tlsterm_handshake_failures_total{reason=\"timeout\"} %" PRIu64
             "\n", SUM(a, hs_failed[METRICS_HS_TIMEOUT]));
  head(f, "tls_version_total", "counter",
       "TLS handshakes completed, by protocol version.");
  fprintf(f, "tlsterm_tls_version_total{version=\"TLSv1.2\"} %" PRIu64 "\n",
          SUM(a, tls12));
  fprintf(f, "tlsterm_tls_version_total{version=\"TLSv1.3\"} %" PRIu64 "\n",
          SUM(a, tls13));

  head(f, "bytes_in_total", "counter",
       "Bytes read from clients (TLS ciphertext, handshakes included).");
  fprintf(f, "tlsterm_bytes_in_total %" PRIu64 "\n", SUM(a, bytes_in));
  head(f, "bytes_out_total", "counter",
       "Bytes written to clients (TLS ciphertext, handshakes included).");
  fprintf(f, "tlsterm_bytes_out_total %" PRIu64 "\n", SUM(a, bytes_out));

  head(f, "backend_connect_errors_total", "counter",
       "Backend connections that failed or timed out while connecting.");
  fprintf(f, "tlsterm_backend_connect_errors_total %" PRIu64 "\n",
          SUM(a, backend_connect_errors));
  head(f, "backend_timeouts_total", "counter",
       "Requests whose response did not start within --backend-timeout.");
  fprintf(f, "tlsterm_backend_timeouts_total %" PRIu64 "\n",
          SUM(a, backend_timeouts));

  head(f, "http_responses_total", "counter",
       "HTTP exchanges completed, by status class (tlsterm's own 502 and "
       "504 included).");
  for (int k = 1; k <= 5; k++)
    fprintf(f, "tlsterm_http_responses_total{class=\"%dxx\"} %" PRIu64 "\n",
            k, SUM(a, responses[k]));

  static const uint64_t le[] = METRICS_BUCKETS_MS;
  head(f, "request_duration_seconds", "histogram",
       "From a complete request head to the end of its response.");
  uint64_t cum = 0;
  for (int b = 0; b < METRICS_N_BUCKETS; b++) {
    cum += SUM(a, duration_bucket[b]);
    if (b < METRICS_N_BUCKETS - 1)
      fprintf(f, "tlsterm_request_duration_seconds_bucket{le=\"%g\"} %" PRIu64
                 "\n", (double)le[b] / 1000.0, cum);
    else
      fprintf(f, "tlsterm_request_duration_seconds_bucket{le=\"+Inf\"} %"
                 PRIu64 "\n", cum);
  }
  fprintf(f, "tlsterm_request_duration_seconds_sum %.3f\n",
          (double)SUM(a, duration_sum_ms) / 1000.0);
  /* The +Inf bucket is the count: the same sum of the same loads. */
  fprintf(f, "tlsterm_request_duration_seconds_count %" PRIu64 "\n", cum);
}

/* ---- answering ---------------------------------------------------------- */

static bool path_is(const struct admin_conn *c, const char *path) {
  const char *u = c->head + c->url_off;
  size_t n = c->url_len, plen = strlen(path);
  const char *q = memchr(u, '?', n);
  if (q != NULL)
    n = (size_t)(q - u); /* the query does not matter */
  return n == plen && memcmp(u, path, n) == 0;
}

static void respond(struct admin_conn *c, bool parsed) {
  const struct admin *a = c->a;
  int status = 400;
  const char *reason = "Bad Request", *ctype = "text/plain; charset=utf-8",
             *extra = "";
  char *body = NULL;
  size_t body_len = 0;
  FILE *f = open_memstream(&body, &body_len);
  if (f == NULL) {
    conn_close(c);
    return;
  }
  if (!parsed) {
    fputs("bad request\n", f);
  } else if (llhttp_get_method(&c->parser) != HTTP_GET) {
    status = 405, reason = "Method Not Allowed", extra = "Allow: GET\r\n";
    fputs("method not allowed\n", f);
  } else if (path_is(c, "/healthz")) {
    if (*a->draining) {
      status = 503, reason = "Service Unavailable";
      fputs("draining\n", f);
    } else {
      status = 200, reason = "OK";
      fputs("ok\n", f);
    }
  } else if (path_is(c, "/metrics")) {
    status = 200, reason = "OK";
    ctype = "text/plain; version=0.0.4; charset=utf-8";
    render_metrics(a, f);
  } else {
    status = 404, reason = "Not Found";
    fputs("not found\n", f);
  }
  if (fclose(f) != 0) {
    free(body);
    conn_close(c);
    return;
  }
  char hdr[256];
  int hn = snprintf(hdr, sizeof hdr,
                    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n%s"
                    "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                    status, reason, ctype, extra, body_len);
  c->resp = malloc((size_t)hn + body_len);
  if (c->resp == NULL) {
    free(body);
    conn_close(c);
    return;
  }
  memcpy(c->resp, hdr, (size_t)hn);
  memcpy(c->resp + hn, body, body_len);
  free(body);
  c->done = true;
  uv_read_stop((uv_stream_t *)&c->tcp);
  uv_buf_t b = uv_buf_init(c->resp, (unsigned)((size_t)hn + body_len));
  c->wr.data = c;
  if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, write_cb) != 0)
    conn_close(c);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  struct admin_conn *c = h->data;
  (void)hint;
  *b = uv_buf_init(c->head + c->len, (unsigned)(sizeof c->head - c->len));
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  struct admin_conn *c = s->data;
  (void)b;
  if (c->done || n == 0)
    return;
  if (n < 0) {
    conn_close(c);
    return;
  }
  const char *from = c->head + c->len;
  c->len += (size_t)n;
  llhttp_errno_t e = llhttp_execute(&c->parser, from, (size_t)n);
  if (e == HPE_PAUSED)
    respond(c, true);
  else if (e != HPE_OK || c->len == sizeof c->head)
    respond(c, false); /* malformed, or a head too large */
}

static void accept_cb(uv_stream_t *server, int status) {
  struct admin *a = server->data;
  if (status < 0)
    return;
  struct admin_conn *c = calloc(1, sizeof *c);
  if (c == NULL)
    return;
  c->a = a;
  c->next = a->conns;
  if (a->conns)
    a->conns->prev = c;
  a->conns = c;
  uv_tcp_init(a->loop, &c->tcp);
  uv_timer_init(a->loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  c->open_handles = 2;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    conn_close(c);
    return;
  }
  llhttp_init(&c->parser, HTTP_REQUEST, &settings);
  c->parser.data = c;
  uv_timer_start(&c->timer, timer_cb, a->timeout_ms, 0);
  uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

int admin_start(struct admin *a, uv_loop_t *loop, int fd,
                const struct worker *workers, int n_workers,
                const bool *draining, unsigned timeout_ms) {
  memset(a, 0, sizeof *a);
  a->loop = loop;
  a->workers = workers;
  a->n_workers = n_workers;
  a->draining = draining;
  a->timeout_ms = timeout_ms;
  int r = uv_tcp_init(loop, &a->listener);
  if (r != 0) {
    close(fd);
    return r;
  }
  a->listener.data = a;
  a->listening = true; /* initialised: admin_close() must close it */
  r = uv_tcp_open(&a->listener, fd);
  if (r != 0) {
    close(fd);
    return r;
  }
  return uv_listen((uv_stream_t *)&a->listener, 128, accept_cb);
}

void admin_close(struct admin *a) {
  if (a->listening && !uv_is_closing((uv_handle_t *)&a->listener))
    uv_close((uv_handle_t *)&a->listener, NULL);
  for (struct admin_conn *c = a->conns; c; c = c->next)
    conn_close(c);
}
