/* redirect.c: the plain-HTTP redirect listener (--redirect-listen).
 *
 * Each worker accepts on its own socket for every --redirect-listen address
 * and answers one request per connection with 308 Permanent Redirect to the
 * same host and path over https (at the port of the first --listen; left
 * out when it is 443), then closes. The request is parsed with llhttp; a
 * request without a usable Host gets 400. A client that does not finish its
 * request within --handshake-timeout is closed. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llhttp.h>

#include "log.h"
#include "redirect.h"
#include "worker.h"

#define HEAD_MAX 8192

struct redirect {
  struct worker *w;
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_write_t wr;
  llhttp_t parser;
  int open_handles;
  bool done;           /* a response has been queued */
  bool in_host;        /* the header value being read is Host's */
  int hosts;           /* Host lines seen: exactly one is valid */
  size_t len;          /* bytes of head[] filled */
  size_t url_off, url_len, host_off, host_len, field_len;
  char field[8];       /* the current header name, enough for "host" */
  char head[HEAD_MAX];
  char resp[HEAD_MAX + 256];
};

static void close_cb(uv_handle_t *h) {
  struct redirect *r = h->data;
  if (--r->open_handles == 0)
    free(r);
}

static void redirect_close(struct redirect *r) {
  if (!uv_is_closing((uv_handle_t *)&r->tcp)) {
    uv_close((uv_handle_t *)&r->tcp, close_cb);
    uv_close((uv_handle_t *)&r->timer, close_cb);
  }
}

static void timer_cb(uv_timer_t *t) { redirect_close(t->data); }

static void write_cb(uv_write_t *req, int status) {
  (void)status;
  redirect_close(req->data);
}

/* Offsets, not pointers: llhttp hands out pointers into head[], which is
 * where every byte is parsed from. */
static int on_url(llhttp_t *p, const char *at, size_t n) {
  struct redirect *r = p->data;
  if (r->url_len == 0)
    r->url_off = (size_t)(at - r->head);
  r->url_len += n;
  return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n) {
  struct redirect *r = p->data;
  for (size_t i = 0; i < n; i++)
    if (r->field_len < sizeof r->field)
      r->field[r->field_len++] = (char)tolower((unsigned char)at[i]);
    else
      r->field_len = sizeof r->field + 1; /* too long to be Host */
  return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n) {
  struct redirect *r = p->data;
  bool host = r->field_len == 4 && memcmp(r->field, "host", 4) == 0;
  if (host) {
    if (!r->in_host)
      r->hosts++; /* a new Host line, not a continued value */
    if (r->host_len == 0)
      r->host_off = (size_t)(at - r->head);
    r->host_len += n;
  }
  r->in_host = host;
  return 0;
}

static int on_header_value_complete(llhttp_t *p) {
  struct redirect *r = p->data;
  r->field_len = 0;
  r->in_host = false;
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

/* A port after a host: one to five digits. */
static bool valid_port(const char *p, size_t n) {
  if (n == 0 || n > 5)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!isdigit((unsigned char)p[i]))
      return false;
  return true;
}

/* The host from the Host header, without its port, into out; false unless
 * it is a DNS name or IPv4 address (letters, digits, '.', '-') or a
 * bracketed IPv6 address, optionally followed by ":PORT". Anything else
 * would make a strange Location, so it gets a 400. */
static bool host_name(const struct redirect *r, char *out, size_t outlen) {
  const char *h = r->head + r->host_off;
  size_t n = r->host_len, name;
  while (n > 0 && (h[n - 1] == ' ' || h[n - 1] == '\t'))
    n--;
  if (n > 0 && h[0] == '[') {
    const char *end = memchr(h, ']', n);
    char ip[INET6_ADDRSTRLEN];
    unsigned char bin[16];
    name = end ? (size_t)(end - h) + 1 : 0;
    if (name < 3 || name - 2 >= sizeof ip)
      return false;
    memcpy(ip, h + 1, name - 2);
    ip[name - 2] = '\0';
    if (inet_pton(AF_INET6, ip, bin) != 1)
      return false;
  } else {
    for (name = 0; name < n && h[name] != ':'; name++)
      if (!isalnum((unsigned char)h[name]) && h[name] != '.' &&
          h[name] != '-')
        return false;
  }
  if (name == 0 || name >= outlen)
    return false;
  if (name < n && (h[name] != ':' || !valid_port(h + name + 1, n - name - 1)))
    return false;
  memcpy(out, h, name);
  out[name] = '\0';
  return true;
}

static void respond(struct redirect *r, bool ok) {
  char host[256];
  unsigned port = r->w->redirect_https_port;
  int n;
  if (ok && r->hosts == 1 && host_name(r, host, sizeof host)) {
    char portbuf[16] = "";
    if (port != 443)
      snprintf(portbuf, sizeof portbuf, ":%u", port);
    /* Origin-form targets keep their path and query; anything else
     * (absolute-form, "*") is sent to the root. */
    bool origin = r->url_len > 0 && r->head[r->url_off] == '/';
    n = snprintf(r->resp, sizeof r->resp,
                 "HTTP/1.1 308 Permanent Redirect\r\n"
                 "Location: https://%s%s%.*s\r\n"
                 "Content-Length: 0\r\nConnection: close\r\n\r\n",
                 host, portbuf, origin ? (int)r->url_len : 1,
                 origin ? r->head + r->url_off : "/");
  } else {
    n = snprintf(r->resp, sizeof r->resp,
                 "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                 "Content-Length: 16\r\nConnection: close\r\n\r\n"
                 "400 Bad Request\n");
  }
  r->done = true;
  uv_read_stop((uv_stream_t *)&r->tcp);
  uv_buf_t b = uv_buf_init(r->resp, (unsigned)n);
  r->wr.data = r;
  if (uv_write(&r->wr, (uv_stream_t *)&r->tcp, &b, 1, write_cb) != 0)
    redirect_close(r);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  struct redirect *r = h->data;
  (void)hint;
  *b = uv_buf_init(r->head + r->len, (unsigned)(sizeof r->head - r->len));
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  struct redirect *r = s->data;
  (void)b;
  if (r->done || n == 0)
    return;
  if (n < 0) {
    redirect_close(r);
    return;
  }
  const char *from = r->head + r->len;
  r->len += (size_t)n;
  llhttp_errno_t e = llhttp_execute(&r->parser, from, (size_t)n);
  if (e == HPE_PAUSED)
    respond(r, true);
  else if (e != HPE_OK || r->len == sizeof r->head)
    respond(r, false); /* malformed, or a head too large for a redirect */
}

void redirect_accept_cb(uv_stream_t *server, int status) {
  struct worker *w = server->data;
  if (status < 0)
    return;
  struct redirect *r = calloc(1, sizeof *r);
  if (r == NULL)
    return;
  r->w = w;
  uv_tcp_init(&w->loop, &r->tcp);
  uv_timer_init(&w->loop, &r->timer);
  r->tcp.data = r->timer.data = r;
  r->open_handles = 2;
  if (uv_accept(server, (uv_stream_t *)&r->tcp) != 0) {
    redirect_close(r);
    return;
  }
  llhttp_init(&r->parser, HTTP_REQUEST, &settings);
  r->parser.data = r;
  uv_timer_start(&r->timer, timer_cb, w->cfg->handshake_timeout_ms, 0);
  uv_read_start((uv_stream_t *)&r->tcp, alloc_cb, read_cb);
}
