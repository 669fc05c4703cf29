/* http_fx.h: what the src/http.c unit tests (test_http.c, test_http_resp.c)
 * share: one connection's struct http wired to buffers that collect what it
 * forwards each way and to a recorder of its access-log callbacks, and
 * helpers that feed it and check what came out. */
#ifndef TLSTERM_HTTP_FX_H
#define TLSTERM_HTTP_FX_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "http.h"

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

/* A new fx with defaults: IPv4 client, port 443, SNI "sni.example",
 * head_max 8 KiB. Adjust opts and peer, then fx_start. */
struct fx *fx_new(void);
/* http_init with f's opts and peer, the recorder as on_done. Returns f. */
struct fx *fx_start(struct fx *f);
/* http_cleanup (twice: it must be safe), then free everything. */
void fx_free(struct fx *f);

/* Feed request bytes that must all be consumed. */
void fx_req(struct fx *f, const char *p, size_t n, uint64_t now);
/* Feed response bytes, which must be accepted. */
void fx_resp(struct fx *f, const char *p, size_t n, uint64_t now);
/* The buffer holds exactly s (then empty it). */
void fx_expect(struct buf *b, const char *s, size_t n);

#endif
