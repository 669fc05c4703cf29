/* fixture.c: test certificates generated at run time, configs naming
 * them, contexts on them, and an in-process mbedTLS client for the tls/
 * unit tests (see fixture.h). */
#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    "printf 'this is not PEM\\n' >garbage.pem\n"
    /* client certificates: cca (O=Example, CN=Client CA) issues alice (EC),
     * alice-rsa, srvonly (serverAuth only) and old (expired); rca, another
     * CA, issues mallory. */
    "ca() { o genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
    "-out \"$1.key\"; o req -x509 -new -key \"$1.key\" -days 30 -subj \"$2\" "
    "-addext basicConstraints=critical,CA:TRUE "
    "-addext keyUsage=critical,keyCertSign,cRLSign -out \"$1.pem\"; }\n"
    "client() { printf 'basicConstraints=CA:FALSE\\n"
    "keyUsage=critical,digitalSignature\\nextendedKeyUsage=%s\\n' \"$5\" "
    ">\"$1.ext\"; o req -new -key \"$1.key\" -subj \"$2\" -out \"$1.csr\"; "
    "o x509 -req -in \"$1.csr\" -CA \"$3.pem\" -CAkey \"$3.key\" "
    "-set_serial \"$4\" -days \"${6:-30}\" -extfile \"$1.ext\" "
    "-out \"$1.pem\"; }\n"
    "ca cca '/O=Example/CN=Client CA'\n"
    "ca rca '/O=Rogue/CN=Rogue CA'\n"
    "for k in alice srvonly old mallory; do o genpkey -algorithm EC "
    "-pkeyopt ec_paramgen_curve:P-256 -out $k.key; done\n"
    "o genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "
    "alice-rsa.key\n"
    "client alice /O=Example/CN=alice cca 10 clientAuth\n"
    "client alice-rsa /O=Example/CN=alice-rsa cca 11 clientAuth\n"
    "client srvonly /O=Example/CN=srvonly cca 12 serverAuth\n"
    "client old /O=Example/CN=old cca 13 clientAuth -1\n"
    "client mallory /O=Example/CN=alice rca 14 clientAuth\n"
    "cat rca.pem cca.pem >cabundle.pem\n"
    "cat cca.pem ed.pem >mixed.pem\n"
    /* what openssl says, to compare with ours */
    "openssl x509 -in alice.pem -noout -fingerprint -sha256 >alice.fp "
    "2>>gen.log\n"
    "o x509 -in alice.pem -outform DER -out alice.der\n";

static void remove_dir(void) {
  char cmd[128];

  if (getpid() != gen_pid || dir[0] == '\0')
    return; /* forked test children must not remove the parent's files */
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "fixture: could not remove %s\n", dir);
}

/* One shell script for every file (see gen_script), run once. The
 * directory is removed at exit by the process that made it. */
void fixture_gen_files(void) {
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
    fprintf(stderr, "fixture: openssl failed, see %s/gen.log\n", dir);
}

void fixture_setup_psa(void) {
  char err[128];

  ck_assert_msg(gen_ok, "certificate generation failed (is openssl there?)");
  ck_assert_msg(tls_global_init(err, sizeof err) == 0, "%s", err);
}

void fixture_teardown_psa(void) {
  tls_global_cleanup();
}

const char *fixture_dir(void) {
  return dir;
}

TCase *fixture_tcase(const char *name) {
  TCase *tc = tcase_create(name);

  fixture_gen_files();
  tcase_add_checked_fixture(tc, fixture_setup_psa, fixture_teardown_psa);
  tcase_set_timeout(tc, 60);
  return tc;
}

/* --- configs ------------------------------------------------------------ */

char *fixture_path(const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);

  ck_assert_ptr_nonnull(p);
  snprintf(p, n, "%s/%s", dir, name);
  return p;
}

void fixture_cfg(struct cfg *cfg, const char *const *files, int n) {
  memset(cfg, 0, sizeof *cfg);
  for (int i = 0; i < n; i++) {
    cfg->certs[i].cert_file = fixture_path(files[2 * i]);
    if (files[2 * i + 1] != NULL)
      cfg->certs[i].key_file = fixture_path(files[2 * i + 1]);
  }
  cfg->n_certs = n;
}

void fixture_cfg_client(struct cfg *cfg, const char *ca_file, int verify) {
  free(cfg->client_ca);
  cfg->client_ca = ca_file != NULL ? fixture_path(ca_file) : NULL;
  cfg->client_verify = verify;
}

void fixture_cfg_free(struct cfg *cfg) {
  for (int i = 0; i < cfg->n_certs; i++) {
    free(cfg->certs[i].cert_file);
    free(cfg->certs[i].key_file);
  }
  free(cfg->client_ca);
  cfg->client_ca = NULL;
}

/* --- contexts ----------------------------------------------------------- */

const uint8_t fixture_secret_a[TLS_TICKET_SECRET_LEN] =
    "shared ticket secret, 32 bytes!";
const uint8_t fixture_secret_b[TLS_TICKET_SECRET_LEN] =
    "another secret, also 32 bytes!!";

struct tls_ctx *fixture_ctx(const struct tls_store *st, const uint8_t *secret,
                            uint64_t now) {
  struct tls_ctx *ctx;
  char err[256];

  ck_assert_msg(tls_ctx_new(&ctx, st, NULL, secret, TLS_TICKET_SECRET_LEN, now,
                            err, sizeof err) == 0,
                "%s", err);
  return ctx;
}

/* --- an mbedTLS client over memory buffers ------------------------------ */

static void client_init(struct fixture_client *c,
                        const struct fixture_client_opts *o) {
  mbedtls_entropy_init(&c->entropy);
  mbedtls_ctr_drbg_init(&c->drbg);
  mbedtls_ssl_config_init(&c->conf);
  mbedtls_ssl_init(&c->ssl);
  mbedtls_x509_crt_init(&c->crt);
  mbedtls_pk_init(&c->key);
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
  if (o->cert != NULL) {
    char *cert = fixture_path(o->cert), *key = fixture_path(o->key);
    ck_assert_int_eq(mbedtls_x509_crt_parse_file(&c->crt, cert), 0);
    ck_assert_int_eq(mbedtls_pk_parse_keyfile(
                         &c->key, key, NULL, mbedtls_ctr_drbg_random, &c->drbg),
                     0);
    ck_assert_int_eq(mbedtls_ssl_conf_own_cert(&c->conf, &c->crt, &c->key), 0);
    free(cert);
    free(key);
  }
  mbedtls_ssl_conf_tls13_enable_signal_new_session_tickets(
      &c->conf, MBEDTLS_SSL_TLS1_3_SIGNAL_NEW_SESSION_TICKETS_ENABLED);
  ck_assert_int_eq(mbedtls_ssl_setup(&c->ssl, &c->conf), 0);
  c->pipe.in = &c->in;
  c->pipe.out = &c->out;
  mbedtls_ssl_set_bio(&c->ssl, &c->pipe, mempipe_send, mempipe_recv, NULL);
  if (o->sni != NULL)
    ck_assert_int_eq(mbedtls_ssl_set_hostname(&c->ssl, o->sni), 0);
  if (o->resume != NULL)
    ck_assert_int_eq(mbedtls_ssl_set_session(&c->ssl, o->resume), 0);
}

static void client_free(struct fixture_client *c) {
  mbedtls_ssl_free(&c->ssl);
  mbedtls_ssl_config_free(&c->conf);
  mbedtls_x509_crt_free(&c->crt);
  mbedtls_pk_free(&c->key);
  mbedtls_ctr_drbg_free(&c->drbg);
  mbedtls_entropy_free(&c->entropy);
  buf_cleanup(&c->in);
  buf_cleanup(&c->out);
}

void fixture_move(struct buf *from, struct buf *to) {
  ck_assert_int_eq(buf_append(to, buf_data(from), buf_used(from)), 0);
  buf_consume(from, buf_used(from));
}

void fixture_pair_init(struct fixture_pair *p, struct tls_ctx *ctx,
                       const struct fixture_client_opts *o) {
  buf_init(&p->in, 1 << 20);
  buf_init(&p->out, 1 << 20);
  ck_assert_ptr_nonnull(p->s = tls_sess_new(ctx, &p->in, &p->out));
  client_init(&p->c, o);
  p->srv_bytes = 0;
}

void fixture_pair_free(struct fixture_pair *p) {
  tls_sess_free(p->s);
  client_free(&p->c);
  buf_cleanup(&p->in);
  buf_cleanup(&p->out);
}

int fixture_handshake(struct fixture_pair *p) {
  int cr = 1, sr = 1;

  for (int round = 0; round < 20; round++) {
    if (cr != 0 && (cr = mbedtls_ssl_handshake(&p->c.ssl)) != 0 &&
        cr != MBEDTLS_ERR_SSL_WANT_READ)
      return cr;
    fixture_move(&p->c.out, &p->in);
    if (sr != 0 && (sr = tls_sess_handshake(p->s)) == TLS_FAIL)
      return sr;
    p->srv_bytes += buf_used(&p->out);
    fixture_move(&p->out, &p->c.in);
    if (cr == 0 && sr == 0)
      return 0;
  }
  return -1;
}

/* The client's read, past the WANT_READ that mbedTLS returns after a
 * post-handshake message even with more data waiting (the trap sess.c
 * handles for the server). */
int fixture_client_read(struct fixture_client *c, void *dst, size_t len) {
  int ret = MBEDTLS_ERR_SSL_WANT_READ;

  for (int k = 0; k < 4 && ret == MBEDTLS_ERR_SSL_WANT_READ; k++)
    ret = mbedtls_ssl_read(&c->ssl, dst, len);
  return ret;
}

void fixture_client_session(struct fixture_pair *p, mbedtls_ssl_session *sess) {
  unsigned char b[16];

  if (mbedtls_ssl_get_version_number(&p->c.ssl) == MBEDTLS_SSL_VERSION_TLS1_3)
    ck_assert_int_eq(fixture_client_read(&p->c, b, sizeof b),
                     MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET);
  mbedtls_ssl_session_init(sess);
  ck_assert_int_eq(mbedtls_ssl_get_session(&p->c.ssl, sess), 0);
}
