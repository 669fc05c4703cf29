/* config_values.c: the values of options (see config_int.h): one setter
 * per kind of value, which parses the text from a flag, the file or the
 * table's default and refuses it with the words the user will see, and one
 * dumper per kind, which prints it back as a config-file line that parses
 * to the same value (durations in their largest exact unit, strings quoted
 * when the file parser would otherwise trim them). The option table in
 * config.c names these for every option. */
#include "config_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define DAY_MS (24u * 3600u * 1000u)

/* ---- small helpers ------------------------------------------------------ */

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

int cfg_set_string(struct parse *p, const struct opt *o, const char *val) {
  return replace_string(p, cfg_field(p->cfg, o), val);
}

int cfg_set_int(struct parse *p, const struct opt *o, const char *val) {
  long v;

  if (!parse_long(val, o->min, o->max, &v))
    return why(p, "expected a number from %ld to %ld, got '%s'", o->min, o->max,
               val);
  *(int *)cfg_field(p->cfg, o) = (int)v;
  return 0;
}

int cfg_set_uint(struct parse *p, const struct opt *o, const char *val) {
  long v;

  if (!parse_long(val, o->min, o->max, &v))
    return why(p, "expected a number from %ld to %ld, got '%s'", o->min, o->max,
               val);
  *(unsigned *)cfg_field(p->cfg, o) = (unsigned)v;
  return 0;
}

int cfg_set_duration(struct parse *p, const struct opt *o, const char *val) {
  return parse_duration(p, val, cfg_field(p->cfg, o));
}

int cfg_set_flag(struct parse *p, const struct opt *o, const char *val) {
  (void)val;
  *(bool *)cfg_field(p->cfg, o) = true;
  return 0;
}

/* One of o->choices; the field is the index. */
int cfg_set_choice(struct parse *p, const struct opt *o, const char *val) {
  char list[128] = "";

  for (int i = 0; o->choices[i] != NULL; i++) {
    if (strcmp(val, o->choices[i]) == 0) {
      *(int *)cfg_field(p->cfg, o) = i;
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

int cfg_set_bool(struct parse *p, const struct opt *o, const char *val) {
  if (!parse_yes_no(val, cfg_field(p->cfg, o)))
    return why(p, "expected yes or no, got '%s'", val);
  return 0;
}

/* Marks the --listen just before it (same source, like --key and --cert). */
int cfg_set_accept_proxy(struct parse *p, const struct opt *o,
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

int cfg_set_redirect(struct parse *p, const struct opt *o, const char *val) {
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

int cfg_set_trusted(struct parse *p, const struct opt *o, const char *val) {
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

int cfg_set_listen(struct parse *p, const struct opt *o, const char *val) {
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

int cfg_set_backend(struct parse *p, const struct opt *o, const char *val) {
  struct addr a;

  (void)o;
  if (addr_parse_backend(&a, val, p->why, sizeof p->why) != 0)
    return -EINVAL;
  p->cfg->backend = a;
  p->cfg->have_backend = true;
  return 0;
}

int cfg_set_admin(struct parse *p, const struct opt *o, const char *val) {
  struct addr a;

  (void)o;
  if (addr_parse_listen(&a, val, p->why, sizeof p->why) != 0)
    return -EINVAL;
  p->cfg->admin = a;
  p->cfg->have_admin = true;
  return 0;
}

void cfg_free_certs(struct cfg *cfg) {
  for (int i = 0; i < cfg->n_certs; i++) {
    free(cfg->certs[i].cert_file);
    free(cfg->certs[i].key_file);
    cfg->certs[i].cert_file = cfg->certs[i].key_file = NULL;
  }
  cfg->n_certs = 0;
}

int cfg_set_cert(struct parse *p, const struct opt *o, const char *val) {
  struct cfg *cfg = p->cfg;

  (void)o;
  if (p->cert_source != p->source) { /* a new source replaces the list */
    cfg_free_certs(cfg);
    p->cert_source = p->source;
  }
  if (cfg->n_certs == CFG_MAX_CERTS)
    return why(p, "too many certificates (at most %d)", CFG_MAX_CERTS);
  if (replace_string(p, &cfg->certs[cfg->n_certs].cert_file, val) != 0)
    return -ENOMEM;
  cfg->n_certs++;
  return 0;
}

int cfg_set_key(struct parse *p, const struct opt *o, const char *val) {
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

int cfg_set_tls_version(struct parse *p, const struct opt *o, const char *val) {
  int *v = cfg_field(p->cfg, o);

  if (strcmp(val, "1.2") == 0)
    *v = CFG_TLS_1_2;
  else if (strcmp(val, "1.3") == 0)
    *v = CFG_TLS_1_3;
  else
    return why(p, "expected 1.2 or 1.3, got '%s'", val);
  return 0;
}

int cfg_set_log_level(struct parse *p, const struct opt *o, const char *val) {
  int level = log_level_parse(val);

  if (level < 0)
    return why(p, "expected error, warn, info or debug, got '%s'", val);
  *(int *)cfg_field(p->cfg, o) = level;
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

void cfg_dump_string(const struct cfg *cfg, const struct opt *o, FILE *out) {
  const char *s = *(char *const *)cfg_cfield(cfg, o);

  if (s == NULL)
    fprintf(out, "# %s = (unset: built-in default)\n", o->name);
  else
    put_kv(out, o->name, s);
}

void cfg_dump_choice(const struct cfg *cfg, const struct opt *o, FILE *out) {
  fprintf(out, "%s = %s\n", o->name,
          o->choices[*(const int *)cfg_cfield(cfg, o)]);
}

void cfg_dump_bool(const struct cfg *cfg, const struct opt *o, FILE *out) {
  fprintf(out, "%s = %s\n", o->name,
          *(const bool *)cfg_cfield(cfg, o) ? "yes" : "no");
}

void cfg_dump_int(const struct cfg *cfg, const struct opt *o, FILE *out) {
  fprintf(out, "%s = %d\n", o->name, *(const int *)cfg_cfield(cfg, o));
}

void cfg_dump_uint(const struct cfg *cfg, const struct opt *o, FILE *out) {
  fprintf(out, "%s = %u\n", o->name, *(const unsigned *)cfg_cfield(cfg, o));
}

void cfg_dump_duration(const struct cfg *cfg, const struct opt *o, FILE *out) {
  char text[32];

  format_duration(*(const unsigned *)cfg_cfield(cfg, o), text, sizeof text);
  fprintf(out, "%s = %s\n", o->name, text);
}

void cfg_dump_listen(const struct cfg *cfg, const struct opt *o, FILE *out) {
  for (int i = 0; i < cfg->n_listen; i++) {
    put_kv(out, o->name, cfg->listen[i].text);
    if (cfg->listen_proxy[i])
      fprintf(out, "accept-proxy = yes\n");
  }
}

void cfg_dump_redirect(const struct cfg *cfg, const struct opt *o, FILE *out) {
  for (int i = 0; i < cfg->n_redirect; i++)
    put_kv(out, o->name, cfg->redirect[i].text);
  if (cfg->n_redirect == 0)
    fprintf(out, "# %s = (none)\n", o->name);
}

void cfg_dump_trusted(const struct cfg *cfg, const struct opt *o, FILE *out) {
  for (int i = 0; i < cfg->n_trusted; i++)
    put_kv(out, o->name, cfg->trusted[i].text);
  if (cfg->n_trusted == 0)
    fprintf(out, "# %s = (none)\n", o->name);
}

void cfg_dump_backend(const struct cfg *cfg, const struct opt *o, FILE *out) {
  if (cfg->have_backend)
    put_kv(out, o->name, cfg->backend.text);
}

void cfg_dump_admin(const struct cfg *cfg, const struct opt *o, FILE *out) {
  if (cfg->have_admin)
    put_kv(out, o->name, cfg->admin.text);
  else
    fprintf(out, "# %s = (none)\n", o->name);
}

/* Each cert is followed by its key, so the pairs read back the same. */
void cfg_dump_cert(const struct cfg *cfg, const struct opt *o, FILE *out) {
  for (int i = 0; i < cfg->n_certs; i++) {
    put_kv(out, o->name, cfg->certs[i].cert_file);
    if (cfg->certs[i].key_file != NULL)
      put_kv(out, "key", cfg->certs[i].key_file);
  }
}

void cfg_dump_none(const struct cfg *cfg, const struct opt *o, FILE *out) {
  (void)cfg, (void)o, (void)out; /* "key" lines come with their cert */
}

void cfg_dump_tls_version(const struct cfg *cfg, const struct opt *o,
                          FILE *out) {
  int v = *(const int *)cfg_cfield(cfg, o);

  fprintf(out, "%s = %d.%d\n", o->name, v / 10, v % 10);
}

void cfg_dump_log_level(const struct cfg *cfg, const struct opt *o, FILE *out) {
  fprintf(out, "%s = %s\n", o->name,
          log_level_name(*(const int *)cfg_cfield(cfg, o)));
}
