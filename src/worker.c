/* worker.c: the life of a worker loop (see worker.h): start, accept,
 * pause at --max-connections, drain on STOP, force-close on FORCE, exit when
 * the last handle has closed. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "redirect.h"
#include "tls.h"
#include "worker.h"

static void listener_close_cb(uv_handle_t *h);

static uint64_t wall_seconds(void) { return (uint64_t)time(NULL); }

/* Each listening handle wraps a dup of the worker's socket, so the handle
 * can be closed (pausing accepts) while the socket itself stays bound and
 * queues connections in its backlog until the handle is opened again. */
static int listener_activate(struct worker *w, struct worker_listener *l) {
  int fd = dup(l->fd);
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

static void listeners_update(struct worker *w) {
  bool want = !w->draining && !w->paused;
  for (int i = 0; i < w->n_listeners; i++) {
    struct worker_listener *l = &w->listeners[i];
    if (want && !l->active && !l->closing && l->fd >= 0) {
      int r = listener_activate(w, l);
      if (r != 0)
        log_error("worker %d: cannot resume accepting: %s", w->id,
                  uv_strerror(r));
    } else if (!want) {
      listener_deactivate(l);
    }
  }
}

static void maybe_finish(struct worker *w);

static void listener_close_cb(uv_handle_t *h) {
  struct worker *w = h->data;
  for (int i = 0; i < w->n_listeners; i++)
    if ((uv_handle_t *)&w->listeners[i].handle == h)
      w->listeners[i].closing = false;
  listeners_update(w); /* a pause may have ended while we were closing */
  maybe_finish(w);
}

static bool listeners_idle(const struct worker *w) {
  for (int i = 0; i < w->n_listeners; i++)
    if (w->listeners[i].active || w->listeners[i].closing)
      return false;
  return true;
}

/* A draining worker ends once its listeners and connections are gone:
 * closing the last handles lets uv_run() return. */
static void maybe_finish(struct worker *w) {
  if (!w->draining || w->n_conns > 0 || !listeners_idle(w))
    return;
  if (!uv_is_closing((uv_handle_t *)&w->wakeup)) {
    uv_close((uv_handle_t *)&w->wakeup, NULL);
    uv_close((uv_handle_t *)&w->ticket_timer, NULL);
  }
}

static void close_sockets(struct worker *w) {
  for (int i = 0; i < w->n_listeners; i++) {
    if (w->listeners[i].fd >= 0)
      close(w->listeners[i].fd);
    w->listeners[i].fd = -1;
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
  }
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

static void ticket_timer_cb(uv_timer_t *t) {
  struct worker *w = t->data;
  unsigned next = tls_ctx_tick(w->tls, wall_seconds());
  uv_timer_start(t, ticket_timer_cb, (uint64_t)(next ? next : 1) * 1000, 0);
}

void worker_conn_opened(struct worker *w) {
  w->n_conns++;
  metrics_set(&w->metrics.conns_open, w->n_conns);
  if (w->n_conns >= w->cfg->max_connections && !w->paused) {
    log_warn("worker %d: %u connections open (--max-connections), pausing "
             "accepts", w->id, w->n_conns);
    w->paused = true;
    listeners_update(w);
  }
}

void worker_conn_closed(struct worker *w) {
  w->n_conns--;
  metrics_set(&w->metrics.conns_open, w->n_conns);
  if (w->paused && w->n_conns < w->cfg->max_connections) {
    w->paused = false;
    listeners_update(w);
  }
  maybe_finish(w);
}

int worker_init(struct worker *w, int id, const struct cfg *cfg,
                const struct tls_store *store, const uint8_t *ticket_secret,
                size_t secret_len, const int *fds, int n_fds,
                int access_log_fd, char *err, size_t errlen) {
  memset(w, 0, sizeof *w);
  w->id = id;
  w->cfg = cfg;
  w->access_log_fd = access_log_fd;
  w->http_opts = (struct http_opts){
      .head_max = cfg->max_header_size,
      .xff_append = cfg->xff == CFG_XFF_APPEND,
      .forwarded = cfg->forwarded,
      .hsts_seconds = cfg->hsts_seconds,
  };
  /* A response parser's output for one 16 KiB read: the read itself plus,
   * at most, a buffered response head released at once. */
  buf_init(&w->obuf, 2 * 65536 + WORKER_RBUF_SIZE);
  atomic_init(&w->mail, 0);
  int r = uv_loop_init(&w->loop);
  if (r != 0) {
    snprintf(err, errlen, "worker %d: uv_loop_init: %s", id, uv_strerror(r));
    return -1;
  }
  if (tls_ctx_new(&w->tls, store, cfg, ticket_secret, secret_len,
                  wall_seconds(), err, errlen) != 0)
    goto fail_loop;
  uv_async_init(&w->loop, &w->wakeup, wakeup_cb);
  w->wakeup.data = w;
  uv_timer_init(&w->loop, &w->ticket_timer);
  w->ticket_timer.data = w;
  for (int i = 0; i < n_fds; i++) {
    w->listeners[i].fd = fds[i];
    w->listeners[i].redirect = i >= cfg->n_listen;
    w->listeners[i].accept_proxy = i < cfg->n_listen && cfg->listen_proxy[i];
  }
  const struct sockaddr_storage *first = &cfg->listen[0].sa;
  w->redirect_https_port = ntohs(
      first->ss_family == AF_INET
          ? ((const struct sockaddr_in *)first)->sin_port
          : ((const struct sockaddr_in6 *)first)->sin6_port);
  w->n_listeners = n_fds;
  return 0;

fail_loop:
  uv_loop_close(&w->loop);
  return -1;
}

static void worker_main(void *arg) {
  struct worker *w = arg;
  listeners_update(w);
  unsigned next = tls_ctx_tick(w->tls, wall_seconds());
  uv_timer_start(&w->ticket_timer, ticket_timer_cb,
                 (uint64_t)(next ? next : 1) * 1000, 0);
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
  tls_ctx_free(w->tls);
  w->tls = NULL;
  buf_cleanup(&w->obuf);
}
