/* http_rewrite.c: what tlsterm reads and writes inside an HTTP head (see
 * http.h, http_int.h).
 *
 * It owns the llhttp callbacks of both parsers: on a request head they
 * record the target, Host, the framing headers and the client-sent lines to
 * cut (every header tlsterm sets); on a response head (--hsts only) they
 * note a Strict-Transport-Security line. They pause llhttp at the end of a
 * head and of a message, so http.c handles each piece where it lies. Header
 * positions are offsets from the head's first byte, which is always
 * contiguous while llhttp runs.
 *
 * It also renders the rewritten request head (X-Forwarded-*, Forwarded, the
 * peer's extra lines); http.c decides when and where it goes.
 *
 * Leniency flags are never enabled; what strict llhttp lets through but we
 * must refuse (CONNECT, missing or repeated Host, HTTP versions other than
 * 1.0 and 1.1, a final coding other than chunked) is checked when the head
 * is complete. */
#include "http_int.h"

#include <string.h>

/* ---- header names ------------------------------------------------------ */

/* What a request header is to us. */
enum kind { K_OTHER, K_HOST, K_CL, K_TE, K_XFF, K_OWNED };

#define OWNED_HEADERS(X)                                                       \
  X("X-Forwarded-For")                                                         \
  X("X-Forwarded-Proto")                                                       \
  X("X-Forwarded-Port")                                                        \
  X("Forwarded")                                                               \
  X("X-Client-Verify")                                                         \
  X("X-Client-Subject")                                                        \
  X("X-Client-Fingerprint-SHA256")                                             \
  X("X-Client-Cert")
#define OWNED_NAME(s) s,
#define OWNED_ENTRY(s) {s, sizeof(s) - 1, K_OWNED},

const char *const http_owned_headers[] = {OWNED_HEADERS(OWNED_NAME) NULL};

/* Header names we act on. X-Forwarded-For comes before the owned list (which
 * repeats it) so that the first match gives it its own kind. */
static const struct {
  const char *name;
  size_t len;
  enum kind kind;
} names[] = {{"Host", 4, K_HOST},
             {"Content-Length", 14, K_CL},
             {"Transfer-Encoding", 17, K_TE},
             {"X-Forwarded-For", 15, K_XFF},
             OWNED_HEADERS(OWNED_ENTRY)};

static char lower(char c) {
  return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static bool name_eq(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (lower(a[i]) != lower(b[i]))
      return false;
  return true;
}

static enum kind classify(const char *name, size_t len) {
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (names[i].len == len && name_eq(name, names[i].name, len))
      return names[i].kind;
  return K_OTHER;
}

/* Grow a span by one llhttp fragment (fragments of one field are
 * contiguous, as the head is). */
static void extend(struct span *s, bool *open, uint32_t off, size_t n) {
  if (!*open) {
    s->start = off;
    *open = true;
  }
  s->end = off + (uint32_t)n;
}

/* Header values keep trailing whitespace in llhttp; field values don't. */
static struct span trim(const char *base, struct span v) {
  while (v.end > v.start && (base[v.end - 1] == ' ' || base[v.end - 1] == '\t'))
    v.end--;
  return v;
}

/* ---- request parser callbacks ------------------------------------------ */

static int req_on_url(llhttp_t *p, const char *at, size_t n) {
  struct http *h = p->data;

  extend(&h->st->s.url, &h->st->s.in_url, (uint32_t)(at - h->base), n);
  return 0;
}

static int req_on_header_field(llhttp_t *p, const char *at, size_t n) {
  struct http *h = p->data;
  struct http_state *st = h->st;
  uint32_t off = (uint32_t)(at - h->base);

  if (h->req_phase != REQ_HEAD)
    return 0; /* a chunked trailer: passes untouched */
  /* A line to remove ends where the next one starts: strict llhttp allows
   * nothing (no obs-fold) between a CRLF and the next name. */
  if (!st->s.in_field && st->s.cut_open) {
    st->cuts[st->s.ncuts - 1].end = off;
    st->s.cut_open = false;
  }
  extend(&st->s.field, &st->s.in_field, off, n);
  return 0;
}

static int req_on_header_field_complete(llhttp_t *p) {
  struct http *h = p->data;
  struct scan *s = &h->st->s;

  if (h->req_phase != REQ_HEAD)
    return 0;
  s->in_field = false;
  s->in_value = false;
  s->value = (struct span){s->field.end, s->field.end};
  if (++s->nheaders > HEADERS_MAX) {
    h->err = -431;
    return -1;
  }
  s->kind = classify(h->base + s->field.start, s->field.end - s->field.start);
  /* Remembered for telling a smuggling attempt (400) from a coding we
   * don't implement (501) when llhttp refuses Transfer-Encoding. */
  s->saw_cl |= s->kind == K_CL;
  s->saw_te |= s->kind == K_TE;
  return 0;
}

static int req_on_header_value(llhttp_t *p, const char *at, size_t n) {
  struct http *h = p->data;

  if (h->req_phase == REQ_HEAD)
    extend(&h->st->s.value, &h->st->s.in_value, (uint32_t)(at - h->base), n);
  return 0;
}

static int req_on_header_value_complete(llhttp_t *p) {
  struct http *h = p->data;
  struct http_state *st = h->st;
  struct span v;

  if (h->req_phase != REQ_HEAD)
    return 0;
  v = trim(h->base, st->s.value);
  if (st->s.kind == K_HOST) {
    st->s.nhost++;
    st->s.host = v;
  } else if (st->s.kind == K_XFF || st->s.kind == K_OWNED) {
    st->cuts[st->s.ncuts++] = (struct cut){
        .line = st->s.field.start, .value = v, .xff = st->s.kind == K_XFF};
    st->s.cut_open = true;
  }
  return 0;
}

static int reject(struct http *h, int status) {
  h->err = status;
  return -1;
}

static int req_on_headers_complete(llhttp_t *p) {
  struct http *h = p->data;
  const struct scan *s = &h->st->s;

  if (p->method == HTTP_CONNECT) /* not a forward proxy */
    return reject(h, -400);
  if (p->http_major != 1 || p->http_minor > 1) /* llhttp takes 0.9, 2.0 */
    return reject(h, -400);
  /* RFC 9112 3.2: a 1.1 request without Host, or any request with more
   * than one, is a 400. */
  if (s->nhost > 1 || (p->http_minor == 1 && s->nhost == 0))
    return reject(h, -400);
  if (p->flags & F_TRANSFER_ENCODING) {
    /* RFC 9112 6.1: Transfer-Encoding in 1.0 means faulty framing. */
    if (p->http_minor == 0)
      return reject(h, -400);
    /* llhttp refuses a non-chunked final coding only after this callback,
     * which would be after we had forwarded the head. */
    if (!(p->flags & F_CHUNKED))
      return reject(h, -501);
  }
  return HPE_PAUSED; /* stop at the end of the head */
}

static int on_message_complete_pause(llhttp_t *p) {
  (void)p;
  return HPE_PAUSED; /* stop at the end of the message */
}

/* The request parser's callbacks (see http_int.h). */
const llhttp_settings_t http_rewrite_req_settings = {
    .on_url = req_on_url,
    .on_header_field = req_on_header_field,
    .on_header_field_complete = req_on_header_field_complete,
    .on_header_value = req_on_header_value,
    .on_header_value_complete = req_on_header_value_complete,
    .on_headers_complete = req_on_headers_complete,
    .on_message_complete = on_message_complete_pause,
};

/* ---- response parser callbacks ----------------------------------------- */

static int resp_on_header_field(llhttp_t *p, const char *at, size_t n) {
  struct http *h = p->data;

  /* Names matter only for --hsts, whose heads are always contiguous. */
  if (h->resp_phase == RESP_HEAD && h->opts->hsts_seconds > 0)
    extend(&h->st->r.field, &h->st->r.in_field, (uint32_t)(at - h->rbase), n);
  return 0;
}

static int resp_on_header_field_complete(llhttp_t *p) {
  struct http *h = p->data;
  struct rscan *r = &h->st->r;
  static const char sts[] = "Strict-Transport-Security";

  if (h->resp_phase != RESP_HEAD || h->opts->hsts_seconds == 0)
    return 0;
  r->in_field = false;
  if (r->field.end - r->field.start == sizeof sts - 1 &&
      name_eq(h->rbase + r->field.start, sts, sizeof sts - 1))
    r->has_sts = true;
  return 0;
}

static int resp_on_headers_complete(llhttp_t *p) {
  struct http *h = p->data;
  const struct http_txn *t = &h->st->txns[h->txn_first];

  /* No body: answering HEAD, or interim (llhttp knows 100, 102, 103 only).
   * llhttp then reaches on_message_complete at once, whose pause marks the
   * end of this head too. */
  if (t->method == HTTP_HEAD || (p->status_code >= 100 && p->status_code < 200))
    return 1;
  return HPE_PAUSED;
}

static int resp_on_message_complete(llhttp_t *p) {
  struct http *h = p->data;

  h->flags |= F_MSG_DONE;
  return HPE_PAUSED;
}

/* The response parser's callbacks (see http_int.h). */
const llhttp_settings_t http_rewrite_resp_settings = {
    .on_header_field = resp_on_header_field,
    .on_header_field_complete = resp_on_header_field_complete,
    .on_headers_complete = resp_on_headers_complete,
    .on_message_complete = resp_on_message_complete,
};

/* ---- request head rewriting -------------------------------------------- */

/* Copy n bytes to dst + at unless dst is NULL; returns n. One function can
 * so both measure a head and write it. */
static size_t put(char *dst, size_t at, const void *src, size_t n) {
  if (dst != NULL && n > 0)
    memcpy(dst + at, src, n);
  return n;
}

static bool is_tchar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') ||
         (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* A Forwarded value: as is if a token, else a quoted-string (RFC 7239 4). */
static size_t put_fwd_value(char *dst, size_t at, const char *v, size_t n) {
  size_t len = at, i;

  for (i = 0; i < n && is_tchar((unsigned char)v[i]); i++)
    ;
  if (i == n)
    return put(dst, at, v, n);
  len += put(dst, len, "\"", 1);
  for (i = 0; i < n; i++) {
    if (v[i] == '"' || v[i] == '\\')
      len += put(dst, len, "\\", 1);
    len += put(dst, len, v + i, 1);
  }
  len += put(dst, len, "\"", 1);
  return len - at;
}

/* X-Forwarded-For: ours alone, or with --xff append every client value in
 * order, comma-joined, then ours. */
static size_t put_xff(const struct http *h, char *dst, size_t at) {
  const struct http_state *st = h->st;
  size_t len = at;
  bool any = false;

  for (unsigned i = 0; h->opts->xff_append && i < st->s.ncuts; i++) {
    const struct cut *c = &st->cuts[i];
    if (!c->xff || c->value.end == c->value.start)
      continue;
    len +=
        any ? put(dst, len, ", ", 2) : put(dst, len, "X-Forwarded-For: ", 17);
    len +=
        put(dst, len, h->base + c->value.start, c->value.end - c->value.start);
    any = true;
  }
  if (!any)
    return put(dst, at, st->fixed, st->xff_len);
  /* fixed holds "X-Forwarded-For: <ip>\r\n": reuse its "<ip>\r\n". */
  len += put(dst, len, ", ", 2);
  len += put(dst, len, st->fixed + 17, st->xff_len - 17);
  return len - at;
}

/* Forwarded: for=...;proto=https[;host=...], host from the Host header or,
 * lacking one, the SNI name. */
static size_t put_forwarded(const struct http *h, char *dst, size_t at) {
  const struct http_state *st = h->st;
  const char *host = NULL;
  size_t hlen = 0, len = at;

  if (st->s.nhost == 1 && st->s.host.end > st->s.host.start) {
    host = h->base + st->s.host.start;
    hlen = st->s.host.end - st->s.host.start;
  } else if (h->peer->host != NULL) {
    host = h->peer->host;
    hlen = strlen(host);
  }
  len += put(dst, len, st->fwd, st->fwd_len);
  if (hlen > 0) {
    len += put(dst, len, ";host=", 6);
    len += put_fwd_value(dst, len, host, hlen);
  }
  len += put(dst, len, "\r\n", 2);
  return len - at;
}

/* The rewritten head; see http_int.h. */
size_t http_rewrite_head(const struct http *h, char *dst) {
  const struct http_state *st = h->st;
  size_t len = 0, pos = 0;

  for (unsigned i = 0; i < st->s.ncuts; i++) {
    len += put(dst, len, h->base + pos, st->cuts[i].line - pos);
    pos = st->cuts[i].end;
  }
  len += put(dst, len, h->base + pos, h->seen - 2 - pos); /* up to the CRLF */
  len += put_xff(h, dst, len);
  len += put(dst, len, st->fixed + st->xff_len, st->fixed_len - st->xff_len);
  if (h->opts->forwarded)
    len += put_forwarded(h, dst, len);
  if (h->peer->extra != NULL)
    len += put(dst, len, h->peer->extra, h->peer->extra_len);
  len += put(dst, len, "\r\n", 2);
  return len;
}
