/* fuzz_http_req.c: request-head rewriting (src/http.c, src/http_rewrite.c)
 * fed a client's plaintext stream.
 *
 * Input: two control bytes, then the stream.
 *   byte 0: bit 0 --xff append, bit 1 --forwarded, bit 2 --hsts, bit 3 an
 *           IPv6 client, bit 4 client-certificate lines (peer->extra),
 *           bit 5 answer Upgrade requests with 101, bits 6-7 the head limit
 *           (1, 4, 16 or 64 KiB)
 *   byte 1: the size of each read (1-255 bytes; 0: the whole stream in
 *           one read), so heads and bodies are split across reads.
 * The stream is fed the way src/relay.c's decrypt_http does: what
 * http_req_feed cannot take yet waits in a 16 KiB `pin` buffer until the
 * backend answers. The backend answers every outstanding request with an
 * empty 200 (or a 101 to an Upgrade request, with bit 5), so the
 * pipelining limit is exercised too. At the end the backend stream is
 * checked by http_oracle.c. */
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "http.h"
#include "http_int.h"
#include "http_oracle.h"

#define PIN_MAX 16384 /* src/conn_int.h */

static const char ok_resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
static const char up_resp[] =
    "HTTP/1.1 101 Switching Protocols\r\n"
    "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n";

struct run {
  struct http h;
  struct buf up, down, pin;
  unsigned done;
  bool upgrade_ok;
  size_t http_len; /* bytes of up that are HTTP (before a tunnel) */
};

static void on_done(void *arg, const struct http_done *d) {
  struct run *r = arg;

  FUZZ_CHECK(d->method != NULL && d->target != NULL);
  FUZZ_CHECK(strlen(d->target) <= HTTP_TARGET_LOG_MAX);
  FUZZ_CHECK(d->end_ms >= d->start_ms);
  r->done++;
}

/* The backend answers every outstanding request. Returns how many
 * responses completed. */
static unsigned answer(struct run *r, uint64_t now) {
  unsigned before = r->done;

  while (http_outstanding(&r->h) > 0 && !http_done_closing(&r->h) &&
         !http_tunnel(&r->h)) {
    bool up = r->upgrade_ok && r->h.req_phase == REQ_WAIT &&
              http_outstanding(&r->h) == 1;
    const char *p = up ? up_resp : ok_resp;
    size_t n = up ? sizeof up_resp - 1 : sizeof ok_resp - 1;
    unsigned was = http_outstanding(&r->h);

    FUZZ_CHECK(http_resp_feed(&r->h, p, n, &r->down, now) == 0);
    FUZZ_CHECK(http_outstanding(&r->h) == was - 1);
    if (http_tunnel(&r->h))
      r->http_len = buf_used(&r->up);
  }
  buf_consume(&r->down, buf_used(&r->down));
  return r->done - before;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const size_t limits[] = {1024, 4096, 16384, 65536};
  struct fuzz_in in = {data, size};
  uint8_t flags = fuzz_byte(&in), step = fuzz_byte(&in);
  struct http_opts opts = {
      .head_max = limits[flags >> 6],
      .xff_append = flags & 1,
      .forwarded = flags & 2,
      .hsts_seconds = flags & 4 ? 31536000 : 0,
  };
  struct http_peer peer = {
      .client_ip = flags & 8 ? "2001:db8::7" : "203.0.113.7",
      .client_port = 51000,
      .local_port = 443,
      .host = "sni.example",
  };
  static const char extra[] = "X-Client-Verify: SUCCESS\r\n"
                              "X-Client-Subject: CN=alice\r\n";
  struct run r = {.upgrade_ok = flags & 32, .http_len = (size_t)-1};
  const char *p = (const char *)in.p;
  size_t left = in.n;
  uint64_t now = 1000;

  if (flags & 16) {
    peer.extra = extra;
    peer.extra_len = sizeof extra - 1;
  }
  buf_init(&r.up, 1 << 24);
  buf_init(&r.down, 1 << 24);
  buf_init(&r.pin, PIN_MAX);
  http_init(&r.h, &opts, &peer, on_done, &r);

  while (left > 0 || buf_used(&r.pin) > 0) {
    bool from_pin = buf_used(&r.pin) > 0;
    const char *q = from_pin ? buf_data(&r.pin) : p;
    size_t n = from_pin                   ? buf_used(&r.pin)
               : step == 0 || step > left ? left
                                          : step;
    ssize_t used;

    if (!from_pin) {
      p += n;
      left -= n;
    }
    now += 7;
    used = http_req_feed(&r.h, q, n, &r.up, now);
    if (used < 0) {
      /* The relay answers the client and closes. */
      if (used <= -400)
        FUZZ_CHECK(http_error_response(&r.down, (int)-used) == 0);
      break;
    }
    FUZZ_CHECK((size_t)used <= n);
    if (from_pin)
      buf_consume(&r.pin, (size_t)used);
    else if ((size_t)used < n &&
             buf_append(&r.pin, q + used, n - (size_t)used) != 0)
      break; /* the relay aborts the connection: pin is full */
    if (buf_used(&r.pin) == 0)
      continue;
    /* The relay pauses the client until a response completes, then
     * resumes from pin: if nothing can complete, the connection would
     * hang with bytes that can never be parsed. */
    if (answer(&r, now) == 0 && used == 0) {
      FUZZ_CHECK(http_done_closing(&r.h) || http_tunnel(&r.h));
      break;
    }
    if (http_done_closing(&r.h))
      break; /* the relay finishes the connection */
  }
  answer(&r, now);
  if (r.http_len == (size_t)-1)
    r.http_len = buf_used(&r.up);
  (void)http_resp_eof(&r.h, now);
  http_cleanup(&r.h);
  http_cleanup(&r.h); /* safe twice */

  struct http_oracle_want want = {
      .opts = &opts, .peer = &peer, .requests = r.done};
  http_oracle_check(buf_data(&r.up), r.http_len, &want);

  buf_cleanup(&r.up);
  buf_cleanup(&r.down);
  buf_cleanup(&r.pin);
  return 0;
}
