/* process.c: open-file limit, privilege drop and pidfile (see process.h). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <unistd.h>
#include <uv.h>

#include "err.h"
#include "log.h"
#include "process.h"

/* ---- open-file limit ------------------------------------------------------ */

/* Beyond the connections: each loop's epoll, eventfd and spare descriptor,
 * the listening sockets and their copies, log files, a reload's files. */
#define FD_MARGIN_BASE 64
#define FD_MARGIN_PER_WORKER 8

/* What process_fd_limit() found, for process_fd_limit_report(). */
static struct {
  rlim_t was, now, want, conns_fds;
  unsigned max_conns;
  int workers;
} fd_limit;

void process_fd_limit(unsigned max_conns, int workers) {
  struct rlimit rl;

  fd_limit.max_conns = max_conns;
  fd_limit.workers = workers;
  fd_limit.conns_fds = 2 * (rlim_t)max_conns * (rlim_t)workers;
  fd_limit.want = FD_MARGIN_BASE + (rlim_t)workers * FD_MARGIN_PER_WORKER +
                  fd_limit.conns_fds;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    fd_limit.want = 0; /* nothing to say */
    return;
  }
  fd_limit.was = fd_limit.now = rl.rlim_cur;
  if (rl.rlim_cur >= fd_limit.want || rl.rlim_cur >= rl.rlim_max)
    return;
  rl.rlim_cur = rl.rlim_max < fd_limit.want ? rl.rlim_max : fd_limit.want;
  if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
    fd_limit.now = rl.rlim_cur;
}

void process_fd_limit_report(void) {
  if (fd_limit.now > fd_limit.was)
    log_info("open-file limit raised from %llu to %llu",
             (unsigned long long)fd_limit.was, (unsigned long long)fd_limit.now);
  if (fd_limit.now >= fd_limit.want)
    return;
  rlim_t margin = fd_limit.want - fd_limit.conns_fds;
  rlim_t fit = fd_limit.now > margin ? (fd_limit.now - margin) / 2 : 0;
  log_warn("open-file limit %llu is below the %llu descriptors that "
           "--max-connections %u with %d worker(s) needs (two per "
           "connection): about %llu connections fit, later ones wait until "
           "some close; raise the hard limit (ulimit -Hn, LimitNOFILE=, "
           "docker run --ulimit nofile=)",
           (unsigned long long)fd_limit.now, (unsigned long long)fd_limit.want,
           fd_limit.max_conns, fd_limit.workers, (unsigned long long)fit);
}

void process_start_error(char *err, size_t errlen, const char *who,
                         const char *what, int r) {
  struct rlimit rl = {0};
  int n = snprintf(err, errlen, "%s: %s: %s", who, what, uv_strerror(r));

  if ((r == UV_EMFILE || r == UV_ENFILE) && n >= 0 && (size_t)n < errlen &&
      getrlimit(RLIMIT_NOFILE, &rl) == 0)
    snprintf(err + n, errlen - (size_t)n,
             " (open-file limit %llu is too low to start; raise it)",
             (unsigned long long)rl.rlim_cur);
}

/* ---- privileges ----------------------------------------------------------- */

/* Look a name up, or take it as a number ("65534"). */
static int lookup_user(const char *name, uid_t *uid, gid_t *gid) {
  struct passwd pw, *res = NULL;
  char buf[4096];
  if (getpwnam_r(name, &pw, buf, sizeof buf, &res) != 0 || res == NULL)
    return -1;
  *uid = pw.pw_uid;
  *gid = pw.pw_gid;
  return 0;
}

static int lookup_group(const char *name, gid_t *gid) {
  struct group gr, *res = NULL;
  char buf[4096];
  if (getgrnam_r(name, &gr, buf, sizeof buf, &res) != 0 || res == NULL)
    return -1;
  *gid = gr.gr_gid;
  return 0;
}

int process_drop_privileges(const char *user, const char *group, char *err,
                            size_t errlen) {
  uid_t uid;
  gid_t gid;

  if (user == NULL) {
    if (geteuid() == 0)
      log_warn("running as root: give --user to drop privileges once the "
               "sockets are bound and the keys read");
    return 0;
  }
  if (lookup_user(user, &uid, &gid) != 0)
    return err_set(err, errlen, "--user %s: no such user", user);
  if (group != NULL && lookup_group(group, &gid) != 0)
    return err_set(err, errlen, "--group %s: no such group", group);
  if (geteuid() != 0 && geteuid() != uid)
    return err_set(err, errlen, "--user %s: only root can switch users",
                   user);
  /* Groups first: once the uid is gone, so is the right to change them. */
  if (geteuid() == 0 && setgroups(0, NULL) != 0)
    return err_set(err, errlen, "--user %s: setgroups: %s", user,
                   strerror(errno));
  if (setgid(gid) != 0 || setuid(uid) != 0)
    return err_set(err, errlen, "--user %s: %s", user, strerror(errno));
  /* Make sure it cannot be undone. */
  if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
    return err_set(err, errlen, "--user %s: root could be regained", user);
  log_info("running as user %s (uid %u, gid %u)", user, (unsigned)uid,
           (unsigned)gid);
  return 0;
}

int process_write_pidfile(const char *path, const char *user, char *err,
                          size_t errlen) {
  char line[32];
  uid_t uid;
  gid_t gid;
  int n = snprintf(line, sizeof line, "%ld\n", (long)getpid());
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || write(fd, line, (size_t)n) != n) {
    int r = err_set(err, errlen, "--pidfile %s: %s", path, strerror(errno));
    if (fd >= 0)
      close(fd);
    return r;
  }
  if (user != NULL && geteuid() == 0 && lookup_user(user, &uid, &gid) == 0 &&
      fchown(fd, uid, gid) != 0)
    log_warn("--pidfile %s: cannot give it to %s: %s", path, user,
             strerror(errno));
  close(fd);
  return 0;
}

void process_remove_pidfile(const char *path) {
  if (path != NULL)
    unlink(path);
}
