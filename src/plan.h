/* plan.h: what each worker gets from a generation, prepared whole before
 * any worker sees it.
 *
 * For each worker: its own TLS state (a worker_gen) and its listening
 * sockets. At start-up every address is new. On reload only the addresses
 * the running generation does not listen on get new sockets (probed first,
 * so an address held by someone else fails the reload); the others are
 * "keep yours" entries, so the workers' sockets, and the connections queued
 * in their backlogs, carry over. Any failure leaves nothing behind and the
 * running state untouched. */
#ifndef TLSTERM_PLAN_H
#define TLSTERM_PLAN_H

#include <stddef.h>

struct gen;
struct worker_update;

/* Build one worker_update per worker into ups[0..n_workers-1] for g.
 * running: the generation in service, or NULL at start-up. Returns 0, or
 * -1 with one line in err naming the flag ("--listen 127.0.0.1:443:
 * permission denied"). */
int plan_build(struct worker_update **ups, int n_workers, struct gen *g,
               const struct gen *running, char *err, size_t errlen);

/* Free updates not handed to workers (NULL entries are skipped): their
 * sockets and TLS state. */
void plan_free(struct worker_update **ups, int n_workers);

#endif
