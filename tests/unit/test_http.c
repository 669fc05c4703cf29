/* test_http.c: unit tests for src/http.c: request head rewriting, request
 * rejection, body framing, pipelining, the response side (interim, HEAD,
 * no-body statuses, EOF, truncation, HSTS), Upgrade and error responses.
 * Every stream is also fed split at each byte boundary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "http.h"
#include "unit.h"

Suite *http_suite(void);

/* A string literal and its length (NUL bytes inside included). */
#define L(s) s, sizeof(s) - 1

#define IP4 "203.0.113.7"
#define PROTO_PORT "X-Forwarded-Proto: https\r\nX-Forwarded-Port: 443\r\n"
#define ADDED "X-Forwarded-For: " IP4 "\r\n" PROTO_PORT
#define GET_A "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
#define GET_A_OUT "GET / HTTP/1.1\r\nHost: a\r\n" ADDED "\r\n"
#define MAX_DONE 200

/* One connection's worth of http with everything it forwarded. */
struct fx {
  struct http h;
  struct http_opts opts;
  struct http_peer peer;
  struct buf up;   /* to the backend */
  struct buf down; /* to the client */
  int ndone;
  struct http_done done[MAX_DONE];
  char method[MAX_DONE][16];
  char target[MAX_DONE][HTTP_TARGET_LOG_MAX + 1];
};

static void record(void *arg, const struct http_done *d) {
  struct fx *f = arg;

  ck_assert_int_lt(f->ndone, MAX_DONE);
  f->done[f->ndone] = *d;
  snprintf(f->method[f->ndone], sizeof f->method[0], "%s", d->method);
  snprintf(f->target[f->ndone], sizeof f->target[0], "%s", d->target);
  ck_assert_uint_le(strlen(d->target), HTTP_TARGET_LOG_MAX);
  f->ndone++;
}

/* Defaults: IPv4 client, port 443, SNI "sni.example", head_max 8 KiB. */
static struct fx *fx_new(void) {
  struct fx *f = calloc(1, sizeof *f);

  ck_assert_ptr_nonnull(f);
  f->opts.head_max = 8192;
  f->peer.client_ip = IP4;
  f->peer.client_port = 51000;
  f->peer.local_port = 443;
  f->peer.host = "sni.example";
  buf_init(&f->up, 1 << 20);
  buf_init(&f->down, 1 << 20);
  return f;
}

/* Call after adjusting opts and peer. */
static struct fx *fx_start(struct fx *f) {
  http_init(&f->h, &f->opts, &f->peer, record, f);
  return f;
}

static void fx_free(struct fx *f) {
  http_cleanup(&f->h);
  http_cleanup(&f->h); /* safe twice */
  buf_cleanup(&f->up);
  buf_cleanup(&f->down);
  free(f);
}

/* Feed request bytes that must all be consumed. */
static void req(struct fx *f, const char *p, size_t n, uint64_t now) {
  ck_assert_int_eq(http_req_feed(&f->h, p, n, &f->up, now), (ssize_t)n);
}

static void resp(struct fx *f, const char *p, size_t n, uint64_t now) {
  ck_assert_int_eq(http_resp_feed(&f->h, p, n, &f->down, now), 0);
}

/* The buffer holds exactly s (then empty it). */
static void expect(struct buf *b, const char *s, size_t n) {
  ck_assert_msg(buf_used(b) == n && memcmp(buf_data(b), s, n) == 0,
                "got [%.*s] (%zu bytes)\nwant [%.*s] (%zu bytes)",
                (int)buf_used(b), buf_data(b), buf_used(b), (int)n, s, n);
  buf_consume(b, buf_used(b));
}

/* ---- request head rewriting -------------------------------------------- */

static const struct {
  const char *name;
  bool xff_append, forwarded;
  const char *ip, *sni, *extra;
  const char *in, *out;
} rewrites[] = {
    {"adds ours at the end", false, false, NULL, NULL, NULL,
     "GET / HTTP/1.1\r\nHost: a.example\r\nAccept: */*\r\n\r\n",
     "GET / HTTP/1.1\r\nHost: a.example\r\nAccept: */*\r\n" ADDED "\r\n"},
    {"replaces client XFF", false, false, NULL, NULL, NULL,
     "GET / HTTP/1.1\r\nX-Forwarded-For: 1.1.1.1\r\nHost: a\r\n"
     "x-forwarded-for: 2.2.2.2\r\n\r\n",
     "GET / HTTP/1.1\r\nHost: a\r\n" ADDED "\r\n"},
    {"append merges every client XFF", true, false, NULL, NULL, NULL,
     "GET / HTTP/1.1\r\nx-forwarded-for: 1.1.1.1\r\nHost: a\r\n"
     "X-FORWARDED-FOR:  2.2.2.2, 3.3.3.3 \t\r\n\r\n",
     "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1, 2.2.2.2, "
     "3.3.3.3, " IP4 "\r\n" PROTO_PORT "\r\n"},
    {"append without client XFF", true, false, NULL, NULL, NULL, GET_A,
     GET_A_OUT},
    {"append skips an empty XFF", true, false, NULL, NULL, NULL,
     "GET / HTTP/1.1\r\nX-Forwarded-For:\r\nHost: a\r\n\r\n", GET_A_OUT},
    {"strips every owned header, keeps the rest byte-exact", false, false, NULL,
     NULL, NULL,
     "POST /x?y=1&z HTTP/1.1\r\nx-forwarded-proto: http\r\n"
     "Host:   a.example  \r\nX-Forwarded-Port: 80\r\nforwarded: for=evil\r\n"
     "X-CLIENT-VERIFY: SUCCESS\r\nx-client-subject: CN=evil\r\n"
     "X-Client-Fingerprint-Sha256: ab\r\nx-client-cert: x\r\n"
     "X-Forwarded-Host: keep\r\nX-Forwarded-For-Real: keep\r\n"
     "X-Odd:\tv \t\r\nempty:\r\nContent-Length: 0\r\n\r\n",
     "POST /x?y=1&z HTTP/1.1\r\nHost:   a.example  \r\n"
     "X-Forwarded-Host: keep\r\nX-Forwarded-For-Real: keep\r\n"
     "X-Odd:\tv \t\r\nempty:\r\nContent-Length: 0\r\n" ADDED "\r\n"},
    {"last line owned", false, false, NULL, NULL, NULL,
     "GET / HTTP/1.0\r\nForwarded: x\r\n\r\n",
     "GET / HTTP/1.0\r\n" ADDED "\r\n"},
    {"HTTP/1.0 without Host", false, false, NULL, NULL, NULL,
     "GET / HTTP/1.0\r\n\r\n", "GET / HTTP/1.0\r\n" ADDED "\r\n"},
    {"Forwarded, IPv4, Host", false, true, NULL, NULL, NULL,
     "GET / HTTP/1.1\r\nHost: a.example \r\n\r\n",
     "GET / HTTP/1.1\r\nHost: a.example \r\n" ADDED "Forwarded: for=" IP4
     ";proto=https;host=a.example\r\n\r\n"},
    {"Forwarded, IPv6, Host with a port is quoted", false, true, "2001:db8::1",
     NULL, NULL, "GET / HTTP/1.1\r\nHost: a.example:8443\r\n\r\n",
     "GET / HTTP/1.1\r\nHost: a.example:8443\r\n"
     "X-Forwarded-For: 2001:db8::1\r\n" PROTO_PORT
     "Forwarded: for=\"[2001:db8::1]\";proto=https;"
     "host=\"a.example:8443\"\r\n\r\n"},
    {"Forwarded host escapes quotes", false, true, NULL, NULL, NULL,
     "GET / HTTP/1.1\r\nHost: a\"b\\c\r\n\r\n",
     "GET / HTTP/1.1\r\nHost: a\"b\\c\r\n" ADDED "Forwarded: for=" IP4
     ";proto=https;host=\"a\\\"b\\\\c\"\r\n\r\n"},
    {"Forwarded host from SNI without Host", false, true, NULL, "sni.example",
     NULL, "GET / HTTP/1.0\r\n\r\n",
     "GET / HTTP/1.0\r\n" ADDED "Forwarded: for=" IP4
     ";proto=https;host=sni.example\r\n\r\n"},
    {"Forwarded without any host", false, true, NULL, NULL, NULL,
     "GET / HTTP/1.0\r\n\r\n",
     "GET / HTTP/1.0\r\n" ADDED "Forwarded: for=" IP4 ";proto=https\r\n\r\n"},
    {"extra lines after ours, forged copies removed", true, true, NULL, NULL,
     "X-Client-Verify: SUCCESS\r\nX-Client-Subject: CN=me\r\n",
     "GET / HTTP/1.1\r\nX-Client-Verify: SUCCESS\r\nHost: h\r\n"
     "X-Client-Subject: CN=forged\r\n\r\n",
     "GET / HTTP/1.1\r\nHost: h\r\n" ADDED "Forwarded: for=" IP4
     ";proto=https;host=h\r\n"
     "X-Client-Verify: SUCCESS\r\nX-Client-Subject: CN=me\r\n\r\n"},
};

START_TEST(test_rewrite) {
  struct fx *f = fx_new();

  f->opts.xff_append = rewrites[_i].xff_append;
  f->opts.forwarded = rewrites[_i].forwarded;
  if (rewrites[_i].ip != NULL)
    f->peer.client_ip = rewrites[_i].ip;
  f->peer.host = rewrites[_i].sni;
  if (rewrites[_i].extra != NULL) {
    f->peer.extra = rewrites[_i].extra;
    f->peer.extra_len = strlen(rewrites[_i].extra);
  }
  fx_start(f);
  req(f, rewrites[_i].in, strlen(rewrites[_i].in), 0);
  ck_assert_msg(
      buf_used(&f->up) == strlen(rewrites[_i].out) &&
          memcmp(buf_data(&f->up), rewrites[_i].out, buf_used(&f->up)) == 0,
      "%s:\ngot  [%.*s]\nwant [%s]", rewrites[_i].name, (int)buf_used(&f->up),
      buf_data(&f->up), rewrites[_i].out);
  fx_free(f);
}
END_TEST

START_TEST(test_owned_list) {
  static const char *const want[] = {
      "X-Forwarded-For",
      "X-Forwarded-Proto",
      "X-Forwarded-Port",
      "Forwarded",
      "X-Client-Verify",
      "X-Client-Subject",
      "X-Client-Fingerprint-SHA256",
      "X-Client-Cert",
  };
  size_t i;

  for (i = 0; http_owned_headers[i] != NULL; i++) {
    ck_assert_uint_lt(i, sizeof want / sizeof want[0]);
    ck_assert_str_eq(http_owned_headers[i], want[i]);
  }
  ck_assert_uint_eq(i, sizeof want / sizeof want[0]);
}
END_TEST

/* Each owned name, in three spellings, is removed wherever it appears. */
START_TEST(test_strip_each_owned) {
  for (size_t i = 0; http_owned_headers[i] != NULL; i++) {
    for (int spelling = 0; spelling < 3; spelling++) {
      char name[64], in[256], want[256];
      struct fx *f = fx_start(fx_new());

      snprintf(name, sizeof name, "%s", http_owned_headers[i]);
      for (char *c = name; *c != '\0'; c++)
        if (spelling == 0)
          *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
        else if (spelling == 1)
          *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
        else if ((c - name) % 2 == 1)
          *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c - 32 * (*c >= 'a'));
      snprintf(in, sizeof in,
               "GET / HTTP/1.1\r\n%s: x\r\nHost: a\r\n%s:forged\r\n\r\n", name,
               name);
      snprintf(want, sizeof want, "%s", GET_A_OUT);
      req(f, in, strlen(in), 0);
      expect(&f->up, want, strlen(want));
      fx_free(f);
    }
  }
}
END_TEST

/* ---- rejected requests ------------------------------------------------- */

static const struct {
  const char *name;
  const char *in;
  size_t len;
  ssize_t rc;
  bool head_sent; /* the error is in the body, after the head went out */
} rejects[] = {
    {"1.1 without Host", L("GET / HTTP/1.1\r\nAccept: x\r\n\r\n"), -400, false},
    {"two Hosts", L("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), -400,
     false},
    {"obs-fold", L("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"), -400,
     false},
    {"CL then TE",
     L("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
       "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
     -400, false},
    {"TE then CL",
     L("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
       "Content-Length: 3\r\n\r\n0\r\n\r\n"),
     -400, false},
    {"differing CLs",
     L("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
       "Content-Length: 4\r\n\r\nabcd"),
     -400, false},
    {"CL list",
     L("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\nabcd"), -400,
     false},
    {"TE gzip",
     L("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"), -501,
     false},
    {"TE chunked, gzip",
     L("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, "
       "gzip\r\n\r\n"),
     -501, false},
    {"TE in HTTP/1.0",
     L("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), -400,
     false},
    {"NUL in a value", L("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"), -400,
     false},
    {"CR in a value", L("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"), -400,
     false},
    {"LF in a value", L("GET / HTTP/1.1\r\nHost: a\r\nX: a\nb\r\n\r\n"), -400,
     false},
    {"NUL in a name", L("GET / HTTP/1.1\r\nHost: a\r\nX\0Y: a\r\n\r\n"), -400,
     false},
    {"CR in a name", L("GET / HTTP/1.1\r\nHost: a\r\nX\rY: a\r\n\r\n"), -400,
     false},
    {"space before colon", L("GET / HTTP/1.1\r\nHost: a\r\nX : a\r\n\r\n"),
     -400, false},
    {"bare LF lines", L("GET / HTTP/1.1\nHost: a\n\n"), -400, false},
    {"CONNECT", L("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"), -400,
     false},
    {"HTTP/2.0", L("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), -400, false},
    {"HTTP/0.9", L("GET / HTTP/0.9\r\nHost: a\r\n\r\n"), -400, false},
    {"h2 preface", L("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), -400, false},
    {"garbage", L("\x16\x03\x01\x02\x00\x01\x00"), -400, false},
    {"bad chunk size",
     L("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
       "zz\r\n"),
     -400, true},
};

START_TEST(test_reject) {
  struct fx *f = fx_start(fx_new());

  ck_assert_int_eq(
      http_req_feed(&f->h, rejects[_i].in, rejects[_i].len, &f->up, 0),
      rejects[_i].rc);
  if (!rejects[_i].head_sent)
    ck_assert_msg(buf_used(&f->up) == 0, "%s: forwarded", rejects[_i].name);
  fx_free(f);
}
END_TEST

START_TEST(test_final_chunked_accepted) {
  struct fx *f = fx_start(fx_new());

  req(f,
      L("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n"
        "\r\n0\r\n\r\n"),
      0);
  ck_assert_uint_eq(f->h.txn_count, 1);
  fx_free(f);
}
END_TEST

/* A bad request after a good one: the good one is already forwarded and
 * awaits its response, so the caller must not answer 400 ahead of it. */
START_TEST(test_reject_after_pipelined) {
  struct fx *f = fx_start(fx_new());

  ck_assert_int_eq(
      http_req_feed(&f->h, L(GET_A "GET / HTTP/1.1\r\n\r\n"), &f->up, 0), -400);
  expect(&f->up, L(GET_A_OUT));
  ck_assert(http_awaiting_response(&f->h));
  fx_free(f);
}
END_TEST

/* A request whose head is exactly n bytes (n >= 64), with `headers` lines. */
static char *head_of(size_t n, int headers) {
  char *s = malloc(n + 1);
  size_t len;

  ck_assert_ptr_nonnull(s);
  len = (size_t)sprintf(s, "GET / HTTP/1.1\r\nHost: a\r\n");
  for (int i = 1; i < headers - 1; i++)
    len += (size_t)sprintf(s + len, "H%d: v\r\n", i);
  /* One last header padded to size. */
  size_t pad = n - len - strlen("P: \r\n\r\n");
  len += (size_t)sprintf(s + len, "P: ");
  memset(s + len, 'x', pad);
  len += pad;
  len += (size_t)sprintf(s + len, "\r\n\r\n");
  ck_assert_uint_eq(len, n);
  return s;
}

START_TEST(test_head_limit) {
  static const struct {
    size_t len;
    ssize_t rc;
  } cases[] = {{1023, 0}, {1024, 0}, {1025, -431}, {4000, -431}};

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *s = head_of(cases[i].len, 2);
    for (int bytewise = 0; bytewise < 2; bytewise++) {
      struct fx *f = fx_new();
      ssize_t rc = 0;

      f->opts.head_max = 1024;
      fx_start(f);
      for (size_t off = 0; off < cases[i].len && rc >= 0; off++) {
        size_t n = bytewise ? 1 : cases[i].len;
        rc = http_req_feed(&f->h, s + off, n, &f->up, 0);
        if (!bytewise)
          break;
      }
      if (cases[i].rc == 0) {
        ck_assert_int_ge(rc, 0);
        ck_assert_uint_eq(f->h.txn_count, 1);
      } else {
        ck_assert_int_eq(rc, cases[i].rc);
        ck_assert_uint_eq(buf_used(&f->up), 0);
      }
      fx_free(f);
    }
    free(s);
  }
}
END_TEST

START_TEST(test_header_count) {
  for (int n = 99; n <= 101; n++) {
    char *s = head_of(2000, n);
    struct fx *f = fx_start(fx_new());

    ck_assert_int_eq(http_req_feed(&f->h, s, 2000, &f->up, 0),
                     n <= 100 ? 2000 : -431);
    fx_free(f);
    free(s);
  }
}
END_TEST

/* ---- bodies and pipelining --------------------------------------------- */

#define CHUNKED_REQ                                                            \
  "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
#define CHUNKED_BODY                                                           \
  "12\r\nGET / HTTP/1.1\r\n\r\n\r\n3;ext=1\r\nabc\r\n0\r\n"                    \
  "X-Forwarded-For: trailer\r\n\r\n"
#define CHUNKED_REQ_OUT                                                        \
  "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n" ADDED "\r"  \
  "\n"

START_TEST(test_chunked_body_untouched) {
  struct fx *f = fx_start(fx_new());

  req(f, L(CHUNKED_REQ CHUNKED_BODY GET_A), 0);
  expect(&f->up, L(CHUNKED_REQ_OUT CHUNKED_BODY GET_A_OUT));
  ck_assert_uint_eq(f->h.txn_count, 2);
  fx_free(f);
}
END_TEST

START_TEST(test_content_length_body) {
  struct fx *f = fx_start(fx_new());

  /* Body bytes look like owned headers and a request: untouched. */
  req(f,
      L("PUT /p HTTP/1.1\r\nHost: a\r\nContent-Length: 36\r\n\r\n"
        "X-Forwarded-For: x\r\nGET / HTTP/1.1\r\n" GET_A),
      0);
  expect(&f->up, L("PUT /p HTTP/1.1\r\nHost: a\r\nContent-Length: 36\r\n" ADDED
                   "\r\nX-Forwarded-For: x\r\nGET / HTTP/1.1\r\n" GET_A_OUT));
  fx_free(f);
}
END_TEST

START_TEST(test_pipelined) {
  struct fx *f = fx_start(fx_new());

  req(f,
      L("GET /1 HTTP/1.1\r\nHost: a\r\nForwarded: x\r\n\r\n"
        "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi"
        "GET /3 HTTP/1.1\r\nX-Forwarded-Proto: http\r\nHost: a\r\n\r\n"),
      0);
  expect(&f->up,
         L("GET /1 HTTP/1.1\r\nHost: a\r\n" ADDED "\r\n"
           "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n" ADDED "\r\nhi"
           "GET /3 HTTP/1.1\r\nHost: a\r\n" ADDED "\r\n"));
  ck_assert_uint_eq(f->h.txn_count, 3);
  resp(f,
       L("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1"
         "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
         "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
         "1\r\n3\r\n0\r\n\r\n"),
       0);
  ck_assert_int_eq(f->ndone, 3);
  ck_assert_str_eq(f->target[0], "/1");
  ck_assert_str_eq(f->method[1], "POST");
  ck_assert_int_eq(f->done[1].status, 201);
  ck_assert_int_eq(f->done[2].status, 404);
  ck_assert(!http_awaiting_response(&f->h));
  fx_free(f);
}
END_TEST

/* The request side of a long keep-alive exchange; the same stream is fed
 * whole, in two parts at every boundary and one byte at a time. */
static const char split_req[] =
    "GET /1 HTTP/1.1\r\nHost: a\r\nX-Client-Cert: forged\r\nA: b\r\n\r\n"
    "\r\n" /* a stray CRLF between requests is tolerated */
    CHUNKED_REQ CHUNKED_BODY
    "POST /3 HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
    "Content-Length: 5\r\n\r\nhello"
    "HEAD /4 HTTP/1.0\r\nConnection: keep-alive\r\nforwarded: x\r\n\r\n"
    "GET /5 HTTP/1.1\r\nHost: a\r\nx-forwarded-for: 9.9.9.9\r\n\r\n";

static const char split_resp[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    "3\r\ntwo\r\n0\r\nT: x\r\n\r\n"
    "HTTP/1.1 100 Continue\r\n\r\n"
    "HTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n"
    "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
    "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n" /* HEAD: no body */
    "HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n";

/* Feed req then resp, each in pieces of the given sizes (0 = rest), into a
 * fresh fx; return it for comparison. */
static struct fx *run_split(bool xff_append, unsigned hsts, size_t first,
                            size_t step, bool split_resp_too) {
  struct fx *f = fx_new();
  size_t off, n;

  f->opts.xff_append = xff_append;
  f->opts.hsts_seconds = hsts;
  fx_start(f);
  for (off = 0; off < sizeof split_req - 1; off += n) {
    n = off == 0 && first > 0 ? first : step > 0 ? step : sizeof split_req;
    if (n > sizeof split_req - 1 - off)
      n = sizeof split_req - 1 - off;
    req(f, split_req + off, n, 0);
  }
  for (off = 0; off < sizeof split_resp - 1; off += n) {
    n = !split_resp_too         ? sizeof split_resp
        : off == 0 && first > 0 ? first
        : step > 0              ? step
                                : sizeof split_resp;
    if (n > sizeof split_resp - 1 - off)
      n = sizeof split_resp - 1 - off;
    resp(f, split_resp + off, n, 0);
  }
  return f;
}

static void same(struct fx *a, struct fx *b, size_t at) {
  ck_assert_msg(
      buf_used(&a->up) == buf_used(&b->up) &&
          memcmp(buf_data(&a->up), buf_data(&b->up), buf_used(&a->up)) == 0,
      "request output differs when split at %zu", at);
  ck_assert_msg(buf_used(&a->down) == buf_used(&b->down) &&
                    memcmp(buf_data(&a->down), buf_data(&b->down),
                           buf_used(&a->down)) == 0,
                "response output differs when split at %zu", at);
  ck_assert_int_eq(a->ndone, b->ndone);
  for (int i = 0; i < a->ndone; i++) {
    ck_assert_int_eq(a->done[i].status, b->done[i].status);
    ck_assert_uint_eq(a->done[i].bytes_in, b->done[i].bytes_in);
    ck_assert_uint_eq(a->done[i].bytes_out, b->done[i].bytes_out);
  }
}

START_TEST(test_split_everywhere) {
  bool xff_append = _i & 1;
  unsigned hsts = _i & 2 ? 600 : 0;
  struct fx *whole = run_split(xff_append, hsts, 0, 0, false);

  ck_assert_int_eq(whole->ndone, 5);
  ck_assert_uint_eq(whole->h.txn_count, 0);
  ck_assert(!http_done_closing(&whole->h));
  ck_assert_uint_eq(whole->done[2].bytes_in,
                    sizeof("POST /3 HTTP/1.1\r\nHost: a\r\nExpect: "
                           "100-continue\r\nContent-Length: 5\r\n\r\nhello") -
                        1);
  for (size_t at = 1; at < sizeof split_req - 1; at++) {
    struct fx *f =
        run_split(xff_append, hsts, at, 0, at < sizeof split_resp - 1);
    same(whole, f, at);
    fx_free(f);
  }
  struct fx *bytes = run_split(xff_append, hsts, 0, 1, true);
  same(whole, bytes, 0);
  fx_free(bytes);
  fx_free(whole);
}
END_TEST

START_TEST(test_keep_alive_100) {
  struct fx *f = fx_start(fx_new());
  const char *head_storage = NULL;
  char r[64];

  for (int i = 0; i < 100; i++) {
    int n = snprintf(r, sizeof r, "GET /%d HTTP/1.1\r\nHost: a\r\n\r\n", i);
    /* Split every head so the head buffer is used, and reused. */
    req(f, r, 10, (uint64_t)i);
    ck_assert(http_head_begun(&f->h));
    req(f, r + 10, (size_t)n - 10, (uint64_t)i);
    ck_assert(!http_head_begun(&f->h));
    ck_assert(http_awaiting_response(&f->h));
    if (i == 0)
      head_storage = f->h.head.base;
    ck_assert_ptr_eq(f->h.head.base, head_storage);
    resp(f, L("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), (uint64_t)i);
    ck_assert(!http_awaiting_response(&f->h));
    ck_assert_int_eq(f->ndone, i + 1);
    ck_assert_int_eq(f->done[i].status, 200);
    ck_assert_uint_eq(f->done[i].start_ms, (uint64_t)i);
  }
  ck_assert(!http_done_closing(&f->h));
  fx_free(f);
}
END_TEST

START_TEST(test_pipeline_full) {
  struct fx *f = fx_start(fx_new());
  char all[64 * (HTTP_PIPELINE_MAX + 2)];
  size_t len = 0, one = sizeof GET_A - 1;

  for (int i = 0; i < HTTP_PIPELINE_MAX + 2; i++)
    len += (size_t)sprintf(all + len, "%s", GET_A);
  ck_assert_int_eq(http_req_feed(&f->h, all, len, &f->up, 0),
                   (ssize_t)(HTTP_PIPELINE_MAX * one));
  ck_assert_uint_eq(f->h.txn_count, HTTP_PIPELINE_MAX);
  ck_assert(!http_head_begun(&f->h));
  /* Still full: nothing more. */
  ck_assert_int_eq(
      http_req_feed(&f->h, all + HTTP_PIPELINE_MAX * one, 2 * one, &f->up, 0),
      0);
  resp(f, L("HTTP/1.1 204 No Content\r\n\r\n"), 0);
  ck_assert_int_eq(
      http_req_feed(&f->h, all + HTTP_PIPELINE_MAX * one, 2 * one, &f->up, 0),
      (ssize_t)one);
  ck_assert_uint_eq(f->h.txn_count, HTTP_PIPELINE_MAX);
  ck_assert_uint_eq(buf_used(&f->up),
                    (HTTP_PIPELINE_MAX + 1) * (sizeof GET_A_OUT - 1));
  fx_free(f);
}
END_TEST

START_TEST(test_done_values) {
  struct fx *f = fx_start(fx_new());
  char r[600];
  int n;

  memset(r, 0, sizeof r);
  n = sprintf(r, "POST /");
  memset(r + n, 't', 300);
  n += 300;
  n += sprintf(r + n, " HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n");
  req(f, r, (size_t)n, 1000);
  req(f, L("body"), 1500);
  ck_assert(http_awaiting_response(&f->h));
  ck_assert(!http_response_started(&f->h));
  resp(f, L("HTTP/1.1 200 OK\r\nContent-Len"), 1800);
  ck_assert(http_response_started(&f->h));
  ck_assert(!http_awaiting_response(&f->h));
  resp(f, L("gth: 3\r\n\r\nabc"), 2000);
  ck_assert(!http_response_started(&f->h));
  ck_assert_int_eq(f->ndone, 1);
  ck_assert_str_eq(f->method[0], "POST");
  ck_assert_uint_eq(strlen(f->target[0]), HTTP_TARGET_LOG_MAX);
  ck_assert_int_eq(f->target[0][0], '/');
  ck_assert_int_eq(f->done[0].status, 200);
  ck_assert_uint_eq(f->done[0].bytes_in, (uint64_t)n + 4);
  ck_assert_uint_eq(f->done[0].bytes_out,
                    sizeof("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc") -
                        1);
  ck_assert_uint_eq(f->done[0].start_ms, 1000);
  ck_assert_uint_eq(f->done[0].end_ms, 2000);
  fx_free(f);
}
END_TEST

/* ---- the response side ------------------------------------------------- */

START_TEST(test_expect_continue) {
  struct fx *f = fx_start(fx_new());

  req(f,
      L("PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
        "Content-Length: 3\r\n\r\n"),
      0);
  resp(f, L("HTTP/1.1 100 Continue\r\n\r\n"), 0);
  expect(&f->down, L("HTTP/1.1 100 Continue\r\n\r\n"));
  ck_assert_int_eq(f->ndone, 0);
  ck_assert(!http_response_started(&f->h)); /* an error may still be sent */
  ck_assert(http_awaiting_response(&f->h));
  ck_assert(http_resp_eof(&f->h, 0)); /* between responses: clean */
  req(f, L("abc"), 0);
  resp(f, L("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), 0);
  ck_assert_int_eq(f->ndone, 1);
  ck_assert_int_eq(f->done[0].status, 200);
  ck_assert_uint_eq(f->done[0].bytes_out,
                    sizeof("HTTP/1.1 100 Continue\r\n\r\n"
                           "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") -
                        1);
  fx_free(f);
}
END_TEST

START_TEST(test_no_body_responses) {
  struct fx *f = fx_start(fx_new());
  static const char r[] =
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" /* HEAD */
      "HTTP/1.1 204 No Content\r\n\r\n"
      "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx";

  req(f, L("HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n" GET_A GET_A GET_A), 0);
  resp(f, L(r), 0);
  expect(&f->down, L(r));
  ck_assert_int_eq(f->ndone, 4);
  ck_assert_str_eq(f->method[0], "HEAD");
  ck_assert_int_eq(f->done[1].status, 204);
  ck_assert_int_eq(f->done[2].status, 304);
  ck_assert_int_eq(f->done[3].status, 200);
  ck_assert(http_resp_eof(&f->h, 0));
  fx_free(f);
}
END_TEST

START_TEST(test_eof_delimited) {
  struct fx *f = fx_start(fx_new());

  req(f, L(GET_A), 0);
  resp(f, L("HTTP/1.1 200 OK\r\n\r\nabc"), 0);
  resp(f, L("def"), 0);
  ck_assert_int_eq(f->ndone, 0);
  ck_assert(http_response_started(&f->h));
  ck_assert(http_resp_eof(&f->h, 7));
  ck_assert_int_eq(f->ndone, 1);
  ck_assert_int_eq(f->done[0].status, 200);
  ck_assert_uint_eq(f->done[0].bytes_out,
                    sizeof("HTTP/1.1 200 OK\r\n\r\nabcdef") - 1);
  ck_assert_uint_eq(f->done[0].end_ms, 7);
  ck_assert(http_done_closing(&f->h));
  expect(&f->down, L("HTTP/1.1 200 OK\r\n\r\nabcdef"));
  fx_free(f);
}
END_TEST

static const struct {
  const char *resp;
  unsigned hsts;
  bool clean;
} eofs[] = {
    {"", 0, true},
    {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", 0, true},
    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhi", 0, false},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", 0,
     false},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n", 0, false},
    {"HTTP/1.1 200 O", 0, false},
    {"HTTP/1.1 200 O", 60, false},
    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhi", 60, false},
    {"HTTP/1.1 100 Continue\r\n\r\n", 60, true},
};

START_TEST(test_eof) {
  struct fx *f = fx_new();

  f->opts.hsts_seconds = eofs[_i].hsts;
  fx_start(f);
  req(f, L(GET_A), 0);
  resp(f, eofs[_i].resp, strlen(eofs[_i].resp), 0);
  ck_assert_int_eq(http_resp_eof(&f->h, 0), eofs[_i].clean);
  fx_free(f);
}
END_TEST

START_TEST(test_unsolicited_response) {
  struct fx *f = fx_start(fx_new());

  ck_assert_int_eq(
      http_resp_feed(&f->h, L("HTTP/1.1 200 OK\r\n\r\n"), &f->down, 0), -502);
  fx_free(f);
  f = fx_start(fx_new());
  req(f, L(GET_A), 0);
  ck_assert_int_eq(
      http_resp_feed(&f->h,
                     L("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
                       "HTTP/1.1 200 OK\r\n\r\n"),
                     &f->down, 0),
      -502);
  ck_assert_int_eq(f->ndone, 1);
  fx_free(f);
  f = fx_start(fx_new());
  req(f, L(GET_A), 0);
  ck_assert_int_eq(
      http_resp_feed(&f->h, L("HTTP/1.1 2x0 OK\r\n\r\n"), &f->down, 0), -502);
  fx_free(f);
}
END_TEST

START_TEST(test_early_response) {
  struct fx *f = fx_start(fx_new());

  /* The backend refuses before the body is in: the rest of the body still
   * goes through, and the next request is read normally. */
  req(f, L("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nabc"), 0);
  resp(f, L("HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n"), 0);
  ck_assert_int_eq(f->ndone, 1);
  ck_assert_int_eq(f->done[0].status, 413);
  req(f, L("def" GET_A), 0);
  ck_assert_uint_eq(f->h.txn_count, 1);
  resp(f, L("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), 0);
  ck_assert_int_eq(f->ndone, 2);
  fx_free(f);
}
END_TEST

/* Requests never answered still reach the access log, once. */
START_TEST(test_cleanup_reports) {
  struct fx *f = fx_start(fx_new());

  req(f, L(GET_A GET_A), 3);
  resp(f, L("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\npart"), 4);
  http_cleanup(&f->h);
  ck_assert_int_eq(f->ndone, 2);
  ck_assert_int_eq(f->done[0].status, 200); /* cut short */
  ck_assert_uint_eq(f->done[0].bytes_out, 42);
  ck_assert_uint_eq(f->done[0].end_ms, 4);
  ck_assert_int_eq(f->done[1].status, 0); /* never came */
  ck_assert_uint_eq(f->done[1].start_ms, 3);
  fx_free(f); /* cleans up twice more: no more reports */
  f = fx_start(fx_new());
  req(f, L(GET_A), 0);
  resp(f, L("HTTP/1.1 200 OK\r\nContent-Len"), 0);
  http_cleanup(&f->h);
  ck_assert_int_eq(f->ndone, 1);
  ck_assert_int_eq(f->done[0].status, 0); /* head incomplete */
  fx_free(f);
}
END_TEST

static const struct {
  const char *req, *resp;
  bool closing;
} closings[] = {
    {GET_A, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false},
    {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
     "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true},
    {"GET / HTTP/1.0\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
     true},
    {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
     "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false},
    {GET_A, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
     true},
    {GET_A, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", true},
};

START_TEST(test_done_closing) {
  struct fx *f = fx_start(fx_new());

  req(f, closings[_i].req, strlen(closings[_i].req), 0);
  ck_assert(!http_done_closing(&f->h));
  resp(f, closings[_i].resp, strlen(closings[_i].resp), 0);
  ck_assert_int_eq(http_done_closing(&f->h), closings[_i].closing);
  ck_assert_int_eq(f->ndone, 1);
  fx_free(f);
}
END_TEST

START_TEST(test_after_close_dropped) {
  struct fx *f = fx_start(fx_new());

  req(f, L("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" GET_A), 0);
  ck_assert_uint_eq(f->h.txn_count, 1);
  expect(&f->up,
         L("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n" ADDED "\r\n"));
  fx_free(f);
}
END_TEST

/* ---- HSTS -------------------------------------------------------------- */

#define STS "Strict-Transport-Security: max-age=31536000\r\n"

static const struct {
  const char *method, *in, *out;
} hsts[] = {
    {"GET", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" STS "\r\nhi"},
    {"GET",
     "HTTP/1.1 200 OK\r\nstrict-transport-security: max-age=1\r\n"
     "Content-Length: 0\r\n\r\n",
     "HTTP/1.1 200 OK\r\nstrict-transport-security: max-age=1\r\n"
     "Content-Length: 0\r\n\r\n"},
    {"GET",
     "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\n"
     "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\n"
     "Transfer-Encoding: chunked\r\n" STS "\r\n0\r\n\r\n"},
    {"HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n",
     "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n" STS "\r\n"},
    {"GET", "HTTP/1.1 304 Not Modified\r\n\r\n",
     "HTTP/1.1 304 Not Modified\r\n" STS "\r\n"},
};

START_TEST(test_hsts) {
  struct fx *f = fx_new();
  char r[128];
  int n = snprintf(r, sizeof r, "%s / HTTP/1.1\r\nHost: a\r\n\r\n",
                   hsts[_i].method);

  f->opts.hsts_seconds = 31536000;
  fx_start(f);
  req(f, r, (size_t)n, 0);
  resp(f, hsts[_i].in, strlen(hsts[_i].in), 0);
  expect(&f->down, hsts[_i].out, strlen(hsts[_i].out));
  ck_assert_int_eq(f->ndone, 1);
  ck_assert_uint_eq(f->done[0].bytes_out, strlen(hsts[_i].out));
  fx_free(f);
}
END_TEST

START_TEST(test_hsts_head_too_big) {
  struct fx *f = fx_new();
  size_t n = 70 * 1024;
  char *r = malloc(n);
  int rc = 0;

  f->opts.hsts_seconds = 1;
  fx_start(f);
  req(f, L(GET_A), 0);
  memcpy(r, "HTTP/1.1 200 OK\r\nX: ", 20);
  memset(r + 20, 'x', n - 20);
  for (size_t off = 0; off < n && rc == 0; off += 4096)
    rc = http_resp_feed(&f->h, r + off, n - off < 4096 ? n - off : 4096,
                        &f->down, 0);
  ck_assert_int_eq(rc, -502);
  ck_assert_uint_eq(buf_used(&f->down), 0);
  free(r);
  fx_free(f);
}
END_TEST

/* ---- Upgrade ----------------------------------------------------------- */

#define WS_REQ                                                                 \
  "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"                     \
  "Upgrade: websocket\r\n\r\n"
#define WS_REQ_OUT                                                             \
  "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"                     \
  "Upgrade: websocket\r\n" ADDED "\r\n"
#define WS_101                                                                 \
  "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"                \
  "Upgrade: websocket\r\n\r\n"

START_TEST(test_upgrade_accepted) {
  struct fx *f = fx_new();
  static const char client_raw[] = "\x81\x05hello GET / HTTP/1.1\r\n\r\n";

  f->opts.hsts_seconds = _i ? 60 : 0; /* 101 is not final: no HSTS */
  fx_start(f);
  /* The request side stops after the Upgrade request: the rest waits. */
  ck_assert_int_eq(http_req_feed(&f->h, L(WS_REQ "\x81\x05hello"), &f->up, 0),
                   (ssize_t)(sizeof WS_REQ - 1));
  expect(&f->up, L(WS_REQ_OUT));
  ck_assert(http_awaiting_response(&f->h));
  ck_assert_int_eq(http_req_feed(&f->h, L("\x81\x05hello"), &f->up, 0), 0);
  ck_assert(!http_tunnel(&f->h));
  resp(f, L(WS_101 "\x81\x02hi"), 5); /* raw bytes in the 101's read */
  ck_assert(http_tunnel(&f->h));
  expect(&f->down, L(WS_101 "\x81\x02hi"));
  ck_assert_int_eq(f->ndone, 1);
  ck_assert_int_eq(f->done[0].status, 101);
  req(f, L(client_raw), 0);
  expect(&f->up, L(client_raw));
  resp(f, L("HTTP/1.1 200 OK\r\n\r\n"), 0);
  expect(&f->down, L("HTTP/1.1 200 OK\r\n\r\n"));
  ck_assert(!http_awaiting_response(&f->h));
  ck_assert(http_resp_eof(&f->h, 0));
  ck_assert_int_eq(f->ndone, 1);
  fx_free(f);
}
END_TEST

START_TEST(test_upgrade_refused) {
  struct fx *f = fx_start(fx_new());
  static const char in[] = WS_REQ "GET /next HTTP/1.1\r\nHost: a\r\n\r\n";
  ssize_t n;

  n = http_req_feed(&f->h, L(in), &f->up, 0);
  ck_assert_int_eq(n, (ssize_t)(sizeof WS_REQ - 1));
  resp(f, L("HTTP/1.1 426 Upgrade Required\r\nContent-Length: 2\r\n\r\nno"), 0);
  ck_assert(!http_tunnel(&f->h));
  ck_assert_int_eq(f->done[0].status, 426);
  req(f, in + n, sizeof in - 1 - (size_t)n, 0);
  expect(&f->up,
         L(WS_REQ_OUT "GET /next HTTP/1.1\r\nHost: a\r\n" ADDED "\r\n"));
  resp(f, L("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), 0);
  ck_assert_int_eq(f->ndone, 2);
  ck_assert_str_eq(f->target[1], "/next");
  fx_free(f);
}
END_TEST

#define UPG_POST                                                               \
  "POST /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: x\r\n"      \
  "Content-Length: 4\r\n\r\n"

/* An Upgrade request with a body: the body is read before the wait. */
START_TEST(test_upgrade_with_body) {
  struct fx *f = fx_start(fx_new());

  ck_assert_int_eq(http_req_feed(&f->h, L(UPG_POST "bodyRAW"), &f->up, 0),
                   (ssize_t)(sizeof UPG_POST - 1 + 4));
  resp(f, L(WS_101 "RAW"), 0);
  ck_assert(http_tunnel(&f->h));
  ck_assert_uint_eq(f->done[0].bytes_in, sizeof UPG_POST - 1 + 4);
  req(f, L("RAW"), 0);
  fx_free(f);
}
END_TEST

START_TEST(test_101_without_upgrade) {
  struct fx *f = fx_start(fx_new());

  req(f, L(GET_A), 0);
  ck_assert_int_eq(http_resp_feed(&f->h, L(WS_101), &f->down, 0), -502);
  fx_free(f);
}
END_TEST

/* ---- output limits, error responses ------------------------------------ */

START_TEST(test_out_full) {
  struct fx *f = fx_start(fx_new());
  struct buf small;

  buf_init(&small, 16);
  ck_assert_int_eq(http_req_feed(&f->h, L(GET_A), &small, 0), UV_ENOBUFS);
  ck_assert_uint_eq(buf_used(&small), 0);
  buf_cleanup(&small);
  fx_free(f);
}
END_TEST

START_TEST(test_error_response) {
  static const struct {
    int status;
    const char *want;
  } cases[] = {
      {400, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
            "Content-Length: 16\r\nConnection: close\r\n\r\n400 Bad Request\n"},
      {408, "HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain\r\n"
            "Content-Length: 20\r\nConnection: close\r\n\r\n"
            "408 Request Timeout\n"},
      {431, "HTTP/1.1 431 Request Header Fields Too Large\r\n"
            "Content-Type: text/plain\r\nContent-Length: 36\r\n"
            "Connection: close\r\n\r\n431 Request Header Fields Too Large\n"},
      {501, "HTTP/1.1 501 Not Implemented\r\nContent-Type: text/plain\r\n"
            "Content-Length: 20\r\nConnection: close\r\n\r\n"
            "501 Not Implemented\n"},
      {502, "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\n"
            "Content-Length: 16\r\nConnection: close\r\n\r\n502 Bad Gateway\n"},
      {504, "HTTP/1.1 504 Gateway Timeout\r\nContent-Type: text/plain\r\n"
            "Content-Length: 20\r\nConnection: close\r\n\r\n"
            "504 Gateway Timeout\n"},
  };
  struct buf b;

  buf_init(&b, 4096);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ck_assert_int_eq(http_error_response(&b, cases[i].status), 0);
    expect(&b, cases[i].want, strlen(cases[i].want));
  }
  ck_assert_int_eq(http_error_response(&b, 200), UV_EINVAL);
  buf_cleanup(&b);
}
END_TEST

#define N(a) (int)(sizeof(a) / sizeof((a)[0]))

Suite *http_suite(void) {
  Suite *s = suite_create("http");
  TCase *rq = tcase_create("request");
  TCase *rs = tcase_create("response");
  TCase *sp = tcase_create("split");

  tcase_add_loop_test(rq, test_rewrite, 0, N(rewrites));
  tcase_add_test(rq, test_owned_list);
  tcase_add_test(rq, test_strip_each_owned);
  tcase_add_loop_test(rq, test_reject, 0, N(rejects));
  tcase_add_test(rq, test_final_chunked_accepted);
  tcase_add_test(rq, test_reject_after_pipelined);
  tcase_add_test(rq, test_head_limit);
  tcase_add_test(rq, test_header_count);
  tcase_add_test(rq, test_chunked_body_untouched);
  tcase_add_test(rq, test_content_length_body);
  tcase_add_test(rq, test_pipelined);
  tcase_add_test(rq, test_keep_alive_100);
  tcase_add_test(rq, test_pipeline_full);
  tcase_add_test(rq, test_done_values);
  tcase_add_test(rq, test_after_close_dropped);
  tcase_add_test(rq, test_out_full);
  tcase_add_test(rs, test_expect_continue);
  tcase_add_test(rs, test_no_body_responses);
  tcase_add_test(rs, test_eof_delimited);
  tcase_add_loop_test(rs, test_eof, 0, N(eofs));
  tcase_add_test(rs, test_unsolicited_response);
  tcase_add_test(rs, test_early_response);
  tcase_add_test(rs, test_cleanup_reports);
  tcase_add_loop_test(rs, test_done_closing, 0, N(closings));
  tcase_add_loop_test(rs, test_hsts, 0, N(hsts));
  tcase_add_test(rs, test_hsts_head_too_big);
  tcase_add_loop_test(rs, test_upgrade_accepted, 0, 2);
  tcase_add_test(rs, test_upgrade_refused);
  tcase_add_test(rs, test_upgrade_with_body);
  tcase_add_test(rs, test_101_without_upgrade);
  tcase_add_test(rs, test_error_response);
  tcase_add_loop_test(sp, test_split_everywhere, 0, 4);
  tcase_set_timeout(sp, 60);
  suite_add_tcase(s, rq);
  suite_add_tcase(s, rs);
  suite_add_tcase(s, sp);
  return s;
}
