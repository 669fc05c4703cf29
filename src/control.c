/* control.c: the control thread's loop (see control.h): signals, drain,
 * reload, and the --admin listener. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control.h"
#include "gen.h"
#include "log.h"
#include "plan.h"
#include "process.h"
#include "tls.h"
#include "worker.h"

static struct control *the_control; /* for the worker callbacks only */

static void post_all(struct control *ctl, unsigned mail) {
  for (int i = 0; i < ctl->n_workers; i++)
    worker_post(&ctl->workers[i], mail);
}

/* ---- drain -------------------------------------------------------------- */

static void drain_timer_cb(uv_timer_t *t) {
  struct control *ctl = t->data;
  post_all(ctl, WORKER_MAIL_FORCE);
}

static void stop_cb(uv_signal_t *s, int signum) {
  struct control *ctl = s->data;
  if (ctl->draining) {
    log_info("signal %s again: closing all connections now",
             strsignal(signum));
    post_all(ctl, WORKER_MAIL_FORCE);
    return;
  }
  ctl->draining = true;
  unsigned ms = ctl->gen->cfg.drain_timeout_ms;
  log_info("signal %s: no longer accepting, draining for up to %u ms",
           strsignal(signum), ms);
  post_all(ctl, WORKER_MAIL_STOP);
  uv_timer_start(&ctl->drain_timer, drain_timer_cb, ms, 0);
}

/* ---- reload ------------------------------------------------------------- */

static void reload_failed(struct control *ctl, const char *err) {
  ctl->reloads.failed++;
  ctl->reloads.last_failed = true;
  log_error("reload failed, still serving configuration %u: %s",
            ctl->gen->id, err);
}

/* Load and check everything, then hand each worker its part. Nothing
 * running changes until every step has succeeded. */
static void reload(struct control *ctl) {
  struct worker_update **ups = NULL;
  struct gen *g = NULL;
  char err[512] = "out of memory";

  if (ctl->draining) {
    log_warn("reload ignored: draining");
    return;
  }
  if (ctl->pending) { /* the workers are still taking the last one */
    ctl->reload_again = true;
    return;
  }
  if ((ups = calloc((size_t)ctl->n_workers, sizeof *ups)) == NULL)
    goto fail;
  if (gen_load(&g, ctl->argc, ctl->argv, ctl->gen, stdout, err,
               sizeof err) != CFG_OK)
    goto fail;
  if (gen_open_access_log(g, ctl->gen, err, sizeof err) != 0)
    goto fail;
  if (plan_build(ups, ctl->n_workers, g, ctl->gen, err, sizeof err) != 0)
    goto fail;
  ctl->pending = g;
  atomic_store(&ctl->n_updated, 0);
  for (int i = 0; i < ctl->n_workers; i++)
    worker_post_update(&ctl->workers[i], ups[i]);
  free(ups);
  return;

fail:
  reload_failed(ctl, err);
  gen_unref(g);
  free(ups);
}

static void log_in_service(const struct gen *g) {
  char addrs[512] = "";
  size_t used = 0;
  for (int i = 0; i < g->cfg.n_listen && used < sizeof addrs; i++)
    used += (size_t)snprintf(addrs + used, sizeof addrs - used, "%s%s",
                             i ? "," : "", g->cfg.listen[i].text);
  log_info("reload: configuration %u in service: %d certificate(s), "
           "listening on %s, backend %s", g->id, tls_store_count(g->store),
           addrs, g->cfg.backend.text);
}

/* Every worker has switched: the new generation is the running one. The
 * old one lives on in the workers' retired worker_gens until their last
 * connections close. */
static void worker_updated_cb(uv_async_t *a) {
  struct control *ctl = a->data;
  if (ctl->pending == NULL ||
      atomic_load(&ctl->n_updated) < ctl->n_workers)
    return;
  if (ctl->draining) { /* the workers discarded it */
    gen_unref(ctl->pending);
    ctl->pending = NULL;
    return;
  }
  unsigned old_max = ctl->gen->cfg.max_connections;
  gen_unref(ctl->gen);
  ctl->gen = ctl->pending;
  ctl->pending = NULL;
  ctl->reloads.ok++;
  ctl->reloads.generation = ctl->gen->id;
  ctl->reloads.last_ok_unix = (uint64_t)time(NULL);
  ctl->reloads.last_failed = false;
  log_in_service(ctl->gen);
  if (ctl->gen->cfg.max_connections != old_max) {
    process_fd_limit(ctl->gen->cfg.max_connections, ctl->n_workers);
    process_fd_limit_report();
  }
  if (ctl->reload_again) {
    ctl->reload_again = false;
    reload(ctl);
  }
}

static void sighup_cb(uv_signal_t *s, int signum) {
  (void)signum;
  log_info("signal Hangup: reloading the configuration");
  reload(s->data);
}

/* Runs on a worker thread, after it has taken (or discarded) an update. */
static void worker_updated(struct worker *w) {
  (void)w;
  atomic_fetch_add(&the_control->n_updated, 1);
  uv_async_send(&the_control->worker_updated);
}

/* ---- the rest ----------------------------------------------------------- */

/* SIGUSR1: logrotate has moved the log file away. */
static void reopen_cb(uv_signal_t *s, int signum) {
  (void)s;
  (void)signum;
  int r = log_reopen();
  if (r != 0)
    log_error("cannot reopen the log file: %s", uv_strerror(r));
  else
    log_info("log file reopened");
}

/* Runs on a worker thread as its loop ends. */
static void worker_exited(struct worker *w) {
  (void)w;
  atomic_fetch_add(&the_control->n_done, 1);
  uv_async_send(&the_control->worker_done);
}

static void worker_done_cb(uv_async_t *a) {
  struct control *ctl = a->data;
  if (atomic_load(&ctl->n_done) < ctl->n_workers)
    return;
  uv_close((uv_handle_t *)&ctl->sigterm, NULL);
  uv_close((uv_handle_t *)&ctl->sigint, NULL);
  uv_close((uv_handle_t *)&ctl->sighup, NULL);
  uv_close((uv_handle_t *)&ctl->sigusr1, NULL);
  uv_close((uv_handle_t *)&ctl->drain_timer, NULL);
  uv_close((uv_handle_t *)&ctl->worker_done, NULL);
  uv_close((uv_handle_t *)&ctl->worker_updated, NULL);
  admin_close(&ctl->admin);
}

static int watch(struct control *ctl, uv_signal_t *s, uv_signal_cb cb,
                 int signum) {
  int r = uv_signal_init(&ctl->loop, s);
  s->data = ctl;
  return r != 0 ? r : uv_signal_start(s, cb, signum);
}

static void start_admin(struct control *ctl) {
  int fd = ctl->admin_fd;
  ctl->admin_fd = -1;
  int r = admin_start(&ctl->admin, &ctl->loop, fd, ctl->workers,
                      ctl->n_workers, &ctl->draining, &ctl->reloads,
                      ctl->gen->cfg.handshake_timeout_ms);
  if (r != 0)
    log_error("cannot serve --admin: %s", uv_strerror(r));
}

static void start_workers(struct control *ctl) {
  for (int i = 0; i < ctl->n_workers; i++) {
    ctl->workers[i].on_exit = worker_exited;
    ctl->workers[i].on_updated = worker_updated;
    int r = worker_start(&ctl->workers[i]);
    if (r != 0) {
      log_error("cannot start worker %d: %s", i, uv_strerror(r));
      ctl->n_workers = i; /* stop the ones already running */
      ctl->draining = true;
      post_all(ctl, WORKER_MAIL_STOP | WORKER_MAIL_FORCE);
      return;
    }
  }
}

/* A failure here is a descriptor short (eventfd, the signal pipe): the
 * open-file limit is too low for tlsterm to run at all. */
int control_init(struct control *ctl, char *err, size_t errlen) {
  const char *what = "uv_loop_init";
  int r = uv_loop_init(&ctl->loop);
  if (r != 0)
    goto fail;
  ctl->loop_ready = true;
  what = "watching signals";
  if ((r = watch(ctl, &ctl->sigterm, stop_cb, SIGTERM)) != 0 ||
      (r = watch(ctl, &ctl->sigint, stop_cb, SIGINT)) != 0 ||
      (r = watch(ctl, &ctl->sighup, sighup_cb, SIGHUP)) != 0 ||
      (r = watch(ctl, &ctl->sigusr1, reopen_cb, SIGUSR1)) != 0)
    goto fail;
  uv_timer_init(&ctl->loop, &ctl->drain_timer);
  what = "uv_async_init";
  if ((r = uv_async_init(&ctl->loop, &ctl->worker_done, worker_done_cb)) ||
      (r = uv_async_init(&ctl->loop, &ctl->worker_updated, worker_updated_cb)))
    goto fail;
  ctl->drain_timer.data = ctl->worker_done.data = ctl;
  ctl->worker_updated.data = ctl;
  return 0;
fail:
  process_start_error(err, errlen, "control loop", what, r);
  return -1;
}

static void close_handle(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

void control_abandon(struct control *ctl) {
  if (!ctl->loop_ready)
    return;
  uv_walk(&ctl->loop, close_handle, NULL);
  uv_run(&ctl->loop, UV_RUN_DEFAULT);
  uv_loop_close(&ctl->loop);
  ctl->loop_ready = false;
}

int control_run(struct control *ctl) {
  the_control = ctl;
  ctl->reloads.generation = ctl->gen->id;
  if (ctl->admin_fd >= 0)
    start_admin(ctl);
  start_workers(ctl);
  uv_run(&ctl->loop, UV_RUN_DEFAULT);
  uv_loop_close(&ctl->loop);
  ctl->loop_ready = false;
  return 0;
}
