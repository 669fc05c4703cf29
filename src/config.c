/* config.c: the option table and everything it drives (see config.h).
 *
 * Every option is one row of `opts` below: name, setter, dumper, field,
 * range, default (as text), metavar and help. The defaults, the getopt_long
 * table, the config-file keys, --help and the --test dump all come from
 * that table, so adding an option is one row plus a field in struct cfg.
 * Flags and the file feed the same setters, so a value is accepted or
 * refused with the same words wherever it came from.
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
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "log.h"

#ifndef PACKAGE_VERSION
#error "PACKAGE_VERSION undefined: build through configure, or pass -D"
#endif

#define WHY_MAX 256
#define DAY_MS (24u * 3600u * 1000u)
#define WORKERS_MAX 1024
/* getopt codes for long-only options start above any short option char. */
#define CODE_BASE 256
#define SHORTOPTS "+:hV" /* +: stop at the first non-option; no permuting */

enum source { SRC_DEFAULT, SRC_FILE, SRC_ARGV };

/* The state of one cfg_parse() call. */
struct parse {
  struct cfg *cfg;
  enum source source;        /* where the value being set comes from */
  enum source listen_source; /* who filled cfg->listen[] */
  enum source cert_source;   /* who filled cfg->certs[] */
  enum source trusted_source; /* who filled cfg->trusted[] */
  enum source redirect_source; /* who filled cfg->redirect[] */
  char why[WHY_MAX];         /* a setter's reason for refusing a value */
};

struct opt;
typedef int set_fn(struct parse *p, const struct opt *o, const char *val);
typedef void dump_fn(const struct cfg *cfg, const struct opt *o, FILE *out);
typedef void action_fn(FILE *out);

struct opt {
  const char *name;    /* --name and the config-file key */
  set_fn *set;         /* NULL for actions */
  dump_fn *dump;       /* NULL: not a config-file key (command line only) */
  size_t off;          /* field in struct cfg */
  long min, max;       /* range of numbers */
  const char *def;     /* default as text; NULL: none */
  const char *metavar; /* NULL: a flag, takes no value */
  const char *help;
  char short_name;   /* 0: long only */
  action_fn *action; /* run instead of parsing (--help), then exit */
  const char *const *choices; /* set_choice: the names, index = value */
};

static set_fn set_string, set_int, set_uint, set_duration, set_flag, set_listen,
    set_backend, set_cert, set_key, set_tls_version, set_log_level, set_choice,
    set_bool, set_accept_proxy, set_trusted, set_redirect;
static dump_fn dump_string, dump_int, dump_uint, dump_duration, dump_listen,
    dump_backend, dump_cert, dump_none, dump_tls_version, dump_log_level,
    dump_choice, dump_bool, dump_trusted, dump_redirect;

static const char *const modes[] = {"http", "tcp", NULL};
static const char *const xff_modes[] = {"replace", "append", NULL};
static const char *const proxy_versions[] = {"off", "v1", "v2", NULL};
static const char *const verify_modes[] = {"none", "optional", "required",
                                           NULL};
static action_fn print_usage, print_version;

#define OFF(field) offsetof(struct cfg, field)

/* Table order is --help order and dump order. One row per option reads
 * better than clang-format's one line per field. */
/* clang-format off */
static const struct opt opts[] = {
    {.name = "listen", .set = set_listen, .dump = dump_listen,
     .metavar = "ADDR:PORT",
     .help = "address to accept TLS on; repeatable (required)"},
    {.name = "accept-proxy", .set = set_accept_proxy, .dump = dump_none,
     .help = "the --listen just before it takes a PROXY v1/v2 header first"},
    {.name = "trusted-proxy", .set = set_trusted, .dump = dump_trusted,
     .metavar = "CIDR",
     .help = "who may send PROXY headers, e.g. 10.0.0.0/8; repeatable"},
    {.name = "redirect-listen", .set = set_redirect, .dump = dump_redirect,
     .metavar = "ADDR:PORT",
     .help = "answer plain HTTP here with 308 to https; repeatable"},
    {.name = "backend", .set = set_backend, .dump = dump_backend,
     .metavar = "ADDR:PORT",
     .help = "where to forward the plaintext (required)"},
    {.name = "cert", .set = set_cert, .dump = dump_cert, .metavar = "FILE",
     .help = "PEM certificate chain; repeatable (required)"},
    {.name = "key", .set = set_key, .dump = dump_none, .metavar = "FILE",
     .help = "PEM key of the --cert just before it"},
    {.name = "workers", .set = set_int, .dump = dump_int, .off = OFF(workers),
     .min = 1, .max = WORKERS_MAX, .metavar = "N",
     .help = "worker threads, 1-1024 (default: online CPUs)"},
    {.name = "max-connections", .set = set_uint, .dump = dump_uint,
     .off = OFF(max_connections), .min = 1, .max = 1000000, .def = "10000",
     .metavar = "N", .help = "per worker, 1-1000000"},
    {.name = "tls-min", .set = set_tls_version, .dump = dump_tls_version,
     .off = OFF(tls_min), .def = "1.2", .metavar = "VERSION",
     .help = "lowest TLS version, 1.2 or 1.3"},
    {.name = "tls-max", .set = set_tls_version, .dump = dump_tls_version,
     .off = OFF(tls_max), .def = "1.3", .metavar = "VERSION",
     .help = "highest TLS version, 1.2 or 1.3"},
    {.name = "ciphers", .set = set_string, .dump = dump_string,
     .off = OFF(ciphers), .metavar = "LIST",
     .help = "colon-separated suites (default: built-in list)"},
    {.name = "groups", .set = set_string, .dump = dump_string,
     .off = OFF(groups), .metavar = "LIST",
     .help = "colon-separated groups (default: built-in list)"},
    {.name = "alpn", .set = set_string, .dump = dump_string, .off = OFF(alpn),
     .def = "http/1.1", .metavar = "LIST",
     .help = "comma-separated ALPN list"},
    {.name = "handshake-timeout", .set = set_duration, .dump = dump_duration,
     .off = OFF(handshake_timeout_ms), .def = "10s", .metavar = "TIME",
     .help = "limit for the TLS handshake"},
    {.name = "idle-timeout", .set = set_duration, .dump = dump_duration,
     .off = OFF(idle_timeout_ms), .def = "60s", .metavar = "TIME",
     .help = "close connections idle this long"},
    {.name = "backend-connect-timeout", .set = set_duration,
     .dump = dump_duration, .off = OFF(backend_connect_timeout_ms),
     .def = "5s", .metavar = "TIME",
     .help = "limit for a backend connect"},
    {.name = "drain-timeout", .set = set_duration, .dump = dump_duration,
     .off = OFF(drain_timeout_ms), .def = "30s", .metavar = "TIME",
     .help = "grace period at shutdown"},
    {.name = "mode", .set = set_choice, .dump = dump_choice, .off = OFF(mode),
     .choices = modes, .def = "http", .metavar = "MODE",
     .help = "http (rewrite requests) or tcp (relay bytes as they are)"},
    {.name = "xff", .set = set_choice, .dump = dump_choice, .off = OFF(xff),
     .choices = xff_modes, .def = "replace", .metavar = "HOW",
     .help = "X-Forwarded-For: replace the client's, or append to it"},
    {.name = "forwarded", .set = set_bool, .dump = dump_bool,
     .off = OFF(forwarded),
     .help = "also add an RFC 7239 Forwarded header (http mode)"},
    {.name = "request-timeout", .set = set_duration, .dump = dump_duration,
     .off = OFF(request_timeout_ms), .def = "30s", .metavar = "TIME",
     .help = "a begun request head must complete within this, else 408"},
    {.name = "backend-timeout", .set = set_duration, .dump = dump_duration,
     .off = OFF(backend_timeout_ms), .def = "60s", .metavar = "TIME",
     .help = "the backend must start its response within this, else 504"},
    {.name = "max-header-size", .set = set_uint, .dump = dump_uint,
     .off = OFF(max_header_size), .min = 1024, .max = 1048576, .def = "16384",
     .metavar = "BYTES", .help = "longest request head, else 431"},
    {.name = "hsts", .set = set_uint, .dump = dump_uint,
     .off = OFF(hsts_seconds), .min = 0, .max = 2147483647L, .def = "0",
     .metavar = "SECONDS",
     .help = "add Strict-Transport-Security: max-age=SECONDS (0: off)"},
    {.name = "access-log", .set = set_string, .dump = dump_string,
     .off = OFF(access_log), .metavar = "FILE",
     .help = "one line per request to FILE, - for stdout (default: off)"},
    {.name = "proxy-protocol", .set = set_choice, .dump = dump_choice,
     .off = OFF(proxy_protocol), .choices = proxy_versions, .def = "off",
     .metavar = "VERSION",
     .help = "tcp mode: send a PROXY header, off, v1 or v2"},
    {.name = "proxy-client-cert", .set = set_bool, .dump = dump_bool,
     .off = OFF(proxy_client_cert),
     .help = "PROXY v2: also send the client certificate (TLV 0xE0)"},
    {.name = "client-ca", .set = set_string, .dump = dump_string,
     .off = OFF(client_ca), .metavar = "FILE",
     .help = "PEM CA bundle that client certificates must chain to"},
    {.name = "client-verify", .set = set_choice, .dump = dump_choice,
     .off = OFF(client_verify), .choices = verify_modes, .def = "none",
     .metavar = "MODE", .help = "client certificates: none, optional or required"},
    {.name = "client-cert-header", .set = set_bool, .dump = dump_bool,
     .off = OFF(client_cert_header),
     .help = "http mode: also send the client certificate as X-Client-Cert"},
    {.name = "log-level", .set = set_log_level, .dump = dump_log_level,
     .off = OFF(log_level), .def = "info", .metavar = "LEVEL",
     .help = "error, warn, info or debug"},
    /* Command line only (no dumper): */
    {.name = "config", .set = set_string, .off = OFF(config_file),
     .metavar = "FILE", .help = "read options from FILE; flags override it"},
    {.name = "test", .set = set_flag, .off = OFF(test),
     .help = "check the configuration, print it, exit"},
    {.name = "help", .short_name = 'h', .action = print_usage,
     .help = "print this help and exit"},
    {.name = "version", .short_name = 'V', .action = print_version,
     .help = "print the version and exit"},
};
/* clang-format on */

#define N_OPTS (sizeof opts / sizeof opts[0])

/* ---- small helpers ------------------------------------------------------ */

static void *field(struct cfg *cfg, const struct opt *o) {
  return (char *)cfg + o->off;
}

static const void *cfield(const struct cfg *cfg, const struct opt *o) {
  return (const char *)cfg + o->off;
}

static int why(struct parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Record a setter's reason; returns -EINVAL for `return why(...)`. */
static int why(struct parse *p, const char *fmt, ...) {
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(p->why, sizeof p->why, fmt, ap);
  va_end(ap);
  return -EINVAL;
}

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

static int replace_string(struct parse *p, char **slot, const char *val) {
  char *copy = strdup(val);

  if (copy == NULL)
    return why(p, "out of memory");
  free(*slot);
  *slot = copy;
  return 0;
}

/* ---- values: numbers and durations ---------------------------------- */

/* A whole decimal number within [min, max]; no spaces, no trailing junk. */
static bool parse_long(const char *s, long min, long max, long *out) {
  char *end;

  if (!isdigit((unsigned char)s[0]) && s[0] != '-')
    return false;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < min || v > max)
    return false;
  *out = v;
  return true;
}

/* "10s", "500ms", "2m", "1h", or bare seconds; 1ms to 24h. */
static int parse_duration(struct parse *p, const char *s, unsigned *ms) {
  static const struct {
    const char *suffix;
    unsigned long long ms;
  } units[] = {
      {"", 1000}, {"s", 1000}, {"ms", 1}, {"m", 60000}, {"h", 3600000}};
  char *end;

  if (!isdigit((unsigned char)s[0])) /* strtoull would take " -5" */
    return why(p,
               "expected a duration such as 10s, 500ms, 2m or 1h, got "
               "'%s'",
               s);
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (strcmp(end, units[i].suffix) != 0)
      continue;
    /* Compare before multiplying: v * unit could overflow. */
    if (errno != 0 || v == 0 || v > DAY_MS / units[i].ms)
      return why(p, "must be more than 0 and at most 24h, got '%s'", s);
    *ms = (unsigned)(v * units[i].ms);
    return 0;
  }
  return why(p, "expected a duration such as 10s, 500ms, 2m or 1h, got '%s'",
             s);
}

/* The largest unit that states ms exactly, so a dump reads "2m" not
 * "120000ms" and parses back to the same value. */
static void format_duration(unsigned ms, char *out, size_t outlen) {
  if (ms % 3600000 == 0)
    snprintf(out, outlen, "%uh", ms / 3600000);
  else if (ms % 60000 == 0)
    snprintf(out, outlen, "%um", ms / 60000);
  else if (ms % 1000 == 0)
    snprintf(out, outlen, "%us", ms / 1000);
  else
    snprintf(out, outlen, "%ums", ms);
}

/* ---- setters ------------------------------------------------------------ */

static int set_string(struct parse *p, const struct opt *o, const char *val) {
  return replace_string(p, field(p->cfg, o), val);
}

static int set_int(struct parse *p, const struct opt *o, const char *val) {
  long v;

  if (!parse_long(val, o->min, o->max, &v))
    return why(p, "expected a number from %ld to %ld, got '%s'", o->min, o->max,
               val);
  *(int *)field(p->cfg, o) = (int)v;
  return 0;
}

static int set_uint(struct parse *p, const struct opt *o, const char *val) {
  long v;

  if (!parse_long(val, o->min, o->max, &v))
    return why(p, "expected a number from %ld to %ld, got '%s'", o->min, o->max,
               val);
  *(unsigned *)field(p->cfg, o) = (unsigned)v;
  return 0;
}

static int set_duration(struct parse *p, const struct opt *o, const char *val) {
  return parse_duration(p, val, field(p->cfg, o));
}

static int set_flag(struct parse *p, const struct opt *o, const char *val) {
  (void)val;
  *(bool *)field(p->cfg, o) = true;
  return 0;
}

/* One of o->choices; the field is the index. */
static int set_choice(struct parse *p, const struct opt *o, const char *val) {
  char list[128] = "";

  for (int i = 0; o->choices[i] != NULL; i++) {
    if (strcmp(val, o->choices[i]) == 0) {
      *(int *)field(p->cfg, o) = i;
      return 0;
    }
    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
             i ? (o->choices[i + 1] ? ", " : " or ") : "", o->choices[i]);
  }
  return why(p, "expected %s, got '%s'", list, val);
}

/* A flag's value: none on the command line (val is NULL) means yes; a
 * file says yes or no. */
static bool parse_yes_no(const char *val, bool *out) {
  if (val == NULL || strcmp(val, "yes") == 0 || strcmp(val, "true") == 0 ||
      strcmp(val, "on") == 0)
    *out = true;
  else if (strcmp(val, "no") == 0 || strcmp(val, "false") == 0 ||
           strcmp(val, "off") == 0)
    *out = false;
  else
    return false;
  return true;
}

static int set_bool(struct parse *p, const struct opt *o, const char *val) {
  if (!parse_yes_no(val, field(p->cfg, o)))
    return why(p, "expected yes or no, got '%s'", val);
  return 0;
}

/* Marks the --listen just before it (same source, like --key and --cert). */
static int set_accept_proxy(struct parse *p, const struct opt *o,
                            const char *val) {
  struct cfg *cfg = p->cfg;

  (void)o;
  if (p->listen_source != p->source || cfg->n_listen == 0)
    return why(p, "no listen given before it (it applies to the listen "
                  "just before it)");
  if (!parse_yes_no(val, &cfg->listen_proxy[cfg->n_listen - 1]))
    return why(p, "expected yes or no, got '%s'", val);
  return 0;
}

static int set_redirect(struct parse *p, const struct opt *o,
                        const char *val) {
  struct cfg *cfg = p->cfg;

  (void)o;
  if (p->redirect_source != p->source) {
    cfg->n_redirect = 0;
    p->redirect_source = p->source;
  }
  if (cfg->n_redirect == CFG_MAX_LISTEN)
    return why(p, "too many redirect addresses (at most %d)", CFG_MAX_LISTEN);
  if (addr_parse_listen(&cfg->redirect[cfg->n_redirect], val, p->why,
                        sizeof p->why) != 0)
    return -EINVAL;
  cfg->n_redirect++;
  return 0;
}

static int set_trusted(struct parse *p, const struct opt *o, const char *val) {
  struct cfg *cfg = p->cfg;

  (void)o;
  if (p->trusted_source != p->source) {
    cfg->n_trusted = 0;
    p->trusted_source = p->source;
  }
  if (cfg->n_trusted == CFG_MAX_TRUSTED)
    return why(p, "too many networks (at most %d)", CFG_MAX_TRUSTED);
  if (addr_parse_cidr(&cfg->trusted[cfg->n_trusted], val, p->why,
                      sizeof p->why) != 0)
    return -EINVAL;
  cfg->n_trusted++;
  return 0;
}

static int set_listen(struct parse *p, const struct opt *o, const char *val) {
  struct cfg *cfg = p->cfg;

  (void)o;
  if (p->listen_source != p->source) { /* a new source replaces the list */
    cfg->n_listen = 0;
    memset(cfg->listen_proxy, 0, sizeof cfg->listen_proxy);
    p->listen_source = p->source;
  }
  if (cfg->n_listen == CFG_MAX_LISTEN)
    return why(p, "too many listen addresses (at most %d)", CFG_MAX_LISTEN);
  if (addr_parse_listen(&cfg->listen[cfg->n_listen], val, p->why,
                        sizeof p->why) != 0)
    return -EINVAL;
  cfg->n_listen++;
  return 0;
}

static int set_backend(struct parse *p, const struct opt *o, const char *val) {
  struct addr a;

  (void)o;
  if (addr_parse_backend(&a, val, p->why, sizeof p->why) != 0)
    return -EINVAL;
  p->cfg->backend = a;
  p->cfg->have_backend = true;
  return 0;
}

static void free_certs(struct cfg *cfg) {
  for (int i = 0; i < cfg->n_certs; i++) {
    free(cfg->certs[i].cert_file);
    free(cfg->certs[i].key_file);
    cfg->certs[i].cert_file = cfg->certs[i].key_file = NULL;
  }
  cfg->n_certs = 0;
}

static int set_cert(struct parse *p, const struct opt *o, const char *val) {
  struct cfg *cfg = p->cfg;

  (void)o;
  if (p->cert_source != p->source) { /* a new source replaces the list */
    free_certs(cfg);
    p->cert_source = p->source;
  }
  if (cfg->n_certs == CFG_MAX_CERTS)
    return why(p, "too many certificates (at most %d)", CFG_MAX_CERTS);
  if (replace_string(p, &cfg->certs[cfg->n_certs].cert_file, val) != 0)
    return -ENOMEM;
  cfg->n_certs++;
  return 0;
}

static int set_key(struct parse *p, const struct opt *o, const char *val) {
  struct cfg *cfg = p->cfg;

  (void)o;
  /* Only a cert from this same source: a file's cert is replaced as soon
   * as the command line names one, so pairing across sources is a trap. */
  if (p->cert_source != p->source || cfg->n_certs == 0)
    return why(p, "no cert given before it (a key pairs with the cert just "
                  "before it)");
  struct cfg_cert *c = &cfg->certs[cfg->n_certs - 1];
  if (c->key_file != NULL)
    return why(p, "cert '%s' already has a key ('%s')", c->cert_file,
               c->key_file);
  return replace_string(p, &c->key_file, val);
}

static int set_tls_version(struct parse *p, const struct opt *o,
                           const char *val) {
  int *v = field(p->cfg, o);

  if (strcmp(val, "1.2") == 0)
    *v = CFG_TLS_1_2;
  else if (strcmp(val, "1.3") == 0)
    *v = CFG_TLS_1_3;
  else
    return why(p, "expected 1.2 or 1.3, got '%s'", val);
  return 0;
}

static int set_log_level(struct parse *p, const struct opt *o,
                         const char *val) {
  int level = log_level_parse(val);

  if (level < 0)
    return why(p, "expected error, warn, info or debug, got '%s'", val);
  *(int *)field(p->cfg, o) = level;
  return 0;
}

/* ---- dumpers ------------------------------------------------------------ */

/* `key = value`, quoted when the file parser would otherwise trim or
 * unquote it (it strips exactly one pair of surrounding quotes). */
static void put_kv(FILE *out, const char *key, const char *val) {
  size_t n = strlen(val);
  bool quote = n == 0 || isspace((unsigned char)val[0]) ||
               isspace((unsigned char)val[n - 1]) || val[0] == '"' ||
               val[0] == '\'';

  fprintf(out, quote ? "%s = \"%s\"\n" : "%s = %s\n", key, val);
}

static void dump_string(const struct cfg *cfg, const struct opt *o, FILE *out) {
  const char *s = *(char *const *)cfield(cfg, o);

  if (s == NULL)
    fprintf(out, "# %s = (unset: built-in default)\n", o->name);
  else
    put_kv(out, o->name, s);
}

static void dump_choice(const struct cfg *cfg, const struct opt *o,
                        FILE *out) {
  fprintf(out, "%s = %s\n", o->name, o->choices[*(const int *)cfield(cfg, o)]);
}

static void dump_bool(const struct cfg *cfg, const struct opt *o, FILE *out) {
  fprintf(out, "%s = %s\n", o->name,
          *(const bool *)cfield(cfg, o) ? "yes" : "no");
}

static void dump_int(const struct cfg *cfg, const struct opt *o, FILE *out) {
  fprintf(out, "%s = %d\n", o->name, *(const int *)cfield(cfg, o));
}

static void dump_uint(const struct cfg *cfg, const struct opt *o, FILE *out) {
  fprintf(out, "%s = %u\n", o->name, *(const unsigned *)cfield(cfg, o));
}

static void dump_duration(const struct cfg *cfg, const struct opt *o,
                          FILE *out) {
  char text[32];

  format_duration(*(const unsigned *)cfield(cfg, o), text, sizeof text);
  fprintf(out, "%s = %s\n", o->name, text);
}

static void dump_listen(const struct cfg *cfg, const struct opt *o, FILE *out) {
  for (int i = 0; i < cfg->n_listen; i++) {
    put_kv(out, o->name, cfg->listen[i].text);
    if (cfg->listen_proxy[i])
      fprintf(out, "accept-proxy = yes\n");
  }
}

static void dump_redirect(const struct cfg *cfg, const struct opt *o,
                          FILE *out) {
  for (int i = 0; i < cfg->n_redirect; i++)
    put_kv(out, o->name, cfg->redirect[i].text);
  if (cfg->n_redirect == 0)
    fprintf(out, "# %s = (none)\n", o->name);
}

static void dump_trusted(const struct cfg *cfg, const struct opt *o,
                         FILE *out) {
  for (int i = 0; i < cfg->n_trusted; i++)
    put_kv(out, o->name, cfg->trusted[i].text);
  if (cfg->n_trusted == 0)
    fprintf(out, "# %s = (none)\n", o->name);
}

static void dump_backend(const struct cfg *cfg, const struct opt *o,
                         FILE *out) {
  if (cfg->have_backend)
    put_kv(out, o->name, cfg->backend.text);
}

/* Each cert is followed by its key, so the pairs read back the same. */
static void dump_cert(const struct cfg *cfg, const struct opt *o, FILE *out) {
  for (int i = 0; i < cfg->n_certs; i++) {
    put_kv(out, o->name, cfg->certs[i].cert_file);
    if (cfg->certs[i].key_file != NULL)
      put_kv(out, "key", cfg->certs[i].key_file);
  }
}

static void dump_none(const struct cfg *cfg, const struct opt *o, FILE *out) {
  (void)cfg, (void)o, (void)out; /* "key" lines come with their cert */
}

static void dump_tls_version(const struct cfg *cfg, const struct opt *o,
                             FILE *out) {
  int v = *(const int *)cfield(cfg, o);

  fprintf(out, "%s = %d.%d\n", o->name, v / 10, v % 10);
}

static void dump_log_level(const struct cfg *cfg, const struct opt *o,
                           FILE *out) {
  fprintf(out, "%s = %s\n", o->name,
          log_level_name(*(const int *)cfield(cfg, o)));
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
    if (opts[i].set != set_string)
      continue;
    char **s = field(cfg, &opts[i]);
    free(*s);
    *s = NULL;
  }
  free_certs(cfg);
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
