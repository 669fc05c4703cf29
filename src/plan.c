/* plan.c: building the per-worker updates of a generation (see plan.h). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "listener.h"
#include "plan.h"
#include "worker.h"

/* The i-th listening address of cfg: --listen ones, then
 * --redirect-listen ones, the order worker_sock lists follow. */
static const struct addr *sock_addr(const struct cfg *cfg, int i,
                                    bool *redirect) {
  *redirect = i >= cfg->n_listen;
  return *redirect ? &cfg->redirect[i - cfg->n_listen] : &cfg->listen[i];
}

static bool listens_on(const struct cfg *cfg, const struct addr *a,
                       bool redirect) {
  int n = cfg->n_listen + cfg->n_redirect;
  for (int i = 0; i < n; i++) {
    bool r;
    const struct addr *b = sock_addr(cfg, i, &r);
    if (r == redirect && strcmp(a->text, b->text) == 0)
      return true;
  }
  return false;
}

static void fill_socks(struct worker_update **ups, int n_workers,
                       const struct cfg *cfg) {
  int n = cfg->n_listen + cfg->n_redirect;
  for (int w = 0; w < n_workers; w++) {
    ups[w]->n_socks = n;
    for (int i = 0; i < n; i++) {
      struct worker_sock *s = &ups[w]->socks[i];
      const struct addr *a = sock_addr(cfg, i, &s->redirect);
      snprintf(s->text, sizeof s->text, "%s", a->text);
      s->fd = -1;
      s->accept_proxy = !s->redirect && cfg->listen_proxy[i];
    }
  }
}

/* A socket per worker for every address `running` does not have. */
static int open_new_socks(struct worker_update **ups, int n_workers,
                          const struct cfg *cfg, const struct cfg *running,
                          char *err, size_t errlen) {
  char why[256];
  int n = cfg->n_listen + cfg->n_redirect;
  for (int i = 0; i < n; i++) {
    bool redirect;
    const struct addr *a = sock_addr(cfg, i, &redirect);
    if (running && listens_on(running, a, redirect))
      continue;
    if (listener_probe(a, why, sizeof why) != 0)
      goto fail;
    for (int w = 0; w < n_workers; w++) {
      int fd = listener_open(a, why, sizeof why);
      if (fd < 0)
        goto fail;
      ups[w]->socks[i].fd = fd;
    }
    continue;
  fail:
    snprintf(err, errlen, "%s %s",
             redirect ? "--redirect-listen" : "--listen", why);
    return -1;
  }
  return 0;
}

int plan_build(struct worker_update **ups, int n_workers, struct gen *g,
               const struct gen *running, char *err, size_t errlen) {
  for (int w = 0; w < n_workers; w++)
    ups[w] = NULL;
  for (int w = 0; w < n_workers; w++) {
    if ((ups[w] = calloc(1, sizeof *ups[w])) == NULL) {
      snprintf(err, errlen, "out of memory");
      goto fail;
    }
    if ((ups[w]->wg = worker_gen_new(g, err, errlen)) == NULL)
      goto fail;
  }
  fill_socks(ups, n_workers, &g->cfg);
  if (open_new_socks(ups, n_workers, &g->cfg,
                     running ? &running->cfg : NULL, err, errlen) != 0)
    goto fail;
  return 0;

fail:
  plan_free(ups, n_workers);
  return -1;
}

void plan_free(struct worker_update **ups, int n_workers) {
  for (int w = 0; w < n_workers; w++) {
    worker_update_free(ups[w]);
    ups[w] = NULL;
  }
}
