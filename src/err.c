/* err.c: err_set(), the shared "write the reason, return -EINVAL" helper
 * (see err.h). */
#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

int err_set(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;

  /* No room means the caller wants no text (err may then be NULL). */
  if (errlen > 0) {
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return -EINVAL;
}
