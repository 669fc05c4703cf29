/* oneshot.h: a plain-HTTP connection that carries one request: accept,
 * read the request head into a bounded buffer and parse it with llhttp,
 * write the one response the owner builds from it, send FIN, discard what
 * the client still sends for a short while (so that closing does not reset
 * the response away), close. The --admin listener (admin.c) and the
 * --redirect-listen sockets (redirect.c) serve this way. See oneshot.c. */
#ifndef TLSTERM_ONESHOT_H
#define TLSTERM_ONESHOT_H

#include <stddef.h>

#include <llhttp.h>
#include <uv.h>

struct oneshot_conn;

/* One parsed request head. The pointers are into the connection's head
 * buffer: valid only while the respond callback runs. */
struct oneshot_req {
  llhttp_method_t method;
  const char *url; /* the request target as sent */
  size_t url_len;
  const char *host; /* the Host value, trailing blanks kept; meaningful */
  size_t host_len;  /* only when hosts is 1 */
  int hosts;        /* Host lines in the head */
};

/* Builds the answer to a connection's one request. req is NULL when the
 * head was malformed or did not fit in head_max. Returns the whole
 * response (status line, headers, body) in a malloc'd buffer, taken: freed
 * once written; its length in *len. NULL closes the connection without an
 * answer. */
typedef char *(*oneshot_respond_cb)(void *arg, const struct oneshot_req *req,
                                    size_t *len);

struct oneshot_opts {
  size_t head_max;     /* a request head must fit in this many bytes */
  unsigned timeout_ms; /* and arrive within this, or no answer: closed */
  oneshot_respond_cb respond;
  void *arg; /* borrowed, passed to respond: must outlive the connection */
  /* NULL, or a list that holds the connection from its accept to its last
   * close callback, for oneshot_close_all(). */
  struct oneshot_conn **list;
};

/* Accepts one connection from `server` (a listening handle; the connection
 * runs on its loop) and serves one request on it as opts (copied) says.
 * Returns 0, or UV_ENOMEM or uv_accept()'s error: only that connection is
 * lost. */
int oneshot_accept(uv_stream_t *server, const struct oneshot_opts *opts);

/* Closes every connection on `list`; each leaves the list, and is freed, in
 * its close callback as the loop runs. Safe to call twice. */
void oneshot_close_all(struct oneshot_conn *list);

#endif
