/* fuzz_tls_app.c: a connection after its handshake: application data
 * decrypted by the server session (tls/sess.c) and passed through the HTTP
 * request layer (src/http.c) the way src/relay.c does, with a real
 * in-memory mbedTLS client on the other end. No sockets.
 *
 * src/relay.c itself works on a struct conn full of libuv handles, so this
 * target repeats its data path instead: decrypt_http (tls_sess_read into a
 * 16 KiB scratch buffer, http_req_feed into the backend buffer, the rest
 * into `pin` while HTTP_PIPELINE_MAX requests await responses),
 * relay_from_backend (http_resp_feed, then tls_sess_write) and send_error
 * (http_error_response, then tls_sess_write).
 *
 * Every run starts with a real handshake between the client and a session
 * from tlsterm's context: a TLS 1.2 resumption from a ticket the client got
 * at start-up (cheap, so most runs use it), or a full TLS 1.3 handshake.
 *
 * Input: three control bytes, then the payload.
 *   byte 0: bits 0-3 all set: TLS 1.3 full handshake, else TLS 1.2
 *           resumed; bit 4: raw mode (the payload goes in as ciphertext
 *           after the handshake, as garbage records); bit 5: the backend
 *           answers an Upgrade request with 101
 *   byte 1: HTTP options as fuzz_http_req's byte 0 (bits 0-4)
 *   byte 2: the client writes the payload in pieces of 17 * byte 2 bytes
 *           (0: all at once), each one or more records.
 *
 * Checked, besides the sanitizers: the handshake completes (resumed, for
 * TLS 1.2); TLS_WANT only with no ciphertext left; every record the server
 * sends decrypts at the client; the client's close_notify reaches the
 * server as TLS_CLOSED; the backend stream passes http_oracle.c. */
#include <string.h>

#include "../common/mempipe.h"
#include "buf.h"
#include "fuzz.h"
#include "http.h"
#include "http_int.h"
#include "http_oracle.h"
#include "tls_fx.h"

#define TLS_RECORD_MAX 16384
#define CIN_READ (TLS_RECORD_MAX + 1024) /* src/conn_int.h */
#define CIN_MAX (2 * CIN_READ)
#define COUT_MAX (128 * 1024)
#define PIN_MAX TLS_RECORD_MAX
#define BOUT_MAX (1 << 24) /* the backend takes everything at once here */

/* --- the client ---------------------------------------------------------- */

struct client {
  mbedtls_ctr_drbg_context drbg;
  mbedtls_ssl_config conf12, conf13;
  mbedtls_ssl_context ssl12, ssl13;
  mbedtls_ssl_session ticket12; /* the TLS 1.2 session to resume */
  struct buf in, out;
  struct mempipe pipe; /* the client's I/O: in and out */
};

static struct client cl;
static const char *alpn[] = {"http/1.1", NULL};

static void conf_client(mbedtls_ssl_config *conf, mbedtls_ssl_context *ssl,
                        int version) {
  mbedtls_ssl_config_init(conf);
  mbedtls_ssl_init(ssl);
  FUZZ_CHECK(mbedtls_ssl_config_defaults(conf, MBEDTLS_SSL_IS_CLIENT,
                                         MBEDTLS_SSL_TRANSPORT_STREAM,
                                         MBEDTLS_SSL_PRESET_DEFAULT) == 0);
  mbedtls_ssl_conf_authmode(conf, MBEDTLS_SSL_VERIFY_NONE);
  mbedtls_ssl_conf_rng(conf, mbedtls_ctr_drbg_random, &cl.drbg);
  mbedtls_ssl_conf_min_tls_version(conf, version);
  mbedtls_ssl_conf_max_tls_version(conf, version);
  FUZZ_CHECK(mbedtls_ssl_conf_alpn_protocols(conf, alpn) == 0);
  mbedtls_ssl_conf_tls13_enable_signal_new_session_tickets(
      conf, MBEDTLS_SSL_TLS1_3_SIGNAL_NEW_SESSION_TICKETS_ENABLED);
  FUZZ_CHECK(mbedtls_ssl_setup(ssl, conf) == 0);
  cl.pipe.in = &cl.in;
  cl.pipe.out = &cl.out;
  mbedtls_ssl_set_bio(ssl, &cl.pipe, mempipe_send, mempipe_recv, NULL);
}

/* Read everything the server sent; each record must decrypt (a fatal
 * alert is expected only when alert_ok). Returns true once the server's
 * close_notify arrived. */
static bool client_drain(mbedtls_ssl_context *ssl, bool alert_ok) {
  unsigned char b[TLS_RECORD_MAX];

  for (int k = 0; k < 1000; k++) {
    int r = mbedtls_ssl_read(ssl, b, sizeof b);

    if (r > 0 || r == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
      continue;
    if (r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
      return true;
    if (r == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE && alert_ok)
      return false;
    if (r == MBEDTLS_ERR_SSL_WANT_READ) {
      if (buf_used(&cl.in) == 0 && mbedtls_ssl_check_pending(ssl) == 0)
        return false;
      continue;
    }
    fprintf(stderr, "client read: -0x%04x\n", (unsigned)-r);
    FUZZ_CHECK(!"every record from the server decrypts");
  }
  FUZZ_CHECK(!"the client read loop ends");
  return false;
}

/* --- one connection, server side ----------------------------------------- */

struct conn {
  struct tls_sess *s;
  mbedtls_ssl_context *cssl;
  struct buf cin, cout, bout, pin, obuf;
  struct http h;
  struct http_opts opts;
  struct http_peer peer;
  unsigned done;
  bool upgrade_ok, finished;
  bool raw; /* garbage ciphertext: the server may fail with an alert */
  size_t http_len;
};

static char pbuf[TLS_RECORD_MAX]; /* the worker's scratch buffer */

static void on_done(void *arg, const struct http_done *d) {
  struct conn *c = arg;

  FUZZ_CHECK(d->method != NULL && strlen(d->target) <= HTTP_TARGET_LOG_MAX);
  c->done++;
}

/* Move ciphertext from one side's output to the other's input. */
static void move(struct buf *from, struct buf *to) {
  FUZZ_CHECK(buf_append(to, buf_data(from), buf_used(from)) == 0);
  buf_consume(from, buf_used(from));
}

/* The server's records go to the client, which must read them. */
static void flush_client(struct conn *c) {
  move(&c->cout, &cl.in);
  client_drain(c->cssl, c->raw);
}

/* Encrypt for the client (relay.c's to_client). */
static bool to_client(struct conn *c, const char *p, size_t n) {
  if (n > 0 && tls_sess_write(c->s, p, n) != 0) {
    c->finished = true;
    return false;
  }
  return true;
}

/* relay.c's send_error after a bad request (which, the request stream
 * being done, answers no forwarded request): a small response, then the
 * connection ends. */
static void send_error(struct conn *c, int status) {
  buf_consume(&c->obuf, buf_used(&c->obuf));
  FUZZ_CHECK(http_error_response(&c->obuf, status) == 0);
  to_client(c, buf_data(&c->obuf), buf_used(&c->obuf));
  buf_consume(&c->obuf, buf_used(&c->obuf));
  c->finished = true;
}

/* The backend answers every outstanding request (relay_from_backend). */
static void backend_answers(struct conn *c) {
  static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  static const char ok_head[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  static const char up[] = "HTTP/1.1 101 Switching Protocols\r\n"
                           "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n";

  while (!c->finished && http_outstanding(&c->h) > 0 && !http_tunnel(&c->h)) {
    const struct http_txn *t = &c->h.st->txns[c->h.txn_first];
    bool upgrade = c->upgrade_ok && t->upgrade;
    const char *p = upgrade ? up : t->method == HTTP_HEAD ? ok_head : ok;
    int r = http_resp_feed(&c->h, p, strlen(p), &c->obuf, 0);

    FUZZ_CHECK(r == 0);
    if (!to_client(c, buf_data(&c->obuf), buf_used(&c->obuf)))
      return;
    buf_consume(&c->obuf, buf_used(&c->obuf));
    if (http_tunnel(&c->h))
      c->http_len = buf_used(&c->bout);
    if (http_done_closing(&c->h))
      c->finished = true; /* after_responses: conn_finish */
  }
}

/* relay.c's decrypt_http, and after_responses when requests wait in pin.
 * Returns the last tls_sess_read result. */
static int decrypt_http(struct conn *c) {
  int n = TLS_WANT;

  while (!c->finished) {
    bool from_pin = buf_used(&c->pin) > 0;
    const char *p = buf_data(&c->pin);
    size_t len = buf_used(&c->pin);
    ssize_t used;

    if (!from_pin) {
      n = tls_sess_read(c->s, pbuf, sizeof pbuf);
      FUZZ_CHECK(n != TLS_WANT || buf_used(&c->cin) == 0);
      if (n <= 0)
        return n;
      p = pbuf;
      len = (size_t)n;
    }
    used = http_req_feed(&c->h, p, len, &c->bout, 0);
    if (used < 0) {
      /* relay.c's request_error: the error response follows the
       * responses to the requests before it. */
      if (used <= -400) {
        backend_answers(c);
        if (!c->finished)
          send_error(c, (int)-used);
      }
      c->finished = true;
      return TLS_FAIL;
    }
    if (from_pin)
      buf_consume(&c->pin, (size_t)used);
    else if ((size_t)used < len &&
             buf_append(&c->pin, p + used, len - (size_t)used) != 0) {
      c->finished = true; /* conn_abort */
      return TLS_FAIL;
    }
    if (buf_used(&c->pin) > 0) {
      /* The client is paused until a response completes. */
      unsigned before = c->done;
      backend_answers(c);
      if (c->done == before && used == 0)
        return TLS_FAIL; /* nothing can move: the idle timeout ends it */
    }
  }
  return TLS_FAIL;
}

/* The server reads what the client sent, as its socket would deliver it:
 * at most CIN_READ bytes per read while cin has room. */
static int server_reads(struct conn *c, bool http) {
  int r = TLS_WANT;

  while (!c->finished && buf_used(&cl.out) > 0) {
    size_t room = CIN_MAX - buf_used(&c->cin), n = buf_used(&cl.out);

    if (n > CIN_READ)
      n = CIN_READ;
    if (n > room)
      n = room;
    if (n == 0)
      return TLS_FAIL; /* cin full and not consumed */
    FUZZ_CHECK(buf_append(&c->cin, buf_data(&cl.out), n) == 0);
    buf_consume(&cl.out, n);
    if (http && !http_tunnel(&c->h)) {
      r = decrypt_http(c);
    } else {
      while ((r = tls_sess_read(c->s, pbuf, sizeof pbuf)) > 0)
        if (http)
          FUZZ_CHECK(buf_append(&c->bout, pbuf, (size_t)r) == 0);
      FUZZ_CHECK(r != TLS_WANT || buf_used(&c->cin) == 0);
    }
    if (r == TLS_FAIL || r == TLS_CLOSED)
      c->finished = c->finished || r == TLS_FAIL;
    flush_client(c);
    if (r == TLS_CLOSED)
      return r;
  }
  return r;
}

static int handshake(struct conn *c) {
  int cr = 1, sr = 1;

  for (int round = 0; round < 20; round++) {
    if (cr != 0 && (cr = mbedtls_ssl_handshake(c->cssl)) != 0 &&
        cr != MBEDTLS_ERR_SSL_WANT_READ)
      return cr;
    move(&cl.out, &c->cin);
    if (sr != 0 && (sr = tls_sess_handshake(c->s)) == TLS_FAIL)
      return sr;
    move(&c->cout, &cl.in);
    if (cr == 0 && sr == 0)
      return 0;
  }
  return -1;
}

/* --- start-up: the ticket the TLS 1.2 runs resume ------------------------ */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  struct conn c;

  (void)argc;
  (void)argv;
  tls_fx_init();
  mbedtls_ctr_drbg_init(&cl.drbg);
  tls_fx_reseed(&cl.drbg, 0xC1);
  buf_init(&cl.in, 1 << 22);
  buf_init(&cl.out, 1 << 22);
  conf_client(&cl.conf12, &cl.ssl12, MBEDTLS_SSL_VERSION_TLS1_2);
  conf_client(&cl.conf13, &cl.ssl13, MBEDTLS_SSL_VERSION_TLS1_3);

  memset(&c, 0, sizeof c);
  buf_init(&c.cin, 1 << 20);
  buf_init(&c.cout, 1 << 20);
  c.s = tls_sess_new(tls_fx_ctx(TLS_FX_DEFAULT), &c.cin, &c.cout);
  c.cssl = &cl.ssl12;
  FUZZ_CHECK(c.s != NULL && handshake(&c) == 0);
  mbedtls_ssl_session_init(&cl.ticket12);
  FUZZ_CHECK(mbedtls_ssl_get_session(&cl.ssl12, &cl.ticket12) == 0);
  tls_sess_free(c.s);
  buf_cleanup(&c.cin);
  buf_cleanup(&c.cout);
  return 0;
}

/* --- one run ------------------------------------------------------------ */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const size_t limits[] = {1024, 4096, 16384, 65536};
  static const char extra[] = "X-Client-Verify: NONE\r\n";
  struct fuzz_in in = {data, size};
  uint8_t mode = fuzz_byte(&in), hflags = fuzz_byte(&in);
  size_t piece = 17u * fuzz_byte(&in);
  bool tls13 = (mode & 15) == 15, raw = mode & 16;
  struct tls_ctx *ctx = tls_fx_ctx(TLS_FX_DEFAULT);
  struct conn c;
  int r;

  memset(&c, 0, sizeof c);
  c.cssl = tls13 ? &cl.ssl13 : &cl.ssl12;
  c.upgrade_ok = mode & 32;
  c.http_len = (size_t)-1;
  c.opts = (struct http_opts){
      .head_max = limits[hflags >> 6],
      .xff_append = hflags & 1,
      .forwarded = hflags & 2,
      .hsts_seconds = hflags & 4 ? 600 : 0,
  };
  c.peer = (struct http_peer){
      .client_ip = hflags & 8 ? "2001:db8::7" : "203.0.113.7",
      .client_port = 40000,
      .local_port = 8443,
  };
  if (hflags & 16) {
    c.peer.extra = extra;
    c.peer.extra_len = sizeof extra - 1;
  }
  tls_fx_reseed(&ctx->drbg, 0);
  tls_fx_reseed(&cl.drbg, 0xC1);
  buf_consume(&cl.in, buf_used(&cl.in));
  buf_consume(&cl.out, buf_used(&cl.out));
  FUZZ_CHECK(mbedtls_ssl_session_reset(c.cssl) == 0);
  FUZZ_CHECK(mbedtls_ssl_set_hostname(c.cssl, "app.fuzz.example") == 0);
  if (!tls13)
    FUZZ_CHECK(mbedtls_ssl_set_session(c.cssl, &cl.ticket12) == 0);
  buf_init(&c.cin, CIN_MAX);
  buf_init(&c.cout, COUT_MAX);
  buf_init(&c.bout, BOUT_MAX);
  buf_init(&c.pin, PIN_MAX);
  buf_init(&c.obuf, 1 << 20);
  c.s = tls_sess_new(ctx, &c.cin, &c.cout);
  FUZZ_CHECK(c.s != NULL);

  r = handshake(&c);
  if (r != 0)
    fprintf(stderr, "handshake: %d, server: %s\n", r, tls_sess_error(c.s));
  FUZZ_CHECK(r == 0);
  FUZZ_CHECK(tls13 || tls_sess_resumed(c.s));
  c.peer.host = tls_sess_sni(c.s);
  FUZZ_CHECK(c.peer.host != NULL &&
             strcmp(c.peer.host, "app.fuzz.example") == 0);
  http_init(&c.h, &c.opts, &c.peer, on_done, &c);
  /* The client's first read takes the TLS 1.3 tickets. */
  client_drain(c.cssl, false);
  c.raw = raw;

  if (raw) {
    FUZZ_CHECK(buf_append(&cl.out, in.p, in.n) == 0);
    r = server_reads(&c, false);
  } else {
    while (in.n > 0 && !c.finished) {
      size_t n = piece == 0 || piece > in.n ? in.n : piece;
      const unsigned char *p = in.p;

      in.p += n;
      in.n -= n;
      while (n > 0) { /* at most one record per call */
        int w = mbedtls_ssl_write(c.cssl, p, n);
        FUZZ_CHECK(w > 0);
        p += w;
        n -= (size_t)w;
      }
      r = server_reads(&c, true);
    }
    backend_answers(&c);
    flush_client(&c);
    if (!c.finished) {
      /* The client ends: its close_notify must reach the relay. */
      FUZZ_CHECK(mbedtls_ssl_close_notify(c.cssl) == 0);
      r = server_reads(&c, true);
      if (!c.finished && buf_used(&c.pin) == 0)
        FUZZ_CHECK(r == TLS_CLOSED);
    }
  }
  tls_sess_close_notify(c.s);
  flush_client(&c);

  http_cleanup(&c.h);
  if (!raw) {
    struct http_oracle_want want = {
        .opts = &c.opts, .peer = &c.peer, .requests = c.done};
    if (c.http_len == (size_t)-1)
      c.http_len = buf_used(&c.bout);
    http_oracle_check(buf_data(&c.bout), c.http_len, &want);
  }
  tls_sess_free(c.s);
  buf_cleanup(&c.cin);
  buf_cleanup(&c.cout);
  buf_cleanup(&c.bout);
  buf_cleanup(&c.pin);
  buf_cleanup(&c.obuf);
  return 0;
}
