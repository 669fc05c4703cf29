/* relay.c: moving plaintext between a connection's client and backend.
 *
 * TCP mode (and an HTTP connection after a successful Upgrade): bytes pass
 * unchanged. HTTP mode: request heads are rewritten on the way in and
 * responses tracked on the way out (http.c), which lets tlsterm answer for
 * the backend when it cannot: 400/431/501 for bad requests, 408 when a head
 * stalls, 502 when the backend is unreachable or answers garbage, 504 when it
 * does not answer in time. Once any byte of a response has gone to the
 * client, an error can only close the connection, never add a response.
 *
 * Timers: the connection has one uv_timer. In RELAY it fires at the earliest
 * of the idle, request-head and backend-response deadlines, armed when each
 * deadline begins rather than on every read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accesslog.h"
#include "conn_int.h"
#include "gen.h"
#include "proxy.h"
#include "tls.h"
#include "worker.h"

static bool parsing_http(const struct conn *c) {
  return c->http_on && !http_tunnel(&c->http);
}

/* Encrypt plaintext for the client into cout. false: the connection was
 * aborted. */
static bool to_client(struct conn *c, const char *p, size_t n) {
  if (n > 0 && tls_sess_write(c->tls, p, n) != 0) {
    CONN_LOG(LOG_LEVEL_INFO, c, NULL, "TLS error: %s", tls_sess_error(c->tls));
    conn_abort(c);
    return false;
  }
  return true;
}

/* Answer with a small error response and close. If it answers a request
 * (502, 504), the access log records it as that request's response. */
static void send_error(struct conn *c, int status) {
  struct buf *o = &c->w->obuf;
  buf_consume(o, buf_used(o));
  if (http_error_response(o, status) != 0) {
    conn_abort(c);
    return;
  }
  if (c->http_on && !c->requests_done)
    http_answered(&c->http, status, buf_used(o), uv_now(&c->w->loop));
  bool ok = to_client(c, buf_data(o), buf_used(o));
  buf_consume(o, buf_used(o));
  if (ok)
    conn_finish(c, true);
}

/* Requests whose responses may still come from the backend: not one whose
 * body broke off in a request error, since the backend waits for the rest
 * of it (without this, the client got a 504 at --backend-timeout instead
 * of the error). */
static unsigned answerable(const struct conn *c) {
  return http_outstanding(&c->http) -
         (c->requests_done && http_request_unfinished(&c->http) ? 1 : 0);
}

/* The request stream cannot go on: answer with `status` once the responses
 * to earlier pipelined requests are out, then close (which also closes the
 * backend connection, ending a request cut off in its body). */
static void request_error(struct conn *c, int status) {
  CONN_LOG(LOG_LEVEL_INFO, c, NULL, "bad request: answering %d", status);
  c->requests_done = true;
  conn_pause_client(c);
  if (answerable(c) == 0 && !http_response_started(&c->http))
    send_error(c, status);
  else
    c->pending_status = status;
}

static void on_done(void *arg, const struct http_done *d) {
  struct conn *c = arg;
  c->served = true;
  metrics_response(&c->w->metrics, d->status, d->start_ms, d->end_ms);
  if (c->wg->gen->access_log_fd < 0)
    return;
  const char *sni = tls_sess_sni(c->tls);
  struct access_entry e = {
      .worker = c->w->id,
      .conn = c->id,
      .client = c->peer,
      .tls_version = tls_sess_version(c->tls),
      .cipher = tls_sess_cipher(c->tls),
      .resumed = tls_sess_resumed(c->tls),
      .sni = sni ? sni : "-",
      .done = d,
  };
  access_log_write(c->wg->gen->access_log_fd, &e);
}

/* Certificate text is the client's choice: keep header values to printable
 * bytes, so a subject cannot inject a header line. */
static void append_sanitized(struct buf *b, const char *s) {
  for (; *s; s++) {
    char ch = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
    buf_append(b, &ch, 1);
  }
}

/* nginx's $ssl_client_escaped_cert: every byte outside RFC 3986's
 * unreserved set as %XX. */
static void append_urlencoded(struct buf *b, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
        (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' ||
        ch == '~') {
      buf_append(b, s, 1);
    } else {
      char esc[3] = {'%', hex[ch >> 4], hex[ch & 15]};
      buf_append(b, esc, 3);
    }
  }
}

#define CLIENT_PEM_MAX 16384

/* X-Client-* lines, rendered once per connection (the certificate cannot
 * change: renegotiation is off). The request parser strips client-sent
 * copies of every one of them. */
static void render_client_headers(struct conn *c) {
  struct tls_client_cert cc;
  struct buf b;
  buf_init(&b, 4 * CLIENT_PEM_MAX);
  tls_sess_client_cert(c->tls, &cc);
  const char *verdict = !cc.presented ? "NONE"
                        : cc.verified ? "SUCCESS"
                                      : "FAILED";
  buf_append(&b, "X-Client-Verify: ", 17);
  buf_append(&b, verdict, strlen(verdict));
  buf_append(&b, "\r\n", 2);
  if (cc.presented) {
    buf_append(&b, "X-Client-Subject: ", 18);
    append_sanitized(&b, cc.subject);
    buf_append(&b, "\r\nX-Client-Fingerprint-SHA256: ", 31);
    buf_append(&b, cc.fingerprint, strlen(cc.fingerprint));
    buf_append(&b, "\r\n", 2);
  }
  if (cc.presented && c->cfg->client_cert_header) {
    char *pem = malloc(CLIENT_PEM_MAX);
    if (pem && tls_sess_client_cert_pem(c->tls, pem, CLIENT_PEM_MAX) > 0) {
      buf_append(&b, "X-Client-Cert: ", 15);
      append_urlencoded(&b, pem);
      buf_append(&b, "\r\n", 2);
    }
    free(pem);
  }
  c->client_headers = strndup(buf_data(&b), buf_used(&b));
  buf_cleanup(&b);
  if (c->client_headers) {
    c->http_peer.extra = c->client_headers;
    c->http_peer.extra_len = strlen(c->client_headers);
  }
}

/* TCP mode: the PROXY header goes first, ahead of any client byte. */
static void send_proxy_header(struct conn *c) {
  struct proxy_info pi = {
      .src = c->client_sa,
      .dst = c->local_sa,
      .alpn = tls_sess_alpn(c->tls),
      .sni = tls_sess_sni(c->tls),
      .tls_version = tls_sess_version(c->tls),
      .cipher = tls_sess_cipher(c->tls),
  };
  struct tls_client_cert cc;
  tls_sess_client_cert(c->tls, &cc);
  if (cc.presented) {
    pi.client_cert = true;
    pi.client_verified = cc.verified;
    pi.client_cn = cc.cn[0] ? cc.cn : NULL;
    if (c->cfg->proxy_client_cert) {
      pi.client_der = cc.der;
      pi.client_der_len = cc.der_len;
    }
  }
  int r = c->cfg->proxy_protocol == 1 ? proxy_v1_encode(&pi, &c->bout)
                                         : proxy_v2_encode(&pi, &c->bout);
  if (r != 0) {
    CONN_LOG(LOG_LEVEL_ERROR, c, NULL, "cannot build the PROXY header: %s",
             uv_strerror(r));
    conn_abort(c);
  }
}

void relay_start(struct conn *c) {
  if (c->cfg->mode != CFG_MODE_HTTP) {
    if (c->cfg->proxy_protocol != 0)
      send_proxy_header(c);
    return;
  }
  c->http_peer = (struct http_peer){
      .client_ip = c->client_ip,
      .client_port = c->client_port,
      .local_port = c->local_port,
      .host = tls_sess_sni(c->tls),
  };
  if (c->cfg->client_verify != CFG_VERIFY_NONE)
    render_client_headers(c);
  http_init(&c->http, &c->wg->http_opts, &c->http_peer, on_done, c);
  c->http_on = true;
}

/* Start or clear the request-head and backend-response deadlines. The
 * response deadline runs from the last request byte forwarded, so a long
 * upload is not mistaken for a silent backend. */
static void update_deadlines(struct conn *c, uint64_t now, bool forwarded) {
  const struct cfg *cfg = c->cfg;
  if (!parsing_http(c) || c->state != CONN_RELAY) {
    c->head_begun_ms = c->awaiting_ms = 0;
    return;
  }
  if (!http_head_begun(&c->http) || c->requests_done) {
    c->head_begun_ms = 0;
  } else if (c->head_begun_ms == 0) {
    c->head_begun_ms = now;
    conn_arm_deadline(c, now + cfg->request_timeout_ms);
  }
  if (!http_awaiting_response(&c->http)) {
    c->awaiting_ms = 0;
  } else if (c->awaiting_ms == 0 || forwarded) {
    /* Moving the deadline later needs no re-arm: relay_timer re-checks. */
    if (c->awaiting_ms == 0)
      conn_arm_deadline(c, now + cfg->backend_timeout_ms);
    c->awaiting_ms = now;
  }
}

/* A read that returned no plaintext: what it means for the loop. */
static void read_ended(struct conn *c, int r) {
  if (r == TLS_WANT) {
    conn_resume_client(c);
  } else if (r == TLS_CLOSED) {
    conn_client_input_done(c);
  } else {
    CONN_LOG(LOG_LEVEL_INFO, c, NULL, "TLS error: %s", tls_sess_error(c->tls));
    conn_finish(c, false);
  }
}

static bool can_read_client(const struct conn *c) {
  return !c->client_in_done && !c->requests_done &&
         (c->state == CONN_CONNECTING || c->state == CONN_RELAY);
}

/* TCP mode: decrypt straight into bout. */
static void decrypt_raw(struct conn *c) {
  while (can_read_client(c)) {
    if (buf_used(&c->bout) >= OUT_HIGH) {
      conn_pause_client(c);
      return;
    }
    if (buf_reserve(&c->bout, TLS_RECORD_MAX) != 0) {
      conn_abort(c);
      return;
    }
    int n = tls_sess_read(c->tls, buf_tail(&c->bout), buf_room(&c->bout));
    if (n <= 0) {
      read_ended(c, n);
      return;
    }
    buf_commit(&c->bout, (size_t)n);
  }
}

/* HTTP mode: decrypt into the worker's scratch buffer and let the parser
 * rewrite it into bout. What the parser cannot take yet (too many requests
 * awaiting responses) waits in pin, and the client is paused. */
static void decrypt_http(struct conn *c, uint64_t now) {
  while (can_read_client(c)) {
    if (buf_used(&c->bout) >= OUT_HIGH) {
      conn_pause_client(c);
      return;
    }
    bool from_pin = buf_used(&c->pin) > 0;
    const char *p = buf_data(&c->pin);
    size_t len = buf_used(&c->pin);
    if (!from_pin) {
      int n = tls_sess_read(c->tls, c->w->pbuf, sizeof c->w->pbuf);
      if (n <= 0) {
        read_ended(c, n);
        return;
      }
      p = c->w->pbuf;
      len = (size_t)n;
    }
    ssize_t used = http_req_feed(&c->http, p, len, &c->bout, now);
    if (used < 0) {
      if (used <= -400)
        request_error(c, (int)-used);
      else
        conn_abort(c);
      return;
    }
    if (from_pin)
      buf_consume(&c->pin, (size_t)used);
    else if ((size_t)used < len &&
             buf_append(&c->pin, p + used, len - (size_t)used) != 0) {
      conn_abort(c);
      return;
    }
    if (buf_used(&c->pin) > 0) {
      conn_pause_client(c); /* resumed when a response completes */
      return;
    }
  }
}

void relay_backend_connected(struct conn *c) {
  /* Requests that arrived while connecting start their deadlines now. */
  update_deadlines(c, uv_now(&c->w->loop), true);
}

void relay_from_client(struct conn *c) {
  uint64_t now = uv_now(&c->w->loop);
  size_t before = buf_used(&c->bout);
  if (c->http_on)
    decrypt_http(c, now);
  else
    decrypt_raw(c);
  if (parsing_http(c) && c->backend_in_done && c->state == CONN_RELAY &&
      (http_outstanding(&c->http) > 0 || http_head_begun(&c->http))) {
    send_error(c, 502); /* see relay_backend_eof */
    return;
  }
  update_deadlines(c, now, buf_used(&c->bout) != before);
  upstream_flush(c);
}

/* Between requests with nothing owed: no request is outstanding, none has
 * begun, none waits undecrypted or unparsed. Closing here loses nothing. */
static bool at_request_boundary(const struct conn *c) {
  return c->served && http_outstanding(&c->http) == 0 &&
         !http_head_begun(&c->http) && !http_response_started(&c->http) &&
         buf_used(&c->pin) == 0 && buf_used(&c->cin) == 0 &&
         c->pending_status == 0;
}

void relay_drain(struct conn *c) {
  if (parsing_http(c) && at_request_boundary(c))
    conn_finish(c, true);
}

/* After responses completed: close if asked or draining, send an owed
 * error, or take the pipelined requests that were waiting. */
static void after_responses(struct conn *c, uint64_t now) {
  if (http_done_closing(&c->http) ||
      (c->w->draining && parsing_http(c) && at_request_boundary(c))) {
    conn_finish(c, true);
    return;
  }
  if (c->pending_status != 0 && answerable(c) == 0 &&
      !http_response_started(&c->http)) {
    send_error(c, c->pending_status);
    return;
  }
  if (buf_used(&c->pin) > 0 && http_outstanding(&c->http) < HTTP_PIPELINE_MAX)
    relay_from_client(c);
  else
    update_deadlines(c, now, false);
}

void relay_from_backend(struct conn *c, const char *p, size_t n) {
  if (!parsing_http(c)) {
    if (to_client(c, p, n))
      conn_flush_client(c);
    return;
  }
  uint64_t now = uv_now(&c->w->loop);
  struct buf *o = &c->w->obuf;
  int r = http_resp_feed(&c->http, p, n, o, now);
  bool ok = to_client(c, buf_data(o), buf_used(o));
  buf_consume(o, buf_used(o));
  if (!ok)
    return;
  if (r < 0) {
    CONN_LOG(LOG_LEVEL_WARN, c, NULL, "invalid response from the backend");
    if (r == -502 && !http_response_started(&c->http))
      send_error(c, 502);
    else
      conn_abort(c);
    return;
  }
  conn_flush_client(c);
  after_responses(c, now);
}

void relay_backend_eof(struct conn *c) {
  if (parsing_http(c)) {
    if (!http_resp_eof(&c->http, uv_now(&c->w->loop))) {
      /* Never present a cut-off response as complete: no close_notify. */
      CONN_LOG(LOG_LEVEL_WARN, c, NULL, "backend closed mid-response");
      conn_abort(c);
      return;
    }
    if (http_outstanding(&c->http) > 0) {
      CONN_LOG(LOG_LEVEL_WARN, c, NULL, "backend closed without responding");
      send_error(c, 502);
      return;
    }
    if (!c->served) {
      /* Gone before this connection's first request reached it: a client
       * does not retry a first request on a closed connection, so the
       * request on its way gets a 502 (relay_from_client). */
      CONN_LOG(LOG_LEVEL_WARN, c, NULL, "backend closed before the first request");
      if (http_head_begun(&c->http) || buf_used(&c->pin) > 0)
        send_error(c, 502);
      return;
    }
    /* Nothing more can be answered on this connection. */
    conn_finish(c, true);
    return;
  }
  /* Byte relay: pass the half-close on as close_notify, then FIN. */
  if (!c->notify_sent) {
    tls_sess_close_notify(c->tls);
    c->notify_sent = true;
  }
  conn_flush_client(c);
  conn_maybe_shutdown_client(c);
}

void relay_backend_failed(struct conn *c, int status, const char *why) {
  char fields[192];
  snprintf(fields, sizeof fields, "backend=%s reason=\"%s\"",
           c->cfg->backend.text, why);
  bool connecting = c->state == CONN_CONNECTING;
  if (connecting)
    metrics_add(&c->w->metrics.backend_connect_errors, 1);
  CONN_LOG(connecting ? LOG_LEVEL_WARN : LOG_LEVEL_INFO, c, fields,
           connecting ? "backend connect failed" : "backend failed");
  if (parsing_http(c) && !http_response_started(&c->http))
    send_error(c, status);
  else if (connecting)
    conn_finish(c, true);
  else
    conn_abort(c); /* mid-stream: the client must see a truncation */
}

void relay_timer(struct conn *c) {
  const struct cfg *cfg = c->cfg;
  uint64_t now = uv_now(&c->w->loop);
  if (c->awaiting_ms && now - c->awaiting_ms >= cfg->backend_timeout_ms) {
    CONN_LOG(LOG_LEVEL_WARN, c, NULL, "backend sent no response in %u ms",
             cfg->backend_timeout_ms);
    metrics_add(&c->w->metrics.backend_timeouts, 1);
    if (!http_response_started(&c->http))
      send_error(c, 504);
    else
      conn_abort(c);
    return;
  }
  if (c->head_begun_ms && now - c->head_begun_ms >= cfg->request_timeout_ms) {
    c->head_begun_ms = 0;
    request_error(c, 408);
    if (c->state != CONN_RELAY)
      return;
  }
  if (now - c->last_active >= cfg->idle_timeout_ms) {
    CONN_LOG(LOG_LEVEL_DEBUG, c, NULL, "idle timeout");
    conn_finish(c, true);
    return;
  }
  conn_arm_deadline(c, c->last_active + cfg->idle_timeout_ms);
  if (c->head_begun_ms)
    conn_arm_deadline(c, c->head_begun_ms + cfg->request_timeout_ms);
  if (c->awaiting_ms)
    conn_arm_deadline(c, c->awaiting_ms + cfg->backend_timeout_ms);
}
