/* Unit tests for relay/conn_gate.c: one verdict per episode of being full. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "relay/conn_gate.h"

static void test_full_once_per_episode(void **state)
{
	struct conn_gate g;
	conn_gate_init(&g, 32);
	for (int i = 0; i < 31; i++)
		assert_int_equal(conn_gate_opened(&g), GATE_SAME);
	assert_int_equal(conn_gate_opened(&g), GATE_FULL);
	assert_int_equal(g.episodes, 1);
	/* At the edge: one leaves, one comes, no new episode and no resume. */
	assert_int_equal(conn_gate_closed(&g), GATE_SAME);
	assert_int_equal(conn_gate_opened(&g), GATE_SAME);
	assert_int_equal(g.episodes, 1);
	/* Resumes once 1/16 (2 of 32) is free again. */
	assert_int_equal(conn_gate_closed(&g), GATE_SAME);
	assert_int_equal(conn_gate_closed(&g), GATE_RESUMED);
	assert_int_equal(conn_gate_closed(&g), GATE_SAME);
	assert_int_equal(g.open, 29);
	for (int i = 0; i < 2; i++)
		assert_int_equal(conn_gate_opened(&g), GATE_SAME);
	assert_int_equal(conn_gate_opened(&g), GATE_FULL);
	assert_int_equal(g.episodes, 2);
}

static void test_small_capacity(void **state)
{
	struct conn_gate g;
	conn_gate_init(&g, 4); /* slack rounds to 0: resume at one free */
	for (int i = 0; i < 3; i++)
		assert_int_equal(conn_gate_opened(&g), GATE_SAME);
	assert_int_equal(conn_gate_opened(&g), GATE_FULL);
	assert_int_equal(conn_gate_closed(&g), GATE_RESUMED);
}

static void test_close_without_open(void **state)
{
	struct conn_gate g;
	conn_gate_init(&g, 8);
	assert_int_equal(conn_gate_closed(&g), GATE_SAME);
	assert_int_equal(g.open, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_once_per_episode),
		cmocka_unit_test(test_small_capacity),
		cmocka_unit_test(test_close_without_open),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
