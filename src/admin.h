/* admin.h: the --admin listener: plain HTTP, served on the control
 * thread's loop. GET /healthz and GET /metrics (Prometheus text format,
 * summed at scrape time from every worker's struct metrics). See admin.c.
 *
 * It has no authentication: bind it to loopback or a private network. */
#ifndef TLSTERM_ADMIN_H
#define TLSTERM_ADMIN_H

#include <stdbool.h>
#include <uv.h>

struct oneshot_conn;
struct reload_stats;
struct worker;

struct admin {
  uv_loop_t *loop;
  int fd;               /* the bound socket; the listener wraps a copy */
  uv_tcp_t listener;
  uv_timer_t retry;     /* ends a pause of accepts (admin.c) */
  bool started;         /* the timer is initialised: admin_close() closes */
  bool listening;       /* the listener is open */
  bool listener_closing;
  bool accept_failing;  /* the current run of failures has been logged */
  struct oneshot_conn *conns; /* open admin connections */
  const struct worker *workers; /* borrowed; read with relaxed loads */
  int n_workers;
  const bool *draining;  /* borrowed: the control thread's flag */
  const struct reload_stats *reloads; /* borrowed: the control thread's */
  unsigned timeout_ms;   /* a request must arrive within this */
};

/* Serve on `fd` (a bound, listening, non-blocking socket; taken: closed by
 * admin_close(), which must be called even when this fails) from `loop`.
 * Out of descriptors, accepts pause and retry (admin.c). workers, n_workers,
 * draining and reloads are borrowed and must outlive the loop run. Returns
 * 0 or a negative errno. */
int admin_start(struct admin *a, uv_loop_t *loop, int fd,
                const struct worker *workers, int n_workers,
                const bool *draining, const struct reload_stats *reloads,
                unsigned timeout_ms);

/* Close the listener and every open admin connection; their memory is
 * freed by their close callbacks as the loop runs. Safe to call twice. */
void admin_close(struct admin *a);

#endif
