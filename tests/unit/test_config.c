/* test_config.c: unit tests for src/config.c.
 *
 * Every way a flag or a config-file line can be refused is a row in one of
 * the error tables below, with a piece of the message it must print. The
 * rest covers precedence (defaults < file < flags), list replacement, cert
 * and key pairing, durations, the dump round trip, --help, and that
 * conf/tlsterm.conf documents every key. Files live in one mkdtemp
 * directory, removed by the fixture even when tests fail. */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "unit.h"

#define MAX_ARGS 80
/* The three options every valid command line needs. */
#define REQ                                                                    \
  "--listen", "127.0.0.1:8443", "--backend", "127.0.0.1:8080", "--cert", "c.pem"

static char tmpdir[PATH_MAX];
static char err[512];

static void setup(void) {
  const char *base = getenv("TMPDIR");

  snprintf(tmpdir, sizeof tmpdir, "%s/tlsterm-unit-XXXXXX",
           base != NULL && *base != '\0' ? base : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void) {
  DIR *d = opendir(tmpdir);
  struct dirent *e;
  char path[PATH_MAX + 256];

  if (d == NULL)
    return;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
    unlink(path);
  }
  closedir(d);
  rmdir(tmpdir);
}

/* Write text to tmpdir/name; the full path goes to path. */
static void write_file(char *path, size_t len, const char *name,
                       const char *text) {
  snprintf(path, len, "%s/%s", tmpdir, name);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  ck_assert_int_eq(fclose(f), 0);
}

/* Run cfg_parse on "tlsterm" + the NULL-terminated args; what it prints
 * goes to *out if out is not NULL (free it), else is dropped. */
static enum cfg_result parse_out(struct cfg *cfg, const char *const *args,
                                 char **out) {
  char *argv[MAX_ARGS + 2] = {"tlsterm"};
  int argc = 1;
  char *text = NULL;
  size_t len = 0;

  for (; args[argc - 1] != NULL; argc++) {
    ck_assert_int_le(argc, MAX_ARGS);
    argv[argc] = (char *)args[argc - 1];
  }
  FILE *f = open_memstream(&text, &len);
  ck_assert_ptr_nonnull(f);
  err[0] = '\0';
  enum cfg_result r = cfg_parse(cfg, argc, argv, f, err, sizeof err);
  fclose(f);
  if (out != NULL)
    *out = text;
  else
    free(text);
  return r;
}

static enum cfg_result parse(struct cfg *cfg, const char *const *args) {
  return parse_out(cfg, args, NULL);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static char *dump_to_string(const struct cfg *cfg) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);

  ck_assert_ptr_nonnull(f);
  cfg_dump(cfg, f);
  fclose(f);
  return text;
}

/* ---- defaults and values --------------------------------------------- */

START_TEST(test_defaults) {
  struct cfg cfg;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);

  ck_assert_int_eq(parse(&cfg, ARGS(REQ)), CFG_OK);
  ck_assert_str_eq(err, "");
  ck_assert_int_eq(cfg.n_listen, 1);
  ck_assert_str_eq(cfg.listen[0].text, "127.0.0.1:8443");
  ck_assert(cfg.have_backend);
  ck_assert_str_eq(cfg.backend.text, "127.0.0.1:8080");
  ck_assert_int_eq(cfg.n_certs, 1);
  ck_assert_str_eq(cfg.certs[0].cert_file, "c.pem");
  ck_assert_ptr_null(cfg.certs[0].key_file);
  ck_assert_int_eq(cfg.workers, cpus < 1 ? 1 : cpus > 1024 ? 1024 : cpus);
  ck_assert_ptr_null(cfg.config_file);
  ck_assert_int_eq(cfg.tls_min, CFG_TLS_1_2);
  ck_assert_int_eq(cfg.tls_max, CFG_TLS_1_3);
  ck_assert_ptr_null(cfg.ciphers);
  ck_assert_ptr_null(cfg.groups);
  ck_assert_str_eq(cfg.alpn, "http/1.1");
  ck_assert_uint_eq(cfg.handshake_timeout_ms, 10000);
  ck_assert_uint_eq(cfg.idle_timeout_ms, 60000);
  ck_assert_uint_eq(cfg.backend_connect_timeout_ms, 5000);
  ck_assert_uint_eq(cfg.drain_timeout_ms, 30000);
  ck_assert_uint_eq(cfg.max_connections, 10000);
  ck_assert_int_eq(cfg.log_level, LOG_LEVEL_INFO);
  ck_assert(!cfg.test);
  cfg_cleanup(&cfg);
}
END_TEST

START_TEST(test_every_flag) {
  struct cfg cfg;

  ck_assert_int_eq(
      parse(&cfg,
            ARGS("--listen", "*:443", "--listen", "[::1]:8443", "--backend",
                 "unix:/run/app.sock", "--cert", "a.pem", "--key", "a.key",
                 "--workers", "3", "--max-connections", "77", "--tls-min",
                 "1.3", "--tls-max", "1.3", "--ciphers", "A:B", "--groups",
                 "x25519", "--alpn", "h2,http/1.1", "--handshake-timeout", "1s",
                 "--idle-timeout", "2s", "--backend-connect-timeout", "3s",
                 "--drain-timeout", "4s", "--log-level", "debug", "--test")),
      CFG_OK);
  ck_assert_int_eq(cfg.n_listen, 2);
  ck_assert(cfg.listen[0].wildcard);
  ck_assert_str_eq(cfg.listen[1].text, "[::1]:8443");
  ck_assert_str_eq(cfg.backend.text, "unix:/run/app.sock");
  ck_assert_str_eq(cfg.certs[0].key_file, "a.key");
  ck_assert_int_eq(cfg.workers, 3);
  ck_assert_uint_eq(cfg.max_connections, 77);
  ck_assert_int_eq(cfg.tls_min, CFG_TLS_1_3);
  ck_assert_int_eq(cfg.tls_max, CFG_TLS_1_3);
  ck_assert_str_eq(cfg.ciphers, "A:B");
  ck_assert_str_eq(cfg.groups, "x25519");
  ck_assert_str_eq(cfg.alpn, "h2,http/1.1");
  ck_assert_uint_eq(cfg.handshake_timeout_ms, 1000);
  ck_assert_uint_eq(cfg.idle_timeout_ms, 2000);
  ck_assert_uint_eq(cfg.backend_connect_timeout_ms, 3000);
  ck_assert_uint_eq(cfg.drain_timeout_ms, 4000);
  ck_assert_int_eq(cfg.log_level, LOG_LEVEL_DEBUG);
  ck_assert(cfg.test);
  cfg_cleanup(&cfg);
}
END_TEST

static const struct {
  const char *text;
  unsigned ms;
} durations[] = {
    {"10s", 10000},
    {"500ms", 500},
    {"2m", 120000},
    {"1h", 3600000},
    {"7", 7000},
    {"1ms", 1},
    {"24h", 86400000},
    {"86400", 86400000},
    {"1440m", 86400000},
    {"0010s", 10000},
    {"86400000ms", 86400000},
    {"1500ms", 1500},
};

START_TEST(test_durations) {
  struct cfg cfg;

  ck_assert_msg(parse(&cfg, ARGS(REQ, "--idle-timeout", durations[_i].text)) ==
                    CFG_OK,
                "%s: %s", durations[_i].text, err);
  ck_assert_uint_eq(cfg.idle_timeout_ms, durations[_i].ms);
  cfg_cleanup(&cfg);
}
END_TEST

/* ---- every command-line error ------------------------------------------ */

static const struct {
  const char *args[16];
  const char *why;
} flag_errors[] = {
    {{"--workers", "abc", REQ},
     "--workers: expected a number from 1 to 1024, got 'abc'"},
    {{"--workers", "0", REQ}, "--workers: expected a number from 1 to 1024"},
    {{"--workers", "1025", REQ}, "got '1025'"},
    {{"--workers", "-1", REQ}, "got '-1'"},
    {{"--workers", "2x", REQ}, "got '2x'"},
    {{"--workers", " 2", REQ}, "got ' 2'"},
    {{"--workers", "99999999999999999999", REQ}, "--workers: expected"},
    {{"--workers", "", REQ}, "--workers: missing value"},
    {{"--max-connections", "0", REQ},
     "--max-connections: expected a number from 1 to 1000000, got '0'"},
    {{"--max-connections", "1000001", REQ}, "--max-connections: expected"},
    {{"--listen", "127.0.0.1", "--backend", "127.0.0.1:1", "--cert", "c"},
     "--listen: missing port in '127.0.0.1'"},
    {{"--listen", "localhost:80", REQ}, "--listen: expected an IPv4 address"},
    {{"--listen", "127.0.0.1:0", REQ}, "--listen: port must be 1-65535"},
    {{REQ, "--backend", "*:80"}, "--backend: '*' is only valid"},
    {{REQ, "--backend", "10.0.0.1"}, "--backend: missing port"},
    {{REQ, "--backend", "unix:"}, "--backend: missing path"},
    {{"--key", "k.pem", REQ},
     "--key: no cert given before it (a key pairs with the cert just before "
     "it)"},
    {{REQ, "--key", "k1", "--key", "k2"},
     "--key: cert 'c.pem' already has a key ('k1')"},
    {{REQ, "--tls-min", "1.1"}, "--tls-min: expected 1.2 or 1.3, got '1.1'"},
    {{REQ, "--tls-max", "1.4"}, "--tls-max: expected 1.2 or 1.3, got '1.4'"},
    {{REQ, "--tls-min", "1.3", "--tls-max", "1.2"},
     "--tls-min 1.3 is above --tls-max 1.2"},
    {{REQ, "--mode", "udp"}, "--mode: expected http or tcp, got 'udp'"},
    {{REQ, "--xff", "keep"}, "--xff: expected replace or append, got 'keep'"},
    {{REQ, "--mode", "tcp", "--proxy-protocol", "v3"},
     "--proxy-protocol: expected off, v1 or v2, got 'v3'"},
    {{REQ, "--proxy-protocol", "v1"}, "--proxy-protocol needs --mode tcp"},
    {{REQ, "--mode", "tcp", "--proxy-protocol", "v1", "--proxy-client-cert"},
     "--proxy-client-cert needs --proxy-protocol v2"},
    {{REQ, "--client-verify", "optional"},
     "--client-verify optional needs --client-ca"},
    {{REQ, "--client-verify", "always"},
     "--client-verify: expected none, optional or required, got 'always'"},
    {{REQ, "--max-header-size", "100"},
     "--max-header-size: expected a number from 1024 to 1048576"},
    {{REQ, "--request-timeout", "0"}, "--request-timeout: must be more than 0"},
    {{"--accept-proxy", REQ},
     "--accept-proxy: no listen given before it (it applies to the listen "
     "just before it)"},
    {{REQ, "--accept-proxy"}, "--accept-proxy on 127.0.0.1:8443 needs "
                              "--trusted-proxy"},
    {{REQ, "--trusted-proxy", "10.0.0.0/40"},
     "--trusted-proxy: prefix of '10.0.0.0/40' must be 0 to 32"},
    {{REQ, "--redirect-listen", "80"}, "--redirect-listen: missing port"},
    {{REQ, "--group", "nogroup"}, "--group needs --user"},
    {{REQ, "--admin", "9100"}, "--admin: missing port"},
    {{REQ, "--redirect-listen", "127.0.0.1:8443"},
     "--listen 127.0.0.1:8443 overlaps --redirect-listen 127.0.0.1:8443"},
    {{REQ, "--listen", "127.0.0.1:8443"},
     "--listen 127.0.0.1:8443 overlaps --listen 127.0.0.1:8443"},
    {{REQ, "--listen", "*:8443"},
     "--listen 127.0.0.1:8443 overlaps --listen *:8443"},
    {{REQ, "--listen", "0.0.0.0:8443"},
     "--listen 127.0.0.1:8443 overlaps --listen 0.0.0.0:8443"},
    {{REQ, "--listen", "[::]:9443", "--redirect-listen", "[::1]:9443"},
     "--listen [::]:9443 overlaps --redirect-listen [::1]:9443"},
    {{REQ, "--log-level", "verbose"},
     "--log-level: expected error, warn, info or debug, got 'verbose'"},
    {{REQ, "--idle-timeout", "0"},
     "--idle-timeout: must be more than 0 and at most 24h, got '0'"},
    {{REQ, "--idle-timeout", "0ms"}, "more than 0"},
    {{REQ, "--drain-timeout", "25h"},
     "--drain-timeout: must be more than 0 and at most 24h, got '25h'"},
    {{REQ, "--drain-timeout", "86401"}, "at most 24h"},
    {{REQ, "--drain-timeout", "1441m"}, "at most 24h"},
    {{REQ, "--drain-timeout", "86400001ms"}, "at most 24h"},
    {{REQ, "--drain-timeout", "99999999999999999999999h"}, "at most 24h"},
    {{REQ, "--handshake-timeout", "10x"},
     "--handshake-timeout: expected a duration such as 10s, 500ms, 2m or 1h, "
     "got '10x'"},
    {{REQ, "--handshake-timeout", "abc"}, "expected a duration"},
    {{REQ, "--handshake-timeout", "-5s"}, "expected a duration"},
    {{REQ, "--handshake-timeout", "1.5s"}, "expected a duration"},
    {{REQ, "--handshake-timeout", "10 s"}, "expected a duration"},
    {{REQ, "--handshake-timeout", "s"}, "expected a duration"},
    {{REQ, "--frobnicate"}, "--frobnicate: unknown option"},
    {{REQ, "--frobnicate=1"}, "--frobnicate: unknown option"},
    {{REQ, "-x"}, "-x: unknown option"},
    {{REQ, "--t"}, "--t: ambiguous option"},
    {{REQ, "--test=yes"}, "--test: takes no value"},
    {{REQ, "--listen"}, "--listen: missing value"},
    {{REQ, "--config"}, "--config: missing value"},
    {{REQ, "--ciphers", ""}, "--ciphers: missing value"},
    {{REQ, "--cert", "a\nb.pem"}, "--cert: value contains a line break"},
    {{REQ, "extra"}, "unexpected argument 'extra'"},
    {{REQ, "--", "extra"}, "unexpected argument 'extra'"},
    {{"extra", REQ}, "unexpected argument 'extra'"},
    {{"--backend", "127.0.0.1:1", "--cert", "c"}, "missing --listen"},
    {{"--listen", "127.0.0.1:1", "--cert", "c"}, "missing --backend"},
    {{"--listen", "127.0.0.1:1", "--backend", "127.0.0.1:1"}, "missing --cert"},
    {{REQ, "--config", "/nonexistent/tlsterm.conf"},
     "--config: cannot open '/nonexistent/tlsterm.conf': No such file"},
};

START_TEST(test_flag_errors) {
  struct cfg cfg;

  ck_assert_int_eq(parse(&cfg, flag_errors[_i].args), CFG_INVALID);
  ck_assert_msg(strstr(err, flag_errors[_i].why) != NULL,
                "expected '%s' in '%s'", flag_errors[_i].why, err);
  ck_assert_ptr_null(strchr(err, '\n'));
  cfg_cleanup(&cfg); /* safe after a failed parse */
}
END_TEST

/* More than CFG_MAX_LISTEN / CFG_MAX_CERTS entries. */
START_TEST(test_list_limits) {
  const char *args[MAX_ARGS + 1] = {"--backend", "127.0.0.1:1"};
  char ports[CFG_MAX_LISTEN + 1][32];
  struct cfg cfg;
  int n = 2;

  for (int i = 0; i <= CFG_MAX_LISTEN; i++) {
    snprintf(ports[i], sizeof ports[i], "127.0.0.1:%d", 1000 + i);
    args[n++] = "--listen";
    args[n++] = ports[i];
  }
  args[n++] = "--cert";
  args[n++] = "c";
  args[n] = NULL;
  ck_assert_int_eq(parse(&cfg, args), CFG_INVALID);
  ck_assert_str_eq(err, "--listen: too many listen addresses (at most 16)");

  n = 0;
  args[n++] = "--listen";
  args[n++] = "127.0.0.1:1";
  args[n++] = "--backend";
  args[n++] = "127.0.0.1:1";
  for (int i = 0; i <= CFG_MAX_CERTS; i++) {
    args[n++] = "--cert";
    args[n++] = "c.pem";
  }
  args[n] = NULL;
  ck_assert_int_eq(parse(&cfg, args), CFG_INVALID);
  ck_assert_str_eq(err, "--cert: too many certificates (at most 32)");
}
END_TEST

/* ---- every config-file error ------------------------------------------- */

static const struct {
  const char *text;
  const char *why; /* after "PATH" */
} file_errors[] = {
    {"listn = 127.0.0.1:1\n", ":1: unknown key 'listn'"},
    {"# comment\n\nlisten 127.0.0.1:1\n",
     ":3: expected 'key = value', got 'listen 127.0.0.1:1'"},
    {"workers = abc\n", ":1: workers: expected a number from 1 to 1024, "
                        "got 'abc'"},
    {"config = other.conf\n", ":1: 'config' is only valid on the command line"},
    {"test = yes\n", ":1: 'test' is only valid on the command line"},
    {"help = yes\n", ":1: 'help' is only valid on the command line"},
    {"version = 1\n", ":1: 'version' is only valid on the command line"},
    {"= 5\n", ":1: missing key before '='"},
    {"workers =\n", ":1: workers: missing value"},
    {"workers = \"\"\n", ":1: workers: missing value"},
    {"--listen = 127.0.0.1:1\n", ":1: unknown key '--listen'"},
    {"Listen = 127.0.0.1:1\n", ":1: unknown key 'Listen'"},
    {"key = k.pem\ncert = c.pem\n", ":1: key: no cert given before it"},
    {"cert = a.pem\nkey = k1\nkey = k2\n",
     ":3: key: cert 'a.pem' already has a key ('k1')"},
    {"listen = 127.0.0.1\n", ":1: listen: missing port in '127.0.0.1'"},
    {"backend = *:80\n", ":1: backend: '*' is only valid"},
    {"idle-timeout = 25h\n", ":1: idle-timeout: must be more than 0"},
    {"idle-timeout = 10 s\n", ":1: idle-timeout: expected a duration"},
    {"tls-min = 1.0\n", ":1: tls-min: expected 1.2 or 1.3, got '1.0'"},
    {"log-level = loud\n", ":1: log-level: expected error, warn, info or "
                           "debug, got 'loud'"},
    {"max-connections = 0\n", ":1: max-connections: expected a number"},
    {"tls-min = 1.3\ntls-max = 1.2\nlisten = 127.0.0.1:1\n"
     "backend = 127.0.0.1:1\ncert = c\n",
     "--tls-min 1.3 is above --tls-max 1.2"},
    {"backend = 127.0.0.1:1\ncert = c\n", "missing --listen"},
};

START_TEST(test_file_errors) {
  char path[PATH_MAX + 64], want[PATH_MAX + 256];
  struct cfg cfg;

  write_file(path, sizeof path, "bad.conf", file_errors[_i].text);
  ck_assert_int_eq(parse(&cfg, ARGS("--config", path)), CFG_INVALID);
  /* Line errors start with the file's name; whole-config ones do not. */
  if (file_errors[_i].why[0] == ':')
    snprintf(want, sizeof want, "%s%s", path, file_errors[_i].why);
  else
    snprintf(want, sizeof want, "%s", file_errors[_i].why);
  ck_assert_msg(strstr(err, want) != NULL, "expected '%s' in '%s'", want, err);
}
END_TEST

START_TEST(test_file_syntax) {
  char path[PATH_MAX + 64];
  struct cfg cfg;

  write_file(path, sizeof path, "ok.conf",
             "# a comment\n"
             "   # an indented comment\n"
             "\n"
             "  \t\n"
             "listen=127.0.0.1:1\n"
             "  backend   =   127.0.0.1:2   \n"
             "cert = \"/path with spaces.pem\"\r\n"
             "key = '  padded.key '\n"
             "alpn = h2#not-a-comment\n"
             "ciphers = \"\"A\"\n"
             "groups = 'x25519\"\n"
             "workers = 7\n"
             "workers = 8\n"); /* the last one wins */
  ck_assert_msg(parse(&cfg, ARGS("--config", path)) == CFG_OK, "%s", err);
  ck_assert_str_eq(cfg.listen[0].text, "127.0.0.1:1");
  ck_assert_str_eq(cfg.backend.text, "127.0.0.1:2");
  ck_assert_str_eq(cfg.certs[0].cert_file, "/path with spaces.pem");
  ck_assert_str_eq(cfg.certs[0].key_file, "  padded.key ");
  ck_assert_str_eq(cfg.alpn, "h2#not-a-comment");
  ck_assert_str_eq(cfg.ciphers, "\"A");      /* one pair of quotes removed */
  ck_assert_str_eq(cfg.groups, "'x25519\""); /* unmatched: kept */
  ck_assert_int_eq(cfg.workers, 8);
  ck_assert_str_eq(cfg.config_file, path);
  cfg_cleanup(&cfg);
}
END_TEST

START_TEST(test_file_empty_and_missing_newline) {
  char path[PATH_MAX + 64];
  struct cfg cfg;

  write_file(path, sizeof path, "empty.conf", "");
  ck_assert_int_eq(parse(&cfg, ARGS("--config", path, REQ)), CFG_OK);
  cfg_cleanup(&cfg);
  write_file(path, sizeof path, "nonl.conf", "workers = 5");
  ck_assert_int_eq(parse(&cfg, ARGS("--config", path, REQ)), CFG_OK);
  ck_assert_int_eq(cfg.workers, 5);
  cfg_cleanup(&cfg);
}
END_TEST

/* ---- precedence, lists, pairing ------------------------------------------ */

static const char base_conf[] = "listen = 127.0.0.1:1001\n"
                                "listen = 127.0.0.1:1002\n"
                                "backend = 127.0.0.1:2000\n"
                                "cert = file-a.pem\n"
                                "key = file-a.key\n"
                                "cert = file-b.pem\n"
                                "workers = 3\n"
                                "alpn = h2\n"
                                "log-level = debug\n"
                                "idle-timeout = 5m\n";

START_TEST(test_flags_override_file) {
  char path[PATH_MAX + 64];
  struct cfg cfg;

  write_file(path, sizeof path, "base.conf", base_conf);
  /* Flags win wherever they stand relative to --config. */
  ck_assert_int_eq(
      parse(&cfg, ARGS("--workers", "5", "--config", path, "--alpn", "http/1.1",
                       "--backend", "[::1]:3000")),
      CFG_OK);
  ck_assert_int_eq(cfg.workers, 5);
  ck_assert_str_eq(cfg.alpn, "http/1.1");
  ck_assert_str_eq(cfg.backend.text, "[::1]:3000");
  /* What no flag mentions comes from the file. */
  ck_assert_int_eq(cfg.log_level, LOG_LEVEL_DEBUG);
  ck_assert_uint_eq(cfg.idle_timeout_ms, 300000);
  ck_assert_int_eq(cfg.n_listen, 2);
  ck_assert_str_eq(cfg.listen[1].text, "127.0.0.1:1002");
  ck_assert_int_eq(cfg.n_certs, 2);
  ck_assert_str_eq(cfg.certs[0].cert_file, "file-a.pem");
  ck_assert_str_eq(cfg.certs[0].key_file, "file-a.key");
  ck_assert_str_eq(cfg.certs[1].cert_file, "file-b.pem");
  ck_assert_ptr_null(cfg.certs[1].key_file);
  cfg_cleanup(&cfg);
}
END_TEST

START_TEST(test_flag_list_replaces_file_list) {
  char path[PATH_MAX + 64];
  struct cfg cfg;

  write_file(path, sizeof path, "base.conf", base_conf);
  ck_assert_int_eq(
      parse(&cfg, ARGS("--config", path, "--listen", "*:9000", "--listen",
                       "[::1]:9001", "--cert", "cli.pem")),
      CFG_OK);
  ck_assert_int_eq(cfg.n_listen, 2);
  ck_assert_str_eq(cfg.listen[0].text, "*:9000");
  ck_assert_str_eq(cfg.listen[1].text, "[::1]:9001");
  ck_assert_int_eq(cfg.n_certs, 1);
  ck_assert_str_eq(cfg.certs[0].cert_file, "cli.pem");
  ck_assert_ptr_null(cfg.certs[0].key_file); /* file-a.key went with a.pem */
  cfg_cleanup(&cfg);
}
END_TEST

START_TEST(test_key_pairing) {
  struct cfg cfg;

  ck_assert_int_eq(
      parse(&cfg, ARGS("--listen", "127.0.0.1:1", "--backend", "127.0.0.1:2",
                       "--cert", "a.pem", "--key", "a.key", "--cert", "b.pem",
                       "--cert", "c.pem", "--key", "c.key")),
      CFG_OK);
  ck_assert_int_eq(cfg.n_certs, 3);
  ck_assert_str_eq(cfg.certs[0].key_file, "a.key");
  ck_assert_ptr_null(cfg.certs[1].key_file);
  ck_assert_str_eq(cfg.certs[2].cert_file, "c.pem");
  ck_assert_str_eq(cfg.certs[2].key_file, "c.key");
  cfg_cleanup(&cfg);
}
END_TEST

/* A flag --key cannot pair with a cert from the file: the file's certs are
 * replaced as soon as a flag names one. */
START_TEST(test_key_pairing_per_source) {
  char path[PATH_MAX + 64];
  struct cfg cfg;

  write_file(path, sizeof path, "base.conf", base_conf);
  ck_assert_int_eq(parse(&cfg, ARGS("--config", path, "--key", "cli.key")),
                   CFG_INVALID);
  ck_assert_ptr_nonnull(strstr(err, "--key: no cert given before it"));

  ck_assert_int_eq(parse(&cfg, ARGS("--config", path, "--cert", "cli.pem",
                                    "--key", "cli.key")),
                   CFG_OK);
  ck_assert_int_eq(cfg.n_certs, 1);
  ck_assert_str_eq(cfg.certs[0].key_file, "cli.key");
  cfg_cleanup(&cfg);
}
END_TEST

/* ---- dump ------------------------------------------------------------ */

/* dump -> file -> parse it as --config -> dump: the two dumps agree. */
static void assert_round_trip(const char *const *args) {
  char path[PATH_MAX + 64];
  struct cfg a, b;

  ck_assert_msg(parse(&a, args) == CFG_OK, "%s", err);
  char *first = dump_to_string(&a);
  write_file(path, sizeof path, "dump.conf", first);
  ck_assert_msg(parse(&b, ARGS("--config", path)) == CFG_OK, "%s\n%s", err,
                first);
  char *second = dump_to_string(&b);
  ck_assert_str_eq(first, second);
  free(first);
  free(second);
  cfg_cleanup(&a);
  cfg_cleanup(&b);
}

START_TEST(test_dump_round_trip_defaults) {
  assert_round_trip(ARGS(REQ));
}
END_TEST

START_TEST(test_dump_round_trip_everything) {
  assert_round_trip(ARGS(
      "--listen", "*:443", "--listen", "[::1]:8443", "--listen", "10.1.2.3:80",
      "--backend", "unix:/run/app.sock", "--cert", "/etc/tls/a b.pem", "--key",
      " lead-space.key", "--cert", "\"quoted\"", "--cert", "plain.pem", "--key",
      "trail-space.key ", "--workers", "17", "--max-connections", "1000000",
      "--tls-min", "1.3", "--tls-max", "1.3", "--ciphers",
      "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256", "--groups",
      "'x25519'", "--alpn", "h2,http/1.1", "--handshake-timeout", "1500ms",
      "--idle-timeout", "90", "--backend-connect-timeout", "2m",
      "--drain-timeout", "24h", "--log-level", "error"));
}
END_TEST

START_TEST(test_dump_round_trip_what_the_backend_learns) {
  assert_round_trip(ARGS(
      "--listen", "127.0.0.1:443", "--accept-proxy", "--listen",
      "127.0.0.1:444", "--trusted-proxy", "10.0.0.0/8", "--trusted-proxy",
      "2001:db8::/32", "--redirect-listen", "*:80", "--backend",
      "127.0.0.1:8080", "--cert", "c.pem", "--mode", "tcp",
      "--proxy-protocol", "v2", "--proxy-client-cert", "--client-ca",
      "ca.pem", "--client-verify", "required", "--xff", "append",
      "--forwarded", "--request-timeout", "5s", "--backend-timeout", "2m",
      "--max-header-size", "65536", "--hsts", "31536000", "--access-log",
      "-", "--client-cert-header"));
}
END_TEST

/* --accept-proxy marks only the listen just before it; a yes/no flag can
 * be set off again in a file. */
/* Different ports, or different families with an explicit IPv6 address
 * (which is IPv6-only), do not overlap. */
START_TEST(test_listen_no_overlap) {
  struct cfg cfg;

  ck_assert_msg(parse(&cfg, ARGS("--listen", "0.0.0.0:443", "--listen",
                                 "[::]:443", "--listen", "127.0.0.1:444",
                                 "--redirect-listen", "127.0.0.1:80",
                                 "--backend", "127.0.0.1:3", "--cert",
                                 "c.pem")) == CFG_OK,
                "%s", err);
  cfg_cleanup(&cfg);
}
END_TEST

START_TEST(test_accept_proxy_pairs_with_listen) {
  struct cfg cfg;

  ck_assert_int_eq(parse(&cfg, ARGS("--listen", "127.0.0.1:1", "--listen",
                                    "127.0.0.1:2", "--accept-proxy",
                                    "--trusted-proxy", "127.0.0.1",
                                    "--backend", "127.0.0.1:3", "--cert",
                                    "c.pem", "--forwarded")),
                   CFG_OK);
  ck_assert(!cfg.listen_proxy[0]);
  ck_assert(cfg.listen_proxy[1]);
  ck_assert_int_eq(cfg.n_trusted, 1);
  ck_assert(cfg.forwarded);
  ck_assert_int_eq(cfg.mode, CFG_MODE_HTTP); /* the default */
  cfg_cleanup(&cfg);
}
END_TEST

START_TEST(test_dump_round_trip_named_backend) {
  assert_round_trip(ARGS(REQ, "--backend", "localhost:8080"));
}
END_TEST

START_TEST(test_dump_content) {
  struct cfg cfg;

  ck_assert_int_eq(parse(&cfg, ARGS(REQ, "--cert", "d.pem", "--key", "d.key",
                                    "--idle-timeout", "120s", "--test")),
                   CFG_OK);
  char *text = dump_to_string(&cfg);
  ck_assert_ptr_nonnull(strstr(text, "\ncert = d.pem\nkey = d.key\n"));
  ck_assert_ptr_nonnull(strstr(text, "\nidle-timeout = 2m\n"));
  ck_assert_ptr_nonnull(strstr(text, "\n# ciphers = "));
  ck_assert_ptr_null(strstr(text, "test =")); /* command line only */
  ck_assert_ptr_null(strstr(text, "config ="));
  free(text);
  cfg_cleanup(&cfg);
}
END_TEST

/* ---- help, version, keys ---------------------------------------------- */

static void assert_mentions_flag(const char *key, void *arg) {
  char flag[64];

  snprintf(flag, sizeof flag, "--%s ", key);
  ck_assert_msg(strstr(arg, flag) != NULL, "--help lacks %s", flag);
}

START_TEST(test_help_lists_every_option) {
  static const char *const help_args[] = {"--help", "-h"};
  struct cfg cfg;
  char *text;

  ck_assert_int_eq(parse_out(&cfg, ARGS(help_args[_i]), &text), CFG_EXIT);
  ck_assert_ptr_nonnull(strstr(text, "Usage: tlsterm"));
  cfg_foreach_key(assert_mentions_flag, text);
  ck_assert_ptr_nonnull(strstr(text, "--config FILE"));
  ck_assert_ptr_nonnull(strstr(text, "--test "));
  ck_assert_ptr_nonnull(strstr(text, "-h, --help"));
  ck_assert_ptr_nonnull(strstr(text, "-V, --version"));
  ck_assert_ptr_nonnull(strstr(text, "(default: 10s)"));
  free(text);
}
END_TEST

/* --help works even when the rest of the command line is wrong. */
START_TEST(test_help_wins_over_errors) {
  struct cfg cfg;
  char *text;

  ck_assert_int_eq(parse_out(&cfg,
                             ARGS("--workers", "abc", "--frobnicate",
                                  "--config", "/nonexistent", "--help"),
                             &text),
                   CFG_EXIT);
  ck_assert_ptr_nonnull(strstr(text, "Usage: tlsterm"));
  free(text);
}
END_TEST

START_TEST(test_version) {
  static const char *const version_args[] = {"--version", "-V"};
  struct cfg cfg;
  char *text;

  ck_assert_int_eq(parse_out(&cfg, ARGS(version_args[_i]), &text), CFG_EXIT);
  ck_assert_msg(strncmp(text, "tlsterm ", 8) == 0 && text[8] >= '0' &&
                    text[8] <= '9' && text[strlen(text) - 1] == '\n',
                "got '%s'", text);
  free(text);
}
END_TEST

struct conf_check {
  const char *text;
  int missing;
};

/* Documented means a line "key = ..." or "# key = ...". */
static void check_documented(const char *key, void *arg) {
  struct conf_check *c = arg;
  char a[80], b[80];

  snprintf(a, sizeof a, "\n%s = ", key);
  snprintf(b, sizeof b, "\n# %s = ", key);
  if (strstr(c->text, a) == NULL && strstr(c->text, b) == NULL) {
    fprintf(stderr, "conf/tlsterm.conf does not document '%s'\n", key);
    c->missing++;
  }
}

static char *read_all(const char *path) {
  char *text = NULL;
  size_t len = 0;
  FILE *in = fopen(path, "r"), *out = open_memstream(&text, &len);
  int c;

  ck_assert_msg(in != NULL, "cannot open %s", path);
  ck_assert_ptr_nonnull(out);
  fputc('\n', out); /* so the first line also follows a newline */
  while ((c = fgetc(in)) != EOF)
    fputc(c, out);
  fclose(in);
  fclose(out);
  return text;
}

static void example_conf_path(char *path, size_t len) {
  const char *top = getenv("TOP_SRCDIR");

  snprintf(path, len, "%s/conf/tlsterm.conf",
           top != NULL && *top != '\0' ? top : ".");
}

START_TEST(test_example_conf_documents_every_key) {
  char path[PATH_MAX];
  struct conf_check c = {.missing = 0};

  example_conf_path(path, sizeof path);
  char *text = read_all(path);
  c.text = text;
  cfg_foreach_key(check_documented, &c);
  ck_assert_int_eq(c.missing, 0);
  free(text);
}
END_TEST

START_TEST(test_example_conf_parses) {
  char path[PATH_MAX];
  struct cfg cfg;

  example_conf_path(path, sizeof path);
  ck_assert_msg(parse(&cfg, ARGS("--config", path)) == CFG_OK, "%s", err);
  cfg_cleanup(&cfg);
}
END_TEST

/* Documented in doc/tlsterm.8 means an option heading as roff writes it,
 * \fB\-\-tls\-min\fR: every '-' escaped, and the closing font change so
 * that --backend is not satisfied by --backend-timeout. */
static void check_in_man(const char *key, void *arg) {
  struct conf_check *c = arg;
  char want[160] = "\\fB\\-\\-";
  size_t n = strlen(want);

  for (const char *k = key; *k != '\0' && n + 8 < sizeof want; k++) {
    if (*k == '-')
      want[n++] = '\\';
    want[n++] = *k;
  }
  snprintf(want + n, sizeof want - n, "\\fR");
  if (strstr(c->text, want) == NULL) {
    fprintf(stderr, "doc/tlsterm.8 does not document '--%s' (want %s)\n", key,
            want);
    c->missing++;
  }
}

START_TEST(test_man_page_documents_every_option) {
  static const char *const cli_only[] = {"config", "test", "help", "version"};
  const char *top = getenv("TOP_SRCDIR");
  char path[PATH_MAX];
  struct conf_check c = {.missing = 0};

  snprintf(path, sizeof path, "%s/doc/tlsterm.8",
           top != NULL && *top != '\0' ? top : ".");
  char *text = read_all(path);
  c.text = text;
  cfg_foreach_key(check_in_man, &c);
  for (size_t i = 0; i < sizeof cli_only / sizeof cli_only[0]; i++)
    check_in_man(cli_only[i], &c);
  ck_assert_int_eq(c.missing, 0);
  free(text);
}
END_TEST

static void collect_key(const char *key, void *arg) {
  strcat(arg, " ");
  strcat(arg, key);
  strcat(arg, " ");
}

/* Actions and --config make no sense inside a file, so they are not keys
 * (and a dump, which must be a valid file, leaves them out). */
START_TEST(test_keys_exclude_command_line_only) {
  char keys[2048] = "";

  cfg_foreach_key(collect_key, keys);
  ck_assert_ptr_nonnull(strstr(keys, " listen "));
  ck_assert_ptr_nonnull(strstr(keys, " key "));
  ck_assert_ptr_nonnull(strstr(keys, " log-level "));
  ck_assert_ptr_null(strstr(keys, " config "));
  ck_assert_ptr_null(strstr(keys, " test "));
  ck_assert_ptr_null(strstr(keys, " help "));
  ck_assert_ptr_null(strstr(keys, " version "));
}
END_TEST

/* ---- lifecycle ------------------------------------------------------ */

/* getopt's state is reset on each call, even after a call that stopped
 * half-way through its argv. */
START_TEST(test_parse_many_times) {
  struct cfg cfg;

  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(parse(&cfg, ARGS("--workers", "2", "--bogus", REQ)),
                     CFG_INVALID);
    ck_assert_str_eq(err, "--bogus: unknown option");
    ck_assert_int_eq(parse(&cfg, ARGS("-x", REQ)), CFG_INVALID);
    ck_assert_int_eq(parse(&cfg, ARGS(REQ, "--workers", "4")), CFG_OK);
    ck_assert_int_eq(cfg.workers, 4);
    cfg_cleanup(&cfg);
  }
}
END_TEST

START_TEST(test_cleanup_twice_and_zeroed) {
  struct cfg cfg;

  memset(&cfg, 0, sizeof cfg);
  cfg_cleanup(&cfg);
  ck_assert_int_eq(parse(&cfg, ARGS(REQ, "--ciphers", "A", "--key", "k")),
                   CFG_OK);
  cfg_cleanup(&cfg);
  ck_assert_ptr_null(cfg.ciphers);
  ck_assert_ptr_null(cfg.alpn);
  ck_assert_int_eq(cfg.n_certs, 0);
  cfg_cleanup(&cfg);
}
END_TEST

#define N(table) (int)(sizeof(table) / sizeof(table)[0])

Suite *config_suite(void) {
  Suite *s = suite_create("config");
  TCase *tc = tcase_create("core");

  /* Unchecked: one directory for the whole case, made and removed by the
   * parent process, so it is removed even when a (forked) test fails. */
  tcase_add_unchecked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_defaults);
  tcase_add_test(tc, test_every_flag);
  tcase_add_loop_test(tc, test_durations, 0, N(durations));
  tcase_add_loop_test(tc, test_flag_errors, 0, N(flag_errors));
  tcase_add_test(tc, test_list_limits);
  tcase_add_loop_test(tc, test_file_errors, 0, N(file_errors));
  tcase_add_test(tc, test_file_syntax);
  tcase_add_test(tc, test_file_empty_and_missing_newline);
  tcase_add_test(tc, test_flags_override_file);
  tcase_add_test(tc, test_flag_list_replaces_file_list);
  tcase_add_test(tc, test_key_pairing);
  tcase_add_test(tc, test_key_pairing_per_source);
  tcase_add_test(tc, test_dump_round_trip_defaults);
  tcase_add_test(tc, test_dump_round_trip_what_the_backend_learns);
  tcase_add_test(tc, test_accept_proxy_pairs_with_listen);
  tcase_add_test(tc, test_listen_no_overlap);
  tcase_add_test(tc, test_dump_round_trip_everything);
  tcase_add_test(tc, test_dump_round_trip_named_backend);
  tcase_add_test(tc, test_dump_content);
  tcase_add_loop_test(tc, test_help_lists_every_option, 0, 2);
  tcase_add_test(tc, test_help_wins_over_errors);
  tcase_add_loop_test(tc, test_version, 0, 2);
  tcase_add_test(tc, test_example_conf_documents_every_key);
  tcase_add_test(tc, test_example_conf_parses);
  tcase_add_test(tc, test_man_page_documents_every_option);
  tcase_add_test(tc, test_keys_exclude_command_line_only);
  tcase_add_test(tc, test_parse_many_times);
  tcase_add_test(tc, test_cleanup_twice_and_zeroed);
  suite_add_tcase(s, tc);
  return s;
}
