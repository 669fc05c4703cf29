/* err.h: the one-line error message that start-up code hands back.
 *
 * Parsers and loaders (addr.c, config.c, tls/store.c, tls/opts.c) report a
 * failure as a return code plus one line of text in a caller's buffer
 * (`char *err, size_t errlen`); the caller adds context or prints it. This
 * is the one helper that writes that line. */
#ifndef TLSTERM_ERR_H
#define TLSTERM_ERR_H

#include <stddef.h>

/* Format one line into err (borrowed, errlen bytes; truncated to fit,
 * untouched if errlen is 0). Always returns -EINVAL, so that an error path
 * reads as one line: `return err_set(err, errlen, "bad port '%s'", s);`.
 * Callers whose contract is another code (tls/ returns -1) return that
 * themselves. */
int err_set(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
