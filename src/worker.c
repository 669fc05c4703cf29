/* worker.c: the life of a worker loop (see worker.h): start, accept,
 * pause at --max-connections or when accept fails, switch generations on
 * reload, drain on STOP, force-close on FORCE, exit when the last handle has
 * closed. */
#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "gen.h"
#include "log.h"
#include "process.h"
#include "redirect.h"
#include "tls.h"
#include "worker.h"

/* After a failed accept, how long the listeners stay closed. */
#define ACCEPT_RETRY_MS 250
/* Trim the heap only when at least this many connections have closed. */
#define TRIM_MIN_CONNS 64

static void listener_close_cb(uv_handle_t *h);
static void maybe_finish(struct worker *w);

static uint64_t wall_seconds(void) { return (uint64_t)time(NULL); }

/* ---- generations -------------------------------------------------------- */

struct worker_gen *worker_gen_new(struct gen *g, char *err, size_t errlen) {
  struct worker_gen *wg = calloc(1, sizeof *wg);
  if (wg == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  if (tls_ctx_new(&wg->tls, g->store, &g->cfg, g->secret, g->secret_len,
                  wall_seconds(), err, errlen) != 0) {
    free(wg);
    return NULL;
  }
  gen_ref(g);
  wg->gen = g;
  wg->cfg = &g->cfg;
  wg->http_opts = (struct http_opts){
      .head_max = g->cfg.max_header_size,
      .xff_append = g->cfg.xff == CFG_XFF_APPEND,
      .forwarded = g->cfg.forwarded,
      .hsts_seconds = g->cfg.hsts_seconds,
      .log_targets = g->access_log_fd >= 0,
  };
  return wg;
}

/* Every session of wg's ctx must have been returned (tls.h). */
void worker_gen_free(struct worker_gen *wg) {
  if (wg == NULL)
    return;
  tls_ctx_free(wg->tls);
  gen_unref(wg->gen);
  free(wg);
}

static void retire(struct worker *w, struct worker_gen *wg) {
  if (wg->n_conns == 0) {
    worker_gen_free(wg);
    return;
  }
  wg->next = w->retired;
  w->retired = wg;
}

static void release_retired(struct worker *w, struct worker_gen *wg) {
  for (struct worker_gen **p = &w->retired; *p; p = &(*p)->next) {
    if (*p == wg) {
      *p = wg->next;
      worker_gen_free(wg);
      return;
    }
  }
}

/* ---- listeners ---------------------------------------------------------- */

/* Each listening handle wraps a copy of the worker's socket, so the handle
 * can be closed (pausing accepts) while the socket itself stays bound and
 * queues connections in its backlog until the handle is opened again.
 * F_DUPFD_CLOEXEC rather than dup(): the copy must be close-on-exec like
 * the original. (It also keeps ThreadSanitizer quiet: libuv closes
 * descriptors with a raw syscall it cannot see, so dup()'s interceptor
 * takes a number another worker has closed and this one reuses for a
 * race.) */
static int listener_activate(struct worker *w, struct worker_listener *l) {
  int fd = fcntl(l->fd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  int r = uv_tcp_init(&w->loop, &l->handle);
  if (r == 0)
    r = uv_tcp_open(&l->handle, fd);
  if (r != 0) {
    close(fd);
    return r;
  }
  l->handle.data = w;
  r = uv_listen((uv_stream_t *)&l->handle, 511,
                l->redirect ? redirect_accept_cb : conn_accept_cb);
  if (r != 0) {
    l->closing = true;
    uv_close((uv_handle_t *)&l->handle, listener_close_cb);
    return r;
  }
  l->active = true;
  return 0;
}

static void listener_deactivate(struct worker_listener *l) {
  if (!l->active)
    return;
  l->active = false;
  l->closing = true;
  uv_close((uv_handle_t *)&l->handle, listener_close_cb);
}

/* Closing the socket itself (all its copies) tells the kernel to stop
 * queueing connections for this worker on that address. */
static void listener_retire(struct worker_listener *l) {
  listener_deactivate(l);
  if (l->fd >= 0)
    close(l->fd);
  l->fd = -1;
}

static void listeners_update(struct worker *w) {
  bool want = !w->draining && !w->paused && !w->accept_paused;
  int short_of_fds = 0;
  for (int i = 0; i < WORKER_MAX_LISTENERS; i++) {
    struct worker_listener *l = &w->listeners[i];
    if (want && !l->active && !l->closing && l->fd >= 0) {
      int r = listener_activate(w, l);
      if (r == UV_EMFILE || r == UV_ENFILE)
        short_of_fds = r; /* the dup: try again with the accepts */
      else if (r != 0)
        log_error("worker %d: cannot accept on %s: %s", w->id, l->text,
                  uv_strerror(r));
    } else if (!want || l->fd < 0) {
      listener_deactivate(l);
    }
  }
  if (short_of_fds != 0)
    worker_accept_failed(w, short_of_fds);
}

static void accept_timer_cb(uv_timer_t *t) {
  struct worker *w = t->data;
  w->accept_paused = false;
  listeners_update(w);
}

/* See worker.h. libuv (1.44) calls the connection callback with the error
 * and then calls accept() again, in a loop, without returning to the event
 * loop: out of descriptors, that is a busy loop that also starves every
 * other connection of this worker (libuv's own reserve-descriptor trick
 * fails when another thread takes the descriptor it frees). Closing the
 * listening handles ends that loop; the sockets stay bound and queue. */
void worker_accept_failed(struct worker *w, int status) {
  if (!w->accept_failing) {
    struct rlimit rl = {0};
    getrlimit(RLIMIT_NOFILE, &rl);
    log_warn("worker %d: accept: %s (%u connections open, open-file limit "
             "%llu): pausing accepts, retrying every %d ms",
             w->id, uv_strerror(status), w->n_conns,
             (unsigned long long)rl.rlim_cur, ACCEPT_RETRY_MS);
    w->accept_failing = true;
  }
  if (w->accept_paused || w->draining)
    return;
  w->accept_paused = true;
  listeners_update(w);
  uv_timer_start(&w->accept_timer, accept_timer_cb, ACCEPT_RETRY_MS, 0);
}

static void listener_close_cb(uv_handle_t *h) {
  struct worker_listener *l =
      (struct worker_listener *)((char *)h -
                                 offsetof(struct worker_listener, handle));
  struct worker *w = h->data;
  l->closing = false;
  listeners_update(w); /* a pause may have ended while we were closing */
  maybe_finish(w);
}

static bool listeners_idle(const struct worker *w) {
  for (int i = 0; i < WORKER_MAX_LISTENERS; i++)
    if (w->listeners[i].active || w->listeners[i].closing)
      return false;
  return true;
}

static struct worker_listener *listener_find(struct worker *w,
                                             const struct worker_sock *s) {
  for (int i = 0; i < WORKER_MAX_LISTENERS; i++) {
    struct worker_listener *l = &w->listeners[i];
    if (l->fd >= 0 && l->redirect == s->redirect &&
        strcmp(l->text, s->text) == 0)
      return l;
  }
  return NULL;
}

static struct worker_listener *listener_free_slot(struct worker *w) {
  for (int i = 0; i < WORKER_MAX_LISTENERS; i++) {
    struct worker_listener *l = &w->listeners[i];
    if (l->fd < 0 && !l->active && !l->closing)
      return l;
  }
  return NULL;
}

/* Make the listener slots match u's sockets: keep the ones both have,
 * retire the others, fill free slots with u's new sockets (taken). Handles
 * follow in the next listeners_update(). */
static void listeners_apply(struct worker *w, struct worker_update *u) {
  bool keep[WORKER_MAX_LISTENERS] = {false};
  for (int i = 0; i < u->n_socks; i++) {
    struct worker_sock *s = &u->socks[i];
    struct worker_listener *l = s->fd < 0 ? listener_find(w, s) : NULL;
    if (l == NULL && s->fd >= 0)
      l = listener_free_slot(w);
    if (l == NULL) { /* cannot happen: the control thread planned it */
      log_error("worker %d: no listener slot for %s", w->id, s->text);
      if (s->fd >= 0)
        close(s->fd);
      continue;
    }
    if (s->fd >= 0) {
      snprintf(l->text, sizeof l->text, "%s", s->text);
      l->fd = s->fd;
      l->redirect = s->redirect;
    }
    l->accept_proxy = s->accept_proxy;
    s->fd = -1;
    keep[l - w->listeners] = true;
  }
  for (int i = 0; i < WORKER_MAX_LISTENERS; i++)
    if (!keep[i] && w->listeners[i].fd >= 0)
      listener_retire(&w->listeners[i]);
}

static void close_sockets(struct worker *w) {
  for (int i = 0; i < WORKER_MAX_LISTENERS; i++) {
    if (w->listeners[i].fd >= 0)
      close(w->listeners[i].fd);
    w->listeners[i].fd = -1;
  }
}

/* ---- switching generations ---------------------------------------------- */

static unsigned https_port(const struct cfg *cfg) {
  const struct sockaddr_storage *first = &cfg->listen[0].sa;
  return ntohs(first->ss_family == AF_INET
                   ? ((const struct sockaddr_in *)first)->sin_port
                   : ((const struct sockaddr_in6 *)first)->sin6_port);
}

static void ticket_timer_cb(uv_timer_t *t) {
  struct worker *w = t->data;
  unsigned next = tls_ctx_tick(w->cur->tls, wall_seconds());
  uv_timer_start(t, ticket_timer_cb, (uint64_t)(next ? next : 1) * 1000, 0);
}

static void use_gen(struct worker *w, struct worker_gen *wg) {
  if (w->cur)
    retire(w, w->cur);
  w->cur = wg;
  w->redirect_https_port = https_port(wg->cfg);
}

void worker_update_free(struct worker_update *u) {
  if (u == NULL)
    return;
  for (int i = 0; i < u->n_socks; i++)
    if (u->socks[i].fd >= 0)
      close(u->socks[i].fd);
  worker_gen_free(u->wg);
  free(u);
}

static void take_update(struct worker *w) {
  struct worker_update *u = atomic_exchange(&w->update, NULL);
  if (u == NULL)
    return;
  if (!w->draining) {
    use_gen(w, u->wg);
    u->wg = NULL;
    listeners_apply(w, u);
    /* --max-connections may have changed either way. */
    w->paused = w->n_conns >= w->cur->cfg->max_connections;
    listeners_update(w);
    ticket_timer_cb(&w->ticket_timer);
    log_debug("worker %d: now on configuration %u", w->id, w->cur->gen->id);
  }
  worker_update_free(u);
  if (w->on_updated)
    w->on_updated(w);
}

/* ---- mailbox, connections, drain ---------------------------------------- */

/* A draining worker ends once its listeners and connections are gone:
 * closing the last handles lets uv_run() return. */
static void maybe_finish(struct worker *w) {
  if (!w->draining || w->n_conns > 0 || !listeners_idle(w))
    return;
  if (!uv_is_closing((uv_handle_t *)&w->wakeup)) {
    uv_close((uv_handle_t *)&w->wakeup, NULL);
    uv_close((uv_handle_t *)&w->ticket_timer, NULL);
    uv_close((uv_handle_t *)&w->accept_timer, NULL);
  }
}

static void wakeup_cb(uv_async_t *a) {
  struct worker *w = a->data;
  unsigned mail = atomic_exchange(&w->mail, 0);
  if ((mail & WORKER_MAIL_STOP) && !w->draining) {
    log_info("worker %d: draining, %u connection(s) open", w->id, w->n_conns);
    w->draining = true;
    listeners_update(w);
    /* Closing our sockets tells the kernel to stop queueing connections
     * for this worker; the other workers are stopping too. */
    close_sockets(w);
    /* Keep-alive connections end between requests, not at the timeout. */
    for (struct conn *c = w->conns, *next; c; c = next) {
      next = conn_next(c);
      conn_drain(c);
    }
  }
  if (mail & WORKER_MAIL_UPDATE)
    take_update(w);
  if (mail & WORKER_MAIL_FORCE) {
    if (w->n_conns > 0)
      log_warn("worker %d: drain timeout, closing %u connection(s)", w->id,
               w->n_conns);
    /* A connection leaves the list only in its last close callback. */
    for (struct conn *c = w->conns; c; c = conn_next(c))
      conn_abort(c);
  }
  maybe_finish(w);
}

struct worker_gen *worker_conn_opened(struct worker *w) {
  w->n_conns++;
  w->cur->n_conns++;
  if (w->n_conns > w->trim_peak)
    w->trim_peak = w->n_conns;
  if (w->accept_failing) {
    log_info("worker %d: accepting again", w->id);
    w->accept_failing = false;
  }
  metrics_set(&w->metrics.conns_open, w->n_conns);
  if (w->n_conns >= w->cur->cfg->max_connections && !w->paused) {
    log_warn("worker %d: %u connections open (--max-connections), pausing "
             "accepts", w->id, w->n_conns);
    w->paused = true;
    listeners_update(w);
  }
  return w->cur;
}

/* glibc keeps the memory of freed connections in this thread's arena
 * rather than giving it back (free() returns only the top of a heap), so
 * after a surge of connections the process would stay at its peak size for
 * good. Give it back each time the open connections have halved since
 * their peak: a few trims per surge, at most one per TRIM_MIN_CONNS
 * closes. */
static void maybe_trim(struct worker *w) {
#ifdef __GLIBC__
  if (w->n_conns > w->trim_peak / 2 ||
      w->trim_peak - w->n_conns < TRIM_MIN_CONNS)
    return;
  malloc_trim(0);
  w->trim_peak = w->n_conns;
#else
  (void)w;
#endif
}

void worker_conn_closed(struct worker *w, struct worker_gen *wg) {
  w->n_conns--;
  maybe_trim(w);
  if (--wg->n_conns == 0 && wg != w->cur)
    release_retired(w, wg);
  metrics_set(&w->metrics.conns_open, w->n_conns);
  if (w->paused && w->n_conns < w->cur->cfg->max_connections) {
    w->paused = false;
    listeners_update(w);
  }
  maybe_finish(w);
}

/* ---- start and stop ----------------------------------------------------- */

int worker_init(struct worker *w, int id, struct worker_update *u, char *err,
                size_t errlen) {
  memset(w, 0, sizeof *w);
  w->id = id;
  /* A response parser's output for one 16 KiB read: the read itself plus,
   * at most, a buffered response head released at once. */
  buf_init(&w->obuf, 2 * 65536 + WORKER_RBUF_SIZE);
  atomic_init(&w->mail, 0);
  atomic_init(&w->update, NULL);
  for (int i = 0; i < WORKER_MAX_LISTENERS; i++)
    w->listeners[i].fd = -1;
  char who[32];
  snprintf(who, sizeof who, "worker %d", id);
  const char *what = "uv_loop_init";
  int r = uv_loop_init(&w->loop);
  if (r != 0)
    goto fail;
  what = "uv_async_init";
  r = uv_async_init(&w->loop, &w->wakeup, wakeup_cb);
  if (r != 0) {
    uv_loop_close(&w->loop); /* nothing else is on it yet */
    goto fail;
  }
  w->wakeup.data = w;
  uv_timer_init(&w->loop, &w->ticket_timer);
  w->ticket_timer.data = w;
  uv_timer_init(&w->loop, &w->accept_timer);
  w->accept_timer.data = w;
  use_gen(w, u->wg);
  u->wg = NULL;
  listeners_apply(w, u); /* handles open in worker_main() */
  return 0;
fail:
  process_start_error(err, errlen, who, what, r);
  buf_cleanup(&w->obuf);
  return -1;
}

static void worker_main(void *arg) {
  struct worker *w = arg;
  listeners_update(w);
  ticket_timer_cb(&w->ticket_timer);
  uv_unref((uv_handle_t *)&w->ticket_timer);
  uv_run(&w->loop, UV_RUN_DEFAULT);
  if (w->on_exit)
    w->on_exit(w);
}

int worker_start(struct worker *w) {
  int r = uv_thread_create(&w->thread, worker_main, w);
  w->started = r == 0;
  return r;
}

void worker_post(struct worker *w, unsigned mail) {
  atomic_fetch_or(&w->mail, mail);
  uv_async_send(&w->wakeup);
}

void worker_post_update(struct worker *w, struct worker_update *u) {
  atomic_store(&w->update, u);
  worker_post(w, WORKER_MAIL_UPDATE);
}

static void close_walk_cb(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

void worker_join(struct worker *w) {
  if (w->started)
    uv_thread_join(&w->thread);
  /* A worker that never ran still has open handles: close them here. */
  uv_walk(&w->loop, close_walk_cb, NULL);
  uv_run(&w->loop, UV_RUN_DEFAULT);
  uv_loop_close(&w->loop);
  close_sockets(w);
  struct worker_update *u = atomic_exchange(&w->update, NULL);
  if (u)
    worker_update_free(u);
  /* Retired generations went with their last connections; this is for a
   * loop that ended some other way. */
  while (w->retired)
    release_retired(w, w->retired);
  worker_gen_free(w->cur);
  w->cur = NULL;
  buf_cleanup(&w->obuf);
}
