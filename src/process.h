/* process.h: what tlsterm does to its own process at start-up: dropping
 * root privileges and writing a pidfile. */
#ifndef TLSTERM_PROCESS_H
#define TLSTERM_PROCESS_H

#include <stddef.h>

/* Run as `user` (and `group`, or the user's primary group) with no
 * supplementary groups, for good: called once everything that needs root
 * (sockets bound, keys read, log files opened) is done, before any worker
 * starts. user NULL: nothing changes, with a warning if we are root.
 * Returns 0, or -EINVAL with one line in err naming --user or --group. */
int process_drop_privileges(const char *user, const char *group, char *err,
                            size_t errlen);

/* Write our pid and a newline to path (replacing it). With --user, the
 * file is given to that user, so the process can still remove it at exit
 * after dropping root (e.g. from a sticky /run). 0 or -EINVAL with a reason
 * in err naming --pidfile. */
int process_write_pidfile(const char *path, const char *user, char *err,
                          size_t errlen);

/* Remove the pidfile at exit (it may no longer be ours to remove once
 * privileges are dropped; that is not an error). */
void process_remove_pidfile(const char *path);

#endif
