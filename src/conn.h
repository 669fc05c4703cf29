/* conn.h: one client connection and its backend connection.
 *
 * A connection belongs to the worker that accepted it and is touched only
 * by that worker's thread. Its life, in one place (conn.c, set_state()):
 *
 *   HANDSHAKE  --handshake done-->  CONNECTING  --backend up-->  RELAY
 *       |                               |                          |
 *       +--------- error / timeout -----+---- both sides done -----+
 *                                       v
 *                                    CLOSING (flush, FIN, linger)
 *                                       v
 *                                    CLOSED (handles closing; freed in the
 *                                            last close callback)
 */
#ifndef TLSTERM_CONN_H
#define TLSTERM_CONN_H

#include <uv.h>

struct conn;

/* The listening handles' connection callback: accepts one client into a
 * new connection owned by the worker in server->data. */
void conn_accept_cb(uv_stream_t *server, int status);

/* Close every handle of c now, with no close_notify (drain timeout). The
 * memory is freed in the last close callback. Safe to call twice. */
void conn_abort(struct conn *c);

/* The worker began draining (SIGTERM). An HTTP connection ends at its next
 * request boundary: at once if it is idle between requests, otherwise once
 * the responses it owes are out (one that has answered nothing yet answers
 * its first request first). Its client's next request then opens a new
 * connection, which a balancer sends to another instance, instead of the
 * drain timeout cutting a request short. TCP mode and upgraded connections
 * are left to finish. */
void conn_drain(struct conn *c);

/* The next connection in its worker's list (for walking it). */
struct conn *conn_next(const struct conn *c);

#endif
