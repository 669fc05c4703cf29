/* process.h: what tlsterm does to its own process at start-up: its
 * open-file limit, dropping root privileges and writing a pidfile. */
#ifndef TLSTERM_PROCESS_H
#define TLSTERM_PROCESS_H

#include <stddef.h>

/* Each connection holds two descriptors (client and backend), so
 * --max-connections per worker wants about 2 * max_conns * workers of them,
 * plus a margin for loops, listeners and logs. A soft open-file limit below
 * that is raised towards it (up to the hard limit), as systemd advises for
 * programs that do not use select(); if the hard limit is lower still, a
 * warning says how many connections fit: beyond that, accepts pause and
 * new connections wait in the backlog (worker.h). */
void process_fd_limit(unsigned max_conns, int workers);

/* Log what process_fd_limit() did and found, once start-up has succeeded
 * (a start-up that fails says only why). */
void process_fd_limit_report(void);

/* One line in err for a start-up step that failed with libuv error r:
 * "<who>: <what>: <error>", plus the open-file limit when r is EMFILE or
 * ENFILE, which is what such a failure almost always is. */
void process_start_error(char *err, size_t errlen, const char *who,
                         const char *what, int r);

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
