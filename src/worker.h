/* worker.h: one worker thread = one libuv loop.
 *
 * A worker owns everything its connections touch: the loop, one listening
 * handle per --listen address (its own SO_REUSEPORT socket), its own TLS
 * state (struct tls_ctx: ssl_config, DRBG, ticket context, parsed keys), a
 * read buffer for backend data, and the list of its connections. It shares
 * nothing mutable with other workers; what all workers need (cfg, the
 * certificate store, the ticket secret) is immutable and borrowed.
 *
 * The control thread talks to a worker only through its mailbox: it sets
 * bits in `mail` and wakes the loop with uv_async_send (which coalesces and
 * carries no payload by itself). */
#ifndef TLSTERM_WORKER_H
#define TLSTERM_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "config.h"
#include "http.h"
#include "metrics.h"

struct conn;
struct tls_ctx;
struct tls_store;

/* Plaintext read from the backend is encrypted before the read callback
 * returns, so one buffer per worker serves every connection. One TLS record
 * carries at most 16 KiB of plaintext. */
#define WORKER_RBUF_SIZE 16384

enum worker_mail {
  WORKER_MAIL_STOP = 1 << 0,  /* stop accepting, drain */
  WORKER_MAIL_FORCE = 1 << 1, /* close every connection now */
};

struct worker_listener {
  uv_tcp_t handle;
  int fd;       /* the socket opened by the control thread; owned */
  bool accept_proxy; /* --accept-proxy: a PROXY header precedes TLS */
  bool redirect;     /* a --redirect-listen socket: plain HTTP, 308 */
  bool active;  /* handle initialised and listening */
  bool closing; /* uv_close issued, close callback pending */
};

struct worker {
  int id;
  uv_loop_t loop;
  uv_thread_t thread;
  bool started;
  uv_async_t wakeup;
  uv_timer_t ticket_timer;
  atomic_uint mail; /* enum worker_mail bits, set by the control thread */

  const struct cfg *cfg; /* borrowed, immutable */
  struct tls_ctx *tls;   /* owned: this loop's TLS state */

  /* --listen sockets first, then --redirect-listen ones. */
  struct worker_listener listeners[2 * CFG_MAX_LISTEN];
  int n_listeners;
  unsigned redirect_https_port; /* where redirects point: first --listen */

  struct conn *conns; /* doubly linked list of open connections */
  unsigned n_conns;
  uint64_t next_conn_id;
  bool draining;
  bool paused; /* at max-connections: listeners closed until one ends */

  char rbuf[WORKER_RBUF_SIZE];
  /* HTTP mode: decrypted client bytes on their way through the request
   * parser, and backend bytes on their way through the response parser
   * (both consumed within one callback, so shared by all connections). */
  char pbuf[WORKER_RBUF_SIZE];
  struct buf obuf;
  struct http_opts http_opts; /* from cfg */
  int access_log_fd;          /* borrowed; -1: no access log */
  struct metrics metrics;     /* written by this thread only (metrics.h) */

  void (*on_exit)(struct worker *w); /* called on the worker thread as its
                                        loop finishes; set by the owner */
};

/* Initialise worker `id` on the calling (control) thread: loop, TLS ctx,
 * handles for the listening fds (taken: the worker closes them): one per
 * cfg->listen, then one per cfg->redirect, in that order. The worker
 * does not run until worker_start(). Returns 0 or -1 with a reason in err;
 * on failure nothing is left to clean up and the fds are still the
 * caller's. */
int worker_init(struct worker *w, int id, const struct cfg *cfg,
                const struct tls_store *store, const uint8_t *ticket_secret,
                size_t secret_len, const int *fds, int n_fds,
                int access_log_fd, char *err, size_t errlen);

/* Start the worker's thread. 0 or a negative errno. */
int worker_start(struct worker *w);

/* From any thread: post mail bits and wake the worker. */
void worker_post(struct worker *w, unsigned mail);

/* Join the thread and free what worker_init() made. */
void worker_join(struct worker *w);

/* Called by conn.c when a connection has been accepted (pauses accepting at
 * --max-connections) and when one has been freed (resumes, or ends a
 * drain). */
void worker_conn_opened(struct worker *w);
void worker_conn_closed(struct worker *w);

#endif
