/* conn_int.h: what conn.c, upstream.c and relay.c share about a connection.
 * Not for other modules: they use conn.h. */
#ifndef TLSTERM_CONN_INT_H
#define TLSTERM_CONN_INT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "addr.h"
#include "buf.h"
#include "conn.h"
#include "http.h"
#include "log.h"

/* Largest plaintext one TLS record carries. */
#define TLS_RECORD_MAX 16384
/* Ciphertext read from the client and not yet taken by mbedTLS. */
#define CIN_READ (TLS_RECORD_MAX + 1024)
#define CIN_MAX (2 * CIN_READ)
/* Above this many bytes in a fill buffer, stop reading from its producer. */
#define OUT_HIGH (64 * 1024)
/* Backpressure on the backend lifts once the client has taken this much. */
#define OUT_LOW (16 * 1024)
/* Hard maxima: the high-water mark plus what one read may add on top. For
 * cout: a record's ciphertext, an error response or a whole handshake
 * flight with its certificate chain. For bout: a record of plaintext and,
 * in HTTP mode, a whole rewritten request head (--max-header-size) with the
 * headers tlsterm adds to up to HTTP_PIPELINE_MAX requests: see
 * conn_bout_max(). */
#define COUT_MAX (OUT_HIGH + 64 * 1024)
#define BOUT_SLACK (32 * 1024)
/* Plaintext the HTTP parser could not take yet (pipelining limit). */
#define PIN_MAX TLS_RECORD_MAX
/* After our FIN, how long to read and discard before closing: closing a
 * socket with unread input sends RST, which may destroy the client's copy of
 * our last bytes (an alert, the end of a response). */
#define LINGER_MS 2000

enum conn_state {
  CONN_HANDSHAKE,
  CONN_CONNECTING,
  CONN_RELAY,
  CONN_CLOSING,
  CONN_CLOSED,
};

struct conn {
  struct worker *w;
  struct worker_gen *wg;  /* the generation it started under, kept for life */
  const struct cfg *cfg;  /* wg->cfg */
  struct conn *prev, *next; /* the worker's list */
  uint64_t id;
  enum conn_state state;
  int open_handles; /* initialised and not yet closed; freed at 0 */

  uv_tcp_t client;
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } backend;
  uv_timer_t timer;
  uv_connect_t connect_req;
  uv_write_t client_wr, backend_wr;
  uv_shutdown_t client_sd, backend_sd;

  struct tls_sess *tls;
  struct buf cin;           /* client ciphertext not yet decrypted */
  struct buf cout, cout_wr; /* ciphertext to the client: filling, in flight */
  struct buf bout, bout_wr; /* plaintext to the backend: filling, in flight */
  struct buf pin;           /* HTTP: decrypted, not yet parsed */
  uint64_t last_active;     /* uv_now() of the last read, for idle timeout */

  /* HTTP mode (http_on): the parser and what the backend is told. */
  struct http http;
  struct http_peer http_peer;
  char *client_headers;     /* X-Client-* lines for every request; owned */
  bool http_on;
  int pending_status;       /* error response owed once earlier responses
                               are out (0: none) */
  uint64_t head_begun_ms;   /* a request head began (0: none pending) */
  uint64_t awaiting_ms;     /* a request awaits its response head */
  uint64_t accepted_ms;

  bool backend_open;      /* backend handle initialised */
  bool handshake_done;
  bool notify_sent;       /* close_notify queued */
  bool client_writing;    /* a write to the client is in flight */
  bool backend_writing;
  bool client_paused;     /* client reads stopped by backpressure */
  bool backend_paused;
  bool client_in_done;    /* client sent close_notify or FIN */
  bool backend_in_done;   /* backend sent FIN */
  bool client_shut;       /* we asked for shutdown(client) */
  bool client_shut_done;  /* ... and it completed */
  bool backend_shut;
  bool requests_done;     /* HTTP: no more requests will be read */
  bool served;            /* HTTP: a response has completed */
  bool expect_proxy;      /* --accept-proxy: a PROXY header comes first */

  struct sockaddr_storage client_sa, local_sa;
  uint16_t local_port;
  char client_ip[INET6_ADDRSTRLEN];
  uint16_t client_port;
  char peer[ADDR_TEXT_MAX];
};

/* ---- conn.c ---- */
void conn_set_state(struct conn *c, enum conn_state s);
/* End gracefully: optionally queue close_notify, flush, FIN, linger. */
void conn_finish(struct conn *c, bool notify);
void conn_flush_client(struct conn *c);
void conn_pause_client(struct conn *c);
void conn_resume_client(struct conn *c);
/* The client will send no more (close_notify, FIN, or HTTP told us). */
void conn_client_input_done(struct conn *c);
/* Once the backend has said all it will and the client has it all, FIN. */
void conn_maybe_shutdown_client(struct conn *c);
/* Make sure the timer fires no later than `deadline_ms` (uv_now time). */
void conn_arm_deadline(struct conn *c, uint64_t deadline_ms);
void conn_log(int level, const struct conn *c, const char *fields,
              const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define CONN_LOG(lvl, c, fields, ...)                                          \
  do {                                                                         \
    if ((lvl) <= log_level)                                                    \
      conn_log((lvl), (c), (fields), __VA_ARGS__);                             \
  } while (0)

/* ---- upstream.c: the backend connection ---- */
void upstream_connect(struct conn *c);
void upstream_flush(struct conn *c);
void upstream_maybe_shutdown(struct conn *c);
void upstream_resume(struct conn *c);

/* ---- relay.c: moving bytes, HTTP awareness ---- */
/* After the handshake: set up HTTP mode for this connection. */
void relay_start(struct conn *c);
/* The backend connection is up (state RELAY). */
void relay_backend_connected(struct conn *c);
/* Decrypt what the client sent and pass it on toward the backend. */
void relay_from_client(struct conn *c);
/* Plaintext from the backend: on toward the client. */
void relay_from_backend(struct conn *c, const char *p, size_t n);
/* The backend sent FIN / failed to connect / timed out / reset. */
void relay_backend_eof(struct conn *c);
void relay_backend_failed(struct conn *c, int status, const char *why);
/* The RELAY-state timer fired: request, backend and idle deadlines. */
void relay_timer(struct conn *c);
/* The worker began draining: see conn_drain(). */
void relay_drain(struct conn *c);

#endif
