/* unit.h: the registry of unit-test suites, one per module. */
#ifndef TLSTERM_UNIT_H
#define TLSTERM_UNIT_H

#include <check.h>

Suite *addr_suite(void);
Suite *buf_suite(void);
Suite *client_cert_suite(void);
Suite *config_suite(void);
Suite *http_suite(void);
/* test_http_resp.c adds its cases to http_suite's "request" and
 * "response" test cases. */
void http_resp_tests(TCase *rq, TCase *rs);
Suite *log_suite(void);
Suite *proxy_suite(void);
Suite *sess_suite(void);
Suite *sni_suite(void);
Suite *store_suite(void);

#endif
