/* gen.c: loading, checking and releasing a generation (see gen.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "accesslog.h"
#include "gen.h"
#include "log.h"
#include "tls.h"

/* The ticket secret: --ticket-secret-file (instances sharing it resume each
 * other's tickets); else the running generation's random one (tickets
 * survive a reload); else 32 fresh random bytes for this process. */
static int load_secret(struct gen *g, const struct gen *running, char *err,
                       size_t errlen) {
  const char *file = g->cfg.ticket_secret_file;
  char warn[512];

  if (file != NULL) {
    if (tls_ticket_secret_load(file, &g->secret, &g->secret_len, warn,
                               sizeof warn, err, errlen) != 0)
      return -1;
    if (warn[0] != '\0')
      log_warn("%s", warn);
    return 0;
  }
  size_t len = TLS_TICKET_SECRET_LEN;
  bool inherit = running && running->cfg.ticket_secret_file == NULL;
  if (inherit)
    len = running->secret_len;
  if ((g->secret = malloc(len)) == NULL) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  g->secret_len = len;
  if (inherit) {
    memcpy(g->secret, running->secret, len);
    return 0;
  }
  if (getrandom(g->secret, len, 0) != (ssize_t)len) {
    snprintf(err, errlen, "getrandom: %s", strerror(errno));
    return -1;
  }
  return 0;
}

/* Everything --test checks: one TLS context built the way every worker
 * will build its own. */
static int check_tls(const struct gen *g, char *err, size_t errlen) {
  struct tls_ctx *ctx;
  if (tls_ctx_new(&ctx, g->store, &g->cfg, g->secret, g->secret_len,
                  (uint64_t)time(NULL), err, errlen) != 0)
    return -1;
  tls_ctx_free(ctx);
  return 0;
}

static void warn_restart_only(struct gen *g, const struct gen *running) {
  char names[256];
  if (cfg_keep_restart_only(&g->cfg, &running->cfg, names, sizeof names) > 0)
    log_warn("reload: %s changed; only a restart applies that, keeping the "
             "running value", names);
}

enum cfg_result gen_load(struct gen **out, int argc, char **argv,
                         const struct gen *running, FILE *out_stream,
                         char *err, size_t errlen) {
  struct gen *g = calloc(1, sizeof *g);
  if (g == NULL) {
    snprintf(err, errlen, "out of memory");
    return CFG_INVALID;
  }
  atomic_init(&g->refs, 1);
  g->access_log_fd = -1;
  g->id = running ? running->id + 1 : 1;
  enum cfg_result r = cfg_parse(&g->cfg, argc, argv, out_stream, err, errlen);
  if (r != CFG_OK)
    goto fail;
  r = CFG_INVALID;
  if (running)
    warn_restart_only(g, running);
  if (tls_store_load(&g->store, &g->cfg, err, errlen) != 0)
    goto fail;
  if (load_secret(g, running, err, errlen) != 0)
    goto fail;
  if (check_tls(g, err, errlen) != 0)
    goto fail;
  *out = g;
  return CFG_OK;

fail:
  gen_unref(g);
  return r;
}

int gen_open_access_log(struct gen *g, const struct gen *running, char *err,
                        size_t errlen) {
  const char *path = g->cfg.access_log;
  if (path == NULL)
    return 0;
  if (running && running->access_log_fd >= 0 &&
      strcmp(running->cfg.access_log, path) == 0) {
    g->access_log_fd = fcntl(running->access_log_fd, F_DUPFD_CLOEXEC, 0);
    if (g->access_log_fd < 0) {
      snprintf(err, errlen, "--access-log %s: %s", path, strerror(errno));
      return -1;
    }
    return 0;
  }
  g->access_log_fd = access_log_open(path, err, errlen);
  return g->access_log_fd < 0 ? -1 : 0;
}

void gen_ref(struct gen *g) {
  atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
}

/* acq_rel: every thread's last reads of g happen before the free. */
void gen_unref(struct gen *g) {
  if (g == NULL ||
      atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) != 1)
    return;
  if (g->access_log_fd >= 0)
    close(g->access_log_fd);
  tls_ticket_secret_free(g->secret, g->secret_len);
  tls_store_free(g->store);
  cfg_cleanup(&g->cfg);
  free(g);
}
