/* admin.c: the --admin listener (see admin.h).
 *
 * Runs on the control thread's loop, so it keeps answering while workers
 * drain: /healthz turns to 503 once SIGTERM/SIGINT started a drain, which
 * is what a load balancer needs to stop sending traffic. One request per
 * connection, then close (see oneshot.c): the head is parsed with llhttp
 * into a bounded buffer; a client that does not finish it within
 * --handshake-timeout is closed without an answer.
 *
 * /metrics reads every worker's struct metrics with relaxed atomic loads
 * and sums them; the workers never wait for a scrape. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "admin.h"
#include "log.h"
#include "metrics.h"
#include "oneshot.h"
#include "tls.h"
#include "worker.h"

#define ADMIN_HEAD_MAX 4096

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

static void render_conns(const struct admin *a, FILE *f) {
  head(f, "connections_open", "gauge", "Client connections open now.");
  for (int i = 0; i < a->n_workers; i++)
    fprintf(f, "tlsterm_connections_open{worker=\"%d\"} %" PRIu64 "\n", i,
            metrics_get(&a->workers[i].metrics.conns_open));
  head(f, "connections_total", "counter", "Client connections accepted.");
  for (int i = 0; i < a->n_workers; i++)
    fprintf(f, "tlsterm_connections_total{worker=\"%d\"} %" PRIu64 "\n", i,
            metrics_get(&a->workers[i].metrics.conns_total));
}

static void render_tls(const struct admin *a, FILE *f) {
  head(f, "handshakes_total", "counter", "TLS handshakes completed.");
  fprintf(f, "tlsterm_handshakes_total{result=\"full\"} %" PRIu64 "\n",
          SUM(a, hs_full));
  fprintf(f, "tlsterm_handshakes_total{result=\"resumed\"} %" PRIu64 "\n",
          SUM(a, hs_resumed));
  head(f, "handshake_failures_total", "counter",
       "TLS handshakes that failed, by the alert they caused (or timeout, "
       "not_tls, peer_alert).");
  for (int r = 0; r < TLS_FR_N; r++)
    fprintf(f, "tlsterm_handshake_failures_total{reason=\"%s\"} %" PRIu64
               "\n", tls_fail_reason_name(r), SUM(a, hs_failed[r]));
  fprintf(f, "tlsterm_handshake_failures_total{reason=\"timeout\"} %" PRIu64
             "\n", SUM(a, hs_timeouts));
  head(f, "tls_version_total", "counter",
       "TLS handshakes completed, by protocol version.");
  fprintf(f, "tlsterm_tls_version_total{version=\"TLSv1.2\"} %" PRIu64 "\n",
          SUM(a, tls12));
  fprintf(f, "tlsterm_tls_version_total{version=\"TLSv1.3\"} %" PRIu64 "\n",
          SUM(a, tls13));
  head(f, "tls_cipher_total", "counter",
       "TLS handshakes completed, by cipher suite (IANA name).");
  for (int c = 0; c < TLS_CIPHER_SLOTS; c++)
    fprintf(f, "tlsterm_tls_cipher_total{cipher=\"%s\"} %" PRIu64 "\n",
            tls_cipher_slot_name(c), SUM(a, ciphers[c]));
}

static void render_traffic(const struct admin *a, FILE *f) {
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
}

static void render_http(const struct admin *a, FILE *f) {
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

/* The control thread's own counters: read on the thread that writes them. */
static void render_reloads(const struct admin *a, FILE *f) {
  const struct reload_stats *r = a->reloads;
  head(f, "reloads_total", "counter", "Reloads (SIGHUP), by outcome.");
  fprintf(f, "tlsterm_reloads_total{result=\"ok\"} %" PRIu64 "\n", r->ok);
  fprintf(f, "tlsterm_reloads_total{result=\"failed\"} %" PRIu64 "\n",
          r->failed);
  head(f, "last_reload_failed", "gauge",
       "1 if the most recent reload failed (the previous configuration "
       "still serves), else 0.");
  fprintf(f, "tlsterm_last_reload_failed %d\n", r->last_failed ? 1 : 0);
  head(f, "last_reload_success_timestamp_seconds", "gauge",
       "Unix time of the last successful reload; 0 if none yet.");
  fprintf(f, "tlsterm_last_reload_success_timestamp_seconds %" PRIu64 "\n",
          r->last_ok_unix);
  head(f, "config_generation", "gauge",
       "The configuration in service: 1 at start, +1 per successful reload.");
  fprintf(f, "tlsterm_config_generation %u\n", r->generation);
}

static void render_metrics(const struct admin *a, FILE *f) {
  render_conns(a, f);
  render_tls(a, f);
  render_traffic(a, f);
  render_http(a, f);
  render_reloads(a, f);
}

/* ---- answering ---------------------------------------------------------- */

static bool path_is(const struct oneshot_req *req, const char *path) {
  size_t n = req->url_len, plen = strlen(path);
  const char *q = memchr(req->url, '?', n);
  if (q != NULL)
    n = (size_t)(q - req->url); /* the query does not matter */
  return n == plen && memcmp(req->url, path, n) == 0;
}

/* The oneshot_respond_cb: req is NULL for a malformed or oversized head. */
static char *respond(void *arg, const struct oneshot_req *req, size_t *len) {
  const struct admin *a = arg;
  int status = 400;
  const char *reason = "Bad Request", *ctype = "text/plain; charset=utf-8",
             *extra = "";
  char *body = NULL;
  size_t body_len = 0;
  FILE *f = open_memstream(&body, &body_len);
  if (f == NULL)
    return NULL;
  if (req == NULL) {
    fputs("bad request\n", f);
  } else if (req->method != HTTP_GET) {
    status = 405, reason = "Method Not Allowed", extra = "Allow: GET\r\n";
    fputs("method not allowed\n", f);
  } else if (path_is(req, "/healthz")) {
    if (*a->draining) {
      status = 503, reason = "Service Unavailable";
      fputs("draining\n", f);
    } else {
      status = 200, reason = "OK";
      fputs("ok\n", f);
    }
  } else if (path_is(req, "/metrics")) {
    status = 200, reason = "OK";
    ctype = "text/plain; version=0.0.4; charset=utf-8";
    render_metrics(a, f);
  } else {
    status = 404, reason = "Not Found";
    fputs("not found\n", f);
  }
  if (fclose(f) != 0) {
    free(body);
    return NULL;
  }
  char hdr[256];
  int hn = snprintf(hdr, sizeof hdr,
                    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n%s"
                    "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                    status, reason, ctype, extra, body_len);
  char *resp = malloc((size_t)hn + body_len);
  if (resp != NULL) {
    memcpy(resp, hdr, (size_t)hn);
    memcpy(resp + hn, body, body_len);
    *len = (size_t)hn + body_len;
  }
  free(body);
  return resp;
}

/* ---- the listener -------------------------------------------------------- */

#define ADMIN_ACCEPT_RETRY_MS 250

static void accept_cb(uv_stream_t *server, int status);

/* As in worker.c: the listening handle wraps a copy of the socket, so that
 * closing it pauses accepts while the socket stays bound and queues. */
static int listen_on_copy(struct admin *a) {
  int fd = fcntl(a->fd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  int r = uv_tcp_init(a->loop, &a->listener);
  if (r != 0) {
    close(fd);
    return r;
  }
  a->listener.data = a;
  a->listening = true;
  r = uv_tcp_open(&a->listener, fd);
  if (r != 0)
    close(fd);
  if (r == 0)
    r = uv_listen((uv_stream_t *)&a->listener, 128, accept_cb);
  return r;
}

static void listener_closed_cb(uv_handle_t *h) {
  struct admin *a = h->data;
  a->listener_closing = false;
}

static void stop_listening(struct admin *a) {
  if (!a->listening)
    return;
  a->listening = false;
  a->listener_closing = true;
  uv_close((uv_handle_t *)&a->listener, listener_closed_cb);
}

static void retry_cb(uv_timer_t *t) {
  struct admin *a = t->data;
  int r = a->listener_closing ? UV_EAGAIN : listen_on_copy(a);
  if (r == 0)
    return;
  stop_listening(a);
  if (r != UV_EAGAIN && r != UV_EMFILE && r != UV_ENFILE)
    log_error("admin: cannot accept: %s; retrying every %d ms",
              uv_strerror(r), ADMIN_ACCEPT_RETRY_MS);
  uv_timer_start(&a->retry, retry_cb, ADMIN_ACCEPT_RETRY_MS, 0);
}

/* libuv (1.44) calls the connection callback with the error and then calls
 * accept() again without returning to the loop: out of descriptors, once
 * its reserve descriptor is gone (taken by a worker thread, or never opened
 * under a tight limit), that is a busy loop on the control thread, which
 * then handles no signal either. So: close the listening handle and try
 * again in ADMIN_ACCEPT_RETRY_MS, logging once per run of failures. */
static void accept_failed(struct admin *a, int status) {
  if (!a->accept_failing) {
    struct rlimit rl = {0};
    getrlimit(RLIMIT_NOFILE, &rl);
    log_warn("admin: accept: %s (open-file limit %llu): pausing accepts, "
             "retrying every %d ms",
             uv_strerror(status), (unsigned long long)rl.rlim_cur,
             ADMIN_ACCEPT_RETRY_MS);
    a->accept_failing = true;
  }
  stop_listening(a);
  uv_timer_start(&a->retry, retry_cb, ADMIN_ACCEPT_RETRY_MS, 0);
}

static void accept_cb(uv_stream_t *server, int status) {
  struct admin *a = server->data;
  struct oneshot_opts opts = {
      .head_max = ADMIN_HEAD_MAX,
      .timeout_ms = a->timeout_ms,
      .respond = respond,
      .arg = a,
      .list = &a->conns,
  };
  if (status == 0)
    status = oneshot_accept(server, &opts);
  if (status != 0) {
    accept_failed(a, status);
    return;
  }
  if (a->accept_failing) {
    log_info("admin: accepting again");
    a->accept_failing = false;
  }
}

int admin_start(struct admin *a, uv_loop_t *loop, int fd,
                const struct worker *workers, int n_workers,
                const bool *draining, const struct reload_stats *reloads,
                unsigned timeout_ms) {
  memset(a, 0, sizeof *a);
  a->loop = loop;
  a->fd = fd;
  a->workers = workers;
  a->n_workers = n_workers;
  a->draining = draining;
  a->reloads = reloads;
  a->timeout_ms = timeout_ms;
  uv_timer_init(loop, &a->retry);
  a->retry.data = a;
  a->started = true;
  int r = listen_on_copy(a);
  if (r == UV_EMFILE || r == UV_ENFILE) {
    accept_failed(a, r); /* the copy: try again, as with accepts */
    r = 0;
  }
  return r;
}

void admin_close(struct admin *a) {
  if (!a->started)
    return;
  a->started = false;
  stop_listening(a);
  uv_close((uv_handle_t *)&a->retry, NULL);
  close(a->fd);
  a->fd = -1;
  oneshot_close_all(a->conns);
}
