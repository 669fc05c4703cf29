/* http_oracle.h: what the backend is sure to see, checked.
 *
 * The HTTP fuzz targets collect the byte stream tlsterm forwards to the
 * backend and hand it here. A fresh, strict llhttp parser (a backend's
 * view) reads it and checks, for every request head:
 *   - it parses: tlsterm never forwards a malformed head;
 *   - it carries exactly one X-Forwarded-For, X-Forwarded-Proto and
 *     X-Forwarded-Port, with tlsterm's own values; exactly one Forwarded
 *     with --forwarded and none without; X-Client-* lines only as tlsterm
 *     added them: a client can never smuggle a header tlsterm owns;
 *   - the number of heads equals the number of requests tlsterm reported.
 * Chunked trailers pass untouched by design and are not checked. */
#ifndef TLSTERM_HTTP_ORACLE_H
#define TLSTERM_HTTP_ORACLE_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

struct http_oracle_want {
  const struct http_opts *opts;
  const struct http_peer *peer;
  unsigned requests; /* heads tlsterm forwarded (its on_done calls) */
};

/* Check the backend stream `up` (len bytes: what was forwarded up to the
 * end of the stream, or up to the request a 101 answered, after which
 * bytes pass raw) against want; aborts through FUZZ_CHECK on a broken
 * property. */
void http_oracle_check(const char *up, size_t len,
                       const struct http_oracle_want *want);

#endif
