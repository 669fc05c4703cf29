/* log.c: the error log's line format and its global level (see log.h).
 *
 * A line is built in a stack buffer and handed to one write(2). A write of
 * at most PIPE_BUF bytes to a pipe is atomic, so lines from different worker
 * threads never interleave and no lock is needed; that is why a line is
 * capped at LINE_MAX_BYTES (2 KiB, below Linux's 4 KiB PIPE_BUF). Messages
 * are quoted and escaped so that a line always parses as key=value text,
 * whatever a peer managed to put in it (SNI names, header bytes, ...). */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 2048
#define TRUNC_MARK "..."
/* What must still fit after the message: the mark, the closing quote and
 * the newline. */
#define TAIL_BYTES (sizeof TRUNC_MARK - 1 + 2)

int log_level = LOG_LEVEL_INFO;
int log_format = LOG_FORMAT_TEXT;

/* Where lines go; replaced only by dup2 onto the same number. */
static int log_fd = STDERR_FILENO;
static char log_path[4096];

static int open_log(const char *path) {
  return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

int log_open_file(const char *path, char *err, size_t errlen) {
  if (path == NULL) {
    if (log_fd != STDERR_FILENO)
      close(log_fd);
    log_fd = STDERR_FILENO;
    log_path[0] = '\0';
    return 0;
  }
  int fd = open_log(path);
  if (fd < 0 || strlen(path) >= sizeof log_path) {
    snprintf(err, errlen, "--log-file %s: %s", path,
             fd < 0 ? strerror(errno) : "path too long");
    if (fd >= 0)
      close(fd);
    return -1;
  }
  snprintf(log_path, sizeof log_path, "%s", path);
  log_fd = fd;
  return 0;
}

int log_reopen(void) {
  if (log_path[0] == '\0')
    return 0;
  int fd = open_log(log_path);
  if (fd < 0)
    return -errno;
  int r = dup2(fd, log_fd) < 0 ? -errno : 0;
  close(fd);
  return r;
}

static const char *const level_names[] = {"error", "warn", "info", "debug"};

/* The index in level_names is the level; -1 if unknown. */
int log_level_parse(const char *name) {
  for (int i = 0; i < (int)(sizeof level_names / sizeof level_names[0]); i++)
    if (strcmp(name, level_names[i]) == 0)
      return i;
  return -1;
}

/* "unknown" rather than NULL for a bad level: it ends up in a log line. */
const char *log_level_name(int level) {
  if (level < LOG_LEVEL_ERROR || level > LOG_LEVEL_DEBUG)
    return "unknown";
  return level_names[level];
}

struct line {
  char buf[LINE_MAX_BYTES];
  size_t len;
};

/* Append n bytes if they fit below `limit`; returns false (and appends
 * nothing) if they do not. */
static bool put(struct line *l, const char *s, size_t n, size_t limit) {
  if (l->len + n > limit)
    return false;
  memcpy(l->buf + l->len, s, n);
  l->len += n;
  return true;
}

static void put_str(struct line *l, const char *s) {
  put(l, s, strlen(s), sizeof l->buf);
}

/* The time (UTC, milliseconds) and level, in the line's format: `date` is
 * strftime's part up to the seconds, `tail` takes the milliseconds and the
 * level name. */
static void put_stamp(struct line *l, int level, const char *date,
                      const char *tail) {
  struct timespec ts;
  struct tm tm;
  char stamp[96];

  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(stamp, sizeof stamp, date, &tm);
  snprintf(stamp + n, sizeof stamp - n, tail, ts.tv_nsec / 1000000,
           log_level_name(level));
  put_str(l, stamp);
}

/* "ts=2026-11-24T15:29:31.123Z level=info " */
static void put_head(struct line *l, int level) {
  put_stamp(l, level, "ts=%Y-%m-%dT%H:%M:%S", ".%03ldZ level=%s ");
}

/* The prefix is trusted key=value text from our own code; it is copied as
 * is, but clipped so that a message always has room. */
static void put_prefix(struct line *l, const char *prefix) {
  size_t room = sizeof l->buf / 2 - l->len;
  size_t n = strlen(prefix);

  if (n == 0)
    return;
  put(l, prefix, n < room ? n : room, sizeof l->buf);
  put_str(l, " ");
}

/* The escaped form of byte c in out (at most 4 bytes); returns its length.
 * Bytes >= 0x80 pass through so UTF-8 names stay readable. */
static size_t escape(unsigned char c, char out[5]) {
  switch (c) {
  case '"':
  case '\\':
    out[0] = '\\';
    out[1] = (char)c;
    return 2;
  case '\n':
    memcpy(out, "\\n", 2);
    return 2;
  case '\r':
    memcpy(out, "\\r", 2);
    return 2;
  case '\t':
    memcpy(out, "\\t", 2);
    return 2;
  }
  if (c < 0x20 || c == 0x7f)
    return (size_t)snprintf(out, 5, "\\x%02x", c);
  out[0] = (char)c;
  return 1;
}

/* Append msg escaped, stopping before TAIL_BYTES of the line are used.
 * Returns true if the whole message fit. A cut never splits an escape
 * sequence nor a UTF-8 character. */
static bool put_escaped(struct line *l, const char *msg) {
  const size_t start = l->len, limit = sizeof l->buf - TAIL_BYTES;
  const unsigned char *p = (const unsigned char *)msg;
  char e[5];

  for (; *p != '\0'; p++)
    if (!put(l, e, escape(*p, e), limit))
      break;
  if (*p == '\0')
    return true;
  /* Cut inside a multi-byte character: drop its bytes already copied
   * (raw bytes >= 0x80 are copied one for one, escapes are ASCII). */
  if ((*p & 0xC0) == 0x80) {
    while (l->len > start && ((unsigned char)l->buf[l->len - 1] & 0xC0) == 0x80)
      l->len--;
    if (l->len > start && (unsigned char)l->buf[l->len - 1] >= 0xC0)
      l->len--;
  }
  return false;
}

static void write_line(const char *p, size_t n) {
  ssize_t r;

  /* One write, retried only if a signal interrupted it before any byte
   * went out; a short write to stderr is not worth splitting a line for. */
  do
    r = write(log_fd, p, n);
  while (r < 0 && errno == EINTR);
}

/* JSON string content: '"', '\\' and control bytes escaped. Returns how
 * many bytes of s went in (all of them unless the line is full). */
static size_t put_json_escaped(struct line *l, const char *s, size_t n,
                               size_t limit) {
  char e[8];
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    size_t k = 1;
    if (c == '"' || c == '\\') {
      e[0] = '\\';
      e[1] = (char)c;
      k = 2;
    } else if (c < 0x20 || c == 0x7f) {
      k = (size_t)snprintf(e, sizeof e, "\\u%04x", c);
    } else {
      e[0] = (char)c;
    }
    if (!put(l, e, k, limit))
      return i;
  }
  return n;
}

/* The text prefix's key=value pairs (values bare or quoted with \\
 * escapes) as JSON members: "key":"value", ... */
static void put_json_prefix(struct line *l, const char *p) {
  const size_t limit = sizeof l->buf / 2;
  while (*p) {
    while (*p == ' ')
      p++;
    const char *eq = strchr(p, '=');
    if (*p == '\0' || eq == NULL)
      return;
    put_str(l, "\"");
    put_json_escaped(l, p, (size_t)(eq - p), limit);
    put_str(l, "\":\"");
    p = eq + 1;
    if (*p == '"') { /* quoted: up to the closing quote, unescaping \\x */
      for (p++; *p && *p != '"'; p++) {
        if (*p == '\\' && p[1])
          p++;
        put_json_escaped(l, p, 1, limit);
      }
      if (*p == '"')
        p++;
    } else {
      size_t n = strcspn(p, " ");
      put_json_escaped(l, p, n, limit);
      p += n;
    }
    put_str(l, "\",");
  }
}

/* {"ts":"...","level":"...",<prefix>,"msg":"..."} */
static void format_json(struct line *l, int level, const char *prefix,
                        const char *msg, bool whole) {
  put_stamp(l, level, "{\"ts\":\"%Y-%m-%dT%H:%M:%S",
            ".%03ldZ\",\"level\":\"%s\",");
  if (prefix != NULL)
    put_json_prefix(l, prefix);
  put_str(l, "\"msg\":\"");
  size_t limit = sizeof l->buf - TAIL_BYTES - 1;
  size_t len = strlen(msg), start = l->len;
  size_t in = put_json_escaped(l, msg, len, limit);
  if (in < len) {
    /* Cut inside a UTF-8 character: drop its bytes already copied (escapes
     * are never split: one goes in whole or not at all). */
    if (((unsigned char)msg[in] & 0xC0) == 0x80) {
      while (l->len > start &&
             ((unsigned char)l->buf[l->len - 1] & 0xC0) == 0x80)
        l->len--;
      if (l->len > start && (unsigned char)l->buf[l->len - 1] >= 0xC0)
        l->len--;
    }
    whole = false;
  }
  if (!whole)
    put_str(l, TRUNC_MARK);
  put_str(l, "\"}\n");
}

/* Format into a stack buffer, escape into the line, one write(2). Takes no
 * lock and allocates nothing itself, so any thread may call it, even after
 * malloc has failed. */
void log_write(int level, const char *prefix, const char *fmt, ...) {
  int saved_errno = errno; /* callers log and then look at errno */
  char msg[LINE_MAX_BYTES];
  struct line l;
  va_list ap;

  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n < 0)
    snprintf(msg, sizeof msg, "(bad log format '%s')", fmt);

  l.len = 0; /* not "= {0}": no need to clear 2 KiB per line */
  if (log_format == LOG_FORMAT_JSON) {
    format_json(&l, level, prefix, msg, n >= 0 && (size_t)n < sizeof msg);
    write_line(l.buf, l.len);
    errno = saved_errno;
    return;
  }
  put_head(&l, level);
  if (prefix != NULL)
    put_prefix(&l, prefix);
  put_str(&l, "msg=\"");
  bool whole = put_escaped(&l, msg) && n >= 0 && (size_t)n < sizeof msg;
  if (!whole)
    put_str(&l, TRUNC_MARK);
  put_str(&l, "\"\n");

  write_line(l.buf, l.len);
  errno = saved_errno;
}
