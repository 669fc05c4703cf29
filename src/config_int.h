/* config_int.h: what config.c (the option table and the parsing driver)
 * and config_values.c (the setters and dumpers the table names) share.
 * Not for other modules: they use config.h. */
#ifndef TLSTERM_CONFIG_INT_H
#define TLSTERM_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"

#define WHY_MAX 256

enum source { SRC_DEFAULT, SRC_FILE, SRC_ARGV };

/* The state of one cfg_parse() call. */
struct parse {
  struct cfg *cfg;
  enum source source;          /* where the value being set comes from */
  enum source listen_source;   /* who filled cfg->listen[] */
  enum source cert_source;     /* who filled cfg->certs[] */
  enum source trusted_source;  /* who filled cfg->trusted[] */
  enum source redirect_source; /* who filled cfg->redirect[] */
  char why[WHY_MAX];           /* a setter's reason for refusing a value */
};

/* One row of the option table (config.c). */
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
  char short_name;            /* 0: long only */
  action_fn *action;          /* run instead of parsing (--help), then exit */
  const char *const *choices; /* cfg_set_choice: names, index = value */
};

/* The field of cfg that option o sets or dumps. */
static inline void *cfg_field(struct cfg *cfg, const struct opt *o) {
  return (char *)cfg + o->off;
}

static inline const void *cfg_cfield(const struct cfg *cfg,
                                     const struct opt *o) {
  return (const char *)cfg + o->off;
}

/* Setters (config_values.c): parse val into o's field of p->cfg. 0, or a
 * negative errno with the reason, ready for "--flag: <why>", in p->why.
 * val is borrowed; strings are copied into cfg. */
set_fn cfg_set_string, cfg_set_int, cfg_set_uint, cfg_set_duration,
    cfg_set_flag, cfg_set_listen, cfg_set_backend, cfg_set_cert, cfg_set_key,
    cfg_set_tls_version, cfg_set_log_level, cfg_set_choice, cfg_set_bool,
    cfg_set_accept_proxy, cfg_set_trusted, cfg_set_redirect,
    cfg_set_admin;

/* Dumpers (config_values.c): print o's field of cfg as config-file lines,
 * in a form its setter reads back to the same value. */
dump_fn cfg_dump_string, cfg_dump_int, cfg_dump_uint, cfg_dump_duration,
    cfg_dump_listen, cfg_dump_backend, cfg_dump_cert, cfg_dump_none,
    cfg_dump_tls_version, cfg_dump_log_level, cfg_dump_choice, cfg_dump_bool,
    cfg_dump_trusted, cfg_dump_redirect, cfg_dump_admin;

/* Free the cert list (cert and key paths) and empty it. */
void cfg_free_certs(struct cfg *cfg);

#endif
