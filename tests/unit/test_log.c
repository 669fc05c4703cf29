/* test_log.c: unit tests for src/log.c: level names, the line format,
 * escaping, truncation of long messages, and one line per call.
 *
 * log_write() writes straight to fd 2, so each test points fd 2 at a
 * temporary file while it logs (capture_begin/capture_end) and reads the
 * file back. fd 2 is restored before any assertion, so a failure's report
 * is never swallowed. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "unit.h"

/* Bigger than a few lines: the longest line log.c writes is 2 KiB. */
#define OUT_MAX 16384
/* log.c's hard cap on a line, newline included (LINE_MAX_BYTES there). */
#define LINE_CAP 2048
/* "ts=2026-11-24T15:29:31.123Z ": 'd' stands for any digit. */
static const char ts_shape[] = "ts=dddd-dd-ddTdd:dd:dd.dddZ ";
#define TS_LEN (sizeof ts_shape - 1)

/* --- capturing fd 2 ----------------------------------------------------- */

struct capture {
  FILE *file;
  int saved; /* the real fd 2 */
};

static void capture_begin(struct capture *c) {
  fflush(stderr);
  ck_assert_ptr_nonnull(c->file = tmpfile());
  ck_assert_int_ge(c->saved = dup(STDERR_FILENO), 0);
  ck_assert_int_eq(dup2(fileno(c->file), STDERR_FILENO), STDERR_FILENO);
}

/* Put fd 2 back, then read what was written into out (NUL-terminated);
 * returns its length. */
static size_t capture_end(struct capture *c, char *out, size_t outlen) {
  int restored = dup2(c->saved, STDERR_FILENO);
  size_t len = 0;
  ssize_t r;

  close(c->saved);
  ck_assert_int_eq(restored, STDERR_FILENO);
  while (len + 1 < outlen && (r = pread(fileno(c->file), out + len,
                                        outlen - 1 - len, (off_t)len)) > 0)
    len += (size_t)r;
  out[len] = '\0';
  fclose(c->file);
  return len;
}

/* The output of one log_write(level, prefix, "%s", msg). */
static size_t logged(char *out, int level, const char *prefix,
                     const char *msg) {
  struct capture c;

  capture_begin(&c);
  log_write(level, prefix, "%s", msg);
  return capture_end(&c, out, OUT_MAX);
}

static int count_char(const char *s, size_t len, char ch) {
  int n = 0;

  for (size_t i = 0; i < len; i++)
    n += s[i] == ch;
  return n;
}

static void assert_ts(const char *line) {
  for (size_t i = 0; i < TS_LEN; i++)
    if (ts_shape[i] == 'd')
      ck_assert_msg(line[i] >= '0' && line[i] <= '9', "timestamp in '%.40s'",
                    line);
    else
      ck_assert_msg(line[i] == ts_shape[i], "timestamp in '%.40s'", line);
}

/* --- levels ------------------------------------------------------------- */

static const struct {
  const char *name;
  int level;
} level_cases[] = {
    {"error", LOG_LEVEL_ERROR},
    {"warn", LOG_LEVEL_WARN},
    {"info", LOG_LEVEL_INFO},
    {"debug", LOG_LEVEL_DEBUG},
};

START_TEST(test_level_round_trip) {
  const char *name = level_cases[_i].name;
  int level = level_cases[_i].level;

  ck_assert_int_eq(log_level_parse(name), level);
  ck_assert_str_eq(log_level_name(level), name);
  ck_assert_int_eq(log_level_parse(log_level_name(level)), level);
}
END_TEST

static const char *const bad_level_names[] = {
    "", "warning", "inf", "info ", " info", "debug2", "trace", "0",
};

START_TEST(test_level_bad_name) {
  ck_assert_int_eq(log_level_parse(bad_level_names[_i]), -1);
}
END_TEST

START_TEST(test_level_name_out_of_range) {
  ck_assert_str_eq(log_level_name(-1), "unknown");
  ck_assert_str_eq(log_level_name(LOG_LEVEL_DEBUG + 1), "unknown");
}
END_TEST

/* --- the line ----------------------------------------------------------- */

static const struct {
  int level;
  const char *prefix;
  const char *msg;
  const char *want; /* the line after the timestamp */
} format_cases[] = {
    {LOG_LEVEL_INFO, "worker=1 conn=42", "hello",
     "level=info worker=1 conn=42 msg=\"hello\"\n"},
    {LOG_LEVEL_ERROR, NULL, "boom", "level=error msg=\"boom\"\n"},
    {LOG_LEVEL_WARN, "", "no prefix", "level=warn msg=\"no prefix\"\n"},
    {LOG_LEVEL_DEBUG, "worker=0", "", "level=debug worker=0 msg=\"\"\n"},
};

static time_t realtime_now(void) {
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec;
}

START_TEST(test_line_format) {
  char out[OUT_MAX];
  /* The same clock as the stamp: time() reads the coarse clock, which can
   * lag CLOCK_REALTIME by a tick and so still say the previous second. */
  time_t before = realtime_now(), after;
  size_t len = logged(out, format_cases[_i].level, format_cases[_i].prefix,
                      format_cases[_i].msg);
  struct tm tm = {0};
  time_t ts;

  after = realtime_now();
  ck_assert_uint_gt(len, TS_LEN);
  assert_ts(out);
  ck_assert_str_eq(out + TS_LEN, format_cases[_i].want);
  /* The stamp is UTC ("Z") and now. */
  ck_assert_int_eq(sscanf(out, "ts=%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year,
                          &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                          &tm.tm_sec),
                   6);
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  ts = timegm(&tm);
  ck_assert_msg(ts >= before && ts <= after, "stamp %.*s is not now",
                (int)TS_LEN - 1, out);
}
END_TEST

START_TEST(test_format_arguments) {
  char out[OUT_MAX];
  struct capture c;

  capture_begin(&c);
  log_write(LOG_LEVEL_INFO, "conn=7", "n=%d s=%s", 42, "x");
  capture_end(&c, out, sizeof out);
  ck_assert_str_eq(out + TS_LEN, "level=info conn=7 msg=\"n=42 s=x\"\n");
}
END_TEST

/* --- escaping ----------------------------------------------------------- */

static const struct {
  const char *msg;
  const char *want; /* between the quotes */
} escape_cases[] = {
    {"say \"hi\"", "say \\\"hi\\\""},
    {"C:\\dir\\", "C:\\\\dir\\\\"},
    {"one\ntwo\r\tthree", "one\\ntwo\\r\\tthree"},
    {"\x01\x1f\x7f", "\\x01\\x1f\\x7f"},
    {"\x1b[31mred", "\\x1b[31mred"},
    /* a peer's bytes cannot forge a key=value pair */
    {"x\" level=error msg=\"y", "x\\\" level=error msg=\\\"y"},
    /* UTF-8 stays readable */
    {"caf\xc3\xa9 \xe2\x98\x83", "caf\xc3\xa9 \xe2\x98\x83"},
};

START_TEST(test_escaping) {
  char out[OUT_MAX], want[256];
  size_t len = logged(out, LOG_LEVEL_INFO, NULL, escape_cases[_i].msg);

  snprintf(want, sizeof want, "level=info msg=\"%s\"\n", escape_cases[_i].want);
  ck_assert_str_eq(out + TS_LEN, want);
  ck_assert_int_eq(count_char(out, len, '\n'), 1);
}
END_TEST

/* --- truncation --------------------------------------------------------- */

/* Decode the escapes of a logged message (n bytes at s) into out. Returns
 * the decoded length, or -1 if s holds a raw control byte, a bare quote,
 * or a cut or unknown escape. */
static long unescape(const char *s, size_t n, char *out) {
  size_t j = 0;

  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    unsigned v;

    if (c < 0x20 || c == 0x7f || c == '"')
      return -1;
    if (c != '\\') {
      out[j++] = (char)c;
      continue;
    }
    if (++i == n)
      return -1;
    switch (s[i]) {
    case '"':
    case '\\':
      out[j++] = s[i];
      break;
    case 'n':
      out[j++] = '\n';
      break;
    case 'r':
      out[j++] = '\r';
      break;
    case 't':
      out[j++] = '\t';
      break;
    case 'x':
      if (i + 2 >= n || sscanf(s + i + 1, "%2x", &v) != 1)
        return -1;
      out[j++] = (char)v;
      i += 2;
      break;
    default:
      return -1;
    }
  }
  return (long)j;
}

/* Is every UTF-8 sequence in s complete? */
static bool utf8_whole(const char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    unsigned char c = (unsigned char)s[i];
    size_t len = c < 0x80    ? 1
                 : c >= 0xf0 ? 4
                 : c >= 0xe0 ? 3
                 : c >= 0xc0 ? 2
                             : 0;

    if (len == 0 || i + len > n)
      return false;
    for (size_t k = 1; k < len; k++)
      if (((unsigned char)s[i + k] & 0xc0) != 0x80)
        return false;
    i += len;
  }
  return true;
}

/* Long messages: `lead` bytes of 'x' (to move where the cut falls), then
 * `unit` over and over, `total` bytes in all. */
static const struct {
  const char *unit;
  size_t lead, total;
} long_cases[] = {
    {"a", 0, 2040},        /* fits the format buffer, not the line */
    {"a", 0, 5000},        /* longer than the format buffer too */
    {"\xc3\xa9", 0, 3000}, /* é: the cut lands on each byte of it */
    {"\xc3\xa9", 1, 3000},
    {"\xe2\x82\xac", 0, 3000}, /* € */
    {"\xe2\x82\xac", 1, 3000},
    {"\xe2\x82\xac", 2, 3000},
    {"\xf0\x9f\x98\x80", 0, 3000}, /* U+1F600 */
    {"\xf0\x9f\x98\x80", 1, 3000},
    {"\xf0\x9f\x98\x80", 2, 3000},
    {"\xf0\x9f\x98\x80", 3, 3000},
    {"\"", 0, 1500}, /* two-byte escapes */
    {"\"", 1, 1500},
    {"\x01", 0, 1000}, /* four-byte escapes */
    {"\x01", 1, 1000},
    {"\x01", 2, 1000},
    {"\x01", 3, 1000},
};

START_TEST(test_truncation) {
  static char msg[8192], out[OUT_MAX], decoded[OUT_MAX];
  static const char head[] = "level=info msg=\"", tail[] = "...\"\n";
  size_t unit_len = strlen(long_cases[_i].unit), n = long_cases[_i].lead;
  size_t len, body_len;
  const char *body;
  long dec;

  memset(msg, 'x', n);
  while (n + unit_len <= long_cases[_i].total) {
    memcpy(msg + n, long_cases[_i].unit, unit_len);
    n += unit_len;
  }
  msg[n] = '\0';
  len = logged(out, LOG_LEVEL_INFO, NULL, msg);

  /* One whole line, within the cap, marked as cut. */
  ck_assert_uint_le(len, LINE_CAP);
  ck_assert_int_eq(count_char(out, len, '\n'), 1);
  ck_assert_int_eq(strncmp(out + TS_LEN, head, strlen(head)), 0);
  ck_assert_uint_ge(len, TS_LEN + strlen(head) + strlen(tail));
  ck_assert_str_eq(out + len - strlen(tail), tail);
  /* Cut near the cap, not early. */
  ck_assert_uint_gt(len, LINE_CAP - 16);
  /* What is left is a prefix of the message, with no escape nor UTF-8
   * character split. */
  body = out + TS_LEN + strlen(head);
  body_len = len - TS_LEN - strlen(head) - strlen(tail);
  dec = unescape(body, body_len, decoded);
  ck_assert_msg(dec > 0, "a cut escape or raw byte in '%.*s'",
                (int)(body_len < 40 ? body_len : 40),
                body + (body_len < 40 ? 0 : body_len - 40));
  ck_assert_int_eq(memcmp(decoded, msg, (size_t)dec), 0);
  ck_assert_msg(utf8_whole(decoded, (size_t)dec), "a cut UTF-8 character");
}
END_TEST

/* The prefix is clipped so that the message still has room. */
START_TEST(test_long_prefix) {
  static char prefix[3001], out[OUT_MAX];
  static const char want_end[] = " msg=\"still here\"\n";
  size_t len;

  memset(prefix, 'p', sizeof prefix - 1);
  len = logged(out, LOG_LEVEL_INFO, prefix, "still here");
  ck_assert_uint_le(len, LINE_CAP);
  ck_assert_int_eq(count_char(out, len, '\n'), 1);
  ck_assert_uint_gt(len, strlen(want_end));
  ck_assert_str_eq(out + len - strlen(want_end), want_end);
}
END_TEST

/* --- one line per call -------------------------------------------------- */

START_TEST(test_one_line_per_call) {
  static const char *const want[] = {
      "level=info msg=\"first\"\n",
      "level=warn conn=1 msg=\"second\\nwith a line break\"\n",
      "level=error msg=\"\"\n",
  };
  char out[OUT_MAX];
  struct capture c;
  const char *line = out;
  size_t len;

  capture_begin(&c);
  log_write(LOG_LEVEL_INFO, NULL, "first");
  log_write(LOG_LEVEL_WARN, "conn=1", "second\nwith a line break");
  log_write(LOG_LEVEL_ERROR, NULL, "%s", "");
  len = capture_end(&c, out, sizeof out);
  ck_assert_int_eq(count_char(out, len, '\n'), 3);
  for (int i = 0; i < 3; i++) {
    size_t n = (size_t)(strchr(line, '\n') + 1 - line);

    assert_ts(line);
    ck_assert_uint_eq(n, TS_LEN + strlen(want[i]));
    ck_assert_int_eq(memcmp(line + TS_LEN, want[i], strlen(want[i])), 0);
    line += n;
  }
}
END_TEST

/* The macros test the level first: a disabled line is neither formatted
 * nor written, so its arguments are not even evaluated. */
START_TEST(test_macros_check_level) {
  int saved_level = log_level, evaluated = 0;
  char out[OUT_MAX];
  struct capture c;
  size_t len;

  log_level = LOG_LEVEL_WARN;
  capture_begin(&c);
  log_debug("debug %d", ++evaluated);
  log_info("info %d", ++evaluated);
  log_warn("warn %d", ++evaluated);
  log_error("error %d", ++evaluated);
  len = capture_end(&c, out, sizeof out);
  log_level = saved_level;
  ck_assert_int_eq(evaluated, 2);
  ck_assert_int_eq(count_char(out, len, '\n'), 2);
  ck_assert_ptr_nonnull(strstr(out, "level=warn msg=\"warn 1\"\n"));
  ck_assert_ptr_nonnull(strstr(out, "level=error msg=\"error 2\"\n"));
}
END_TEST

/* Callers log and then look at errno. */
START_TEST(test_errno_kept) {
  char out[OUT_MAX];
  struct capture c;
  int seen;

  capture_begin(&c);
  errno = ENOENT;
  log_write(LOG_LEVEL_ERROR, NULL, "open failed");
  seen = errno;
  capture_end(&c, out, sizeof out);
  ck_assert_int_eq(seen, ENOENT);
}
END_TEST

/* --log-format json: the same keys as text, as one JSON object a line. */
START_TEST(test_json_format) {
  char out[OUT_MAX];

  log_format = LOG_FORMAT_JSON;
  size_t n = logged(out, LOG_LEVEL_WARN,
                    "worker=1 conn=2 reason=\"a \\\"b\\\" c\"",
                    "hi \"x\"\n\\");
  log_format = LOG_FORMAT_TEXT;
  out[n] = '\0';
  ck_assert_msg(strncmp(out, "{\"ts\":\"", 7) == 0, "%s", out);
  ck_assert_msg(out[30] == 'Z', "%s", out); /* {"ts":"YYYY-MM-DDTHH:MM:SS.mmmZ */
  ck_assert_str_eq(out + 31, "\",\"level\":\"warn\",\"worker\":\"1\","
                             "\"conn\":\"2\",\"reason\":\"a \\\"b\\\" c\","
                             "\"msg\":\"hi \\\"x\\\"\\u000a\\\\\"}\n");
}
END_TEST

/* A cut JSON line still ends the object and never splits a character. */
START_TEST(test_json_truncation) {
  char out[OUT_MAX], msg[3000];

  for (size_t i = 0; i + 2 < sizeof msg; i += 2)
    memcpy(msg + i, "\xc3\xa9", 2); /* é */
  msg[sizeof msg - 2] = '\0';
  log_format = LOG_FORMAT_JSON;
  size_t n = logged(out, LOG_LEVEL_INFO, NULL, msg);
  log_format = LOG_FORMAT_TEXT;
  ck_assert_uint_le(n, 2048);
  ck_assert(n > 8 && memcmp(out + n - 6, "...\"}\n", 6) == 0);
  ck_assert(utf8_whole(out, n));
}
END_TEST

/* --log-file, then SIGUSR1's reopen after the file was moved away. */
START_TEST(test_log_file_reopen) {
  char dir[] = "/tmp/tlsterm-log-XXXXXX", path[64], moved[64], err[256];
  char buf[512];

  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/t.log", dir);
  snprintf(moved, sizeof moved, "%s/t.log.1", dir);
  ck_assert_int_eq(log_open_file(path, err, sizeof err), 0);
  log_write(LOG_LEVEL_ERROR, NULL, "first");
  ck_assert_int_eq(rename(path, moved), 0);
  ck_assert_int_eq(log_reopen(), 0);
  log_write(LOG_LEVEL_ERROR, NULL, "second");
  ck_assert_int_eq(log_open_file(NULL, err, sizeof err), 0); /* stderr */

  FILE *f = fopen(moved, "r");
  ck_assert_ptr_nonnull(f);
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  ck_assert_ptr_nonnull(strstr(buf, "msg=\"first\""));
  ck_assert_ptr_null(strstr(buf, "second"));
  f = fopen(path, "r");
  ck_assert_ptr_nonnull(f);
  n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  ck_assert_ptr_nonnull(strstr(buf, "msg=\"second\""));
  unlink(path);
  unlink(moved);
  rmdir(dir);
  ck_assert_int_eq(log_open_file("/nonexistent/dir/x.log", err, sizeof err),
                   -1);
  ck_assert_ptr_nonnull(strstr(err, "--log-file /nonexistent/dir/x.log: "));
}
END_TEST

Suite *log_suite(void) {
  Suite *s = suite_create("log");
  TCase *tc = tcase_create("core");

  tcase_add_loop_test(tc, test_level_round_trip, 0,
                      (int)(sizeof level_cases / sizeof level_cases[0]));
  tcase_add_loop_test(
      tc, test_level_bad_name, 0,
      (int)(sizeof bad_level_names / sizeof bad_level_names[0]));
  tcase_add_test(tc, test_level_name_out_of_range);
  tcase_add_loop_test(tc, test_line_format, 0,
                      (int)(sizeof format_cases / sizeof format_cases[0]));
  tcase_add_test(tc, test_format_arguments);
  tcase_add_loop_test(tc, test_escaping, 0,
                      (int)(sizeof escape_cases / sizeof escape_cases[0]));
  tcase_add_loop_test(tc, test_truncation, 0,
                      (int)(sizeof long_cases / sizeof long_cases[0]));
  tcase_add_test(tc, test_long_prefix);
  tcase_add_test(tc, test_one_line_per_call);
  tcase_add_test(tc, test_macros_check_level);
  tcase_add_test(tc, test_errno_kept);
  tcase_add_test(tc, test_json_format);
  tcase_add_test(tc, test_json_truncation);
  tcase_add_test(tc, test_log_file_reopen);
  suite_add_tcase(s, tc);
  return s;
}
