/* Unit tests for relay/refusal_log.c: one log line per episode of refusals. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "relay/refusal_log.h"

static struct refusal_log rl;

static int setup(void **state)
{
	(void)state;
	memset(&rl, 0, sizeof(rl));
	return 0;
}

static void test_one_line_per_episode(void **state)
{
	uint32_t left = 99;
	(void)state;
	assert_true(refusal_log_note(&rl, 42, 401, 1000, &left));
	assert_int_equal(left, 0);
	/* A client retrying every 2.5 s for an hour: no further line. */
	int64_t t = 1000;
	for (int i = 0; i < 1440; i++) {
		t += 2500;
		assert_false(refusal_log_note(&rl, 42, 401, t, &left));
	}
	/* After a quiet gap, the next attempt opens a new episode and says how
	 * many the last one left out. */
	t += REFUSAL_QUIET_MS + 1;
	assert_true(refusal_log_note(&rl, 42, 401, t, &left));
	assert_int_equal(left, 1440);
	assert_false(refusal_log_note(&rl, 42, 401, t + 1, &left));
}

static void test_keys_and_statuses_are_apart(void **state)
{
	uint32_t left;
	(void)state;
	assert_true(refusal_log_note(&rl, 7, 401, 0, &left));
	assert_true(refusal_log_note(&rl, 8, 401, 0, &left));
	/* Another status for the same token is news. */
	assert_true(refusal_log_note(&rl, 7, 400, 1, &left));
	assert_int_equal(left, 0);
	/* No key (no token in the request): always logged. */
	assert_true(refusal_log_note(&rl, 0, 400, 2, &left));
	assert_true(refusal_log_note(&rl, 0, 400, 3, &left));
}

static void test_slot_taken_over(void **state)
{
	uint32_t left;
	(void)state;
	uint64_t a = 5, b = 5 + REFUSAL_SLOTS; /* same slot */
	assert_true(refusal_log_note(&rl, a, 401, 0, &left));
	assert_false(refusal_log_note(&rl, a, 401, 1, &left));
	assert_true(refusal_log_note(&rl, b, 401, 2, &left));
	assert_int_equal(left, 0);
	/* a lost its slot: logged again, at worst. */
	assert_true(refusal_log_note(&rl, a, 401, 3, &left));
	assert_int_equal(left, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_one_line_per_episode, setup),
		cmocka_unit_test_setup(test_keys_and_statuses_are_apart, setup),
		cmocka_unit_test_setup(test_slot_taken_over, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
