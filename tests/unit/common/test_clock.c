/* Unit tests for common/clock.c: the monotonic millisecond clock. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <time.h>

#include "common/clock.h"

static void test_now_ms_monotonic(void **state)
{
	(void)state;
	int64_t a = now_ms();
	struct timespec ms = { 0, 2000000L };
	nanosleep(&ms, NULL);
	int64_t b = now_ms();
	assert_true(a > 0);
	assert_true(b >= a + 2);
	assert_true(b < a + 10000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_now_ms_monotonic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
