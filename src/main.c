/* main.c: start-up and the control thread.
 *
 * Start-up does everything that can fail before anything is served: parse
 * flags and config, load and check certificates, build every worker's TLS
 * state, bind every listening socket. Any failure prints one line naming
 * the flag or file and exits 2. Then the control loop starts the workers and
 * watches signals: SIGTERM/SIGINT stop accepting and drain open connections
 * for up to --drain-timeout; a second signal, or the timeout, closes what is
 * left. Signals are watched on this loop only (libuv would deliver them to
 * every loop that watches) and reach workers through their mailboxes.
 * The --admin listener (admin.c) is served on this loop too, so /healthz
 * reports the drain while workers finish. */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "accesslog.h"
#include "admin.h"
#include "config.h"
#include "listener.h"
#include "log.h"
#include "process.h"
#include "tls.h"
#include "worker.h"

#define EXIT_BAD_INPUT 2

struct control {
  uv_loop_t loop;
  uv_signal_t sigterm, sigint, sigusr1;
  uv_timer_t drain_timer;
  uv_async_t worker_done;
  atomic_int n_done; /* workers whose loop has ended */
  struct worker *workers;
  int n_workers;
  bool draining;
  int admin_fd; /* --admin socket until admin_start() takes it; else -1 */
  struct admin admin;
};

static struct control *the_control; /* for worker_exited() only */

static void post_all(struct control *ctl, unsigned mail) {
  for (int i = 0; i < ctl->n_workers; i++)
    worker_post(&ctl->workers[i], mail);
}

static void drain_timer_cb(uv_timer_t *t) {
  struct control *ctl = t->data;
  post_all(ctl, WORKER_MAIL_FORCE);
}

static void signal_cb(uv_signal_t *s, int signum) {
  struct control *ctl = s->data;
  if (ctl->draining) {
    log_info("signal %s again: closing all connections now",
             strsignal(signum));
    post_all(ctl, WORKER_MAIL_FORCE);
    return;
  }
  ctl->draining = true;
  log_info("signal %s: no longer accepting, draining for up to %u ms",
           strsignal(signum), ctl->workers[0].cfg->drain_timeout_ms);
  post_all(ctl, WORKER_MAIL_STOP);
  uv_timer_start(&ctl->drain_timer, drain_timer_cb,
                 ctl->workers[0].cfg->drain_timeout_ms, 0);
}

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
  uv_close((uv_handle_t *)&ctl->sigusr1, NULL);
  uv_close((uv_handle_t *)&ctl->drain_timer, NULL);
  uv_close((uv_handle_t *)&ctl->worker_done, NULL);
  admin_close(&ctl->admin);
}

static int control_run(struct control *ctl) {
  uv_loop_init(&ctl->loop);
  uv_signal_init(&ctl->loop, &ctl->sigterm);
  uv_signal_init(&ctl->loop, &ctl->sigint);
  uv_timer_init(&ctl->loop, &ctl->drain_timer);
  uv_async_init(&ctl->loop, &ctl->worker_done, worker_done_cb);
  ctl->sigterm.data = ctl->sigint.data = ctl;
  uv_signal_init(&ctl->loop, &ctl->sigusr1);
  ctl->drain_timer.data = ctl->worker_done.data = ctl;
  uv_signal_start(&ctl->sigterm, signal_cb, SIGTERM);
  uv_signal_start(&ctl->sigint, signal_cb, SIGINT);
  uv_signal_start(&ctl->sigusr1, reopen_cb, SIGUSR1);
  the_control = ctl;
  if (ctl->admin_fd >= 0) {
    int fd = ctl->admin_fd;
    ctl->admin_fd = -1;
    int r = admin_start(&ctl->admin, &ctl->loop, fd, ctl->workers,
                        ctl->n_workers, &ctl->draining,
                        ctl->workers[0].cfg->handshake_timeout_ms);
    if (r != 0)
      log_error("cannot serve --admin: %s", uv_strerror(r));
  }

  for (int i = 0; i < ctl->n_workers; i++) {
    ctl->workers[i].on_exit = worker_exited;
    int r = worker_start(&ctl->workers[i]);
    if (r != 0) {
      log_error("cannot start worker %d: %s", i, uv_strerror(r));
      ctl->n_workers = i; /* stop the ones already running */
      ctl->draining = true;
      post_all(ctl, WORKER_MAIL_STOP | WORKER_MAIL_FORCE);
      break;
    }
  }
  uv_run(&ctl->loop, UV_RUN_DEFAULT);
  uv_loop_close(&ctl->loop);
  return 0;
}

/* The i-th socket address of a worker: --listen ones, then
 * --redirect-listen ones. */
static const struct addr *sock_addr(const struct cfg *cfg, int i,
                                    const char **flag) {
  *flag = i < cfg->n_listen ? "--listen" : "--redirect-listen";
  return i < cfg->n_listen ? &cfg->listen[i] : &cfg->redirect[i - cfg->n_listen];
}

/* Bind every worker's socket for every address:
 * fds[w * per_worker + i], per_worker = n_listen + n_redirect. */
static int open_listeners(const struct cfg *cfg, int *fds, char *err,
                          size_t errlen) {
  char why[256];
  const char *flag = "--listen";
  int per = cfg->n_listen + cfg->n_redirect, n = 0;
  for (int i = 0; i < per; i++) {
    if (listener_probe(sock_addr(cfg, i, &flag), why, sizeof why) != 0)
      goto fail;
  }
  for (int w = 0; w < cfg->workers; w++) {
    for (int i = 0; i < per; i++) {
      int fd = listener_open(sock_addr(cfg, i, &flag), why, sizeof why);
      if (fd < 0)
        goto fail;
      fds[n++] = fd;
    }
  }
  return 0;

fail:
  snprintf(err, errlen, "%s %s", flag, why);
  while (n > 0)
    close(fds[--n]);
  return -1;
}

/* The --admin socket: one, for the control thread. *fd is the caller's. */
static int open_admin(const struct cfg *cfg, int *fd, char *err,
                      size_t errlen) {
  char why[256];
  int r = listener_probe(&cfg->admin, why, sizeof why);
  if (r == 0)
    r = listener_open(&cfg->admin, why, sizeof why);
  if (r < 0) {
    snprintf(err, errlen, "--admin %s", why);
    return -1;
  }
  *fd = r;
  return 0;
}

static int init_workers(struct control *ctl, const struct cfg *cfg,
                        const struct tls_store *store, const uint8_t *secret,
                        size_t secret_len, int *fds, int log_fd, char *err,
                        size_t errlen) {
  ctl->workers = calloc((size_t)cfg->workers, sizeof *ctl->workers);
  if (ctl->workers == NULL) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  int per = cfg->n_listen + cfg->n_redirect;
  for (int i = 0; i < cfg->workers; i++) {
    if (worker_init(&ctl->workers[i], i, cfg, store, secret, secret_len,
                    &fds[i * per], per, log_fd, err, errlen) != 0)
      return -1; /* fds from i on are still ours: the caller closes them */
    ctl->n_workers = i + 1;
  }
  return 0;
}

static void print_test(const struct cfg *cfg, const struct tls_store *store) {
  cfg_dump(cfg, stdout);
  for (int i = 0; i < tls_store_count(store); i++) {
    char desc[512];
    tls_store_describe(store, i, desc, sizeof desc);
    printf("# certificate %d: %s\n", i + 1, desc);
  }
  printf("# configuration OK\n");
}

/* Validate everything --test checks: one TLS context built the way every
 * worker will build its own. */
static int check_tls(const struct cfg *cfg, const struct tls_store *store,
                     const uint8_t *secret, size_t secret_len, char *err,
                     size_t errlen) {
  struct tls_ctx *ctx;
  if (tls_ctx_new(&ctx, store, cfg, secret, secret_len, (uint64_t)time(NULL),
                  err, errlen) != 0)
    return -1;
  tls_ctx_free(ctx);
  return 0;
}

/* The ticket secret, shared read-only by every worker: --ticket-secret-file
 * (so that instances sharing it resume each other's tickets), else 32
 * random bytes for this process. *secret is the caller's to release with
 * tls_ticket_secret_free(). */
static int load_secret(const struct cfg *cfg, uint8_t **secret,
                       size_t *secret_len, char *err, size_t errlen) {
  char warn[512];

  if (cfg->ticket_secret_file != NULL) {
    if (tls_ticket_secret_load(cfg->ticket_secret_file, secret, secret_len,
                               warn, sizeof warn, err, errlen) != 0)
      return -1;
    if (warn[0] != '\0')
      log_warn("%s", warn);
    return 0;
  }
  if ((*secret = malloc(TLS_TICKET_SECRET_LEN)) == NULL) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  *secret_len = TLS_TICKET_SECRET_LEN;
  if (getrandom(*secret, *secret_len, 0) != (ssize_t)*secret_len) {
    snprintf(err, errlen, "getrandom: %s", strerror(errno));
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  struct cfg cfg;
  struct control ctl;
  struct tls_store *store = NULL;
  uint8_t *secret = NULL;
  size_t secret_len = 0;
  char err[512] = "";
  int *fds = NULL;
  int log_fd = -1;
  int status = EXIT_BAD_INPUT;

  memset(&ctl, 0, sizeof ctl);
  ctl.admin_fd = -1;
  signal(SIGPIPE, SIG_IGN); /* libuv writes with write(2) */

  enum cfg_result cr = cfg_parse(&cfg, argc, argv, stdout, err, sizeof err);
  if (cr == CFG_EXIT) {
    cfg_cleanup(&cfg);
    return 0;
  }
  if (cr != CFG_OK)
    goto fail;
  log_level = cfg.log_level;
  log_format = cfg.log_format;
  if (cfg.log_file && !cfg.test &&
      log_open_file(cfg.log_file, err, sizeof err) != 0)
    goto fail;

  if (tls_global_init(err, sizeof err) != 0)
    goto fail;
  if (tls_store_load(&store, &cfg, err, sizeof err) != 0)
    goto fail;
  if (load_secret(&cfg, &secret, &secret_len, err, sizeof err) != 0)
    goto fail;
  if (check_tls(&cfg, store, secret, secret_len, err, sizeof err) != 0)
    goto fail;
  if (cfg.test) {
    print_test(&cfg, store);
    status = 0;
    goto done;
  }

  if (cfg.access_log &&
      (log_fd = access_log_open(cfg.access_log, err, sizeof err)) < 0)
    goto fail;
  if (cfg.have_admin && open_admin(&cfg, &ctl.admin_fd, err, sizeof err) != 0)
    goto fail;
  size_t per = (size_t)(cfg.n_listen + cfg.n_redirect);
  size_t n_fds = (size_t)cfg.workers * per;
  fds = calloc(n_fds, sizeof *fds);
  if (fds == NULL || open_listeners(&cfg, fds, err, sizeof err) != 0) {
    if (fds == NULL)
      snprintf(err, sizeof err, "out of memory");
    free(fds);
    fds = NULL;
    goto fail;
  }
  if (init_workers(&ctl, &cfg, store, secret, secret_len, fds, log_fd, err,
                   sizeof err) != 0) {
    for (size_t i = (size_t)ctl.n_workers * per; i < n_fds; i++)
      close(fds[i]);
    goto fail;
  }

  /* Everything that needs root is done: sockets, keys, log files. */
  if (cfg.pidfile && process_write_pidfile(cfg.pidfile, cfg.user, err, sizeof err) != 0)
    goto fail;
  if (process_drop_privileges(cfg.user, cfg.group, err, sizeof err) != 0) {
    process_remove_pidfile(cfg.pidfile);
    goto fail;
  }
  for (int i = 0; i < cfg.n_listen; i++)
    log_info("listening on %s", cfg.listen[i].text);
  if (cfg.have_admin)
    log_info("admin (/healthz, /metrics) on %s", cfg.admin.text);
  for (int i = 0; i < cfg.n_redirect; i++)
    log_info("redirecting plain HTTP on %s to https", cfg.redirect[i].text);
  log_info("tlsterm %s: %d worker(s), backend %s", PACKAGE_VERSION,
           cfg.workers, cfg.backend.text);
  control_run(&ctl);
  process_remove_pidfile(cfg.pidfile);
  log_info("all connections closed, exiting");
  status = 0;
  goto done;

fail:
  fprintf(stderr, "tlsterm: %s\n", err);
done:
  for (int i = 0; i < ctl.n_workers; i++)
    worker_join(&ctl.workers[i]);
  free(ctl.workers);
  free(fds);
  if (ctl.admin_fd >= 0)
    close(ctl.admin_fd);
  /* Every worker has joined: nothing reads the secret any more. */
  tls_ticket_secret_free(secret, secret_len);
  if (log_fd > STDOUT_FILENO)
    close(log_fd);
  tls_store_free(store);
  tls_global_cleanup();
  cfg_cleanup(&cfg);
  return status;
}
