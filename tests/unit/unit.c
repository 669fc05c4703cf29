/* unit.c: the one runner for every unit-test suite (see unit.h). */
#include <stdlib.h>

#include "unit.h"

int main(void) {
  Suite *(*const suites[])(void) = {
      addr_suite, buf_suite,   client_cert_suite, config_suite, http_suite,
      log_suite,  proxy_suite, sess_suite,        sni_suite,    store_suite,
  };
  SRunner *sr = srunner_create(NULL);
  for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++)
    srunner_add_suite(sr, suites[i]());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
