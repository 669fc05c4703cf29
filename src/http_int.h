/* http_int.h: what http.c and http_rewrite.c share about a connection's
 * HTTP state (the transaction FIFO, the head scans, the stream phases).
 * Not for other modules: they use http.h. */
#ifndef TLSTERM_HTTP_INT_H
#define TLSTERM_HTTP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"

#define HEADERS_MAX 100 /* header lines per request: beyond, 431 */

/* Where the request stream is. */
enum req_phase {
  REQ_HEAD,   /* reading a head (or between requests) */
  REQ_BODY,   /* head forwarded, streaming its body */
  REQ_WAIT,   /* an Upgrade request is complete: the response decides */
  REQ_CLOSED, /* the client asked to close: later bytes are dropped */
  REQ_TUNNEL, /* upgraded: raw bytes */
};

/* Where the response stream is. */
enum resp_phase {
  RESP_HEAD,   /* reading a head (or between responses) */
  RESP_BODY,   /* head forwarded, streaming its body */
  RESP_CLOSED, /* the exchange ends the connection: later bytes dropped */
  RESP_TUNNEL, /* upgraded: raw bytes */
};

enum {
  F_TUNNEL = 1,   /* 101 accepted: both directions are raw */
  F_CLOSING = 2,  /* a completed exchange ends the connection */
  F_STARTED = 4,  /* a byte of the current response went out */
  F_REQ_TXN = 8,  /* the request being read still has its txn (newest) */
  F_MSG_DONE = 16 /* on_message_complete ran on the response parser */
};

/* Offsets from the first byte of the head. */
struct span {
  uint32_t start, end;
};

/* A client-sent header line we remove: [line, end), CRLF included. */
struct cut {
  uint32_t line, end;
  struct span value; /* trimmed; X-Forwarded-For values are merged */
  bool xff;
};

struct http_txn {
  uint64_t bytes_in, bytes_out, start_ms;
  uint8_t method;
  bool close;   /* the request asked to close */
  bool upgrade; /* llhttp saw a complete Upgrade request */
};

/* What the scan of one request head found; zeroed for every head. */
struct scan {
  unsigned ncuts, nheaders, nhost;
  struct span url, host, field, value;
  uint8_t kind; /* of the header being read */
  bool in_url, in_field, in_value, cut_open, saw_cl, saw_te;
};

/* Likewise for a response head (read only with --hsts). */
struct rscan {
  struct span field;
  bool in_field, has_sts;
};

struct http_state {
  struct http_txn txns[HTTP_PIPELINE_MAX];
  struct cut cuts[HEADERS_MAX];
  struct scan s;
  struct rscan r;
  /* Rendered once per connection: "X-Forwarded-For: ip\r\n" (xff_len
   * bytes) then the Proto and Port lines; Forwarded up to host=; HSTS. */
  char fixed[192];
  char fwd[128];
  char sts[64];
  size_t fixed_len, xff_len, fwd_len, sts_len;
  /* txns[i]'s target, only with opts->log_targets (otherwise the array has
   * no room): 16 of them are most of this struct's size. */
  char targets[][HTTP_TARGET_LOG_MAX + 1];
};

/* The llhttp callbacks of both parsers (http_rewrite.c). They find h in
 * the parser's data field, which http_init sets. */
extern const llhttp_settings_t http_rewrite_req_settings;
extern const llhttp_settings_t http_rewrite_resp_settings;

/* The request head at h->base (h->seen bytes, scanned into h->st->s) as it
 * goes to the backend: the client's bytes minus the cut lines, then our
 * headers, the peer's extra lines and the blank line. Returns its length;
 * writes it to dst unless dst is NULL (so one call measures, the next
 * writes). h is borrowed. */
size_t http_rewrite_head(const struct http *h, char *dst);

#endif
