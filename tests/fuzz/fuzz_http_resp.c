/* fuzz_http_resp.c: response tracking (the backend-to-client side of
 * src/http.c) fed a backend's response stream.
 *
 * Input: control bytes, then the response stream.
 *   byte 0: bit 0 --hsts; bits 1-4 how many requests the client sent
 *           (1-16); bits 5-7 unused
 *   then one byte per request choosing it from `requests` below (GET, HEAD,
 *           a POST with a body, an Upgrade, HTTP/1.0, Connection: close...)
 *   then one byte: the size of each backend read (1-255; 0: one read).
 * The requests go through http_req_feed first, as the relay forwards them;
 * the response bytes then go through http_resp_feed as src/relay.c's
 * relay_from_backend does, and the stream ends with the backend's EOF
 * (http_resp_eof). Properties checked: without --hsts the client gets
 * exactly the bytes the backend sent, up to where tlsterm stops; with it,
 * only header lines are added; a response never adds outstanding
 * requests. */
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "http.h"

static const char *const requests[] = {
    "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n",
    "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
    "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
    "Upgrade: websocket\r\n\r\n",
    "GET /old HTTP/1.0\r\n\r\n",
    "GET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    "3\r\nabc\r\n0\r\n\r\n",
    "GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "DELETE /d HTTP/1.1\r\nHost: a\r\n\r\n",
};
#define N_REQUESTS (sizeof requests / sizeof requests[0])

static void on_done(void *arg, const struct http_done *d) {
  (void)arg;
  FUZZ_CHECK(d->method != NULL && strlen(d->target) <= HTTP_TARGET_LOG_MAX);
  FUZZ_CHECK(d->status >= 0 && d->status < 1000);
}

/* Is `down` the backend's bytes `in` (a prefix of them), with only whole
 * "Strict-Transport-Security: max-age=600" lines added (what --hsts 600
 * inserts before the blank line of a head)? An added line starts with 'S'
 * where the backend's head has its final CR, so a greedy walk decides. */
static bool only_sts_added(const char *down, size_t dn, const char *in,
                           size_t inn) {
  static const char sts[] = "Strict-Transport-Security: max-age=600\r\n";
  size_t k = sizeof sts - 1, i = 0, j = 0;

  while (i < dn) {
    if (j < inn && down[i] == in[j]) {
      i++;
      j++;
    } else if (dn - i >= k && memcmp(down + i, sts, k) == 0) {
      i += k;
    } else {
      return false;
    }
  }
  return true;
}

/* The client's requests, as far as the request side takes them. */
static void send_requests(struct http *h, struct buf *stream, struct buf *up,
                          uint64_t now) {
  ssize_t n;

  if (buf_used(stream) == 0)
    return;
  n = http_req_feed(h, buf_data(stream), buf_used(stream), up, now);
  FUZZ_CHECK(n >= 0); /* every request above is valid */
  buf_consume(stream, (size_t)n);
  buf_consume(up, buf_used(up));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct fuzz_in in = {data, size};
  uint8_t flags = fuzz_byte(&in);
  unsigned nreq = 1 + ((flags >> 1) & 15);
  struct http_opts opts = {
      .head_max = 16384,
      .hsts_seconds = flags & 1 ? 600 : 0,
  };
  struct http_peer peer = {.client_ip = "192.0.2.1", .local_port = 443};
  struct http h;
  struct buf reqs, up, down;
  uint64_t now = 5000;
  uint8_t step;
  const char *p;
  size_t left, fed = 0;

  buf_init(&reqs, 1 << 20);
  buf_init(&up, 1 << 20);
  buf_init(&down, 1 << 24);
  for (unsigned i = 0; i < nreq; i++) {
    const char *r = requests[fuzz_byte(&in) % N_REQUESTS];
    FUZZ_CHECK(buf_append(&reqs, r, strlen(r)) == 0);
  }
  step = fuzz_byte(&in);
  p = (const char *)in.p;
  left = in.n;
  http_init(&h, &opts, &peer, on_done, NULL);
  send_requests(&h, &reqs, &up, now);

  while (left > 0) {
    size_t n = step == 0 || step > left ? left : step;
    unsigned was = http_outstanding(&h);
    size_t out_before = buf_used(&down);
    int rc;

    now += 3;
    rc = http_resp_feed(&h, p, n, &down, now);
    FUZZ_CHECK(http_outstanding(&h) <= was);
    if (opts.hsts_seconds == 0 && rc == 0 && !http_done_closing(&h))
      FUZZ_CHECK(buf_used(&down) - out_before == n);
    p += n;
    left -= n;
    fed += n;
    if (rc != 0)
      break; /* 502 or an abort, as the relay does */
    if (http_done_closing(&h))
      break;
    /* Responses completed: the relay takes the pipelined requests that
     * were waiting. */
    if (!http_tunnel(&h))
      send_requests(&h, &reqs, &up, now);
  }
  /* What the client got is what the backend sent, but for the header
   * --hsts adds. */
  if (opts.hsts_seconds == 0)
    FUZZ_CHECK(
        buf_used(&down) <= fed &&
        (buf_used(&down) == 0 ||
         memcmp(buf_data(&down), data + (size - in.n), buf_used(&down)) == 0));
  else
    FUZZ_CHECK(only_sts_added(buf_data(&down), buf_used(&down),
                              (const char *)data + (size - in.n), fed));
  if (left == 0)
    (void)http_resp_eof(&h, now);
  http_cleanup(&h);
  buf_cleanup(&reqs);
  buf_cleanup(&up);
  buf_cleanup(&down);
  return 0;
}
