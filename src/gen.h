/* gen.h: a generation: one loaded configuration, everything SIGHUP replaces.
 *
 * A generation bundles what every worker reads and nobody writes: the
 * parsed configuration, the certificate store, the ticket secret and the
 * access-log descriptor. It is built whole on the control thread (start-up
 * or reload), checked, and only then handed to the workers, each of which
 * builds its own TLS state from it (worker.h, struct worker_gen).
 *
 * It is reference-counted: the control thread holds one reference to the
 * running generation, and each worker one per worker_gen built from it.
 * Connections keep their worker_gen, so a generation outlives a reload
 * until its last connection has closed; the last gen_unref(), on whichever
 * thread, frees it. Nothing in it changes after gen_load() returns, so the
 * count is the only field touched by more than one thread. */
#ifndef TLSTERM_GEN_H
#define TLSTERM_GEN_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

struct tls_store;

struct gen {
  atomic_uint refs;
  unsigned id;             /* 1 at start-up, then +1 per reload */
  struct cfg cfg;
  struct tls_store *store;
  uint8_t *secret;         /* ticket secret */
  size_t secret_len;
  int access_log_fd;       /* -1: no access log (or not opened yet) */
};

/* Parse the flags and the --config file, load and check every certificate
 * and key, read the ticket secret, and build one TLS context as every
 * worker will, so that a generation that loads is one the workers can use.
 * For a reload, `running` is the generation in service:
 *   - options that only a restart can change (cfg_keep_restart_only())
 *     keep their running values, and each is logged as a warning;
 *   - without --ticket-secret-file the running random secret is kept, so
 *     tickets issued before the reload still resume.
 * Returns CFG_OK with *out holding one reference, CFG_EXIT (--help,
 * --version: printed to `out`), or CFG_INVALID with one line in err. */
enum cfg_result gen_load(struct gen **out, int argc, char **argv,
                         const struct gen *running, FILE *out_stream,
                         char *err, size_t errlen);

/* Open --access-log for g (when set). If `running` logs to the same path,
 * its descriptor is duplicated rather than the file reopened, so a reload
 * never fails on a log directory it can no longer write after --user.
 * 0, or -1 with one line in err. */
int gen_open_access_log(struct gen *g, const struct gen *running, char *err,
                        size_t errlen);

void gen_ref(struct gen *g);
/* Drop one reference; the last frees g. NULL is fine. */
void gen_unref(struct gen *g);

#endif
