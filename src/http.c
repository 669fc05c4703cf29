/* http.c: HTTP/1.1 request rewriting and response tracking for --mode http
 * (see http.h): the public API, the two byte streams, the transaction FIFO
 * and the error responses. What lies inside a head (the llhttp callbacks,
 * header names, the rewritten request head) is http_rewrite.c's.
 *
 * Both directions run llhttp over the bytes as they pass and pause it at
 * the end of every head and every message, so each piece is handled where
 * it lies: a request head is rewritten, a body slice is copied unchanged,
 * a response's end pops the transaction FIFO. llhttp alone decides where
 * messages end, so a body can never be mistaken for a request.
 *
 * A head that arrives whole in one read is parsed in the caller's input
 * (the common case: no copy). Only a head split across reads is gathered
 * in a buffer, each later read appended before it is parsed, so llhttp
 * always sees a head contiguous and header positions are kept as offsets
 * from its first byte. A request head is forwarded only once it is
 * complete and valid, so a rejected request never reaches the backend. */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "http_int.h"

#define RESP_HEAD_MAX (64 * 1024) /* buffered response head: beyond, 502 */
#define HEAD_LIMIT_MAX (1u << 30) /* head offsets must fit in uint32_t */
#define HEAD_BUF_MIN 2048         /* first size of a head buffer */

static struct http_txn *newest(struct http *h) {
  return &h->st->txns[(h->txn_first + h->txn_count - 1) % HTTP_PIPELINE_MAX];
}

/* ---- set-up ------------------------------------------------------------ */

/* Set up h; see http.h. */
void http_init(struct http *h, const struct http_opts *opts,
               const struct http_peer *peer, http_done_cb on_done, void *arg) {
  size_t limit =
      opts->head_max < HEAD_LIMIT_MAX ? opts->head_max : HEAD_LIMIT_MAX;

  memset(h, 0, sizeof *h);
  h->opts = opts;
  h->peer = peer;
  h->on_done = on_done;
  h->arg = arg;
  llhttp_init(&h->req_parser, HTTP_REQUEST, &http_rewrite_req_settings);
  llhttp_init(&h->resp_parser, HTTP_RESPONSE, &http_rewrite_resp_settings);
  h->req_parser.data = h;
  h->resp_parser.data = h;
  buf_init(&h->head, limit);
  buf_init(&h->rhead, RESP_HEAD_MAX);
}

/* The per-connection allocation, with the lines that are the same on every
 * request rendered once. 0, UV_ENOMEM, or UV_EINVAL for an absurd peer. */
static int state_new(struct http *h) {
  size_t targets = h->opts->log_targets ? HTTP_PIPELINE_MAX : 0;
  struct http_state *st =
      calloc(1, sizeof *st + targets * sizeof st->targets[0]);
  const char *ip = h->peer->client_ip != NULL ? h->peer->client_ip : "unknown";
  bool v6 = strchr(ip, ':') != NULL;
  int x, f, w, s;

  if (st == NULL)
    return UV_ENOMEM;
  x = snprintf(st->fixed, sizeof st->fixed, "X-Forwarded-For: %s\r\n", ip);
  f = x < 0 || (size_t)x >= sizeof st->fixed
          ? -1
          : snprintf(st->fixed + x, sizeof st->fixed - (size_t)x,
                     "X-Forwarded-Proto: https\r\nX-Forwarded-Port: %u\r\n",
                     h->peer->local_port);
  /* RFC 7239 6: an IPv6 node is quoted and bracketed. */
  w = snprintf(st->fwd, sizeof st->fwd,
               v6 ? "Forwarded: for=\"[%s]\";proto=https"
                  : "Forwarded: for=%s;proto=https",
               ip);
  s = snprintf(st->sts, sizeof st->sts,
               "Strict-Transport-Security: max-age=%u\r\n",
               h->opts->hsts_seconds);
  if (f < 0 || (size_t)(x + f) >= sizeof st->fixed || w < 0 ||
      (size_t)w >= sizeof st->fwd || s < 0 || (size_t)s >= sizeof st->sts)
    goto fail;
  st->xff_len = (size_t)x;
  st->fixed_len = (size_t)(x + f);
  st->fwd_len = (size_t)w;
  st->sts_len = (size_t)s;
  h->st = st;
  return 0;

fail:
  free(st);
  return UV_EINVAL;
}

/* ---- forwarding a complete head ---------------------------------------- */

/* A complete head is a transaction awaiting its response. */
static void push_txn(struct http *h) {
  const struct scan *s = &h->st->s;
  size_t tl = s->in_url ? s->url.end - s->url.start : 0;
  struct http_txn *t;

  h->txn_count++;
  h->flags |= F_REQ_TXN;
  t = newest(h);
  if (h->opts->log_targets) {
    char *target = h->st->targets[t - h->st->txns];
    if (tl > HTTP_TARGET_LOG_MAX)
      tl = HTTP_TARGET_LOG_MAX;
    memcpy(target, h->base + s->url.start, tl);
    target[tl] = '\0';
  }
  t->method = h->req_parser.method;
  t->close = !llhttp_should_keep_alive(&h->req_parser);
  t->upgrade = h->req_parser.upgrade;
  t->bytes_in = h->seen;
  t->bytes_out = 0;
  t->start_ms = h->now_ms;
}

/* Forget a forwarded head, keeping the storage for the next one. */
static void reset_head(struct buf *hb, size_t *seen) {
  buf_consume(hb, buf_used(hb));
  *seen = 0;
}

/* The head at h->base is complete and valid: forward it rewritten. */
static int req_head_done(struct http *h, struct buf *out) {
  struct http_state *st = h->st;
  size_t n;
  int rc;

  /* The last header line ends where the final CRLF begins. */
  if (st->s.cut_open)
    st->cuts[st->s.ncuts - 1].end = (uint32_t)(h->seen - 2);
  n = http_rewrite_head(h, NULL);
  rc = buf_reserve(out, n);
  if (rc != 0)
    return rc;
  http_rewrite_head(h, buf_tail(out));
  buf_commit(out, n);
  push_txn(h);
  reset_head(&h->head, &h->seen);
  st->s = (struct scan){0};
  llhttp_resume(&h->req_parser);
  h->req_phase = REQ_BODY;
  return 0;
}

/* A message without a body ends with its head, but llhttp says so only
 * when it next runs: run it on no bytes so that the end is seen now, not
 * when the next message arrives. 0, HPE_PAUSED (it ended) or an error. */
static llhttp_errno_t run_empty(llhttp_t *parser) {
  return llhttp_execute(parser, "", 0);
}

/* ---- request stream ---------------------------------------------------- */

/* Parse the next bytes of a head that has *seen bytes so far, keeping it
 * contiguous for the callbacks: a head that starts in p is parsed in place
 * (and copied to hb only if p ends first); once in hb, each read is
 * appended there before it is parsed. Parses no more than `limit` head
 * bytes. Returns how many bytes of p were parsed, *err being llhttp's
 * verdict; UV_E2BIG when the head reaches limit unfinished; UV_ENOMEM. */
static ssize_t head_exec(llhttp_t *parser, struct buf *hb, size_t *seen,
                         const char **base, size_t limit, const char *p,
                         size_t n, llhttp_errno_t *err) {
  size_t take = n < limit - *seen ? n : limit - *seen;
  const char *from = p;
  int rc;

  if (*seen == 0) {
    *base = p;
  } else {
    rc = buf_append(hb, p, take);
    if (rc != 0)
      return rc;
    *base = buf_data(hb);
    from = *base + *seen;
  }
  *err = llhttp_execute(parser, from, take);
  if (*err == HPE_OK) {
    if (*seen + take == limit)
      return UV_E2BIG;
    if (*seen == 0) {
      /* Sized so that common heads never grow it: no realloc per request
       * once a connection's first split head has been seen. */
      size_t want = HEAD_BUF_MIN < hb->max ? HEAD_BUF_MIN : hb->max;
      rc = buf_reserve(hb, take > want ? take : want);
      if (rc == 0)
        rc = buf_append(hb, p, take);
      if (rc != 0)
        return rc;
    }
    *seen += take;
    return (ssize_t)take;
  }
  if (*err != HPE_PAUSED)
    return 0;
  /* Bytes appended past the end of the head are dropped with the buffer
   * and parsed again from p. */
  take = (size_t)(llhttp_get_error_pos(parser) - from);
  *seen += take;
  return (ssize_t)take;
}

/* The status for a request llhttp (or a callback) refused. */
static int req_error(const struct http *h, llhttp_errno_t err) {
  if (h->err != 0)
    return h->err;
  /* Both headers present is smuggling (400); otherwise llhttp refused
   * the coding itself ("chunked, gzip", chunked twice): 501. */
  if (err == HPE_INVALID_TRANSFER_ENCODING && !h->st->s.saw_cl)
    return -501;
  return -400;
}

/* The request ended (llhttp paused in on_message_complete). */
static void req_msg_done(struct http *h) {
  llhttp_t *p = &h->req_parser;
  bool open = (h->flags & F_REQ_TXN) != 0;

  h->flags &= ~F_REQ_TXN;
  if (p->upgrade) {
    if (open) { /* the response will say whether to tunnel */
      h->req_phase = REQ_WAIT;
      return;
    }
    /* Already answered without 101: go on as HTTP. llhttp can't resume
     * after an upgrade request in place; a reset is exact between
     * messages. */
    llhttp_reset(p);
    h->req_phase = REQ_HEAD;
    return;
  }
  if (!llhttp_should_keep_alive(p)) {
    h->req_phase = REQ_CLOSED;
    return;
  }
  llhttp_resume(p);
  h->req_phase = REQ_HEAD;
}

static ssize_t req_head(struct http *h, const char *p, size_t n,
                        struct buf *out) {
  llhttp_errno_t err;
  ssize_t took = head_exec(&h->req_parser, &h->head, &h->seen, &h->base,
                           h->head.max, p, n, &err);
  int rc;

  if (took == UV_E2BIG)
    return -431;
  if (took < 0 || err == HPE_OK)
    return took;
  if (err != HPE_PAUSED)
    return req_error(h, err);
  rc = req_head_done(h, out);
  if (rc != 0)
    return rc;
  err = run_empty(&h->req_parser);
  if (err == HPE_PAUSED)
    req_msg_done(h);
  else if (err != HPE_OK)
    return req_error(h, err);
  return took;
}

static ssize_t req_body(struct http *h, const char *p, size_t n,
                        struct buf *out) {
  llhttp_errno_t err = llhttp_execute(&h->req_parser, p, n);
  size_t took = n;
  int rc;

  if (err == HPE_PAUSED)
    took = (size_t)(llhttp_get_error_pos(&h->req_parser) - p);
  else if (err != HPE_OK)
    return req_error(h, err);
  rc = buf_append(out, p, took);
  if (rc != 0)
    return rc;
  if (h->flags & F_REQ_TXN)
    newest(h)->bytes_in += took;
  if (err == HPE_PAUSED)
    req_msg_done(h);
  return (ssize_t)took;
}

/* Rewrite requests from the client; see http.h. */
ssize_t http_req_feed(struct http *h, const char *p, size_t len,
                      struct buf *out, uint64_t now_ms) {
  size_t off = 0;
  ssize_t n;
  int rc;

  if (h->st == NULL && len > 0 && (rc = state_new(h)) != 0)
    return rc;
  h->now_ms = now_ms;
  while (off < len) {
    switch (h->req_phase) {
    case REQ_HEAD:
      /* Stop at the start of a request the FIFO has no room for. */
      if (h->seen == 0 && h->txn_count == HTTP_PIPELINE_MAX)
        return (ssize_t)off;
      n = req_head(h, p + off, len - off, out);
      break;
    case REQ_BODY:
      n = req_body(h, p + off, len - off, out);
      break;
    case REQ_WAIT:
      return (ssize_t)off;
    case REQ_TUNNEL:
      rc = buf_append(out, p + off, len - off);
      return rc != 0 ? rc : (ssize_t)len;
    default: /* REQ_CLOSED: RFC 9112 9.6, no requests after close */
      return (ssize_t)len;
    }
    if (n < 0)
      return n;
    off += (size_t)n;
  }
  return (ssize_t)off;
}

/* ---- response stream --------------------------------------------------- */

/* The transaction at the head of the FIFO has its final response. */
static void txn_done(struct http *h, int status) {
  struct http_txn *t = &h->st->txns[h->txn_first];

  if (h->on_done != NULL) {
    struct http_done d = {
        .method = llhttp_method_name((llhttp_method_t)t->method),
        .target = h->opts->log_targets ? h->st->targets[h->txn_first] : "",
        .status = status,
        .bytes_in = t->bytes_in,
        .bytes_out = t->bytes_out,
        .start_ms = t->start_ms,
        .end_ms = h->now_ms,
    };
    h->on_done(h->arg, &d);
  }
  h->txn_first = (h->txn_first + 1) % HTTP_PIPELINE_MAX;
  if (--h->txn_count == 0)
    h->flags &= ~F_REQ_TXN; /* answered before its body ended */
}

/* A response ended (llhttp paused in on_message_complete). */
static int resp_msg_done(struct http *h) {
  llhttp_t *p = &h->resp_parser;
  const struct http_txn *t = &h->st->txns[h->txn_first];
  int status = p->status_code;
  bool upgrade = t->upgrade;

  h->flags &= ~(F_MSG_DONE | F_STARTED);
  h->resp_phase = RESP_HEAD;
  if (status >= 100 && status < 200 && status != 101) {
    llhttp_resume(p); /* interim: the final response follows */
    return 0;
  }
  if (status == 101) {
    if (!upgrade)
      return -502; /* switching protocols nobody asked for */
    txn_done(h, status);
    h->flags |= F_TUNNEL;
    h->resp_phase = RESP_TUNNEL;
    h->req_phase = REQ_TUNNEL;
    return 0;
  }
  if (t->close || !llhttp_should_keep_alive(p))
    h->flags |= F_CLOSING;
  txn_done(h, status);
  if (upgrade && h->req_phase == REQ_WAIT) { /* refused: back to HTTP */
    llhttp_reset(&h->req_parser);
    h->req_phase = REQ_HEAD;
  }
  if (h->flags & F_CLOSING)
    h->resp_phase = RESP_CLOSED;
  else
    llhttp_resume(p);
  return 0;
}

/* llhttp paused on the response: at the end of a head or of a message. */
static int resp_paused(struct http *h) {
  llhttp_errno_t err;

  if (h->flags & F_MSG_DONE)
    return resp_msg_done(h);
  llhttp_resume(&h->resp_parser);
  h->resp_phase = RESP_BODY;
  err = run_empty(&h->resp_parser);
  if (err == HPE_PAUSED)
    return resp_msg_done(h);
  return err == HPE_OK ? 0 : -502;
}

static int resp_emit(struct http *h, struct buf *out, const char *p, size_t n) {
  int rc;

  if (n == 0)
    return 0;
  rc = buf_append(out, p, n);
  if (rc != 0)
    return rc;
  h->st->txns[h->txn_first].bytes_out += n;
  h->flags |= F_STARTED;
  return 0;
}

/* Forward response bytes as they are parsed (bodies; heads without HSTS). */
static ssize_t resp_stream(struct http *h, const char *p, size_t n,
                           struct buf *out) {
  llhttp_errno_t err = llhttp_execute(&h->resp_parser, p, n);
  size_t took = n;
  int rc;

  if (err == HPE_PAUSED)
    took = (size_t)(llhttp_get_error_pos(&h->resp_parser) - p);
  else if (err != HPE_OK)
    return -502;
  rc = resp_emit(h, out, p, took);
  if (rc == 0 && err == HPE_PAUSED)
    rc = resp_paused(h);
  return rc != 0 ? rc : (ssize_t)took;
}

/* The response head at h->rbase is complete: forward it, adding
 * Strict-Transport-Security to a final response that lacks one. */
static int resp_head_done(struct http *h, struct buf *out) {
  struct http_state *st = h->st;
  size_t hl = h->rseen;
  bool add = h->resp_parser.status_code >= 200 && !st->r.has_sts;
  int rc = buf_reserve(out, hl + (add ? st->sts_len : 0));

  if (rc != 0)
    return rc;
  if (add) {
    resp_emit(h, out, h->rbase, hl - 2);
    resp_emit(h, out, st->sts, st->sts_len);
    resp_emit(h, out, "\r\n", 2);
  } else {
    resp_emit(h, out, h->rbase, hl);
  }
  st->r = (struct rscan){0};
  reset_head(&h->rhead, &h->rseen);
  return 0;
}

/* With --hsts, gather the response head before forwarding it. */
static ssize_t resp_head_hsts(struct http *h, const char *p, size_t n,
                              struct buf *out) {
  llhttp_errno_t err;
  ssize_t took = head_exec(&h->resp_parser, &h->rhead, &h->rseen, &h->rbase,
                           RESP_HEAD_MAX, p, n, &err);
  int rc;

  if (took == UV_E2BIG)
    return -502;
  if (took < 0 || err == HPE_OK)
    return took;
  if (err != HPE_PAUSED)
    return -502;
  rc = resp_head_done(h, out);
  if (rc == 0)
    rc = resp_paused(h);
  return rc != 0 ? rc : took;
}

/* Forward responses from the backend; see http.h. */
int http_resp_feed(struct http *h, const char *p, size_t len, struct buf *out,
                   uint64_t now_ms) {
  size_t off = 0;
  ssize_t n;

  h->now_ms = now_ms;
  while (off < len) {
    switch (h->resp_phase) {
    case RESP_HEAD:
      if (h->txn_count == 0)
        return -502; /* a response to no request */
      if (h->opts->hsts_seconds > 0)
        n = resp_head_hsts(h, p + off, len - off, out);
      else
        n = resp_stream(h, p + off, len - off, out);
      break;
    case RESP_BODY:
      n = resp_stream(h, p + off, len - off, out);
      break;
    case RESP_TUNNEL:
      return buf_append(out, p + off, len - off);
    default: /* RESP_CLOSED */
      return 0;
    }
    if (n < 0)
      return (int)n;
    off += (size_t)n;
  }
  return 0;
}

/* The backend's EOF: clean, or a response cut short; see http.h. */
bool http_resp_eof(struct http *h, uint64_t now_ms) {
  llhttp_errno_t err;

  h->now_ms = now_ms;
  switch (h->resp_phase) {
  case RESP_HEAD:
    return h->rseen == 0 && !(h->flags & F_STARTED);
  case RESP_BODY:
    break;
  default:
    return true;
  }
  if (!llhttp_message_needs_eof(&h->resp_parser))
    return false; /* Content-Length not reached, or no last chunk */
  err = llhttp_finish(&h->resp_parser);
  if ((err != HPE_OK && err != HPE_PAUSED) || !(h->flags & F_MSG_DONE))
    return false;
  return resp_msg_done(h) == 0;
}

/* Report what never got its response, then free; see http.h. */
void http_cleanup(struct http *h) {
  /* The access log still sees every request: the one whose response was
   * cut short with the status it had, the rest with 0. */
  if (h->txn_count > 0)
    txn_done(h, h->resp_phase == RESP_BODY ? h->resp_parser.status_code : 0);
  while (h->txn_count > 0)
    txn_done(h, 0);
  free(h->st);
  h->st = NULL;
  buf_cleanup(&h->head);
  buf_cleanup(&h->rhead);
}

/* ---- state for the connection's timers --------------------------------- */

bool http_head_begun(const struct http *h) {
  return h->req_phase == REQ_HEAD && h->seen > 0;
}

bool http_awaiting_response(const struct http *h) {
  return h->txn_count > 0 && !(h->flags & F_STARTED);
}

bool http_response_started(const struct http *h) {
  return (h->flags & F_STARTED) != 0;
}

bool http_tunnel(const struct http *h) {
  return (h->flags & F_TUNNEL) != 0;
}

bool http_done_closing(const struct http *h) {
  return (h->flags & F_CLOSING) != 0;
}

/* ---- error responses --------------------------------------------------- */

/* Append a small complete response with Connection: close; see http.h. */
int http_error_response(struct buf *out, int status) {
  static const struct {
    int status;
    const char *reason;
  } reasons[] = {
      {400, "Bad Request"},
      {408, "Request Timeout"},
      {431, "Request Header Fields Too Large"},
      {501, "Not Implemented"},
      {502, "Bad Gateway"},
      {504, "Gateway Timeout"},
  };
  char msg[256];
  const char *reason = NULL;
  int n;

  for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
    if (reasons[i].status == status)
      reason = reasons[i].reason;
  if (reason == NULL)
    return UV_EINVAL;
  /* The body is "<code> <reason>\n": 3 + 1 + strlen(reason) + 1 bytes. */
  n = snprintf(msg, sizeof msg,
               "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
               "Content-Length: %zu\r\nConnection: close\r\n\r\n%d %s\n",
               status, reason, strlen(reason) + 5, status, reason);
  return buf_append(out, msg, (size_t)n);
}

unsigned http_outstanding(const struct http *h) { return h->txn_count; }

bool http_request_unfinished(const struct http *h) {
  return h->txn_count > 0 && (h->flags & F_REQ_TXN) != 0;
}

/* tlsterm answered the oldest request itself (502, 504): log it as such. */
void http_answered(struct http *h, int status, size_t bytes_out,
                   uint64_t now_ms) {
  if (h->txn_count == 0)
    return;
  h->now_ms = now_ms;
  h->st->txns[h->txn_first].bytes_out += bytes_out;
  txn_done(h, status);
}
