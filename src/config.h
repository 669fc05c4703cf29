/* config.h: the effective configuration.
 *
 * One option table in config.c declares every option once (name, type,
 * default, help). That table produces the defaults, the getopt long-option
 * table, the config-file keys (same names as the flags, `key = value`),
 * --help, and the --test dump. Flags and the file share one validation path.
 *
 * Once parsed, a struct cfg is immutable: workers read it without locks. */
#ifndef TLSTERM_CONFIG_H
#define TLSTERM_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "addr.h"

#define CFG_MAX_LISTEN 16
#define CFG_MAX_CERTS 32
#define CFG_MAX_TRUSTED 32

enum cfg_tls_version { CFG_TLS_1_2 = 12, CFG_TLS_1_3 = 13 };
enum cfg_mode { CFG_MODE_HTTP = 0, CFG_MODE_TCP = 1 };
enum cfg_xff { CFG_XFF_REPLACE = 0, CFG_XFF_APPEND = 1 };
enum cfg_client_verify {
  CFG_VERIFY_NONE = 0,     /* no certificate requested */
  CFG_VERIFY_OPTIONAL = 1, /* requested; the result goes to the backend */
  CFG_VERIFY_REQUIRED = 2, /* a verified certificate or no handshake */
};

struct cfg_cert {
  char *cert_file; /* PEM: certificate, then its chain; may hold the key */
  char *key_file;  /* NULL: the key is in cert_file */
};

struct cfg {
  struct addr listen[CFG_MAX_LISTEN];
  bool listen_proxy[CFG_MAX_LISTEN]; /* --accept-proxy after that --listen */
  int n_listen;
  struct addr redirect[CFG_MAX_LISTEN];      /* --redirect-listen */
  int n_redirect;
  struct addr_cidr trusted[CFG_MAX_TRUSTED]; /* --trusted-proxy */
  int n_trusted;
  struct addr backend;
  bool have_backend;
  struct addr admin;      /* --admin: plain-HTTP /healthz and /metrics */
  bool have_admin;
  struct cfg_cert certs[CFG_MAX_CERTS];
  int n_certs;

  int workers;            /* >= 1; default: online CPUs */
  char *config_file;      /* NULL if none */

  int tls_min;            /* enum cfg_tls_version */
  int tls_max;
  char *ciphers;          /* NULL: built-in AEAD list; else colon-separated
                             IANA or mbedTLS suite names */
  char *groups;           /* NULL: x25519:secp256r1:secp384r1 */
  char *alpn;             /* comma-separated, default "http/1.1" */

  unsigned handshake_timeout_ms;       /* default 10 s */
  unsigned idle_timeout_ms;            /* default 60 s */
  unsigned backend_connect_timeout_ms; /* default 5 s */
  unsigned drain_timeout_ms;           /* default 30 s */
  char *ticket_secret_file;  /* NULL: a random secret per process */
  unsigned ticket_lifetime_ms; /* ticket key epoch and ticket lifetime,
                                  default 6 h */
  unsigned max_connections;            /* per worker, default 10000 */

  int mode;                     /* enum cfg_mode, default http */
  int xff;                      /* enum cfg_xff, default replace */
  bool forwarded;               /* add an RFC 7239 Forwarded header */
  unsigned request_timeout_ms;  /* default 30 s: 408 if a head is begun
                                   and not complete by then */
  unsigned backend_timeout_ms;  /* default 60 s: 504 if no response head */
  unsigned max_header_size;     /* request head limit, default 16384 */
  unsigned hsts_seconds;        /* 0: no Strict-Transport-Security */
  char *access_log;             /* NULL: off; "-": stdout */
  int proxy_protocol;           /* 0 (off), 1 or 2; --mode tcp only */
  bool proxy_client_cert;       /* v2: the client certificate as a TLV */
  char *client_ca;              /* PEM CA bundle for client certificates */
  int client_verify;            /* enum cfg_client_verify, default none */
  bool client_cert_header;      /* http: also X-Client-Cert (URL-encoded
                                   PEM) */
  int log_level;                       /* enum log_level, default info */
  int log_format;                      /* enum log_format, default text */
  char *log_file;                      /* NULL: stderr */
  char *user;            /* --user: drop to this user after start-up */
  char *group;           /* --group: and this group (default: the user's) */
  char *pidfile;         /* --pidfile: write our pid here */

  bool test;              /* --test: validate, dump, exit */
};

/* Outcome of cfg_parse(). */
enum cfg_result {
  CFG_OK = 0,       /* run */
  CFG_EXIT = 1,     /* --help or --version printed; exit 0 */
  CFG_INVALID = -1, /* err holds one line naming the flag/key/file; exit 2 */
};

/* Fill `cfg` with defaults, then the --config file (if any), then the
 * flags, which override the file. A repeatable option given as a flag
 * replaces the file's list (e.g. --listen). Validates everything that can
 * be checked without TLS (addresses, numbers, ranges, tls-min <= tls-max,
 * at least one --listen, a --backend and a --cert). --help and --version
 * print to `out`. On CFG_INVALID, `err` holds e.g.
 *   "--workers: expected a number from 1 to 1024, got 'x'"
 *   "conf/tlsterm.conf:12: unknown key 'listn'"
 * The strings in cfg are owned by cfg: release with cfg_cleanup(). */
enum cfg_result cfg_parse(struct cfg *cfg, int argc, char **argv, FILE *out,
                          char *err, size_t errlen);

/* Free what cfg_parse() allocated. Safe on a zeroed or cleaned-up cfg. */
void cfg_cleanup(struct cfg *cfg);

/* Print the effective configuration as a valid config file: every option,
 * one `key = value` line each, in table order. */
void cfg_dump(const struct cfg *cfg, FILE *out);

/* For a reload: options a running process cannot change (--workers,
 * --user, --group, --pidfile, --log-file, --log-level, --log-format,
 * --admin) are set in `next` back to their values in `running`. The flag
 * names of those that differed are written, comma-separated, to names.
 * Returns how many differed. */
int cfg_keep_restart_only(struct cfg *next, const struct cfg *running,
                          char *names, size_t nameslen);

/* Print --help: usage, then one line per option from the table. */
void cfg_usage(FILE *out);

/* Call fn for every config key, in table order (used by a unit test that
 * checks conf/tlsterm.conf documents every option). */
void cfg_foreach_key(void (*fn)(const char *key, void *arg), void *arg);

#endif
