/* metrics.h: one worker's counters, for the --admin /metrics page.
 *
 * Each struct worker embeds one struct metrics. Only that worker's thread
 * writes it, with relaxed atomic adds (or stores, for the gauge): no lock
 * and no shared cache line on the hot path. The control thread reads the
 * fields with relaxed loads at scrape time and sums them (admin.c). Relaxed
 * is enough: every field is an independent monotonic count, and a scrape
 * needs no ordering between them.
 *
 * Hooks are one line each, at the place the event happens:
 *   conn.c     accept, handshake done/failed, client bytes (ciphertext)
 *   worker.c   the open-connections gauge
 *   relay.c    backend connect failed, backend timeout (504), each
 *              completed HTTP exchange (on_done) */
#ifndef TLSTERM_METRICS_H
#define TLSTERM_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "tls.h"

/* Upper bounds (seconds) of request_duration_seconds; +Inf is one more. */
#define METRICS_BUCKETS_MS                                                     \
  { 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000 }
#define METRICS_N_BUCKETS 12 /* the 11 above and +Inf */


struct metrics {
  _Atomic uint64_t conns_open; /* gauge: stored, not added */
  _Atomic uint64_t conns_total;
  _Atomic uint64_t hs_full, hs_resumed;
  _Atomic uint64_t hs_failed[TLS_FR_N]; /* by enum tls_fail_reason */
  _Atomic uint64_t hs_timeouts;         /* --handshake-timeout expired */
  _Atomic uint64_t tls12, tls13;
  _Atomic uint64_t ciphers[TLS_CIPHER_SLOTS]; /* tls_sess_cipher_slot() */
  _Atomic uint64_t bytes_in, bytes_out; /* client side, TLS ciphertext */
  _Atomic uint64_t backend_connect_errors;
  _Atomic uint64_t backend_timeouts;
  _Atomic uint64_t responses[6]; /* by status / 100: [1] 1xx .. [5] 5xx */
  /* Non-cumulative per bucket; admin.c accumulates at scrape time. */
  _Atomic uint64_t duration_bucket[METRICS_N_BUCKETS];
  _Atomic uint64_t duration_sum_ms;
};

/* Reloads (SIGHUP). Written and read by the control thread only, which
 * also serves /metrics: plain fields. */
struct reload_stats {
  uint64_t ok, failed;
  unsigned generation;     /* id of the configuration in service */
  uint64_t last_ok_unix;   /* wall clock of the last successful reload;
                              0: none yet */
  bool last_failed;        /* the most recent attempt failed */
};

/* Add n to a counter of the calling worker's own struct metrics. */
static inline void metrics_add(_Atomic uint64_t *ctr, uint64_t n) {
  atomic_fetch_add_explicit(ctr, n, memory_order_relaxed);
}

/* Set the gauge (owner thread only). */
static inline void metrics_set(_Atomic uint64_t *g, uint64_t v) {
  atomic_store_explicit(g, v, memory_order_relaxed);
}

/* Read any field (any thread). */
static inline uint64_t metrics_get(const _Atomic uint64_t *ctr) {
  return atomic_load_explicit((_Atomic uint64_t *)ctr, memory_order_relaxed);
}

/* A completed handshake: full or resumed, its version and cipher. */
static inline void metrics_handshake(struct metrics *m,
                                     const struct tls_sess *s) {
  metrics_add(tls_sess_resumed(s) ? &m->hs_resumed : &m->hs_full, 1);
  metrics_add(strcmp(tls_sess_version(s), "TLSv1.3") == 0 ? &m->tls13
                                                         : &m->tls12,
              1);
  metrics_add(&m->ciphers[tls_sess_cipher_slot(s)], 1);
}

/* A completed HTTP exchange: its status (0: no response, not counted) and
 * how long it took, from the request head to the end of the response. */
static inline void metrics_response(struct metrics *m, int status,
                                    uint64_t start_ms, uint64_t end_ms) {
  static const uint64_t le[] = METRICS_BUCKETS_MS;
  uint64_t ms = end_ms > start_ms ? end_ms - start_ms : 0;
  if (status < 100 || status > 599)
    return;
  metrics_add(&m->responses[status / 100], 1);
  int i = 0;
  while (i < METRICS_N_BUCKETS - 1 && ms > le[i])
    i++;
  metrics_add(&m->duration_bucket[i], 1);
  metrics_add(&m->duration_sum_ms, ms);
}

#endif
