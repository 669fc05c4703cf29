/* test_store.c: unit tests for tls/store.c (loading and checking
 * certificates, keys and the --ciphers/--groups/--alpn lists) and, through
 * an in-process mbedTLS client over memory buffers, for tls/ctx.c,
 * tls/sess.c and tls/ticket.c: handshakes, certificate choice, ALPN, the
 * read loop, and tickets that resume on another loop's context.
 *
 * Certificates are generated at test time with openssl into a mkdtemp
 * directory, never committed. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "tls_int.h"
#include "unit.h"

/* --- generated files ---------------------------------------------------- */

static char dir[64];
static bool gen_ok;
static pid_t gen_pid;

/* Everything a test needs, in one script: sh -e stops at the first error. */
static const char gen_script[] =
    "set -e\n"
    "cd \"$1\"\n"
    "o() { openssl \"$@\" >>gen.log 2>&1; }\n"
    "leaf() { o req -x509 -new -key \"$1.key\" -days 30 -subj \"$2\" $3 "
    "-out \"$1.pem\"; }\n"
    "o genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.key\n"
    "leaf ec /CN=example.com "
    "'-addext subjectAltName=DNS:example.com,DNS:*.example.com'\n"
    "o genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key\n"
    "leaf rsa /CN=example.com '-addext subjectAltName=DNS:example.com'\n"
    "o genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out other.key\n"
    "o genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out cn.key\n"
    "leaf cn /CN=cnonly.test ''\n"
    "o genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -aes-128-cbc "
    "-pass pass:secret -out enc.key\n"
    "o genpkey -algorithm ED25519 -out ed.key\n"
    "leaf ed /CN=ed.test ''\n"
    "o genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out weak.key\n"
    "leaf weak /CN=weak.test ''\n"
    "o genpkey -algorithm EC -pkeyopt ec_paramgen_curve:secp256k1 -out k1.key\n"
    "leaf k1 /CN=k1.test ''\n"
    /* root -> intermediate -> leaf; chain.pem = leaf + intermediate */
    "o genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key\n"
    "leaf ca '/CN=Test Root' '-addext basicConstraints=critical,CA:TRUE'\n"
    "o genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out int.key\n"
    "printf 'basicConstraints=critical,CA:TRUE\\n' >int.ext\n"
    "o req -new -key int.key -subj '/CN=Test Intermediate' -out int.csr\n"
    "o x509 -req -in int.csr -CA ca.pem -CAkey ca.key -set_serial 2 -days 30 "
    "-extfile int.ext -out int.pem\n"
    "o genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out leaf.key\n"
    "printf 'subjectAltName=DNS:chain.test\\n' >leaf.ext\n"
    "o req -new -key leaf.key -subj /CN=chain.test -out leaf.csr\n"
    "o x509 -req -in leaf.csr -CA int.pem -CAkey int.key -set_serial 3 "
    "-days 30 -extfile leaf.ext -out leaf.pem\n"
    "cat leaf.pem int.pem >chain.pem\n"
    "cat ec.pem ec.key >combined.pem\n"
    "printf 'this is not PEM\\n' >garbage.pem\n";

static void remove_dir(void) {
  char cmd[128];

  if (getpid() != gen_pid || dir[0] == '\0')
    return; /* forked test children must not remove the parent's files */
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "test_store: could not remove %s\n", dir);
}

/* Once per process (the first test case's unchecked fixture, in Check's
 * parent): generate every file; removed at exit. */
static void gen_files(void) {
  char script[128], cmd[256];
  FILE *f;

  if (dir[0] != '\0')
    return;
  strcpy(dir, "/tmp/tlsterm-store-XXXXXX");
  if (mkdtemp(dir) == NULL) {
    dir[0] = '\0';
    return;
  }
  gen_pid = getpid();
  atexit(remove_dir);
  snprintf(script, sizeof script, "%s/gen.sh", dir);
  if ((f = fopen(script, "w")) == NULL)
    return;
  fputs(gen_script, f);
  fclose(f);
  snprintf(cmd, sizeof cmd, "sh '%s' '%s'", script, dir);
  gen_ok = system(cmd) == 0;
  if (!gen_ok)
    fprintf(stderr, "test_store: openssl failed, see %s/gen.log\n", dir);
}

static void setup_psa(void) {
  char err[128];

  ck_assert_msg(gen_ok, "certificate generation failed (is openssl there?)");
  ck_assert_msg(tls_global_init(err, sizeof err) == 0, "%s", err);
}

static void teardown_psa(void) {
  tls_global_cleanup();
}

/* --- loading ------------------------------------------------------------ */

static char *in_dir(const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);

  ck_assert_ptr_nonnull(p);
  snprintf(p, n, "%s/%s", dir, name);
  return p;
}

/* A cfg with the given certificates (file names relative to dir; key NULL:
 * the key is in the certificate file) and lists. Paths are freed by
 * free_cfg(). */
static void make_cfg(struct cfg *cfg, const char *const *files, int n) {
  memset(cfg, 0, sizeof *cfg);
  for (int i = 0; i < n; i++) {
    cfg->certs[i].cert_file = in_dir(files[2 * i]);
    if (files[2 * i + 1] != NULL)
      cfg->certs[i].key_file = in_dir(files[2 * i + 1]);
  }
  cfg->n_certs = n;
}

static void free_cfg(struct cfg *cfg) {
  for (int i = 0; i < cfg->n_certs; i++) {
    free(cfg->certs[i].cert_file);
    free(cfg->certs[i].key_file);
  }
}

static const struct {
  const char *what;
  const char *cert, *key;
  const char *err_flag; /* NULL: loads; else the error names this file */
  const char *err_text; /* loads: in the description; else in the error */
} load_cases[] = {
    {"ECDSA P-256", "ec.pem", "ec.key", NULL,
     "CN=example.com ECDSA P-256, names: example.com,*.example.com, expires"},
    {"RSA 2048", "rsa.pem", "rsa.key", NULL, "RSA 2048, names: example.com"},
    {"chain with an intermediate", "chain.pem", "leaf.key", NULL,
     "CN=chain.test ECDSA P-256, names: chain.test"},
    {"key in the certificate file", "combined.pem", NULL, NULL, "ECDSA P-256"},
    {"names from the CN without SANs", "cn.pem", "cn.key", NULL,
     "names: cnonly.test"},
    {"mismatched key", "ec.pem", "other.key", "--key other.key",
     "key does not match certificate"},
    {"RSA key for an ECDSA certificate", "ec.pem", "rsa.key", "--key rsa.key",
     "key does not match certificate"},
    {"missing certificate file", "missing.pem", "ec.key", "--cert missing.pem",
     "cannot read: No such file"},
    {"missing key file", "ec.pem", "missing.key", "--key missing.key",
     "cannot read: No such file"},
    {"a directory", ".", "ec.key", "--cert .", "cannot read"},
    {"garbage certificate", "garbage.pem", "ec.key", "--cert garbage.pem",
     "no certificate found"},
    {"a key as certificate", "ec.key", "ec.key", "--cert ec.key",
     "no certificate found"},
    {"garbage key", "ec.pem", "garbage.pem", "--key garbage.pem",
     "no private key found"},
    {"no key anywhere", "ec.pem", NULL, "--cert ec.pem",
     "no private key found"},
    {"encrypted key", "ec.pem", "enc.key", "--key enc.key", "encrypted"},
    {"Ed25519", "ed.pem", "ed.key", "--cert ed.pem",
     "unsupported signature or key algorithm"},
    {"Ed25519 key", "ec.pem", "ed.key", "--key ed.key", "unsupported key type"},
    {"RSA 1024", "weak.pem", "weak.key", "--cert weak.pem", "too weak"},
    {"secp256k1", "k1.pem", "k1.key", "--cert k1.pem", "ECDSA curve secp256k1"},
};

START_TEST(test_load) {
  int i = _i;
  const char *files[2] = {load_cases[i].cert, load_cases[i].key};
  static const uint8_t secret[TLS_TICKET_SECRET_LEN];
  struct tls_store *st = (struct tls_store *)1;
  struct tls_ctx *ctx;
  struct cfg cfg;
  char err[256] = "", want[128], desc[512];
  int rc;

  make_cfg(&cfg, files, 1);
  rc = tls_store_load(&st, &cfg, err, sizeof err);
  if (load_cases[i].err_flag == NULL) {
    ck_assert_msg(rc == 0, "%s: %s", load_cases[i].what, err);
    ck_assert_int_eq(tls_store_count(st), 1);
    tls_store_describe(st, 0, desc, sizeof desc);
    ck_assert_msg(strstr(desc, load_cases[i].err_text) != NULL,
                  "%s: description '%s'", load_cases[i].what, desc);
    /* What the store accepted, a loop can build a context from. */
    ck_assert_msg(tls_ctx_new(&ctx, st, &cfg, secret, sizeof secret, 0, err,
                              sizeof err) == 0,
                  "%s: %s", load_cases[i].what, err);
    tls_ctx_free(ctx);
    tls_store_free(st);
  } else {
    /* "--cert FILE" with FILE made absolute: "--cert /tmp/x/FILE" */
    const char *sp = strchr(load_cases[i].err_flag, ' ');
    snprintf(want, sizeof want, "%.*s %s/%s",
             (int)(sp - load_cases[i].err_flag), load_cases[i].err_flag, dir,
             sp + 1);
    ck_assert_msg(rc == -1, "%s: loaded", load_cases[i].what);
    ck_assert_ptr_null(st);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0 &&
                      strstr(err, load_cases[i].err_text) != NULL,
                  "%s: error '%s'", load_cases[i].what, err);
    ck_assert_ptr_null(strchr(err, '\n'));
  }
  free_cfg(&cfg);
}
END_TEST

START_TEST(test_load_several) {
  const char *files[] = {"ec.pem",  "ec.key",    "rsa.pem",
                         "rsa.key", "chain.pem", "leaf.key"};
  struct tls_store *st;
  struct cfg cfg;
  char err[256], desc[512];

  make_cfg(&cfg, files, 3);
  ck_assert_msg(tls_store_load(&st, &cfg, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(tls_store_count(st), 3);
  tls_store_describe(st, 1, desc, sizeof desc);
  ck_assert_ptr_nonnull(strstr(desc, "RSA 2048"));
  tls_store_describe(st, 3, desc, sizeof desc);
  ck_assert_str_eq(desc, "");
  /* The defaults: AEAD only, TLS 1.3 first, ECDSA before RSA for 1.2. */
  ck_assert_int_eq(st->suites[0], MBEDTLS_TLS1_3_AES_128_GCM_SHA256);
  ck_assert_int_eq(st->suites[3],
                   MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256);
  ck_assert_int_eq(st->suites[6],
                   MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256);
  ck_assert_int_eq(st->suites[9], 0);
  ck_assert_int_eq(st->groups[0], MBEDTLS_SSL_IANA_TLS_GROUP_X25519);
  ck_assert_int_eq(st->groups[3], MBEDTLS_SSL_IANA_TLS_GROUP_NONE);
  ck_assert_str_eq(st->alpn[0], "http/1.1");
  ck_assert_ptr_null(st->alpn[1]);
  tls_store_free(st);

  /* The first bad file stops the load, and is the one named. */
  free(cfg.certs[1].key_file);
  cfg.certs[1].key_file = strdup(cfg.certs[0].key_file);
  ck_assert_int_eq(tls_store_load(&st, &cfg, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "rsa.pem"));
  free_cfg(&cfg);
  cfg.n_certs = 0;
  ck_assert_int_eq(tls_store_load(&st, &cfg, err, sizeof err), -1);
  ck_assert_str_eq(err, "--cert: no certificate configured");
}
END_TEST

/* --- option lists ------------------------------------------------------- */

static const struct {
  const char *ciphers, *groups, *alpn;
  int tls_min, tls_max;
  const char *err; /* NULL: valid; else a part of the error */
} list_cases[] = {
    /* IANA names, mbedTLS names, any case, commas and blanks */
    {"TLS_AES_128_GCM_SHA256:TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", NULL,
     NULL, 0, 0, NULL},
    {"TLS1-3-AES-256-GCM-SHA384:TLS-ECDHE-ECDSA-WITH-CHACHA20-POLY1305-SHA256",
     NULL, NULL, 0, 0, NULL},
    {" tls_chacha20_poly1305_sha256 , TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
     NULL, NULL, 0, 0, NULL},
    {"TLS_AES_128_GCM_SHA256", NULL, NULL, CFG_TLS_1_3, CFG_TLS_1_3, NULL},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", NULL, NULL, CFG_TLS_1_2,
     CFG_TLS_1_2, NULL},
    {"TLS_AES_128_GCM_SHA256:TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", NULL,
     NULL, 0, 0,
     "--ciphers: TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256 is not "
     "an AEAD suite"},
    {"TLS_AES_128_GCM_SHA256:TLS_RSA_WITH_AES_128_GCM_SHA256", NULL, NULL, 0, 0,
     "is not an ECDHE-ECDSA or ECDHE-RSA suite"},
    {"TLS_AES_128_GCM_SHA256:TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", NULL, NULL,
     0, 0, "--ciphers: TLS_DHE_RSA"},
    {"TLS_AES_128_GCM_SHA256:TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8", NULL, NULL, 0,
     0, "--ciphers: TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8"},
    {"TLS_AES_128_GCM_SHA256:FOO", NULL, NULL, 0, 0,
     "--ciphers: unknown cipher suite 'FOO'"},
    {"TLS_AES_128_GCM_SHA256::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", NULL,
     NULL, 0, 0, "--ciphers: empty suite name"},
    {"", NULL, NULL, 0, 0, "--ciphers: empty suite name"},
    {"TLS_AES_128_GCM_SHA256:TLS1-3-AES-128-GCM-SHA256", NULL, NULL,
     CFG_TLS_1_3, 0, "listed twice"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", NULL, NULL, 0, 0,
     "--ciphers: no TLS 1.3 suite"},
    {"TLS_AES_128_GCM_SHA256", NULL, NULL, 0, 0, "--ciphers: no TLS 1.2 suite"},
    {"TLS_AES_128_GCM_SHA256:TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", NULL, NULL,
     0, 0, "fits the certificates"},
    /* groups */
    {NULL, "x25519:P-256:secp384r1", NULL, 0, 0, NULL},
    {NULL, "X25519, prime256v1,p-384,secp521r1", NULL, 0, 0, NULL},
    {NULL, "x25519:brainpool", NULL, 0, 0,
     "--groups: unknown group 'brainpool'"},
    {NULL, "secp256k1", NULL, 0, 0, "--groups: unknown group 'secp256k1'"},
    {NULL, "x25519:X25519", NULL, 0, 0, "--groups: X25519 is listed twice"},
    {NULL, "", NULL, 0, 0, "--groups: unknown group ''"},
    /* alpn */
    {NULL, NULL, "h2,http/1.1", 0, 0, NULL},
    {NULL, NULL, "", 0, 0, NULL},
    {NULL, NULL, "http/1.1,,h2", 0, 0, "--alpn: empty protocol name"},
    {NULL, NULL, "http/1.1,http/1.1", 0, 0, "--alpn: http/1.1 is listed twice"},
    {NULL, NULL, "a b", 0, 0, "--alpn: invalid character"},
    {NULL, NULL, "x", 0, 0, NULL},
    /* versions */
    {NULL, NULL, NULL, CFG_TLS_1_3, CFG_TLS_1_2, "--tls-min/--tls-max"},
    {NULL, NULL, NULL, 11, 0, "--tls-min/--tls-max"},
};

START_TEST(test_lists) {
  int i = _i;
  const char *files[] = {"ec.pem", "ec.key"};
  struct tls_store *st;
  struct cfg cfg;
  char err[256] = "";
  int rc;

  make_cfg(&cfg, files, 1);
  cfg.ciphers = (char *)list_cases[i].ciphers;
  cfg.groups = (char *)list_cases[i].groups;
  cfg.alpn = (char *)list_cases[i].alpn;
  cfg.tls_min = list_cases[i].tls_min;
  cfg.tls_max = list_cases[i].tls_max;
  rc = tls_store_load(&st, &cfg, err, sizeof err);
  if (list_cases[i].err == NULL) {
    ck_assert_msg(rc == 0, "case %d: %s", i, err);
    tls_store_free(st);
  } else {
    ck_assert_msg(rc == -1 && strstr(err, list_cases[i].err) != NULL,
                  "case %d: rc %d, error '%s', want '%s'", i, rc, err,
                  list_cases[i].err);
  }
  free_cfg(&cfg);
}
END_TEST

START_TEST(test_alpn_too_long) {
  const char *files[] = {"ec.pem", "ec.key"};
  struct tls_store *st;
  struct cfg cfg;
  char err[256], alpn[300];

  memset(alpn, 'a', 256);
  alpn[256] = '\0';
  make_cfg(&cfg, files, 1);
  cfg.alpn = alpn;
  ck_assert_int_eq(tls_store_load(&st, &cfg, err, sizeof err), -1);
  ck_assert_str_eq(err, "--alpn: protocol name longer than 255 bytes");
  alpn[255] = '\0';
  ck_assert_int_eq(tls_store_load(&st, &cfg, err, sizeof err), 0);
  tls_store_free(st);
  free_cfg(&cfg);
}
END_TEST

/* --- an mbedTLS client over memory buffers ------------------------------ */

struct client {
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_ssl_config conf;
  mbedtls_ssl_context ssl;
  struct buf in, out;
};

struct client_opts {
  int version;              /* 12, 13, or 0 for both */
  const int *suites;        /* NULL: mbedTLS defaults */
  const uint16_t *sig_algs; /* NULL: mbedTLS defaults */
  const char **alpn;        /* NULL: no ALPN */
  const char *sni;          /* NULL: no SNI */
  int kex_modes;            /* TLS 1.3 key exchange modes; 0: all */
  const uint16_t *groups;   /* NULL: mbedTLS defaults */
  const mbedtls_ssl_session *resume;
};

static int cli_send(void *p, const unsigned char *d, size_t n) {
  struct client *c = p;
  return buf_append(&c->out, d, n) == 0 ? (int)n : MBEDTLS_ERR_SSL_ALLOC_FAILED;
}

static int cli_recv(void *p, unsigned char *d, size_t n) {
  struct client *c = p;
  if (buf_used(&c->in) == 0)
    return MBEDTLS_ERR_SSL_WANT_READ;
  if (n > buf_used(&c->in))
    n = buf_used(&c->in);
  memcpy(d, buf_data(&c->in), n);
  buf_consume(&c->in, n);
  return (int)n;
}

static void client_init(struct client *c, const struct client_opts *o) {
  mbedtls_entropy_init(&c->entropy);
  mbedtls_ctr_drbg_init(&c->drbg);
  mbedtls_ssl_config_init(&c->conf);
  mbedtls_ssl_init(&c->ssl);
  buf_init(&c->in, 1 << 20);
  buf_init(&c->out, 1 << 20);
  ck_assert_int_eq(mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func,
                                         &c->entropy, NULL, 0),
                   0);
  ck_assert_int_eq(mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT,
                                               MBEDTLS_SSL_TRANSPORT_STREAM,
                                               MBEDTLS_SSL_PRESET_DEFAULT),
                   0);
  mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_NONE);
  mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
  if (o->version != 0) {
    int v = o->version == 13 ? MBEDTLS_SSL_VERSION_TLS1_3
                             : MBEDTLS_SSL_VERSION_TLS1_2;
    mbedtls_ssl_conf_min_tls_version(&c->conf, v);
    mbedtls_ssl_conf_max_tls_version(&c->conf, v);
  }
  if (o->suites != NULL)
    mbedtls_ssl_conf_ciphersuites(&c->conf, o->suites);
  if (o->sig_algs != NULL)
    mbedtls_ssl_conf_sig_algs(&c->conf, o->sig_algs);
  if (o->alpn != NULL)
    ck_assert_int_eq(mbedtls_ssl_conf_alpn_protocols(&c->conf, o->alpn), 0);
  if (o->groups != NULL)
    mbedtls_ssl_conf_groups(&c->conf, o->groups);
  if (o->kex_modes != 0)
    mbedtls_ssl_conf_tls13_key_exchange_modes(&c->conf, o->kex_modes);
  mbedtls_ssl_conf_tls13_enable_signal_new_session_tickets(
      &c->conf, MBEDTLS_SSL_TLS1_3_SIGNAL_NEW_SESSION_TICKETS_ENABLED);
  ck_assert_int_eq(mbedtls_ssl_setup(&c->ssl, &c->conf), 0);
  mbedtls_ssl_set_bio(&c->ssl, c, cli_send, cli_recv, NULL);
  if (o->sni != NULL)
    ck_assert_int_eq(mbedtls_ssl_set_hostname(&c->ssl, o->sni), 0);
  if (o->resume != NULL)
    ck_assert_int_eq(mbedtls_ssl_set_session(&c->ssl, o->resume), 0);
}

static void client_free(struct client *c) {
  mbedtls_ssl_free(&c->ssl);
  mbedtls_ssl_config_free(&c->conf);
  mbedtls_ctr_drbg_free(&c->drbg);
  mbedtls_entropy_free(&c->entropy);
  buf_cleanup(&c->in);
  buf_cleanup(&c->out);
}

static void move(struct buf *from, struct buf *to) {
  ck_assert_int_eq(buf_append(to, buf_data(from), buf_used(from)), 0);
  buf_consume(from, buf_used(from));
}

/* A server session on ctx with its buffers, and a client. */
struct pair {
  struct buf in, out;
  struct tls_sess *s;
  struct client c;
  size_t srv_bytes; /* what the server sent during the handshake */
};

static void pair_init(struct pair *p, struct tls_ctx *ctx,
                      const struct client_opts *o) {
  buf_init(&p->in, 1 << 20);
  buf_init(&p->out, 1 << 20);
  ck_assert_ptr_nonnull(p->s = tls_sess_new(ctx, &p->in, &p->out));
  client_init(&p->c, o);
  p->srv_bytes = 0;
}

static void pair_free(struct pair *p) {
  tls_sess_free(p->s);
  client_free(&p->c);
  buf_cleanup(&p->in);
  buf_cleanup(&p->out);
}

/* Run both handshakes to the end: 0, a server TLS_FAIL, or a client error. */
static int handshake(struct pair *p) {
  int cr = 1, sr = 1;

  for (int round = 0; round < 20; round++) {
    if (cr != 0 && (cr = mbedtls_ssl_handshake(&p->c.ssl)) != 0 &&
        cr != MBEDTLS_ERR_SSL_WANT_READ)
      return cr;
    move(&p->c.out, &p->in);
    if (sr != 0 && (sr = tls_sess_handshake(p->s)) == TLS_FAIL)
      return sr;
    p->srv_bytes += buf_used(&p->out);
    move(&p->out, &p->c.in);
    if (cr == 0 && sr == 0)
      return 0;
  }
  return -1;
}

/* The client's read, past the WANT_READ that mbedTLS returns after a
 * post-handshake message even with more data waiting (the trap sess.c
 * handles for the server). */
static int client_read(struct client *c, void *dst, size_t len) {
  int ret = MBEDTLS_ERR_SSL_WANT_READ;

  for (int k = 0; k < 4 && ret == MBEDTLS_ERR_SSL_WANT_READ; k++)
    ret = mbedtls_ssl_read(&c->ssl, dst, len);
  return ret;
}

/* The session to resume with: TLS 1.3 tickets arrive after the handshake. */
static void client_session(struct pair *p, mbedtls_ssl_session *sess) {
  unsigned char b[16];

  if (mbedtls_ssl_get_version_number(&p->c.ssl) == MBEDTLS_SSL_VERSION_TLS1_3)
    ck_assert_int_eq(client_read(&p->c, b, sizeof b),
                     MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET);
  mbedtls_ssl_session_init(sess);
  ck_assert_int_eq(mbedtls_ssl_get_session(&p->c.ssl, sess), 0);
}

/* ec (example.com, *.example.com), rsa (example.com), chain (chain.test),
 * with the given --ciphers etc. (NULL: the defaults). */
static struct tls_store *store_with(const char *ciphers, const char *groups,
                                    const char *alpn, int tls_min) {
  const char *files[] = {"ec.pem",  "ec.key",    "rsa.pem",
                         "rsa.key", "chain.pem", "leaf.key"};
  struct tls_store *st;
  struct cfg cfg;
  char err[256];

  make_cfg(&cfg, files, 3);
  cfg.ciphers = (char *)ciphers;
  cfg.groups = (char *)groups;
  cfg.alpn = (char *)alpn;
  cfg.tls_min = tls_min;
  ck_assert_msg(tls_store_load(&st, &cfg, err, sizeof err) == 0, "%s", err);
  free_cfg(&cfg);
  return st;
}

static struct tls_store *store3(void) {
  return store_with(NULL, NULL, NULL, 0);
}

static const uint8_t secret_a[TLS_TICKET_SECRET_LEN] =
    "shared ticket secret, 32 bytes!";
static const uint8_t secret_b[TLS_TICKET_SECRET_LEN] =
    "another secret, also 32 bytes!!";

static struct tls_ctx *ctx_at(const struct tls_store *st, const uint8_t *secret,
                              uint64_t now) {
  struct tls_ctx *ctx;
  char err[256];

  ck_assert_msg(tls_ctx_new(&ctx, st, NULL, secret, TLS_TICKET_SECRET_LEN, now,
                            err, sizeof err) == 0,
                "%s", err);
  return ctx;
}

/* --- handshakes --------------------------------------------------------- */

static const char *alpn_both[] = {"h2", "http/1.1", NULL};
static const char *alpn_h2[] = {"h2", NULL};

START_TEST(test_handshake_data_close) {
  struct tls_store *st = store3();
  struct tls_ctx *ctx = ctx_at(st, secret_a, (uint64_t)time(NULL));
  struct client_opts o = {
      .version = 13, .sni = "Example.COM", .alpn = alpn_both};
  struct pair p;
  char b[64];

  pair_init(&p, ctx, &o);
  ck_assert_int_eq(handshake(&p), 0);
  ck_assert_str_eq(tls_sess_version(p.s), "TLSv1.3");
  ck_assert_ptr_nonnull(strstr(tls_sess_cipher(p.s), "TLS1-3-"));
  ck_assert_str_eq(tls_sess_sni(p.s), "example.com");
  ck_assert_str_eq(tls_sess_alpn(p.s), "http/1.1");
  ck_assert(!tls_sess_resumed(p.s));

  /* The client's request may come right behind its Finished. */
  ck_assert_int_eq(mbedtls_ssl_write(&p.c.ssl, (const unsigned char *)"GET", 3),
                   3);
  move(&p.c.out, &p.in);
  ck_assert_int_eq(tls_sess_read(p.s, b, sizeof b), 3);
  ck_assert_int_eq(memcmp(b, "GET", 3), 0);
  ck_assert_int_eq(tls_sess_read(p.s, b, sizeof b), TLS_WANT);
  ck_assert_int_eq(tls_sess_write(p.s, "200 OK", 6), 0);
  move(&p.out, &p.c.in);
  /* NewSessionTicket first (reported, not data), then the response. */
  ck_assert_int_eq(client_read(&p.c, b, sizeof b),
                   MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET);
  ck_assert_int_eq(client_read(&p.c, b, sizeof b), 6);

  ck_assert_int_eq(mbedtls_ssl_close_notify(&p.c.ssl), 0);
  move(&p.c.out, &p.in);
  ck_assert_int_eq(tls_sess_read(p.s, b, sizeof b), TLS_CLOSED);
  ck_assert_int_eq(tls_sess_read(p.s, b, sizeof b), TLS_CLOSED);
  /* Half-close: the response may still follow the client's close_notify. */
  ck_assert_int_eq(tls_sess_write(p.s, "late", 4), 0);
  tls_sess_close_notify(p.s);
  ck_assert_uint_gt(buf_used(&p.out), 0);
  pair_free(&p);
  tls_ctx_free(ctx);
  tls_store_free(st);
}
END_TEST

static const uint16_t p521_first[] = {MBEDTLS_SSL_IANA_TLS_GROUP_SECP521R1,
                                      MBEDTLS_SSL_IANA_TLS_GROUP_X25519, 0};
static const int only_rsa12[] = {MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
                                 0};
static const uint16_t only_rsa_sigs[] = {MBEDTLS_TLS1_3_SIG_RSA_PSS_RSAE_SHA256,
                                         MBEDTLS_TLS1_3_SIG_NONE};

static const struct {
  struct client_opts o;
  bool rsa;
  const char *cn;
  int chain_len;
  const char *cipher; /* prefix */
} choice_cases[] = {
    {{.version = 13, .sni = "example.com"}, false, "example.com", 1, "TLS1-3-"},
    {{.version = 13, .sni = "example.com", .sig_algs = only_rsa_sigs},
     true,
     "example.com",
     1,
     "TLS1-3-"},
    {{.version = 12, .sni = "example.com"},
     false,
     "example.com",
     1,
     "TLS-ECDHE-ECDSA-WITH-AES-128-GCM"},
    {{.version = 12, .sni = "example.com", .suites = only_rsa12},
     true,
     "example.com",
     1,
     "TLS-ECDHE-RSA-"},
    {{.version = 13, .sni = "chain.test"}, false, "chain.test", 2, "TLS1-3-"},
    /* a key share we do not take: HelloRetryRequest, SNI seen twice */
    {{.version = 13, .sni = "chain.test", .groups = p521_first},
     false,
     "chain.test",
     2,
     "TLS1-3-"},
    {{.version = 12, .sni = "CHAIN.test."}, false, "chain.test", 2, "TLS-"},
    {{.version = 13, .sni = "www.example.com"}, false, "example.com", 1, ""},
    {{.version = 13, .sni = "unknown.test"}, false, "example.com", 1, ""},
    {{.version = 13}, false, "example.com", 1, ""},
    {{.version = 12, .suites = only_rsa12}, true, "example.com", 1, ""},
};

START_TEST(test_certificate_choice) {
  struct tls_store *st = store3();
  struct tls_ctx *ctx = ctx_at(st, secret_a, (uint64_t)time(NULL));
  const mbedtls_x509_crt *peer;
  struct pair p;
  char cn[64];
  int i = _i, n = 0;

  pair_init(&p, ctx, &choice_cases[i].o);
  ck_assert_int_eq(handshake(&p), 0);
  ck_assert_ptr_nonnull(peer = mbedtls_ssl_get_peer_cert(&p.c.ssl));
  ck_assert_int_eq(mbedtls_pk_get_type(&peer->pk) == MBEDTLS_PK_RSA,
                   choice_cases[i].rsa);
  ck_assert_int_gt(mbedtls_x509_dn_gets(cn, sizeof cn, &peer->subject), 0);
  ck_assert_str_eq(cn + 3, choice_cases[i].cn);
  for (const mbedtls_x509_crt *c = peer; c != NULL && c->raw.p != NULL;
       c = c->next)
    n++;
  ck_assert_int_eq(n, choice_cases[i].chain_len);
  ck_assert_msg(strncmp(tls_sess_cipher(p.s), choice_cases[i].cipher,
                        strlen(choice_cases[i].cipher)) == 0,
                "cipher %s", tls_sess_cipher(p.s));
  pair_free(&p);
  tls_ctx_free(ctx);
  tls_store_free(st);
}
END_TEST

/* The options reach the handshake: --ciphers, --groups, --tls-min, --alpn. */
static const struct {
  const char *ciphers, *groups, *alpn;
  int tls_min;
  struct client_opts o;
  const char *want; /* cipher prefix, or the server's error */
} option_cases[] = {
    {"TLS_AES_256_GCM_SHA384:TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
     NULL,
     NULL,
     0,
     {.version = 13},
     "TLS1-3-AES-256-GCM-SHA384"},
    {"TLS_AES_256_GCM_SHA384:TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
     NULL,
     NULL,
     0,
     {.version = 12},
     "TLS-ECDHE-ECDSA-WITH-AES-256-GCM-SHA384"},
    {"TLS_AES_256_GCM_SHA384:TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
     NULL,
     NULL,
     0,
     {.version = 12, .suites = only_rsa12},
     "handshake: no shared cipher suite, group or certificate type"},
    {NULL, "secp384r1", NULL, 0, {.version = 13}, "TLS1-3-"},
    {NULL, "secp384r1", NULL, 0, {.version = 12}, "TLS-ECDHE-"},
    {NULL, "x25519", NULL, 0, {.version = 13, .groups = p521_first}, "TLS1-3-"},
    {NULL,
     NULL,
     NULL,
     CFG_TLS_1_3,
     {.version = 12},
     "handshake: no shared protocol version"},
    {NULL,
     NULL,
     "h2,http/1.1",
     0,
     {.version = 13, .alpn = alpn_both},
     "TLS1-3-"},
};

START_TEST(test_options) {
  int i = _i;
  struct tls_store *st =
      store_with(option_cases[i].ciphers, option_cases[i].groups,
                 option_cases[i].alpn, option_cases[i].tls_min);
  struct tls_ctx *ctx = ctx_at(st, secret_a, (uint64_t)time(NULL));
  const char *want = option_cases[i].want;
  struct pair p;

  pair_init(&p, ctx, &option_cases[i].o);
  if (strncmp(want, "handshake:", 10) == 0) {
    ck_assert_int_eq(handshake(&p), TLS_FAIL);
    ck_assert_msg(strncmp(tls_sess_error(p.s), want, strlen(want)) == 0,
                  "error '%s'", tls_sess_error(p.s));
  } else {
    ck_assert_int_eq(handshake(&p), 0);
    ck_assert_msg(strncmp(tls_sess_cipher(p.s), want, strlen(want)) == 0,
                  "cipher %s", tls_sess_cipher(p.s));
    if (option_cases[i].alpn != NULL)
      ck_assert_str_eq(tls_sess_alpn(p.s), "h2");
  }
  pair_free(&p);
  tls_ctx_free(ctx);
  tls_store_free(st);
}
END_TEST

START_TEST(test_alpn) {
  struct tls_store *st = store3();
  struct tls_ctx *ctx = ctx_at(st, secret_a, (uint64_t)time(NULL));
  struct client_opts none = {.version = 13},
                     h2 = {.version = 12, .alpn = alpn_h2};
  struct pair p;

  pair_init(&p, ctx, &none);
  ck_assert_int_eq(handshake(&p), 0);
  ck_assert_ptr_null(tls_sess_alpn(p.s));
  ck_assert_ptr_null(tls_sess_sni(p.s));
  pair_free(&p);
  /* An offer with no overlap is fatal (no_application_protocol). */
  pair_init(&p, ctx, &h2);
  ck_assert_int_eq(handshake(&p), TLS_FAIL);
  ck_assert_str_eq(tls_sess_error(p.s),
                   "handshake: no shared ALPN protocol (-0x7580)");
  ck_assert_uint_gt(buf_used(&p.out), 0); /* the alert */
  ck_assert_int_eq(tls_sess_handshake(p.s), TLS_FAIL);
  pair_free(&p);
  tls_ctx_free(ctx);
  tls_store_free(st);
}
END_TEST

static const struct {
  const char *bytes;
  size_t len;
  const char *err;
} garbage_cases[] = {
    {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27,
     "handshake: client sent garbage (plain HTTP?)"},
    {"\x01\x02\x03\x04\x05\x06\x07\x08\x09", 9,
     "handshake: client sent garbage (not TLS)"},
    /* a handshake record holding a one-byte ClientHello */
    {"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x05", 10, "handshake: "},
};

START_TEST(test_garbage) {
  struct tls_store *st = store3();
  struct tls_ctx *ctx = ctx_at(st, secret_a, (uint64_t)time(NULL));
  struct buf in, out;
  struct tls_sess *s;
  char b[16];
  int i = _i;

  buf_init(&in, 4096);
  buf_init(&out, 4096);
  ck_assert_ptr_nonnull(s = tls_sess_new(ctx, &in, &out));
  buf_append(&in, garbage_cases[i].bytes, garbage_cases[i].len);
  ck_assert_int_eq(tls_sess_handshake(s), TLS_FAIL);
  ck_assert_msg(strncmp(tls_sess_error(s), garbage_cases[i].err,
                        strlen(garbage_cases[i].err)) == 0,
                "error '%s'", tls_sess_error(s));
  ck_assert_int_eq(tls_sess_read(s, b, sizeof b), TLS_FAIL);
  tls_sess_free(s);
  buf_cleanup(&in);
  buf_cleanup(&out);
  tls_ctx_free(ctx);
  tls_store_free(st);
}
END_TEST

/* The read trap: several records, a warning alert and a split record in
 * `in` at once must all come out before TLS_WANT. */
START_TEST(test_read_loop) {
  struct tls_store *st = store3();
  struct tls_ctx *ctx = ctx_at(st, secret_a, (uint64_t)time(NULL));
  struct client_opts o = {.version = _i == 0 ? 12 : 13};
  struct pair p;
  char b[8], got[64];
  size_t n = 0, half;
  int r;

  pair_init(&p, ctx, &o);
  ck_assert_int_eq(handshake(&p), 0);
  ck_assert_int_eq(mbedtls_ssl_write(&p.c.ssl, (const unsigned char *)"one", 3),
                   3);
  if (_i == 0)
    ck_assert_int_eq(mbedtls_ssl_send_alert_message(
                         &p.c.ssl, MBEDTLS_SSL_ALERT_LEVEL_WARNING,
                         MBEDTLS_SSL_ALERT_MSG_NO_RENEGOTIATION),
                     0);
  ck_assert_int_eq(mbedtls_ssl_write(&p.c.ssl, (const unsigned char *)"two", 3),
                   3);
  ck_assert_int_eq(
      mbedtls_ssl_write(&p.c.ssl, (const unsigned char *)"three", 5), 5);
  /* All of it but half of the last record. */
  half = buf_used(&p.c.out) - 10;
  buf_append(&p.in, buf_data(&p.c.out), half);
  buf_consume(&p.c.out, half);
  while ((r = tls_sess_read(p.s, b, 2)) > 0) {
    memcpy(got + n, b, (size_t)r);
    n += (size_t)r;
  }
  ck_assert_int_eq(r, TLS_WANT);
  ck_assert_uint_eq(buf_used(&p.in), 0);
  ck_assert_int_eq(memcmp(got, "onetwo", 6), 0);
  move(&p.c.out, &p.in);
  while ((r = tls_sess_read(p.s, b, sizeof b)) > 0) {
    memcpy(got + n, b, (size_t)r);
    n += (size_t)r;
  }
  ck_assert_int_eq(r, TLS_WANT);
  ck_assert_uint_eq(n, 11);
  ck_assert_int_eq(memcmp(got, "onetwothree", 11), 0);
  pair_free(&p);
  tls_ctx_free(ctx);
  tls_store_free(st);
}
END_TEST

START_TEST(test_write_large) {
  struct tls_store *st = store3();
  struct tls_ctx *ctx = ctx_at(st, secret_a, (uint64_t)time(NULL));
  struct client_opts o = {.version = 12};
  static char big[100000], back[100000];
  struct pair p;
  size_t n = 0;

  for (size_t k = 0; k < sizeof big; k++)
    big[k] = (char)(k * 7);
  pair_init(&p, ctx, &o);
  ck_assert_int_eq(handshake(&p), 0);
  ck_assert_int_eq(tls_sess_write(p.s, big, sizeof big), 0);
  ck_assert_int_eq(tls_sess_write(p.s, big, 0), 0);
  move(&p.out, &p.c.in);
  while (n < sizeof back) {
    int r = client_read(&p.c, back + n, sizeof back - n);
    ck_assert_int_gt(r, 0);
    n += (size_t)r;
  }
  ck_assert_int_eq(memcmp(big, back, sizeof big), 0);
  pair_free(&p);
  tls_ctx_free(ctx);
  tls_store_free(st);
}
END_TEST

START_TEST(test_misuse) {
  struct tls_store *st = store3();
  struct tls_ctx *ctx = ctx_at(st, secret_a, (uint64_t)time(NULL)), *bad;
  struct client_opts o = {.version = 13};
  struct buf in, out;
  struct tls_sess *s;
  struct pair p;
  char err[128];

  /* Nothing to close before the handshake; nothing to write either. */
  buf_init(&in, 4096);
  buf_init(&out, 4096);
  ck_assert_ptr_nonnull(s = tls_sess_new(ctx, &in, &out));
  ck_assert_int_eq(tls_sess_handshake(s), TLS_WANT);
  tls_sess_close_notify(s);
  ck_assert_uint_eq(buf_used(&out), 0);
  ck_assert_str_eq(tls_sess_error(s), "no error");
  ck_assert_int_eq(tls_sess_write(s, "x", 1), TLS_FAIL);
  ck_assert_str_eq(tls_sess_error(s), "write: handshake not complete");
  tls_sess_free(s);
  buf_cleanup(&in);
  buf_cleanup(&out);

  /* An output buffer too small for the server's first flight. */
  pair_init(&p, ctx, &o);
  p.out.max = 100;
  ck_assert_int_eq(handshake(&p), TLS_FAIL);
  ck_assert_ptr_nonnull(strstr(tls_sess_error(p.s), "output buffer full"));
  pair_free(&p);

  ck_assert_int_eq(tls_ctx_new(&bad, st, NULL, secret_a, 8, 0, err, sizeof err),
                   -1);
  ck_assert_ptr_null(bad);
  ck_assert_ptr_nonnull(strstr(err, "ticket secret"));
  tls_ctx_free(NULL);
  tls_ctx_free(ctx);
  tls_store_free(st);
}
END_TEST

START_TEST(test_pool) {
  struct tls_store *st = store3();
  struct tls_ctx *ctx = ctx_at(st, secret_a, (uint64_t)time(NULL));
  struct tls_sess *s[TLS_CTX_POOL_MAX + 6], *reused;
  struct buf in, out;
  struct client_opts o = {.version = 13};
  struct pair p;

  buf_init(&in, 4096);
  buf_init(&out, 4096);
  for (size_t k = 0; k < sizeof s / sizeof s[0]; k++)
    ck_assert_ptr_nonnull(s[k] = tls_sess_new(ctx, &in, &out));
  ck_assert_uint_eq(ctx->n_live, sizeof s / sizeof s[0]);
  for (size_t k = 0; k < sizeof s / sizeof s[0]; k++)
    tls_sess_free(s[k]);
  ck_assert_uint_eq(ctx->n_pool, TLS_CTX_POOL_MAX);
  ck_assert_uint_eq(ctx->n_live, 0);
  reused = ctx->pool;
  /* Reused contexts run fresh handshakes, one after another. */
  for (int k = 0; k < 2; k++) {
    pair_init(&p, ctx, &o);
    ck_assert_ptr_eq(p.s, reused);
    ck_assert_int_eq(handshake(&p), 0);
    ck_assert(!tls_sess_resumed(p.s));
    pair_free(&p);
  }
  buf_cleanup(&in);
  buf_cleanup(&out);
  tls_ctx_free(ctx);
  tls_store_free(st);
}
END_TEST

/* --- tickets ------------------------------------------------------------ */

/* What a full handshake of the current test's version sent. */
static size_t full_bytes;

/* Handshake on ctx, resuming `sess` if given (else a full handshake whose
 * session is saved in `next`): was it resumed? */
static bool resumes(struct tls_ctx *ctx, int version, mbedtls_ssl_session *sess,
                    int kex_modes, mbedtls_ssl_session *next) {
  struct client_opts o = {.version = version,
                          .sni = "example.com",
                          .resume = sess,
                          .kex_modes = kex_modes};
  struct pair p;
  bool resumed;

  pair_init(&p, ctx, &o);
  ck_assert_int_eq(handshake(&p), 0);
  resumed = tls_sess_resumed(p.s);
  /* Cross-check without the library's state: a full handshake sends our
   * certificate and a signature, several hundred bytes a resumed one
   * does not. */
  if (sess == NULL)
    full_bytes = p.srv_bytes;
  else
    ck_assert_msg(resumed == (p.srv_bytes + 300 < full_bytes),
                  "resumed %d, sent %zu bytes, full handshake %zu", resumed,
                  p.srv_bytes, full_bytes);
  if (next != NULL)
    client_session(&p, next);
  pair_free(&p);
  return resumed;
}

START_TEST(test_resume_across_loops) {
  int version = _i == 0 ? 12 : 13;
  uint64_t now = (uint64_t)time(NULL), e = TLS_TICKET_EPOCH_S;
  struct tls_store *st = store3();
  struct tls_ctx *a = ctx_at(st, secret_a, now), *b = ctx_at(st, secret_a, now);
  struct tls_ctx *other = ctx_at(st, secret_b, now);
  struct tls_ctx *next = ctx_at(st, secret_a, now + e);
  struct tls_ctx *later = ctx_at(st, secret_a, now + 2 * e);
  mbedtls_ssl_session sess;
  uint8_t name[TLS_TICKET_NAME_LEN], key[TLS_TICKET_KEY_LEN];

  ck_assert(!resumes(a, version, NULL, 0, &sess));
  /* The ticket is under the key every loop derives for this epoch. */
  ck_assert_int_eq(
      tls_ticket_derive(secret_a, sizeof secret_a, now / e, name, key), 0);
  ck_assert_uint_gt(sess.MBEDTLS_PRIVATE(ticket_len), TLS_TICKET_NAME_LEN);
  ck_assert_int_eq(memcmp(sess.MBEDTLS_PRIVATE(ticket), name, sizeof name), 0);
  ck_assert_uint_eq(sess.MBEDTLS_PRIVATE(ticket_lifetime),
                    TLS_TICKET_LIFETIME_S);

  ck_assert(resumes(a, version, &sess, 0, NULL));
  ck_assert(resumes(b, version, &sess, 0, NULL));      /* another loop */
  ck_assert(!resumes(other, version, &sess, 0, NULL)); /* another secret */
  ck_assert(resumes(next, version, &sess, 0, NULL));   /* one rotation */
  ck_assert(!resumes(later, version, &sess, 0, NULL)); /* two rotations */
  if (version == 13)
    /* A ticket offered for psk_ke only (no fresh ECDHE) is refused: full
     * handshake, even though the ticket itself decrypts. */
    ck_assert(!resumes(b, version, &sess,
                       MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK |
                           MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL,
                       NULL));
  mbedtls_ssl_session_free(&sess);
  tls_ctx_free(a);
  tls_ctx_free(b);
  tls_ctx_free(other);
  tls_ctx_free(next);
  tls_ctx_free(later);
  tls_store_free(st);
}
END_TEST

START_TEST(test_tick) {
  uint64_t e = TLS_TICKET_EPOCH_S, now = (uint64_t)time(NULL);
  uint64_t start = now - now % e; /* this epoch began at start */
  struct tls_store *st = store3();
  struct tls_ctx *a = ctx_at(st, secret_a, now);
  mbedtls_ssl_session sess;

  ck_assert(!resumes(a, 13, NULL, 0, &sess));
  /* Mid-epoch: come back in a minute to refresh the keys; near the end:
   * at the boundary. */
  ck_assert_uint_eq(tls_ctx_tick(a, start), TLS_TICKET_REFRESH_S);
  ck_assert_uint_eq(tls_ctx_tick(a, start + e - 5), 5);
  ck_assert(resumes(a, 13, &sess, 0, NULL));
  ck_assert_uint_eq(tls_ctx_tick(a, start + e), TLS_TICKET_REFRESH_S);
  ck_assert_uint_eq(a->epoch, start / e + 1);
  ck_assert(resumes(a, 13, &sess, 0, NULL)); /* the old key decrypts */
  tls_ctx_tick(a, start + 2 * e);
  ck_assert(!resumes(a, 13, &sess, 0, NULL)); /* gone after two */
  /* A clock that jumps back installs that epoch's keys again. */
  tls_ctx_tick(a, now);
  ck_assert(resumes(a, 13, &sess, 0, NULL));
  mbedtls_ssl_session_free(&sess);
  tls_ctx_free(a);
  tls_store_free(st);
}
END_TEST

START_TEST(test_derive) {
  uint8_t n1[TLS_TICKET_NAME_LEN], k1[TLS_TICKET_KEY_LEN];
  uint8_t n2[TLS_TICKET_NAME_LEN], k2[TLS_TICKET_KEY_LEN];

  ck_assert_int_eq(tls_ticket_derive(secret_a, 32, 7, n1, k1), 0);
  ck_assert_int_eq(tls_ticket_derive(secret_a, 32, 7, n2, k2), 0);
  ck_assert_int_eq(memcmp(n1, n2, sizeof n1) | memcmp(k1, k2, sizeof k1), 0);
  ck_assert_int_eq(tls_ticket_derive(secret_a, 32, 8, n2, k2), 0);
  ck_assert_int_ne(memcmp(k1, k2, sizeof k1), 0);
  ck_assert_int_ne(memcmp(n1, n2, sizeof n1), 0);
  ck_assert_int_eq(tls_ticket_derive(secret_b, 32, 7, n2, k2), 0);
  ck_assert_int_ne(memcmp(k1, k2, sizeof k1), 0);
}
END_TEST

/* Loops on threads: each its own ctx over the one shared store, running
 * handshakes at once; then every loop's ticket resumes on another ctx. */
#define THREADS 4

struct loop_arg {
  const struct tls_store *st;
  int version;
  int resumed;
  mbedtls_ssl_session sess;
};

static void *loop_thread(void *p) {
  struct loop_arg *a = p;
  struct tls_ctx *ctx = ctx_at(a->st, secret_a, (uint64_t)time(NULL));
  struct client_opts o = {.version = a->version, .sni = "example.com"};
  struct pair pr;

  for (int k = 0; k < 8; k++) {
    mbedtls_ssl_session_free(&a->sess);
    o.resume = NULL;
    pair_init(&pr, ctx, &o);
    if (handshake(&pr) == 0 && !tls_sess_resumed(pr.s))
      client_session(&pr, &a->sess);
    pair_free(&pr);
    o.resume = &a->sess;
    pair_init(&pr, ctx, &o);
    if (handshake(&pr) == 0 && tls_sess_resumed(pr.s))
      a->resumed++;
    pair_free(&pr);
  }
  tls_ctx_free(ctx);
  return NULL;
}

START_TEST(test_threads) {
  struct tls_store *st = store3();
  struct tls_ctx *ctx = ctx_at(st, secret_a, (uint64_t)time(NULL));
  struct loop_arg a[THREADS];
  pthread_t t[THREADS];

  for (int i = 0; i < THREADS; i++) {
    a[i] = (struct loop_arg){.st = st, .version = i % 2 ? 13 : 12};
    mbedtls_ssl_session_init(&a[i].sess);
    ck_assert_int_eq(pthread_create(&t[i], NULL, loop_thread, &a[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) {
    ck_assert_int_eq(pthread_join(t[i], NULL), 0);
    ck_assert_int_eq(a[i].resumed, 8);
    ck_assert(!resumes(ctx, a[i].version, NULL, 0, NULL));
    ck_assert(resumes(ctx, a[i].version, &a[i].sess, 0, NULL));
    mbedtls_ssl_session_free(&a[i].sess);
  }
  tls_ctx_free(ctx);
  tls_store_free(st);
}
END_TEST

static void add_ctx_tests(Suite *s) {
  TCase *tc = tcase_create("ctx");

  tcase_add_checked_fixture(tc, setup_psa, teardown_psa);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_handshake_data_close);
  tcase_add_loop_test(tc, test_certificate_choice, 0,
                      (int)(sizeof choice_cases / sizeof choice_cases[0]));
  tcase_add_loop_test(tc, test_options, 0,
                      (int)(sizeof option_cases / sizeof option_cases[0]));
  tcase_add_test(tc, test_alpn);
  tcase_add_loop_test(tc, test_garbage, 0,
                      (int)(sizeof garbage_cases / sizeof garbage_cases[0]));
  tcase_add_loop_test(tc, test_read_loop, 0, 2);
  tcase_add_test(tc, test_write_large);
  tcase_add_test(tc, test_misuse);
  tcase_add_test(tc, test_pool);
  tcase_add_loop_test(tc, test_resume_across_loops, 0, 2);
  tcase_add_test(tc, test_tick);
  tcase_add_test(tc, test_derive);
  tcase_add_test(tc, test_threads);
  suite_add_tcase(s, tc);
}

Suite *store_suite(void) {
  Suite *s = suite_create("store");
  TCase *tc = tcase_create("load");

  gen_files();
  tcase_add_checked_fixture(tc, setup_psa, teardown_psa);
  tcase_set_timeout(tc, 60);
  tcase_add_loop_test(tc, test_load, 0,
                      (int)(sizeof load_cases / sizeof load_cases[0]));
  tcase_add_test(tc, test_load_several);
  tcase_add_loop_test(tc, test_lists, 0,
                      (int)(sizeof list_cases / sizeof list_cases[0]));
  tcase_add_test(tc, test_alpn_too_long);
  suite_add_tcase(s, tc);
  add_ctx_tests(s);
  return s;
}
