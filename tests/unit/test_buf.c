/* test_buf.c: unit tests for src/buf.c: growth, the hard maximum,
 * compaction, swap and release. */
#include <string.h>
#include <uv.h>

#include "buf.h"
#include "unit.h"

/* Fill with n bytes of a recognisable pattern starting at `from`. */
static void append_pattern(struct buf *b, size_t from, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char c = (char)('a' + (from + i) % 26);
    ck_assert_int_eq(buf_append(b, &c, 1), 0);
  }
}

static void assert_pattern(const struct buf *b, size_t from) {
  for (size_t i = 0; i < buf_used(b); i++)
    ck_assert_int_eq(buf_data(b)[i], (char)('a' + (from + i) % 26));
}

START_TEST(test_init_allocates_nothing) {
  struct buf b;

  buf_init(&b, 1024);
  ck_assert_ptr_null(b.base);
  ck_assert_uint_eq(b.cap, 0);
  ck_assert_uint_eq(b.max, 1024);
  ck_assert_uint_eq(buf_used(&b), 0);
  ck_assert_int_eq(buf_append(&b, "x", 0), 0); /* empty append: still none */
  ck_assert_ptr_null(b.base);
  ck_assert_int_eq(buf_reserve(&b, 0), 0);
  buf_cleanup(&b);
}
END_TEST

/* Capacity after each reserve, starting empty with max 100: at least the
 * request, doubling, clamped to max. */
static const struct {
  size_t used_before; /* bytes appended before the reserve */
  size_t reserve;
  size_t cap_after;
} growth[] = {
    {0, 10, 10},  /* first allocation: exactly what was asked */
    {10, 1, 20},  /* double */
    {20, 30, 50}, /* doubling (40) is not enough: the request wins */
    {50, 1, 100}, /* double */
    {50, 45, 100},
};

START_TEST(test_growth) {
  struct buf b;

  buf_init(&b, 100);
  for (size_t i = 0; i < sizeof growth / sizeof growth[0]; i++) {
    if (buf_used(&b) < growth[i].used_before)
      append_pattern(&b, buf_used(&b), growth[i].used_before - buf_used(&b));
    ck_assert_int_eq(buf_reserve(&b, growth[i].reserve), 0);
    ck_assert_uint_eq(b.cap, growth[i].cap_after);
    ck_assert_uint_ge(buf_room(&b), growth[i].reserve);
  }
  assert_pattern(&b, 0);
  buf_cleanup(&b);
}
END_TEST

START_TEST(test_growth_clamped_to_max) {
  struct buf b;

  buf_init(&b, 70);
  ck_assert_int_eq(buf_reserve(&b, 40), 0);
  append_pattern(&b, 0, 40);
  ck_assert_int_eq(buf_reserve(&b, 1), 0); /* doubling would be 80 */
  ck_assert_uint_eq(b.cap, 70);
  buf_cleanup(&b);
}
END_TEST

START_TEST(test_max_enobufs) {
  struct buf b;

  buf_init(&b, 16);
  ck_assert_int_eq(buf_reserve(&b, 17), UV_ENOBUFS);
  ck_assert_int_eq(buf_append(&b, "0123456789abcdefX", 17), UV_ENOBUFS);
  ck_assert_uint_eq(buf_used(&b), 0);
  ck_assert_int_eq(buf_append(&b, "0123456789abcdef", 16), 0);
  ck_assert_int_eq(buf_append(&b, "X", 1), UV_ENOBUFS);
  ck_assert_int_eq(buf_reserve(&b, 1), UV_ENOBUFS);
  /* A refused append leaves the contents alone. */
  ck_assert_uint_eq(buf_used(&b), 16);
  ck_assert_mem_eq(buf_data(&b), "0123456789abcdef", 16);
  ck_assert_uint_eq(b.cap, 16);
  /* Room made by consuming can be used again. */
  buf_consume(&b, 4);
  ck_assert_int_eq(buf_append(&b, "ABCD", 4), 0);
  ck_assert_mem_eq(buf_data(&b), "456789abcdefABCD", 16);
  buf_cleanup(&b);
}
END_TEST

START_TEST(test_huge_request) {
  struct buf b;

  buf_init(&b, 64);
  append_pattern(&b, 0, 10);
  /* used + n would overflow size_t: must be refused, not wrapped. */
  ck_assert_int_eq(buf_reserve(&b, (size_t)-1), UV_ENOBUFS);
  ck_assert_int_eq(buf_reserve(&b, (size_t)-5), UV_ENOBUFS);
  assert_pattern(&b, 0);
  buf_cleanup(&b);
}
END_TEST

START_TEST(test_compaction_before_growth) {
  struct buf b;

  buf_init(&b, 1 << 20);
  ck_assert_int_eq(buf_reserve(&b, 64), 0);
  append_pattern(&b, 0, 64);
  char *base = b.base;
  buf_consume(&b, 40); /* 24 live bytes at offset 40, no room at the tail */
  ck_assert_uint_eq(buf_room(&b), 0);

  /* 40 bytes fit once the live bytes move down: no growth. */
  ck_assert_int_eq(buf_reserve(&b, 40), 0);
  ck_assert_ptr_eq(b.base, base);
  ck_assert_uint_eq(b.cap, 64);
  ck_assert_uint_eq(b.off, 0);
  ck_assert_uint_eq(buf_used(&b), 24);
  assert_pattern(&b, 40);

  /* More than that: compacted and grown, contents intact. */
  buf_consume(&b, 4);
  ck_assert_int_eq(buf_reserve(&b, 100), 0);
  ck_assert_uint_eq(b.off, 0);
  ck_assert_uint_ge(buf_room(&b), 100);
  assert_pattern(&b, 44);
  buf_cleanup(&b);
}
END_TEST

START_TEST(test_commit_and_consume) {
  struct buf b;

  buf_init(&b, 128);
  ck_assert_int_eq(buf_reserve(&b, 5), 0);
  memcpy(buf_tail(&b), "hello", 5);
  buf_commit(&b, 5);
  ck_assert_uint_eq(buf_used(&b), 5);
  ck_assert_mem_eq(buf_data(&b), "hello", 5);
  buf_consume(&b, 2);
  ck_assert_uint_eq(b.off, 2);
  ck_assert_mem_eq(buf_data(&b), "llo", 3);
  buf_consume(&b, 3); /* emptied: rewinds to offset 0 */
  ck_assert_uint_eq(b.off, 0);
  ck_assert_uint_eq(b.len, 0);
  ck_assert_uint_eq(buf_room(&b), b.cap);
  buf_cleanup(&b);
}
END_TEST

START_TEST(test_swap) {
  struct buf a, b;

  buf_init(&a, 100);
  buf_init(&b, 200);
  ck_assert_int_eq(buf_append(&a, "abc", 3), 0);
  buf_consume(&a, 1);
  char *abase = a.base;
  buf_swap(&a, &b);
  ck_assert_ptr_null(a.base);
  ck_assert_uint_eq(a.max, 200);
  ck_assert_uint_eq(buf_used(&a), 0);
  ck_assert_ptr_eq(b.base, abase);
  ck_assert_uint_eq(b.max, 100);
  ck_assert_uint_eq(buf_used(&b), 2);
  ck_assert_mem_eq(buf_data(&b), "bc", 2);
  buf_cleanup(&a);
  buf_cleanup(&b);
}
END_TEST

START_TEST(test_release_if_empty) {
  struct buf b;

  buf_init(&b, 100);
  ck_assert_int_eq(buf_append(&b, "abc", 3), 0);
  buf_release_if_empty(&b); /* not empty: kept */
  ck_assert_ptr_nonnull(b.base);
  ck_assert_uint_eq(buf_used(&b), 3);
  buf_consume(&b, 3);
  buf_release_if_empty(&b);
  ck_assert_ptr_null(b.base);
  ck_assert_uint_eq(b.cap, 0);
  ck_assert_uint_eq(b.max, 100);
  /* Reusable afterwards. */
  ck_assert_int_eq(buf_append(&b, "xy", 2), 0);
  ck_assert_mem_eq(buf_data(&b), "xy", 2);
  buf_cleanup(&b);
}
END_TEST

/* A buffer without storage (new, released, cleaned up) is read by the
 * relay on every pass: its data and tail must be NULL without computing
 * NULL + 0, which is undefined (a clang UBSan build, --enable-sanitizers=
 * address,undefined or --enable-fuzzing, stops on it). */
START_TEST(test_empty_data_is_null) {
  struct buf b;

  buf_init(&b, 64);
  ck_assert_ptr_null(buf_data(&b));
  ck_assert_ptr_null(buf_tail(&b));
  ck_assert_int_eq(buf_append(&b, "ab", 2), 0);
  ck_assert_ptr_eq(buf_tail(&b), buf_data(&b) + 2);
  buf_consume(&b, 2);
  buf_release_if_empty(&b);
  ck_assert_ptr_null(buf_data(&b));
  buf_cleanup(&b);
  ck_assert_ptr_null(buf_tail(&b));
}
END_TEST

START_TEST(test_cleanup_reusable) {
  struct buf b;

  buf_init(&b, 8);
  ck_assert_int_eq(buf_append(&b, "12345678", 8), 0);
  buf_cleanup(&b);
  ck_assert_ptr_null(b.base);
  ck_assert_uint_eq(buf_used(&b), 0);
  buf_cleanup(&b); /* twice is fine */
  ck_assert_int_eq(buf_append(&b, "12345678", 8), 0);
  ck_assert_int_eq(buf_append(&b, "9", 1), UV_ENOBUFS); /* max survives */
  buf_cleanup(&b);
}
END_TEST

Suite *buf_suite(void) {
  Suite *s = suite_create("buf");
  TCase *tc = tcase_create("core");

  tcase_add_test(tc, test_init_allocates_nothing);
  tcase_add_test(tc, test_growth);
  tcase_add_test(tc, test_growth_clamped_to_max);
  tcase_add_test(tc, test_max_enobufs);
  tcase_add_test(tc, test_huge_request);
  tcase_add_test(tc, test_compaction_before_growth);
  tcase_add_test(tc, test_commit_and_consume);
  tcase_add_test(tc, test_swap);
  tcase_add_test(tc, test_release_if_empty);
  tcase_add_test(tc, test_cleanup_reusable);
  tcase_add_test(tc, test_empty_data_is_null);
  suite_add_tcase(s, tc);
  return s;
}
