/* fuzz_config.c: the config file and the flags (src/config.c,
 * src/config_values.c, src/addr.c).
 *
 * Input: the text of a config file, then, after the first NUL byte, the
 * command-line words, NUL-separated. The text is written to a memfd and
 * named by --config /proc/self/fd/N ahead of the words (no --config when it
 * is empty), and cfg_parse runs the way main() calls it. Words that would
 * name another config file (--config, or an abbreviation of it) are left
 * out: the file is always the fuzzer's.
 *
 * Checked, besides the sanitizers: a configuration that parses dumps
 * (cfg_dump, what --test prints) to a file that parses again to a
 * configuration that dumps the same bytes, and that a reload would find
 * no restart-only option changed in (cfg_keep_restart_only).
 *
 * Backend names are never sent to DNS while fuzzing: the program is linked
 * with -Wl,--wrap=getaddrinfo and the wrapper below resolves numeric hosts
 * only, so a name fails at once as an unknown one would. */
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

#define WORDS_MAX 64

int __real_getaddrinfo(const char *node, const char *service,
                       const struct addrinfo *hints, struct addrinfo **res);
int __wrap_getaddrinfo(const char *node, const char *service,
                       const struct addrinfo *hints, struct addrinfo **res);

int __wrap_getaddrinfo(const char *node, const char *service,
                       const struct addrinfo *hints, struct addrinfo **res) {
  struct addrinfo h = {0};

  if (hints != NULL)
    h = *hints;
  h.ai_flags |= AI_NUMERICHOST;
  return __real_getaddrinfo(node, service, &h, res);
}

static int conf_fd = -1, dump_fd = -1;
static char conf_path[64], dump_path[64];
static FILE *devnull;

static void fd_file(int *fd, char *path, size_t len, const char *name) {
  *fd = memfd_create(name, MFD_CLOEXEC);
  FUZZ_CHECK(*fd >= 0);
  snprintf(path, len, "/proc/self/fd/%d", *fd);
}

static void fd_write(int fd, const void *p, size_t n) {
  FUZZ_CHECK(ftruncate(fd, 0) == 0);
  FUZZ_CHECK(n == 0 || pwrite(fd, p, n, 0) == (ssize_t)n);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fd_file(&conf_fd, conf_path, sizeof conf_path, "fuzz.conf");
  fd_file(&dump_fd, dump_path, sizeof dump_path, "dump.conf");
  devnull = fopen("/dev/null", "w");
  FUZZ_CHECK(devnull != NULL);
  return 0;
}

/* Could this word make getopt_long take --config (an unambiguous
 * abbreviation counts)? */
static bool names_config(const char *w) {
  size_t n = strcspn(w, "=");

  return n >= 5 && n <= 8 && strncmp(w, "--config", n) == 0;
}

/* cfg_dump into *out (malloc'd, *len bytes). */
static void dump(const struct cfg *cfg, char **out, size_t *len) {
  FILE *f = open_memstream(out, len);

  FUZZ_CHECK(f != NULL);
  cfg_dump(cfg, f);
  FUZZ_CHECK(fclose(f) == 0);
}

/* The dump of cfg is a config file that reads back to the same dump. */
static void check_dump(const struct cfg *cfg) {
  char *argv[] = {"tlsterm", "--config", dump_path, NULL};
  char *d1 = NULL, *d2 = NULL, err[512], names[256];
  size_t l1 = 0, l2 = 0;
  struct cfg again;
  enum cfg_result r;

  dump(cfg, &d1, &l1);
  fd_write(dump_fd, d1, l1);
  r = cfg_parse(&again, 3, argv, devnull, err, sizeof err);
  if (r != CFG_OK)
    fprintf(stderr, "the dump does not parse: %s\n%.*s", err, (int)l1, d1);
  FUZZ_CHECK(r == CFG_OK);
  dump(&again, &d2, &l2);
  if (l1 != l2 || memcmp(d1, d2, l1) != 0)
    fprintf(stderr, "dump 1:\n%.*s\ndump 2:\n%.*s", (int)l1, d1, (int)l2, d2);
  FUZZ_CHECK(l1 == l2 && memcmp(d1, d2, l1) == 0);
  /* The same configuration again, as a reload would see it. */
  FUZZ_CHECK(cfg_keep_restart_only(&again, cfg, names, sizeof names) == 0);
  cfg_cleanup(&again);
  free(d1);
  free(d2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *copy = malloc(size + 1), *argv[WORDS_MAX + 4], err[512];
  const char *nul = memchr(data, '\0', size);
  size_t text_len = nul != NULL ? (size_t)(nul - (const char *)data) : size;
  int argc = 0;
  struct cfg cfg;
  enum cfg_result r;

  FUZZ_CHECK(copy != NULL);
  memcpy(copy, data, size);
  copy[size] = '\0';
  argv[argc++] = "tlsterm";
  if (text_len > 0) {
    fd_write(conf_fd, data, text_len);
    argv[argc++] = "--config";
    argv[argc++] = conf_path;
  }
  /* The words: NUL-separated after the text. */
  for (size_t at = text_len + 1; at < size && argc < WORDS_MAX;) {
    char *w = copy + at;
    size_t n = strlen(w);
    if (!names_config(w))
      argv[argc++] = w;
    at += n + 1;
  }
  argv[argc] = NULL;

  r = cfg_parse(&cfg, argc, argv, devnull, err, sizeof err);
  FUZZ_CHECK(r == CFG_OK || r == CFG_EXIT || r == CFG_INVALID);
  if (r == CFG_INVALID)
    FUZZ_CHECK(err[0] != '\0');
  if (r == CFG_OK) {
    check_dump(&cfg);
    cfg_cleanup(&cfg);
    cfg_cleanup(&cfg); /* safe twice */
  }
  free(copy);
  return 0;
}
