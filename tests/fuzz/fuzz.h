/* fuzz.h: what every libFuzzer target in tests/fuzz shares.
 *
 * Each fuzz_*.c defines LLVMFuzzerTestOneInput over tlsterm's real code
 * (libtlsterm.a, built with the fuzzer's coverage hooks and ASan+UBSan by
 * ./configure --enable-fuzzing). Besides the sanitizers, targets check
 * properties of the code's output with FUZZ_CHECK: a broken one aborts, and
 * libFuzzer keeps the input as a crash. */
#ifndef TLSTERM_FUZZ_H
#define TLSTERM_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* libFuzzer's entry points (it provides main). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: property broken: %s\n", __FILE__, __LINE__,      \
              #cond);                                                          \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/* A cursor over the input: control bytes are taken from the front, so a
 * seed is "control bytes, then the payload". Past the end, bytes read 0. */
struct fuzz_in {
  const uint8_t *p;
  size_t n;
};

static inline uint8_t fuzz_byte(struct fuzz_in *in) {
  uint8_t b = 0;

  if (in->n > 0) {
    b = in->p[0];
    in->p++;
    in->n--;
  }
  return b;
}

static inline uint16_t fuzz_u16(struct fuzz_in *in) {
  uint16_t hi = fuzz_byte(in);

  return (uint16_t)(hi << 8 | fuzz_byte(in));
}

#endif
