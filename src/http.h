/* http.h: HTTP/1.1 awareness for --mode http, over llhttp.
 *
 * Pure byte transformation, no sockets: the connection feeds plaintext from
 * the client (requests) and from the backend (responses) and gets back what
 * to forward. Request heads are rewritten (X-Forwarded-*, optional
 * Forwarded; client-sent copies of every header tlsterm sets are removed);
 * request and response bodies pass through untouched, llhttp telling where
 * each message ends, so pipelined and keep-alive requests are each
 * rewritten. Responses are parsed only to know where each one ends (exact
 * keep-alive accounting, access log, truncation detection) and, with
 * --hsts, to add Strict-Transport-Security. After a successful Upgrade
 * (101) the connection becomes a plain byte tunnel.
 *
 * Memory: one struct per connection, plus one allocation made on the first
 * request (the transaction FIFO and header scan, about 7 KiB). A head that
 * arrives whole in one read is parsed where it lies; only a head split
 * across reads is gathered in a buffer: at most head_max bytes for a
 * request, 64 KiB for a response head with --hsts. That storage is kept
 * for the connection's next heads and freed by http_cleanup. */
#ifndef TLSTERM_HTTP_H
#define TLSTERM_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <llhttp.h>

#include "buf.h"

/* Requests parsed but not yet answered. More pipelined requests than this
 * stop the request parser (http_req_feed consumes less) until responses
 * complete. */
#define HTTP_PIPELINE_MAX 16
/* Longest request target kept for the access log (longer ones are cut). */
#define HTTP_TARGET_LOG_MAX 256

/* Per-listener/process settings; immutable, borrowed. */
struct http_opts {
  size_t head_max;       /* request head limit: beyond it, 431 */
  bool xff_append;       /* --xff append: extend a client's X-Forwarded-For */
  bool forwarded;        /* --forwarded: add an RFC 7239 Forwarded header */
  unsigned hsts_seconds; /* --hsts: 0 = off */
  bool log_targets;      /* keep each request's target for on_done (the
                            access log); off, an idle connection's state is
                            4 KiB smaller */
};

/* Per-connection facts the backend is told; borrowed, fixed for the
 * connection. */
struct http_peer {
  const char *client_ip; /* "203.0.113.7" or "2001:db8::1" (no brackets) */
  unsigned client_port;
  unsigned local_port; /* X-Forwarded-Port: the port the client reached */
  const char *host;    /* SNI, for Forwarded's host= when the request has
                          no Host header; may be NULL */
  const char *extra;   /* extra header lines, already rendered as
                          "Name: value\r\n...", added to every request
                          (client-certificate headers); may be NULL */
  size_t extra_len;
};

/* One finished exchange, for the access log. Strings are valid only during
 * the callback. */
struct http_done {
  const char *method;
  const char *target; /* cut at HTTP_TARGET_LOG_MAX; "" without log_targets */
  int status;         /* 0 if the response never came */
  uint64_t bytes_in;  /* request bytes from the client, head and body */
  uint64_t bytes_out; /* response bytes to the client, head and body */
  uint64_t start_ms;  /* when the request head was complete */
  uint64_t end_ms;    /* when the response was complete */
};
typedef void (*http_done_cb)(void *arg, const struct http_done *d);

struct http_state; /* internal: transaction FIFO and head scan (http_int.h) */

struct http {
  const struct http_opts *opts;
  const struct http_peer *peer;
  http_done_cb on_done; /* may be NULL */
  void *arg;

  llhttp_t req_parser;
  llhttp_t resp_parser;

  /* Private to http.c and http_rewrite.c. */
  struct http_state *st; /* FIFO of HTTP_PIPELINE_MAX transactions and the
                            head scan: one calloc on the first request,
                            freed in http_cleanup */
  struct buf head;       /* request head, only while one spans reads */
  struct buf rhead;      /* response head (--hsts), likewise */
  const char *base;      /* byte 0 of the request head while llhttp runs */
  const char *rbase;     /* byte 0 of the response head while llhttp runs */
  size_t seen, rseen;    /* head bytes parsed so far (request, response) */
  uint64_t now_ms;
  unsigned txn_first, txn_count;
  unsigned flags;
  int err; /* a callback's verdict (-400, -431, -501) */
  uint8_t req_phase, resp_phase;
};

/* Set up h for one connection. Allocates nothing. */
void http_init(struct http *h, const struct http_opts *opts,
               const struct http_peer *peer, http_done_cb on_done, void *arg);
/* Free what h holds. Requests still without a complete response are
 * reported to on_done first (status 0, or the status of a response cut
 * short; end_ms is the last now_ms given), so the access log misses none.
 * Safe twice. */
void http_cleanup(struct http *h);

/* Client to backend: consume up to len bytes of request stream. Complete
 * request heads are rewritten and appended to `out`; body bytes (and every
 * byte once tunnelling) are appended unchanged. Returns the number of bytes
 * consumed: all of them, or fewer when HTTP_PIPELINE_MAX requests await
 * their responses (feed the rest after http_resp_feed completes one).
 * Returns -400 for a malformed request, -431 for a head over head_max (or
 * too many header lines), -501 for a Transfer-Encoding other than chunked,
 * or -UV_ENOBUFS-style negative errno if `out` is full: the caller answers
 * with that status (http_error_response) and closes. */
ssize_t http_req_feed(struct http *h, const char *p, size_t len,
                      struct buf *out, uint64_t now_ms);

/* Backend to client: consume all len bytes of response stream, appending
 * them to `out` (unchanged but for the HSTS header). Calls on_done for each
 * complete response (1xx interim responses are not complete responses).
 * Returns 0, -502 for a malformed response, or a negative errno if `out` is
 * full. */
int http_resp_feed(struct http *h, const char *p, size_t len, struct buf *out,
                   uint64_t now_ms);

/* The backend closed its side. True when that ends the stream cleanly (no
 * response in progress, or one delimited by connection close, which this
 * call completes); false when a response was cut short: the client must
 * then see the connection closed without close_notify, never a truncated
 * body presented as complete. */
bool http_resp_eof(struct http *h, uint64_t now_ms);

/* For the connection's timers:
 * - waiting for a request head: the client has sent part of a head, or is
 *   between requests (--request-timeout: 408 if a head was begun);
 * - a head begun: some bytes of the next request head have arrived;
 * - awaiting a response: requests forwarded, no response head yet
 *   (--backend-timeout: 504);
 * - response started: some byte of a response went to the client (no
 *   error response may be sent any more);
 * - tunnel: upgraded, relay raw bytes both ways. */
bool http_head_begun(const struct http *h);
bool http_awaiting_response(const struct http *h);
bool http_response_started(const struct http *h);
bool http_tunnel(const struct http *h);
/* Requests forwarded whose final response has not completed yet. */
unsigned http_outstanding(const struct http *h);
/* The newest of them is still being forwarded: its body has not ended.
 * After a request error in that body (an invalid chunk size, say) it never
 * will, so the backend will not answer it. */
bool http_request_unfinished(const struct http *h);

/* tlsterm itself answered the oldest outstanding request with `status`
 * (bytes_out bytes, e.g. a 504): complete it for the access log. No-op if
 * nothing is outstanding. */
void http_answered(struct http *h, int status, size_t bytes_out,
                   uint64_t now_ms);
/* The client asked to close (Connection: close, HTTP/1.0 without
 * keep-alive) and that response is complete: close after flushing. */
bool http_done_closing(const struct http *h);

/* Append a complete small error response for `status` (400, 408, 431, 501,
 * 502, 504) with Connection: close to out. 0 or a negative errno. */
int http_error_response(struct buf *out, int status);

/* The header names tlsterm sets on requests; client-sent copies are always
 * removed. NULL-terminated; for the docs and tests. */
extern const char *const http_owned_headers[];

#endif
