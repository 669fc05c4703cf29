/* log.h: the error log.
 *
 * Lines go to stderr in a stable key=value format, one write(2) per line so
 * that lines from different worker threads never interleave:
 *
 *   ts=2026-11-24T15:29:31.123Z level=info worker=1 conn=42 msg="..."
 *
 * The macros test the level before any formatting happens, so a disabled
 * debug line costs one comparison. */
#ifndef TLSTERM_LOG_H
#define TLSTERM_LOG_H

#include <stddef.h>

enum log_level {
  LOG_LEVEL_ERROR = 0,
  LOG_LEVEL_WARN,
  LOG_LEVEL_INFO,
  LOG_LEVEL_DEBUG,
};

enum log_format {
  LOG_FORMAT_TEXT = 0, /* ts=... level=... key=value msg="..." */
  LOG_FORMAT_JSON = 1, /* {"ts":"...","level":"...","key":"value","msg":"..."} */
};

/* The current level and format; set once at start-up by the control thread
 * before workers read them. */
extern int log_level;
extern int log_format;

/* Send lines to `path` (appending; created 0640) instead of stderr, or
 * back to stderr when path is NULL. Call before workers start. 0, or -1
 * with a reason in err naming the file. */
int log_open_file(const char *path, char *err, size_t errlen);

/* Reopen the log file (SIGUSR1, after logrotate moved it). The descriptor
 * number stays the same (dup2), so threads writing meanwhile never see a
 * closed one. 0, or a negative errno (the old file stays in use). No-op
 * when logging to stderr. */
int log_reopen(void);

/* Parse "error", "warn", "info" or "debug"; returns the level or -1. */
int log_level_parse(const char *name);
const char *log_level_name(int level);

/* Format and write one line. `prefix` is extra key=value text placed before
 * msg= (may be NULL); the message is quoted and escaped. */
void log_write(int level, const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_at(lvl, ...)                                                       \
  do {                                                                         \
    if ((lvl) <= log_level)                                                    \
      log_write((lvl), NULL, __VA_ARGS__);                                     \
  } while (0)

#define log_error(...) log_at(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_at(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_at(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
