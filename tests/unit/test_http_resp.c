/* test_http_resp.c: unit tests for the response side of src/http.c:
 * keep-alive and the pipelining ring, the access-log values, interim and
 * no-body responses, EOF and truncation, closing, HSTS, Upgrade, full
 * output buffers and error responses. Its cases join http_suite (in
 * test_http.c) through http_resp_tests. The fixture is http_fx.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "http.h"
#include "http_fx.h"
#include "unit.h"

START_TEST(test_keep_alive_100) {
  struct fx *f = fx_start(fx_new());
  const char *head_storage = NULL;
  char r[64];

  for (int i = 0; i < 100; i++) {
    int n = snprintf(r, sizeof r, "GET /%d HTTP/1.1\r\nHost: a\r\n\r\n", i);
    /* Split every head so the head buffer is used, and reused. */
    fx_req(f, r, 10, (uint64_t)i);
    ck_assert(http_head_begun(&f->h));
    fx_req(f, r + 10, (size_t)n - 10, (uint64_t)i);
    ck_assert(!http_head_begun(&f->h));
    ck_assert(http_awaiting_response(&f->h));
    if (i == 0)
      head_storage = f->h.head.base;
    ck_assert_ptr_eq(f->h.head.base, head_storage);
    fx_resp(f, L("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
            (uint64_t)i);
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
  fx_resp(f, L("HTTP/1.1 204 No Content\r\n\r\n"), 0);
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
  fx_req(f, r, (size_t)n, 1000);
  fx_req(f, L("body"), 1500);
  ck_assert(http_awaiting_response(&f->h));
  ck_assert(!http_response_started(&f->h));
  fx_resp(f, L("HTTP/1.1 200 OK\r\nContent-Len"), 1800);
  ck_assert(http_response_started(&f->h));
  ck_assert(!http_awaiting_response(&f->h));
  fx_resp(f, L("gth: 3\r\n\r\nabc"), 2000);
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

  fx_req(f,
         L("PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
           "Content-Length: 3\r\n\r\n"),
         0);
  fx_resp(f, L("HTTP/1.1 100 Continue\r\n\r\n"), 0);
  fx_expect(&f->down, L("HTTP/1.1 100 Continue\r\n\r\n"));
  ck_assert_int_eq(f->ndone, 0);
  ck_assert(!http_response_started(&f->h)); /* an error may still be sent */
  ck_assert(http_awaiting_response(&f->h));
  ck_assert(http_resp_eof(&f->h, 0)); /* between responses: clean */
  fx_req(f, L("abc"), 0);
  fx_resp(f, L("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), 0);
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

  fx_req(f, L("HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n" GET_A GET_A GET_A), 0);
  fx_resp(f, L(r), 0);
  fx_expect(&f->down, L(r));
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

  fx_req(f, L(GET_A), 0);
  fx_resp(f, L("HTTP/1.1 200 OK\r\n\r\nabc"), 0);
  fx_resp(f, L("def"), 0);
  ck_assert_int_eq(f->ndone, 0);
  ck_assert(http_response_started(&f->h));
  ck_assert(http_resp_eof(&f->h, 7));
  ck_assert_int_eq(f->ndone, 1);
  ck_assert_int_eq(f->done[0].status, 200);
  ck_assert_uint_eq(f->done[0].bytes_out,
                    sizeof("HTTP/1.1 200 OK\r\n\r\nabcdef") - 1);
  ck_assert_uint_eq(f->done[0].end_ms, 7);
  ck_assert(http_done_closing(&f->h));
  fx_expect(&f->down, L("HTTP/1.1 200 OK\r\n\r\nabcdef"));
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
  fx_req(f, L(GET_A), 0);
  fx_resp(f, eofs[_i].resp, strlen(eofs[_i].resp), 0);
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
  fx_req(f, L(GET_A), 0);
  ck_assert_int_eq(
      http_resp_feed(&f->h,
                     L("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
                       "HTTP/1.1 200 OK\r\n\r\n"),
                     &f->down, 0),
      -502);
  ck_assert_int_eq(f->ndone, 1);
  fx_free(f);
  f = fx_start(fx_new());
  fx_req(f, L(GET_A), 0);
  ck_assert_int_eq(
      http_resp_feed(&f->h, L("HTTP/1.1 2x0 OK\r\n\r\n"), &f->down, 0), -502);
  fx_free(f);
}
END_TEST

START_TEST(test_early_response) {
  struct fx *f = fx_start(fx_new());

  /* The backend refuses before the body is in: the rest of the body still
   * goes through, and the next request is read normally. */
  fx_req(f, L("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nabc"), 0);
  fx_resp(f, L("HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n"), 0);
  ck_assert_int_eq(f->ndone, 1);
  ck_assert_int_eq(f->done[0].status, 413);
  fx_req(f, L("def" GET_A), 0);
  ck_assert_uint_eq(f->h.txn_count, 1);
  fx_resp(f, L("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), 0);
  ck_assert_int_eq(f->ndone, 2);
  fx_free(f);
}
END_TEST

/* Requests never answered still reach the access log, once. */
START_TEST(test_cleanup_reports) {
  struct fx *f = fx_start(fx_new());

  fx_req(f, L(GET_A GET_A), 3);
  fx_resp(f, L("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\npart"), 4);
  http_cleanup(&f->h);
  ck_assert_int_eq(f->ndone, 2);
  ck_assert_int_eq(f->done[0].status, 200); /* cut short */
  ck_assert_uint_eq(f->done[0].bytes_out, 42);
  ck_assert_uint_eq(f->done[0].end_ms, 4);
  ck_assert_int_eq(f->done[1].status, 0); /* never came */
  ck_assert_uint_eq(f->done[1].start_ms, 3);
  fx_free(f); /* cleans up twice more: no more reports */
  f = fx_start(fx_new());
  fx_req(f, L(GET_A), 0);
  fx_resp(f, L("HTTP/1.1 200 OK\r\nContent-Len"), 0);
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

  fx_req(f, closings[_i].req, strlen(closings[_i].req), 0);
  ck_assert(!http_done_closing(&f->h));
  fx_resp(f, closings[_i].resp, strlen(closings[_i].resp), 0);
  ck_assert_int_eq(http_done_closing(&f->h), closings[_i].closing);
  ck_assert_int_eq(f->ndone, 1);
  fx_free(f);
}
END_TEST

START_TEST(test_after_close_dropped) {
  struct fx *f = fx_start(fx_new());

  fx_req(f, L("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" GET_A),
         0);
  ck_assert_uint_eq(f->h.txn_count, 1);
  fx_expect(&f->up, L("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n" ADDED
                      "\r\n"));
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
  fx_req(f, r, (size_t)n, 0);
  fx_resp(f, hsts[_i].in, strlen(hsts[_i].in), 0);
  fx_expect(&f->down, hsts[_i].out, strlen(hsts[_i].out));
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
  fx_req(f, L(GET_A), 0);
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
  fx_expect(&f->up, L(WS_REQ_OUT));
  ck_assert(http_awaiting_response(&f->h));
  ck_assert_int_eq(http_req_feed(&f->h, L("\x81\x05hello"), &f->up, 0), 0);
  ck_assert(!http_tunnel(&f->h));
  fx_resp(f, L(WS_101 "\x81\x02hi"), 5); /* raw bytes in the 101's read */
  ck_assert(http_tunnel(&f->h));
  fx_expect(&f->down, L(WS_101 "\x81\x02hi"));
  ck_assert_int_eq(f->ndone, 1);
  ck_assert_int_eq(f->done[0].status, 101);
  fx_req(f, L(client_raw), 0);
  fx_expect(&f->up, L(client_raw));
  fx_resp(f, L("HTTP/1.1 200 OK\r\n\r\n"), 0);
  fx_expect(&f->down, L("HTTP/1.1 200 OK\r\n\r\n"));
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
  fx_resp(f, L("HTTP/1.1 426 Upgrade Required\r\nContent-Length: 2\r\n\r\nno"),
          0);
  ck_assert(!http_tunnel(&f->h));
  ck_assert_int_eq(f->done[0].status, 426);
  fx_req(f, in + n, sizeof in - 1 - (size_t)n, 0);
  fx_expect(&f->up,
            L(WS_REQ_OUT "GET /next HTTP/1.1\r\nHost: a\r\n" ADDED "\r\n"));
  fx_resp(f, L("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), 0);
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
  fx_resp(f, L(WS_101 "RAW"), 0);
  ck_assert(http_tunnel(&f->h));
  ck_assert_uint_eq(f->done[0].bytes_in, sizeof UPG_POST - 1 + 4);
  fx_req(f, L("RAW"), 0);
  fx_free(f);
}
END_TEST

START_TEST(test_101_without_upgrade) {
  struct fx *f = fx_start(fx_new());

  fx_req(f, L(GET_A), 0);
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
    fx_expect(&b, cases[i].want, strlen(cases[i].want));
  }
  ck_assert_int_eq(http_error_response(&b, 200), UV_EINVAL);
  buf_cleanup(&b);
}
END_TEST

#define N(a) (int)(sizeof(a) / sizeof((a)[0]))

/* Add this file's cases to http_suite's "request" and "response" cases. */
void http_resp_tests(TCase *rq, TCase *rs) {
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
}
