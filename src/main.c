/* main.c: start-up.
 *
 * Start-up does everything that can fail before anything is served: parse
 * flags and config, load and check certificates, build every worker's TLS
 * state, bind every listening socket (gen.c, plan.c). Any failure prints
 * one line naming the flag or file and exits 2. Then privileges are
 * dropped and the control loop (control.c) runs until the workers have
 * drained. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "control.h"
#include "gen.h"
#include "listener.h"
#include "log.h"
#include "plan.h"
#include "process.h"
#include "tls.h"
#include "worker.h"

#define EXIT_BAD_INPUT 2

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

/* Every worker with its first generation; the sockets and TLS state the
 * plan made are theirs from here on. */
static int init_workers(struct control *ctl, struct gen *g, char *err,
                        size_t errlen) {
  int n = g->cfg.workers, r = -1;
  struct worker_update **ups = calloc((size_t)n, sizeof *ups);
  ctl->workers = calloc((size_t)n, sizeof *ctl->workers);
  if (ups == NULL || ctl->workers == NULL) {
    snprintf(err, errlen, "out of memory");
    goto done;
  }
  if (plan_build(ups, n, g, NULL, err, errlen) != 0)
    goto done;
  for (int i = 0; i < n; i++) {
    if (worker_init(&ctl->workers[i], i, ups[i], err, errlen) != 0)
      goto done;
    ctl->n_workers = i + 1;
  }
  r = 0;
done:
  if (ups)
    plan_free(ups, n); /* what the workers did not take */
  free(ups);
  return r;
}

static void print_test(const struct gen *g) {
  cfg_dump(&g->cfg, stdout);
  for (int i = 0; i < tls_store_count(g->store); i++) {
    char desc[512];
    tls_store_describe(g->store, i, desc, sizeof desc);
    printf("# certificate %d: %s\n", i + 1, desc);
  }
  printf("# configuration OK\n");
}

static void log_started(const struct cfg *cfg) {
  for (int i = 0; i < cfg->n_listen; i++)
    log_info("listening on %s", cfg->listen[i].text);
  if (cfg->have_admin)
    log_info("admin (/healthz, /metrics) on %s", cfg->admin.text);
  for (int i = 0; i < cfg->n_redirect; i++)
    log_info("redirecting plain HTTP on %s to https", cfg->redirect[i].text);
  log_info("tlsterm %s: %d worker(s), backend %s", PACKAGE_VERSION,
           cfg->workers, cfg->backend.text);
}

int main(int argc, char **argv) {
  struct control ctl;
  struct gen *g = NULL;
  char err[512] = "";
  char *pidfile = NULL;
  int status = EXIT_BAD_INPUT;

  memset(&ctl, 0, sizeof ctl);
  ctl.admin_fd = -1;
  ctl.argc = argc;
  ctl.argv = argv;
  signal(SIGPIPE, SIG_IGN); /* libuv writes with write(2) */

  if (tls_global_init(err, sizeof err) != 0)
    goto fail;
  enum cfg_result cr = gen_load(&g, argc, argv, NULL, stdout, err, sizeof err);
  if (cr == CFG_EXIT) {
    status = 0;
    goto done;
  }
  if (cr != CFG_OK)
    goto fail;
  const struct cfg *cfg = &g->cfg;
  log_level = cfg->log_level;
  log_format = cfg->log_format;
  if (cfg->test) {
    print_test(g);
    status = 0;
    goto done;
  }
  process_fd_limit(cfg->max_connections, cfg->workers);
  if (cfg->log_file && log_open_file(cfg->log_file, err, sizeof err) != 0)
    goto fail;
  if (gen_open_access_log(g, NULL, err, sizeof err) != 0)
    goto fail;
  if (cfg->have_admin && open_admin(cfg, &ctl.admin_fd, err, sizeof err) != 0)
    goto fail;
  if (init_workers(&ctl, g, err, sizeof err) != 0)
    goto fail;
  if (control_init(&ctl, err, sizeof err) != 0)
    goto fail;

  /* Everything that needs root is done: sockets, keys, log files. */
  if (cfg->pidfile) {
    if (process_write_pidfile(cfg->pidfile, cfg->user, err, sizeof err) != 0)
      goto fail;
    pidfile = strdup(cfg->pidfile); /* cfg may be gone by exit */
  }
  if (process_drop_privileges(cfg->user, cfg->group, err, sizeof err) != 0)
    goto fail;
  log_started(cfg);
  process_fd_limit_report();
  ctl.gen = g;
  g = NULL;
  control_run(&ctl);
  log_info("all connections closed, exiting");
  status = 0;
  goto done;

fail:
  fprintf(stderr, "tlsterm: %s\n", err);
  control_abandon(&ctl);
done:
  process_remove_pidfile(pidfile);
  free(pidfile);
  for (int i = 0; i < ctl.n_workers; i++)
    worker_join(&ctl.workers[i]);
  free(ctl.workers);
  if (ctl.admin_fd >= 0)
    close(ctl.admin_fd);
  /* Every worker has joined: nobody else holds a generation now. */
  gen_unref(ctl.pending);
  gen_unref(ctl.gen);
  gen_unref(g);
  tls_global_cleanup();
  return status;
}
