/* test_http.c: unit tests for the request side of src/http.c and
 * src/http_rewrite.c: request head rewriting, request rejection, body
 * framing and pipelining; every stream is also fed split at each byte
 * boundary. The response side is in test_http_resp.c, which adds its cases
 * to this file's suite. The fixture is http_fx.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "http.h"
#include "http_fx.h"
#include "unit.h"

Suite *http_suite(void);

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
  fx_req(f, rewrites[_i].in, strlen(rewrites[_i].in), 0);
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
      fx_req(f, in, strlen(in), 0);
      fx_expect(&f->up, want, strlen(want));
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

  fx_req(f,
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
  fx_expect(&f->up, L(GET_A_OUT));
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

  fx_req(f, L(CHUNKED_REQ CHUNKED_BODY GET_A), 0);
  fx_expect(&f->up, L(CHUNKED_REQ_OUT CHUNKED_BODY GET_A_OUT));
  ck_assert_uint_eq(f->h.txn_count, 2);
  fx_free(f);
}
END_TEST

START_TEST(test_content_length_body) {
  struct fx *f = fx_start(fx_new());

  /* Body bytes look like owned headers and a request: untouched. */
  fx_req(f,
         L("PUT /p HTTP/1.1\r\nHost: a\r\nContent-Length: 36\r\n\r\n"
           "X-Forwarded-For: x\r\nGET / HTTP/1.1\r\n" GET_A),
         0);
  fx_expect(&f->up,
            L("PUT /p HTTP/1.1\r\nHost: a\r\nContent-Length: 36\r\n" ADDED
              "\r\nX-Forwarded-For: x\r\nGET / HTTP/1.1\r\n" GET_A_OUT));
  fx_free(f);
}
END_TEST

START_TEST(test_pipelined) {
  struct fx *f = fx_start(fx_new());

  fx_req(f,
         L("GET /1 HTTP/1.1\r\nHost: a\r\nForwarded: x\r\n\r\n"
           "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi"
           "GET /3 HTTP/1.1\r\nX-Forwarded-Proto: http\r\nHost: a\r\n\r\n"),
         0);
  fx_expect(&f->up,
            L("GET /1 HTTP/1.1\r\nHost: a\r\n" ADDED "\r\n"
              "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n" ADDED
              "\r\nhi"
              "GET /3 HTTP/1.1\r\nHost: a\r\n" ADDED "\r\n"));
  ck_assert_uint_eq(f->h.txn_count, 3);
  fx_resp(f,
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
    fx_req(f, split_req + off, n, 0);
  }
  for (off = 0; off < sizeof split_resp - 1; off += n) {
    n = !split_resp_too         ? sizeof split_resp
        : off == 0 && first > 0 ? first
        : step > 0              ? step
                                : sizeof split_resp;
    if (n > sizeof split_resp - 1 - off)
      n = sizeof split_resp - 1 - off;
    fx_resp(f, split_resp + off, n, 0);
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
  http_resp_tests(rq, rs);
  tcase_add_loop_test(sp, test_split_everywhere, 0, 4);
  tcase_set_timeout(sp, 60);
  suite_add_tcase(s, rq);
  suite_add_tcase(s, rs);
  suite_add_tcase(s, sp);
  return s;
}
