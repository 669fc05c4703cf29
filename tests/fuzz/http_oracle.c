/* http_oracle.c: a strict backend's reading of what tlsterm forwarded (see
 * http_oracle.h). */
#include "http_oracle.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <llhttp.h>

#include "fuzz.h"

/* Headers the check counts: those tlsterm sets. */
enum { H_XFF, H_PROTO, H_PORT, H_FWD, H_CLIENT, H_OTHER, H_N };

#define FIELD_MAX 64
#define VALUE_MAX 1024

struct oracle {
  const struct http_oracle_want *want;
  unsigned heads;
  bool in_head;
  char field[FIELD_MAX + 1];
  size_t field_len;
  char value[VALUE_MAX + 1];
  size_t value_len;
  int kind;
  unsigned count[H_N];
  char last[H_N][VALUE_MAX + 1]; /* the last value of each kind */
  bool long_value[H_N];          /* ... was longer than VALUE_MAX */
};

static void append(char *dst, size_t *len, size_t max, const char *p,
                   size_t n) {
  if (*len + n > max)
    n = max - *len; /* long values are not ours: the prefix tells */
  memcpy(dst + *len, p, n);
  *len += n;
  dst[*len] = '\0';
}

static int on_message_begin(llhttp_t *p) {
  struct oracle *o = p->data;

  o->in_head = true;
  memset(o->count, 0, sizeof o->count);
  o->field_len = o->value_len = 0;
  return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n) {
  struct oracle *o = p->data;

  append(o->field, &o->field_len, FIELD_MAX, at, n);
  return 0;
}

/* One of the X-Client-* headers tlsterm owns (http_owned_headers). */
static bool is_client_header(const char *f) {
  for (const char *const *h = http_owned_headers; *h != NULL; h++)
    if (strncmp(*h, "X-Client-", 9) == 0 && strcasecmp(f, *h) == 0)
      return true;
  return false;
}

static int on_header_field_complete(llhttp_t *p) {
  struct oracle *o = p->data;
  const char *f = o->field;

  o->kind = !strcasecmp(f, "X-Forwarded-For")     ? H_XFF
            : !strcasecmp(f, "X-Forwarded-Proto") ? H_PROTO
            : !strcasecmp(f, "X-Forwarded-Port")  ? H_PORT
            : !strcasecmp(f, "Forwarded")         ? H_FWD
            : is_client_header(f)                 ? H_CLIENT
                                                  : H_OTHER;
  o->value_len = 0;
  o->value[0] = '\0';
  return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n) {
  struct oracle *o = p->data;

  append(o->value, &o->value_len, VALUE_MAX, at, n);
  return 0;
}

static int on_header_value_complete(llhttp_t *p) {
  struct oracle *o = p->data;

  if (o->in_head) {
    o->count[o->kind]++;
    memcpy(o->last[o->kind], o->value, o->value_len + 1);
    o->long_value[o->kind] = o->value_len == VALUE_MAX;
  }
  o->field_len = 0;
  return 0;
}

/* Does the X-Forwarded-For value end with tlsterm's client address (the
 * whole value without --xff append)? */
static bool xff_ok(const struct oracle *o) {
  const char *ip = o->want->peer->client_ip, *xff = o->last[H_XFF];
  size_t n = strlen(xff), k = strlen(ip);

  if (!o->want->opts->xff_append)
    return strcmp(xff, ip) == 0;
  if (n < k || strcmp(xff + n - k, ip) != 0)
    return false;
  return n == k || (n >= k + 2 && memcmp(xff + n - k - 2, ", ", 2) == 0);
}

static int on_headers_complete(llhttp_t *p) {
  struct oracle *o = p->data;
  const struct http_peer *peer = o->want->peer;
  unsigned client = 0;
  char port[32];

  o->in_head = false;
  o->heads++;
  /* Every X-Client-* line tlsterm adds comes from peer->extra, one per
   * line. */
  for (const char *e = peer->extra; e != NULL && (e = strstr(e, "\r\n")); e++)
    client++;
  FUZZ_CHECK(o->count[H_XFF] == 1);
  FUZZ_CHECK(o->long_value[H_XFF] || xff_ok(o));
  FUZZ_CHECK(o->count[H_PROTO] == 1);
  FUZZ_CHECK(strcmp(o->last[H_PROTO], "https") == 0);
  FUZZ_CHECK(o->count[H_PORT] == 1);
  snprintf(port, sizeof port, "%u", peer->local_port);
  FUZZ_CHECK(strcmp(o->last[H_PORT], port) == 0);
  FUZZ_CHECK(o->count[H_FWD] == (o->want->opts->forwarded ? 1u : 0u));
  FUZZ_CHECK(o->count[H_CLIENT] == client);
  return 0;
}

static const llhttp_settings_t oracle_settings = {
    .on_message_begin = on_message_begin,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
};

void http_oracle_check(const char *up, size_t len,
                       const struct http_oracle_want *want) {
  struct oracle o = {.want = want};
  const char *p = up, *end = len > 0 ? up + len : up;
  llhttp_t parser;

  llhttp_init(&parser, HTTP_REQUEST, &oracle_settings);
  parser.data = &o;
  while (p < end) {
    llhttp_errno_t err = llhttp_execute(&parser, p, (size_t)(end - p));

    if (err == HPE_OK)
      break;
    if (err != HPE_PAUSED_UPGRADE) {
      fprintf(stderr, "backend parser: %s (%s) at byte %zu of %zu\n",
              llhttp_errno_name(err), llhttp_get_error_reason(&parser),
              (size_t)(llhttp_get_error_pos(&parser) - up), len);
      FUZZ_CHECK(!"the backend stream parses");
    }
    /* An Upgrade request answered without 101: HTTP goes on. */
    p = llhttp_get_error_pos(&parser);
    llhttp_resume_after_upgrade(&parser);
    llhttp_reset(&parser);
  }
  if (o.heads != want->requests)
    fprintf(stderr, "backend saw %u request heads, tlsterm reported %u\n",
            o.heads, want->requests);
  FUZZ_CHECK(o.heads == want->requests);
}
