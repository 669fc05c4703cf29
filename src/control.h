/* control.h: the control thread's loop, once start-up has succeeded.
 *
 * It starts the workers and watches signals (only here: libuv would
 * deliver a signal to every loop that watches it), and reaches workers
 * through their mailboxes:
 *   SIGTERM, SIGINT  stop accepting, drain for up to --drain-timeout; a
 *                    second signal, or the timeout, closes what is left
 *   SIGHUP           reload: load and check a whole new generation (gen.h),
 *                    then hand each worker its part (plan.h); on any error
 *                    log one line and keep serving as before
 *   SIGUSR1          reopen --log-file
 * The --admin listener (admin.c) runs on this loop too, so /healthz
 * reports a drain while workers finish and /metrics counts reloads. */
#ifndef TLSTERM_CONTROL_H
#define TLSTERM_CONTROL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "admin.h"
#include "metrics.h"

struct gen;
struct worker;
struct worker_update;

struct control {
  uv_loop_t loop;
  bool loop_ready; /* control_init() initialised it; not yet closed */
  uv_signal_t sigterm, sigint, sighup, sigusr1;
  uv_timer_t drain_timer;
  uv_async_t worker_done, worker_updated;
  atomic_int n_done;    /* workers whose loop has ended */
  atomic_int n_updated; /* workers that took the outstanding update */
  struct worker *workers;
  int n_workers;
  bool draining;
  int admin_fd; /* --admin socket until control_run() takes it; else -1 */
  struct admin admin;

  /* Reload. The command line is read again on each one. */
  int argc;
  char **argv;
  struct gen *gen;      /* in service; one reference */
  struct gen *pending;  /* handed to the workers, not yet taken by all */
  bool reload_again;    /* SIGHUP during a reload: one more after it */
  struct reload_stats reloads;
};

/* Set up the control loop: signals, timers, the workers' wake-ups. 0, or
 * -1 with one line in err (a descriptor short: see process.h). After a
 * failure, control_abandon() frees what was set up. */
int control_init(struct control *ctl, char *err, size_t errlen);

/* Close whatever control_init() set up, when control_run() will not run. */
void control_abandon(struct control *ctl);

/* Run until every worker has ended. ctl: control_init() done, workers
 * initialised, gen set, admin_fd (or -1), argc/argv. Returns 0. */
int control_run(struct control *ctl);

#endif
