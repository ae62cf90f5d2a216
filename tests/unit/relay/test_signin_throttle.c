/* Unit tests for relay/signin_throttle.c: waits per user name and per
 * address from the third failure, doubling up to 60 s; reset by success;
 * bounded memory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "relay/signin_throttle.h"

static void test_backoff(void **state)
{
	struct signin_throttle t;
	assert_int_equal(signin_throttle_init(&t, 64), 0);
	int64_t now = 1000;
	assert_int_equal(signin_throttle_wait(&t, "alice", "10.0.0.1", now), 0);
	signin_throttle_failed(&t, "alice", "10.0.0.1", now);
	signin_throttle_failed(&t, "alice", "10.0.0.1", now);
	/* Two failures are free. */
	assert_int_equal(signin_throttle_wait(&t, "alice", "10.0.0.1", now), 0);
	signin_throttle_failed(&t, "alice", "10.0.0.1", now);
	assert_int_equal(signin_throttle_wait(&t, "alice", "10.0.0.1", now), 1);
	assert_int_equal(signin_throttle_wait(&t, "alice", "10.0.0.1", now + 1), 0);
	int64_t want[] = { 2, 4, 8, 16, 32, 60, 60, 60 };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		now += 100;
		signin_throttle_failed(&t, "alice", "10.0.0.1", now);
		assert_int_equal(signin_throttle_wait(&t, "alice", "10.0.0.1", now), want[i]);
		assert_int_equal(signin_throttle_wait(&t, "alice", "10.0.0.1", now + want[i] - 1), 1);
	}
	/* Either key alone is enough to wait: the same user from elsewhere,
	 * another user from the same address. */
	assert_int_equal(signin_throttle_wait(&t, "alice", "10.9.9.9", now), 60);
	assert_int_equal(signin_throttle_wait(&t, "bob", "10.0.0.1", now), 60);
	assert_int_equal(signin_throttle_wait(&t, "bob", "10.9.9.9", now), 0);
	/* A success clears the user's count, not the address's. */
	signin_throttle_succeeded(&t, "alice");
	assert_int_equal(signin_throttle_wait(&t, "alice", "10.9.9.9", now), 0);
	assert_int_equal(signin_throttle_wait(&t, "alice", "10.0.0.1", now), 60);
	/* A quiet hour forgets. */
	assert_int_equal(signin_throttle_wait(&t, "bob", "10.0.0.1", now + THROTTLE_FORGET_S), 0);
	signin_throttle_free(&t);
}

static void test_bounded(void **state)
{
	struct signin_throttle t;
	assert_int_equal(signin_throttle_init(&t, 8), 0);
	/* A flood of names from many addresses: the table never grows, the
	 * newest entries are kept. */
	char user[32], addr[32];
	for (int i = 0; i < 1000; i++) {
		snprintf(user, sizeof(user), "u%d", i);
		snprintf(addr, sizeof(addr), "a%d", i);
		for (int k = 0; k < 3; k++)
			signin_throttle_failed(&t, user, addr, 5000 + i);
	}
	assert_int_equal(t.cap, 8);
	assert_int_equal(signin_throttle_wait(&t, "u999", "x", 5999), 1);
	assert_int_equal(signin_throttle_wait(&t, "u0", "x", 5999), 0);
	signin_throttle_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
