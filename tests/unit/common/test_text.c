/* Unit tests for common/text.c: bounded formatting and OpenSSL's error text. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/text.h"

static void test_textf_truncates(void **state)
{
	char out[8];
	(void)state;
	textf(out, sizeof(out), "%s-%d", "abcdef", 42);
	assert_string_equal(out, "abcdef-");
	textf(out, sizeof(out), "%s", "ok");
	assert_string_equal(out, "ok");
	textf(NULL, 0, "%s", "nowhere"); /* no destination: nothing happens */
	errf(out, sizeof(out), "e%d", 1);
	assert_string_equal(out, "e1");
}

static void test_openssl_error_reason(void **state)
{
	char line[] = "4057E1F7B77F0000:error:0A000086:SSL routines::certificate verify failed\n";
	char plain[] = "no fields here\n";
	(void)state;
	assert_string_equal(openssl_error_reason(line), "certificate verify failed");
	assert_string_equal(openssl_error_reason(plain), "no fields here");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_textf_truncates),
		cmocka_unit_test(test_openssl_error_reason),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
