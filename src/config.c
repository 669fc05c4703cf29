/* config.c: the option table and everything it drives (see config.h).
 *
 * Every option is one row of `opts` below: name, setter, dumper, field,
 * range, default (as text), metavar and help. The defaults, the getopt_long
 * table, the config-file keys, --help and the --test dump all come from
 * that table, so adding an option is one row plus a field in struct cfg.
 * Flags and the file feed the same setters, so a value is accepted or
 * refused with the same words wherever it came from. The setters and
 * dumpers themselves, one per kind of value, are in config_values.c.
 *
 * Precedence is defaults < config file < flags. A repeatable option (listen,
 * cert) given by a later source replaces the earlier source's whole list
 * instead of appending to it: otherwise a flag could never take away an
 * address the file listens on. A key pairs with the cert just before it in
 * the same source.
 *
 * The only global state touched is getopt's (optind, opterr), reset on each
 * call so that cfg_parse can run many times in one process. */
/* PACKAGE_VERSION comes from configure: as a -D flag, or from its header
 * if the build ever generates one (<>: "config.h" is src/config.h). */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_int.h"
#include "err.h"

#ifndef PACKAGE_VERSION
#error "PACKAGE_VERSION undefined: build through configure, or pass -D"
#endif

#define WORKERS_MAX 1024
/* getopt codes for long-only options start above any short option char. */
#define CODE_BASE 256
#define SHORTOPTS "+:hV" /* +: stop at the first non-option; no permuting */

static const char *const modes[] = {"http", "tcp", NULL};
static const char *const xff_modes[] = {"replace", "append", NULL};
static const char *const proxy_versions[] = {"off", "v1", "v2", NULL};
static const char *const verify_modes[] = {"none", "optional", "required",
                                           NULL};
static const char *const log_formats[] = {"text", "json", NULL};
static action_fn print_usage, print_version;

#define OFF(field) offsetof(struct cfg, field)

/* Table order is --help order and dump order. One row per option reads
 * better than clang-format's one line per field. */
/* clang-format off */
static const struct opt opts[] = {
    {.name = "listen", .set = cfg_set_listen, .dump = cfg_dump_listen,
     .metavar = "ADDR:PORT",
     .help = "address to accept TLS on; repeatable (required)"},
    {.name = "accept-proxy", .set = cfg_set_accept_proxy, .dump = cfg_dump_none,
     .help = "the --listen just before it takes a PROXY v1/v2 header first"},
    {.name = "trusted-proxy", .set = cfg_set_trusted, .dump = cfg_dump_trusted,
     .metavar = "CIDR",
     .help = "who may send PROXY headers, e.g. 10.0.0.0/8; repeatable"},
    {.name = "redirect-listen", .set = cfg_set_redirect,
     .dump = cfg_dump_redirect, .metavar = "ADDR:PORT",
     .help = "answer plain HTTP here with 308 to https; repeatable"},
    {.name = "admin", .set = cfg_set_admin, .dump = cfg_dump_admin,
     .metavar = "ADDR:PORT",
     .help = "plain-HTTP /healthz and /metrics here (loopback or private "
             "network only; default off)"},
    {.name = "backend", .set = cfg_set_backend, .dump = cfg_dump_backend,
     .metavar = "ADDR:PORT",
     .help = "where to forward the plaintext (required)"},
    {.name = "cert", .set = cfg_set_cert, .dump = cfg_dump_cert,
     .metavar = "FILE", .help = "PEM certificate chain; repeatable (required)"},
    {.name = "key", .set = cfg_set_key, .dump = cfg_dump_none,
     .metavar = "FILE", .help = "PEM key of the --cert just before it"},
    {.name = "workers", .set = cfg_set_int, .dump = cfg_dump_int,
     .off = OFF(workers), .min = 1, .max = WORKERS_MAX, .metavar = "N",
     .help = "worker threads, 1-1024 (default: online CPUs)"},
    {.name = "max-connections", .set = cfg_set_uint, .dump = cfg_dump_uint,
     .off = OFF(max_connections), .min = 1, .max = 1000000, .def = "10000",
     .metavar = "N", .help = "per worker, 1-1000000"},
    {.name = "tls-min", .set = cfg_set_tls_version,
     .dump = cfg_dump_tls_version, .off = OFF(tls_min), .def = "1.2",
     .metavar = "VERSION", .help = "lowest TLS version, 1.2 or 1.3"},
    {.name = "tls-max", .set = cfg_set_tls_version,
     .dump = cfg_dump_tls_version, .off = OFF(tls_max), .def = "1.3",
     .metavar = "VERSION", .help = "highest TLS version, 1.2 or 1.3"},
    {.name = "ciphers", .set = cfg_set_string, .dump = cfg_dump_string,
     .off = OFF(ciphers), .metavar = "LIST",
     .help = "colon-separated suites (default: built-in list)"},
    {.name = "groups", .set = cfg_set_string, .dump = cfg_dump_string,
     .off = OFF(groups), .metavar = "LIST",
     .help = "colon-separated groups (default: built-in list)"},
    {.name = "alpn", .set = cfg_set_string, .dump = cfg_dump_string,
     .off = OFF(alpn), .def = "http/1.1", .metavar = "LIST",
     .help = "comma-separated ALPN list"},
    {.name = "handshake-timeout", .set = cfg_set_duration,
     .dump = cfg_dump_duration, .off = OFF(handshake_timeout_ms), .def = "10s",
     .metavar = "TIME", .help = "limit for the TLS handshake"},
    {.name = "idle-timeout", .set = cfg_set_duration, .dump = cfg_dump_duration,
     .off = OFF(idle_timeout_ms), .def = "60s", .metavar = "TIME",
     .help = "close connections idle this long"},
    {.name = "backend-connect-timeout", .set = cfg_set_duration,
     .dump = cfg_dump_duration, .off = OFF(backend_connect_timeout_ms),
     .def = "5s", .metavar = "TIME", .help = "limit for a backend connect"},
    {.name = "drain-timeout", .set = cfg_set_duration,
     .dump = cfg_dump_duration, .off = OFF(drain_timeout_ms), .def = "30s",
     .metavar = "TIME", .help = "grace period at shutdown"},
    {.name = "mode", .set = cfg_set_choice, .dump = cfg_dump_choice,
     .off = OFF(mode), .choices = modes, .def = "http", .metavar = "MODE",
     .help = "http (rewrite requests) or tcp (relay bytes as they are)"},
    {.name = "xff", .set = cfg_set_choice, .dump = cfg_dump_choice,
     .off = OFF(xff), .choices = xff_modes, .def = "replace", .metavar = "HOW",
     .help = "X-Forwarded-For: replace the client's, or append to it"},
    {.name = "forwarded", .set = cfg_set_bool, .dump = cfg_dump_bool,
     .off = OFF(forwarded),
     .help = "also add an RFC 7239 Forwarded header (http mode)"},
    {.name = "request-timeout", .set = cfg_set_duration,
     .dump = cfg_dump_duration, .off = OFF(request_timeout_ms), .def = "30s",
     .metavar = "TIME",
     .help = "a begun request head must complete within this, else 408"},
    {.name = "backend-timeout", .set = cfg_set_duration,
     .dump = cfg_dump_duration, .off = OFF(backend_timeout_ms), .def = "60s",
     .metavar = "TIME",
     .help = "the backend must start its response within this, else 504"},
    {.name = "max-header-size", .set = cfg_set_uint, .dump = cfg_dump_uint,
     .off = OFF(max_header_size), .min = 1024, .max = 1048576, .def = "16384",
     .metavar = "BYTES", .help = "longest request head, else 431"},
    {.name = "hsts", .set = cfg_set_uint, .dump = cfg_dump_uint,
     .off = OFF(hsts_seconds), .min = 0, .max = 2147483647L, .def = "0",
     .metavar = "SECONDS",
     .help = "add Strict-Transport-Security: max-age=SECONDS (0: off)"},
    {.name = "access-log", .set = cfg_set_string, .dump = cfg_dump_string,
     .off = OFF(access_log), .metavar = "FILE",
     .help = "one line per request to FILE, - for stdout (default: off)"},
    {.name = "proxy-protocol", .set = cfg_set_choice, .dump = cfg_dump_choice,
     .off = OFF(proxy_protocol), .choices = proxy_versions, .def = "off",
     .metavar = "VERSION",
     .help = "tcp mode: send a PROXY header, off, v1 or v2"},
    {.name = "proxy-client-cert", .set = cfg_set_bool, .dump = cfg_dump_bool,
     .off = OFF(proxy_client_cert),
     .help = "PROXY v2: also send the client certificate (TLV 0xE0)"},
    {.name = "client-ca", .set = cfg_set_string, .dump = cfg_dump_string,
     .off = OFF(client_ca), .metavar = "FILE",
     .help = "PEM CA bundle that client certificates must chain to"},
    {.name = "client-verify", .set = cfg_set_choice, .dump = cfg_dump_choice,
     .off = OFF(client_verify), .choices = verify_modes, .def = "none",
     .metavar = "MODE", .help = "client certificates: none, optional or required"},
    {.name = "client-cert-header", .set = cfg_set_bool, .dump = cfg_dump_bool,
     .off = OFF(client_cert_header),
     .help = "http mode: also send the client certificate as X-Client-Cert"},
    {.name = "ticket-secret-file", .set = cfg_set_string,
     .dump = cfg_dump_string, .off = OFF(ticket_secret_file),
     .metavar = "FILE",
     .help = "32+ secret bytes (raw or base64) shared by a cluster"},
    {.name = "ticket-lifetime", .set = cfg_set_duration,
     .dump = cfg_dump_duration, .off = OFF(ticket_lifetime_ms), .def = "6h",
     .metavar = "TIME", .help = "session tickets' lifetime and key rotation"},
    {.name = "user", .set = cfg_set_string, .dump = cfg_dump_string,
     .off = OFF(user), .metavar = "USER",
     .help = "after binding and reading keys, run as USER"},
    {.name = "group", .set = cfg_set_string, .dump = cfg_dump_string,
     .off = OFF(group), .metavar = "GROUP",
     .help = "and as GROUP (default: USER's primary group)"},
    {.name = "pidfile", .set = cfg_set_string, .dump = cfg_dump_string,
     .off = OFF(pidfile), .metavar = "FILE",
     .help = "write the process id to FILE (removed at exit)"},
    {.name = "log-level", .set = cfg_set_log_level, .dump = cfg_dump_log_level,
     .off = OFF(log_level), .def = "info", .metavar = "LEVEL",
     .help = "error, warn, info or debug"},
    {.name = "log-format", .set = cfg_set_choice, .dump = cfg_dump_choice,
     .off = OFF(log_format), .choices = log_formats, .def = "text",
     .metavar = "FORMAT", .help = "text (key=value) or json, one line each"},
    {.name = "log-file", .set = cfg_set_string, .dump = cfg_dump_string,
     .off = OFF(log_file), .metavar = "FILE",
     .help = "log to FILE instead of stderr; reopened on SIGUSR1"},
    /* Command line only (no dumper): */
    {.name = "config", .set = cfg_set_string, .off = OFF(config_file),
     .metavar = "FILE", .help = "read options from FILE; flags override it"},
    {.name = "test", .set = cfg_set_flag, .off = OFF(test),
     .help = "check the configuration, print it, exit"},
    {.name = "help", .short_name = 'h', .action = print_usage,
     .help = "print this help and exit"},
    {.name = "version", .short_name = 'V', .action = print_version,
     .help = "print the version and exit"},
};
/* clang-format on */

#define N_OPTS (sizeof opts / sizeof opts[0])

/* ---- small helpers ------------------------------------------------------ */

static const struct opt *find_opt(const char *name) {
  for (size_t i = 0; i < N_OPTS; i++)
    if (strcmp(opts[i].name, name) == 0)
      return &opts[i];
  return NULL;
}

/* The getopt_long code of option i: its short name, if any. */
static int code_of(size_t i) {
  return opts[i].short_name ? opts[i].short_name : CODE_BASE + (int)i;
}

static const struct opt *opt_by_code(int code) {
  for (size_t i = 0; i < N_OPTS; i++)
    if (code_of(i) == code)
      return &opts[i];
  return NULL;
}

static void build_longopts(struct option *lo) {
  for (size_t i = 0; i < N_OPTS; i++)
    lo[i] = (struct option){opts[i].name,
                            opts[i].metavar ? required_argument : no_argument,
                            NULL, code_of(i)};
  lo[N_OPTS] = (struct option){NULL, 0, NULL, 0};
}

/* ---- actions ------------------------------------------------------------ */

static void print_usage(FILE *out) {
  cfg_usage(out);
}

static void print_version(FILE *out) {
  fprintf(out, "tlsterm %s\n", PACKAGE_VERSION);
}

/* ---- sources: defaults, file, command line ----------------------------- */

static int online_cpus(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);

  return n < 1 ? 1 : n > WORKERS_MAX ? WORKERS_MAX : (int)n;
}

static int apply_defaults(struct parse *p, char *err, size_t errlen) {
  p->source = SRC_DEFAULT;
  for (size_t i = 0; i < N_OPTS; i++)
    if (opts[i].def != NULL && opts[i].set(p, &opts[i], opts[i].def) != 0)
      return err_set(err, errlen, "default of --%s: %s", opts[i].name, p->why);
  /* Not a table default: it depends on the machine. */
  p->cfg->workers = online_cpus();
  return 0;
}

static char *trim(char *s) {
  char *end = s + strlen(s);

  while (isspace((unsigned char)*s))
    s++;
  while (end > s && isspace((unsigned char)end[-1]))
    *--end = '\0';
  return s;
}

/* Remove one pair of matching surrounding quotes, if present. */
static char *unquote(char *s) {
  size_t n = strlen(s);

  if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0]) {
    s[n - 1] = '\0';
    return s + 1;
  }
  return s;
}

/* One line of a config file: blank, `# comment` or `key = value`. Only a
 * whole line can be a comment, so values may contain '#'. */
static int file_line(struct parse *p, const char *path, int lineno, char *line,
                     char *err, size_t errlen) {
  char *s = trim(line);

  if (*s == '\0' || *s == '#')
    return 0;
  char *eq = strchr(s, '=');
  if (eq == NULL)
    return err_set(err, errlen, "%s:%d: expected 'key = value', got '%s'", path,
                   lineno, s);
  *eq = '\0';
  char *key = trim(s), *val = unquote(trim(eq + 1));
  if (*key == '\0')
    return err_set(err, errlen, "%s:%d: missing key before '='", path, lineno);

  const struct opt *o = find_opt(key);
  if (o == NULL)
    return err_set(err, errlen, "%s:%d: unknown key '%s'", path, lineno, key);
  if (o->dump == NULL)
    return err_set(err, errlen, "%s:%d: '%s' is only valid on the command line",
                   path, lineno, key);
  if (*val == '\0')
    return err_set(err, errlen, "%s:%d: %s: missing value", path, lineno, key);
  if (o->set(p, o, val) != 0)
    return err_set(err, errlen, "%s:%d: %s: %s", path, lineno, key, p->why);
  return 0;
}

static int load_file(struct parse *p, const char *path, char *err,
                     size_t errlen) {
  char *line = NULL;
  size_t cap = 0;
  int lineno = 0, rc = 0;

  FILE *f = fopen(path, "r");
  if (f == NULL)
    return err_set(err, errlen, "--config: cannot open '%s': %s", path,
                   strerror(errno));
  p->source = SRC_FILE;
  while (rc == 0 && getline(&line, &cap, f) != -1)
    rc = file_line(p, path, ++lineno, line, err, errlen);
  if (rc == 0 && ferror(f))
    rc = err_set(err, errlen, "--config: cannot read '%s'", path);
  free(line);
  fclose(f);
  return rc;
}

/* Find --config, --help and --version before anything else: the file must
 * be read before the flags that override it, and --help should work even
 * when the rest of the command line is wrong. Errors are left for the real
 * pass. */
static void prescan(int argc, char **argv, const struct option *lo,
                    const char **config, const struct opt **action) {
  const struct opt *config_opt = find_opt("config");
  int c;

  optind = 0; /* 0, not 1: glibc then fully reinitialises its state */
  opterr = 0;
  while ((c = getopt_long(argc, argv, SHORTOPTS, lo, NULL)) != -1) {
    const struct opt *o = opt_by_code(c);
    if (o == config_opt)
      *config = optarg;
    else if (o != NULL && o->action != NULL && *action == NULL)
      *action = o;
  }
}

/* The message for getopt's '?': argv[optind - 1] is the word it choked on,
 * and optopt says which known option, if any, it belongs to. */
static int bad_option(int argc, char **argv, char *err, size_t errlen) {
  const char *word = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
  const struct opt *o = opt_by_code(optopt);
  size_t n = strcspn(word, "=");
  int matches = 0;

  if (o != NULL) /* a known flag given "=value" */
    return err_set(err, errlen, "--%s: takes no value", o->name);
  if (optopt != 0)
    return err_set(err, errlen, "-%c: unknown option", optopt);
  for (size_t i = 0; n > 2 && i < N_OPTS; i++)
    matches += strncmp(opts[i].name, word + 2, n - 2) == 0;
  if (matches > 1)
    return err_set(err, errlen, "%.*s: ambiguous option", (int)n, word);
  return err_set(err, errlen, "%.*s: unknown option", (int)n, word);
}

static int parse_argv(struct parse *p, int argc, char **argv,
                      const struct option *lo, char *err, size_t errlen) {
  int c;

  p->source = SRC_ARGV;
  optind = 0;
  opterr = 0;
  while ((c = getopt_long(argc, argv, SHORTOPTS, lo, NULL)) != -1) {
    if (c == '?')
      return bad_option(argc, argv, err, errlen);
    const struct opt *o = opt_by_code(optopt);
    if (c == ':')
      return err_set(err, errlen, "--%s: missing value", o ? o->name : "?");
    o = opt_by_code(c);
    if (o->metavar != NULL && *optarg == '\0')
      return err_set(err, errlen, "--%s: missing value", o->name);
    /* A file value is one line; refusing line breaks here keeps every
     * configuration expressible as a file, so --test's dump stays valid. */
    if (o->metavar != NULL && strpbrk(optarg, "\r\n") != NULL)
      return err_set(err, errlen, "--%s: value contains a line break", o->name);
    if (o->set != NULL && o->set(p, o, optarg) != 0)
      return err_set(err, errlen, "--%s: %s", o->name, p->why);
  }
  if (optind < argc)
    return err_set(err, errlen, "unexpected argument '%s'", argv[optind]);
  return 0;
}

/* No two sockets of ours may share connections: the kernel would split
 * them at random between, say, a TLS listener and a redirect listener. */
static int overlapping(const struct cfg *cfg, char *err, size_t errlen) {
  int n = cfg->n_listen + cfg->n_redirect;
  for (int i = 0; i < n; i++) {
    for (int j = i + 1; j < n; j++) {
      bool li = i < cfg->n_listen, lj = j < cfg->n_listen;
      const struct addr *a = li ? &cfg->listen[i] : &cfg->redirect[i - cfg->n_listen];
      const struct addr *b = lj ? &cfg->listen[j] : &cfg->redirect[j - cfg->n_listen];
      if (addr_overlap(a, b))
        return err_set(err, errlen, "%s %s overlaps %s %s",
                       li ? "--listen" : "--redirect-listen", a->text,
                       lj ? "--listen" : "--redirect-listen", b->text);
    }
  }
  return 0;
}

/* Checks that need the whole configuration. */
static int validate(const struct cfg *cfg, char *err, size_t errlen) {
  if (cfg->n_listen == 0)
    return err_set(err, errlen, "missing --listen");
  if (!cfg->have_backend)
    return err_set(err, errlen, "missing --backend");
  if (cfg->n_certs == 0)
    return err_set(err, errlen, "missing --cert");
  if (cfg->tls_min > cfg->tls_max)
    return err_set(err, errlen, "--tls-min %d.%d is above --tls-max %d.%d",
                   cfg->tls_min / 10, cfg->tls_min % 10, cfg->tls_max / 10,
                   cfg->tls_max % 10);
  if (cfg->group != NULL && cfg->user == NULL)
    return err_set(err, errlen, "--group needs --user");
  if (overlapping(cfg, err, errlen) != 0)
    return -EINVAL;
  for (int i = 0; i < cfg->n_listen; i++)
    if (cfg->listen_proxy[i] && cfg->n_trusted == 0)
      return err_set(err, errlen, "--accept-proxy on %s needs --trusted-proxy",
                     cfg->listen[i].text);
  if (cfg->client_verify != CFG_VERIFY_NONE && cfg->client_ca == NULL)
    return err_set(err, errlen, "--client-verify %s needs --client-ca",
                   verify_modes[cfg->client_verify]);
  if (cfg->proxy_client_cert && cfg->proxy_protocol != 2)
    return err_set(err, errlen, "--proxy-client-cert needs --proxy-protocol v2");
  if (cfg->proxy_protocol != 0 && cfg->mode != CFG_MODE_TCP)
    return err_set(err, errlen,
                   "--proxy-protocol needs --mode tcp (http mode tells the "
                   "backend through X-Forwarded-For)");
  return 0;
}

/* ---- public ------------------------------------------------------------- */

/* Defaults, then the file named by --config, then the flags; see
 * config.h. On CFG_EXIT and CFG_INVALID nothing stays allocated. */
enum cfg_result cfg_parse(struct cfg *cfg, int argc, char **argv, FILE *out,
                          char *err, size_t errlen) {
  struct option lo[N_OPTS + 1];
  struct parse p = {.cfg = cfg};
  const char *config = NULL;
  const struct opt *action = NULL;

  memset(cfg, 0, sizeof *cfg);
  if (errlen > 0)
    err[0] = '\0';
  build_longopts(lo);
  if (apply_defaults(&p, err, errlen) != 0)
    goto fail;
  prescan(argc, argv, lo, &config, &action);
  if (action != NULL) {
    action->action(out);
    cfg_cleanup(cfg);
    return CFG_EXIT;
  }
  if (config != NULL && load_file(&p, config, err, errlen) != 0)
    goto fail;
  if (parse_argv(&p, argc, argv, lo, err, errlen) != 0)
    goto fail;
  if (validate(cfg, err, errlen) != 0)
    goto fail;
  return CFG_OK;

fail:
  cfg_cleanup(cfg);
  return CFG_INVALID;
}

/* Frees every string option (found through the table) and the cert list,
 * leaving NULLs behind so a second call is harmless. */
void cfg_cleanup(struct cfg *cfg) {
  for (size_t i = 0; i < N_OPTS; i++) {
    if (opts[i].set != cfg_set_string)
      continue;
    char **s = cfg_field(cfg, &opts[i]);
    free(*s);
    *s = NULL;
  }
  cfg_free_certs(cfg);
}

/* Every config-file key in table order; command-line-only options are left
 * out so the output is itself a valid config file. */
void cfg_dump(const struct cfg *cfg, FILE *out) {
  fprintf(out, "# tlsterm %s: effective configuration\n", PACKAGE_VERSION);
  for (size_t i = 0; i < N_OPTS; i++)
    if (opts[i].dump != NULL)
      opts[i].dump(cfg, &opts[i], out);
}

/* "  -h, --help" or "      --listen ADDR:PORT": the left column of --help.
 * Returns its length. */
static int flag_column(const struct opt *o, char *out, size_t outlen) {
  char short_form[8] = "    ";

  if (o->short_name != 0)
    snprintf(short_form, sizeof short_form, "-%c, ", o->short_name);
  return snprintf(out, outlen, "  %s--%s%s%s", short_form, o->name,
                  o->metavar ? " " : "", o->metavar ? o->metavar : "");
}

/* One line per option from the table, help text aligned in a column. */
void cfg_usage(FILE *out) {
  enum { COL = 32 };
  char left[64];

  fputs("Usage: tlsterm [--config FILE] --listen ADDR:PORT --backend "
        "ADDR:PORT\n               --cert FILE [--key FILE] [OPTIONS]\n\n"
        "A TLS-terminating reverse proxy.\n\nOptions:\n",
        out);
  for (size_t i = 0; i < N_OPTS; i++) {
    const struct opt *o = &opts[i];
    int n = flag_column(o, left, sizeof left);
    /* A long flag gets its help on the next line, still aligned. */
    if (n < COL)
      fprintf(out, "%-*s%s", COL, left, o->help);
    else
      fprintf(out, "%s\n%*s%s", left, COL, "", o->help);
    if (o->def != NULL)
      fprintf(out, " (default: %s)", o->def);
    fputc('\n', out);
  }
  fputs("\nA listen ADDR:PORT is IPv4:PORT, [IPv6]:PORT or *:PORT (every "
        "address);\na backend is IPv4:PORT, [IPv6]:PORT, HOST:PORT or "
        "unix:/PATH.\n"
        "TIME is 500ms, 10s, 2m, 1h or plain seconds, at most 24h.\n\n"
        "Every option but config, test, help and version may also be set in\n"
        "the config file as `name = value`. Flags override the file; a list\n"
        "(--listen, --cert) given as flags replaces the file's whole list.\n",
        out);
}

/* The keys are the options that have a dumper: those a file may set. */
void cfg_foreach_key(void (*fn)(const char *key, void *arg), void *arg) {
  for (size_t i = 0; i < N_OPTS; i++)
    if (opts[i].dump != NULL)
      fn(opts[i].name, arg);
}

/* ---- reload ------------------------------------------------------------- */

static bool same_string(const char *a, const char *b) {
  return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* Put back a running string value. These are read only at start-up, so if
 * the copy fails the new value may as well stay. */
static void keep_string(char **next, char *const *running) {
  char *copy = *running ? strdup(*running) : NULL;
  if (*running && copy == NULL)
    return;
  free(*next);
  *next = copy;
}

static void note_name(char *names, size_t len, const char *flag) {
  size_t used = strlen(names);
  snprintf(names + used, len - used, "%s%s", used ? ", " : "", flag);
}

int cfg_keep_restart_only(struct cfg *next, const struct cfg *running,
                          char *names, size_t nameslen) {
  static const struct {
    const char *flag;
    size_t off;
  } strings[] = {
      {"--user", OFF(user)},         {"--group", OFF(group)},
      {"--pidfile", OFF(pidfile)},   {"--log-file", OFF(log_file)},
  };
  int n = 0;
  names[0] = '\0';
  for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
    char **nv = (char **)((char *)next + strings[i].off);
    char *const *rv = (char *const *)((const char *)running + strings[i].off);
    if (!same_string(*nv, *rv)) {
      keep_string(nv, rv);
      note_name(names, nameslen, strings[i].flag);
      n++;
    }
  }
#define KEEP(field, flag)                                                      \
  if (next->field != running->field) {                                         \
    next->field = running->field;                                              \
    note_name(names, nameslen, flag);                                          \
    n++;                                                                       \
  }
  KEEP(workers, "--workers")
  KEEP(log_level, "--log-level")
  KEEP(log_format, "--log-format")
#undef KEEP
  if (next->have_admin != running->have_admin ||
      (next->have_admin && strcmp(next->admin.text, running->admin.text))) {
    next->have_admin = running->have_admin;
    next->admin = running->admin;
    note_name(names, nameslen, "--admin");
    n++;
  }
  return n;
}
