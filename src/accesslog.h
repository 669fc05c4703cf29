/* accesslog.h: the access log (--access-log FILE, or - for stdout).
 *
 * One line per HTTP request, written with a single write(2) on an O_APPEND
 * descriptor, so lines from different workers never interleave:
 *
 *   ts=2026-11-24T15:29:31.123Z worker=1 conn=42 client=203.0.113.7:51234
 *   tls=TLSv1.3 cipher=TLS1-3-AES-128-GCM-SHA256 resumed=no sni=example.com
 *   method=GET path="/index.html" status=200 in=312 out=5120 ms=3
 *
 * (one line; wrapped here). path is quoted with " and \ escaped and control
 * bytes as \xHH; status=0 means the response never came. */
#ifndef TLSTERM_ACCESSLOG_H
#define TLSTERM_ACCESSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"

struct access_entry {
  int worker;
  uint64_t conn;
  const char *client;      /* "203.0.113.7:51234" */
  const char *tls_version;
  const char *cipher;
  bool resumed;
  const char *sni;         /* "-" if none */
  const struct http_done *done;
};

/* Open the log named by --access-log: "-" is stdout (a duplicate of it),
 * anything else a file opened for appending (created 0640). Returns an fd
 * the caller closes, or -1 with a reason in err. */
int access_log_open(const char *path, char *err, size_t errlen);

/* Format and write one line. Errors are ignored: a full disk must not stop
 * the proxy. */
void access_log_write(int fd, const struct access_entry *e);

#endif
