/* process.c: privilege drop and pidfile (see process.h). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "process.h"

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
