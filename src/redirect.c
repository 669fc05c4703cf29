/* redirect.c: the plain-HTTP redirect listener (--redirect-listen).
 *
 * Each worker accepts on its own socket for every --redirect-listen address
 * and answers one request per connection with 308 Permanent Redirect to the
 * same host and path over https (at the port of the first --listen; left
 * out when it is 443), then closes (see oneshot.c). The request is parsed
 * with llhttp; a request without a usable Host gets 400. A client that does
 * not finish its request within --handshake-timeout is closed. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oneshot.h"
#include "redirect.h"
#include "worker.h"

#define HEAD_MAX 8192
/* The target and the Host in a Location are bytes of the head: they fit. */
#define RESP_MAX (HEAD_MAX + 256)

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
static bool host_name(const struct oneshot_req *req, char *out, size_t outlen) {
  const char *h = req->host;
  size_t n = req->host_len, name;
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

/* The oneshot_respond_cb: req is NULL for a malformed head, or one too
 * large for a redirect. */
static char *respond(void *arg, const struct oneshot_req *req, size_t *len) {
  const struct worker *w = arg;
  char host[256];
  unsigned port = w->redirect_https_port;
  char *resp = malloc(RESP_MAX);
  if (resp == NULL)
    return NULL;
  int n;
  if (req != NULL && req->hosts == 1 && host_name(req, host, sizeof host)) {
    char portbuf[16] = "";
    if (port != 443)
      snprintf(portbuf, sizeof portbuf, ":%u", port);
    /* Origin-form targets keep their path and query; anything else
     * (absolute-form, "*") is sent to the root. */
    bool origin = req->url_len > 0 && req->url[0] == '/';
    n = snprintf(resp, RESP_MAX,
                 "HTTP/1.1 308 Permanent Redirect\r\n"
                 "Location: https://%s%s%.*s\r\n"
                 "Content-Length: 0\r\nConnection: close\r\n\r\n",
                 host, portbuf, origin ? (int)req->url_len : 1,
                 origin ? req->url : "/");
  } else {
    n = snprintf(resp, RESP_MAX,
                 "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                 "Content-Length: 16\r\nConnection: close\r\n\r\n"
                 "400 Bad Request\n");
  }
  *len = (size_t)n;
  return resp;
}

void redirect_accept_cb(uv_stream_t *server, int status) {
  struct worker *w = server->data;
  if (status < 0) {
    worker_accept_failed(w, status);
    return;
  }
  struct oneshot_opts opts = {
      .head_max = HEAD_MAX,
      .timeout_ms = w->cur->cfg->handshake_timeout_ms,
      .respond = respond,
      .arg = w,
  };
  oneshot_accept(server, &opts);
}
