/* worker.h: one worker thread = one libuv loop.
 *
 * A worker owns everything its connections touch: the loop, one listening
 * handle per --listen address (its own SO_REUSEPORT socket), its own TLS
 * state (struct tls_ctx: ssl_config, DRBG, ticket context, parsed keys), a
 * read buffer for backend data, and the list of its connections. It shares
 * nothing mutable with other workers; what all workers need (cfg, the
 * certificate store, the ticket secret: a struct gen, gen.h) is immutable
 * and reference-counted.
 *
 * The control thread talks to a worker only through its mailbox: it sets
 * bits in `mail` and wakes the loop with uv_async_send (which coalesces and
 * carries no payload by itself); a reload's payload travels in `update`.
 *
 * Reload: the worker switches new connections to the new worker_gen at
 * once; connections already open finish on the one they started with,
 * which is freed when the last of them closes. Sockets for addresses both
 * generations listen on are kept, so nothing queued in their backlog is
 * lost; sockets for removed addresses close. */
#ifndef TLSTERM_WORKER_H
#define TLSTERM_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "addr.h"
#include "buf.h"
#include "config.h"
#include "http.h"
#include "metrics.h"

struct conn;
struct gen;
struct tls_ctx;

/* Plaintext read from the backend is encrypted before the read callback
 * returns, so one buffer per worker serves every connection. One TLS record
 * carries at most 16 KiB of plaintext. */
#define WORKER_RBUF_SIZE 16384
/* Listening addresses of one generation (--listen, then --redirect-listen). */
#define WORKER_MAX_SOCKS (2 * CFG_MAX_LISTEN)
/* Listener slots: a reload may briefly hold the old set closing beside the
 * new one. */
#define WORKER_MAX_LISTENERS (2 * WORKER_MAX_SOCKS)

enum worker_mail {
  WORKER_MAIL_STOP = 1 << 0,   /* stop accepting, drain */
  WORKER_MAIL_FORCE = 1 << 1,  /* close every connection now */
  WORKER_MAIL_UPDATE = 1 << 2, /* take w->update: a new generation */
};

/* This worker's TLS state for one generation. New connections take the
 * current one (w->cur) and keep it for their whole life; after a reload the
 * old one is retired and freed, on this thread, when its last connection
 * has closed. */
struct worker_gen {
  struct gen *gen;         /* one reference */
  const struct cfg *cfg;   /* &gen->cfg */
  struct tls_ctx *tls;     /* owned; used only by the owning loop */
  struct http_opts http_opts;
  unsigned n_conns;        /* open connections that use it */
  struct worker_gen *next; /* w->retired */
};

/* Build a worker_gen for g (takes its own reference). On the control
 * thread: the result is handed to one worker, which alone uses it then.
 * NULL on failure with a reason in err. */
struct worker_gen *worker_gen_new(struct gen *g, char *err, size_t errlen);
void worker_gen_free(struct worker_gen *wg);

/* One listening address of a generation. fd >= 0 is a new socket for this
 * worker (taken by it); fd == -1 means "keep the socket you already have
 * for `text`". */
struct worker_sock {
  char text[ADDR_TEXT_MAX]; /* the address as normalised (addr.text) */
  int fd;
  bool redirect;     /* a --redirect-listen socket: plain HTTP, 308 */
  bool accept_proxy; /* --accept-proxy: a PROXY header precedes TLS */
};

/* Everything a worker switches to at start-up or on reload. Owned by the
 * control thread until posted; the worker takes wg and the fds. */
struct worker_update {
  struct worker_gen *wg;
  struct worker_sock socks[WORKER_MAX_SOCKS];
  int n_socks;
};

/* Free an update not handed to a worker: its sockets and worker_gen.
 * NULL is fine. */
void worker_update_free(struct worker_update *u);

struct worker_listener {
  uv_tcp_t handle;
  char text[ADDR_TEXT_MAX];
  int fd;            /* the socket opened by the control thread; owned;
                        -1: the slot is retired or free */
  bool accept_proxy;
  bool redirect;
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
  /* WORKER_MAIL_UPDATE's payload: set by the control thread before the
   * mail bit, taken (exchanged for NULL) by the worker. */
  _Atomic(struct worker_update *) update;

  struct worker_gen *cur;     /* new connections use this */
  struct worker_gen *retired; /* older ones still in use by connections */

  /* Slots; a slot is free when fd < 0 and its handle is neither active nor
   * closing. Handles must not move, hence slots rather than a packed
   * list. */
  struct worker_listener listeners[WORKER_MAX_LISTENERS];
  unsigned redirect_https_port; /* where redirects point: first --listen */

  struct conn *conns; /* doubly linked list of open connections */
  unsigned n_conns;
  uint64_t next_conn_id;
  bool draining;
  bool paused; /* at max-connections: listeners closed until one ends */
  /* accept failed (out of file descriptors, say): listeners closed until
   * accept_timer fires, so that the loop does not spin on the error. */
  bool accept_paused;
  bool accept_failing; /* the current run of failures has been logged */
  uv_timer_t accept_timer;
  unsigned trim_peak; /* most connections open since memory was trimmed */

  char rbuf[WORKER_RBUF_SIZE];
  /* HTTP mode: decrypted client bytes on their way through the request
   * parser, and backend bytes on their way through the response parser
   * (both consumed within one callback, so shared by all connections). */
  char pbuf[WORKER_RBUF_SIZE];
  struct buf obuf;
  struct metrics metrics;     /* written by this thread only (metrics.h) */

  /* Called on the worker thread as its loop finishes, and after it has
   * applied (or, draining, discarded) an update. Set by the owner. */
  void (*on_exit)(struct worker *w);
  void (*on_updated)(struct worker *w);
};

/* Initialise worker `id` on the calling (control) thread with its first
 * generation: loop, handles, and the listening sockets of `u` (all new;
 * taken, with u->wg, on success only). The worker does not run until
 * worker_start(). Returns 0 or -1 with a reason in err. */
int worker_init(struct worker *w, int id, struct worker_update *u, char *err,
                size_t errlen);

/* Start the worker's thread. 0 or a negative errno. */
int worker_start(struct worker *w);

/* From any thread: post mail bits and wake the worker. */
void worker_post(struct worker *w, unsigned mail);

/* From the control thread: hand a running worker a new generation. The
 * worker takes u (and frees it) and calls on_updated when done. At most one
 * update may be outstanding per worker. */
void worker_post_update(struct worker *w, struct worker_update *u);

/* Join the thread and free what worker_init() made. */
void worker_join(struct worker *w);

/* Called by conn.c when a connection has been accepted (pauses accepting at
 * --max-connections; returns the worker_gen the connection uses) and when
 * one has been freed (resumes, ends a drain, frees a retired worker_gen). */
struct worker_gen *worker_conn_opened(struct worker *w);
void worker_conn_closed(struct worker *w, struct worker_gen *wg);

/* A listener's accept callback got an error (status < 0), typically
 * UV_EMFILE: libuv would call it again at once for as long as the error
 * lasts, so the worker stops accepting for a moment and retries (new
 * connections wait in the backlog meanwhile). Logs once per run of
 * failures. */
void worker_accept_failed(struct worker *w, int status);

#endif
