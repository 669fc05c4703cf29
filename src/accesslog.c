/* accesslog.c: formatting and writing access-log lines (see accesslog.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "accesslog.h"

#define LINE_MAX_BYTES 2048

int access_log_open(const char *path, char *err, size_t errlen) {
  /* A copy of stdout, so that every owner closes what it holds. */
  int fd = strcmp(path, "-") == 0
               ? fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0)
               : open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0)
    snprintf(err, errlen, "--access-log %s: %s", path, strerror(errno));
  return fd;
}

/* Append s quoted, escaping what would break the line's format. */
static size_t put_quoted(char *out, size_t room, const char *s) {
  static const char hex[] = "0123456789abcdef";
  size_t n = 0;
  if (room < 3)
    return 0;
  out[n++] = '"';
  for (; *s && n + 5 < room; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') {
      out[n++] = '\\';
      out[n++] = (char)ch;
    } else if (ch < 0x20 || ch == 0x7f) {
      out[n++] = '\\';
      out[n++] = 'x';
      out[n++] = hex[ch >> 4];
      out[n++] = hex[ch & 15];
    } else {
      out[n++] = (char)ch;
    }
  }
  out[n++] = '"';
  return n;
}

void access_log_write(int fd, const struct access_entry *e) {
  char line[LINE_MAX_BYTES];
  const struct http_done *d = e->done;
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);

  int n = snprintf(line, sizeof line,
                   "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ worker=%d "
                   "conn=%" PRIu64 " client=%s tls=%s cipher=%s resumed=%s "
                   "sni=%s method=%s path=",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                   tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, e->worker,
                   e->conn, e->client, e->tls_version, e->cipher,
                   e->resumed ? "yes" : "no", e->sni, d->method);
  if (n < 0 || (size_t)n >= sizeof line - 128)
    return;
  n += (int)put_quoted(line + n, sizeof line - 128 - (size_t)n, d->target);
  n += snprintf(line + n, sizeof line - (size_t)n,
                " status=%d in=%" PRIu64 " out=%" PRIu64 " ms=%" PRIu64 "\n",
                d->status, d->bytes_in, d->bytes_out,
                d->end_ms >= d->start_ms ? d->end_ms - d->start_ms : 0);
  if ((size_t)n >= sizeof line)
    n = sizeof line - 1, line[n - 1] = '\n';
  ssize_t w = write(fd, line, (size_t)n);
  (void)w;
}
