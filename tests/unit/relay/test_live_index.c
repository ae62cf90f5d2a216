/* Unit tests for relay/live_index.c: the data plane's tunnel -> live state map. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "relay/live_index.h"

#define N 5000

/* Keys are addresses inside one array, values their index + 1: against a
 * plain array as the reference, with deletions in an order that shuffles
 * the probe runs. */
static void test_against_reference(void **state)
{
	static char keys[N * 16];
	static int present[N];
	struct live_index x = { 0 };
	(void)state;
	for (size_t i = 0; i < N; i++) {
		assert_int_equal(live_index_put(&x, &keys[i * 16], (void *)(uintptr_t)(i + 1)), 0);
		present[i] = 1;
	}
	assert_int_equal(x.n, N);
	uint32_t r = 12345;
	for (size_t round = 0; round < 3 * N; round++) {
		r = r * 1103515245u + 12345u;
		size_t i = (r >> 8) % N;
		if (present[i])
			live_index_del(&x, &keys[i * 16]);
		else
			assert_int_equal(live_index_put(&x, &keys[i * 16], (void *)(uintptr_t)(i + 1)), 0);
		present[i] = !present[i];
	}
	size_t count = 0;
	for (size_t i = 0; i < N; i++) {
		void *v = live_index_get(&x, &keys[i * 16]);
		if (present[i]) {
			assert_ptr_equal(v, (void *)(uintptr_t)(i + 1));
			count++;
		} else {
			assert_null(v);
		}
	}
	assert_int_equal(x.n, count);
	live_index_free(&x);
}

static void test_replace_and_absent(void **state)
{
	struct live_index x = { 0 };
	int a = 0, b = 0;
	(void)state;
	assert_null(live_index_get(&x, &a));
	live_index_del(&x, &a); /* nothing there: harmless */
	assert_int_equal(live_index_put(&x, &a, &b), 0);
	assert_int_equal(live_index_put(&x, &a, &a), 0);
	assert_int_equal(x.n, 1);
	assert_ptr_equal(live_index_get(&x, &a), &a);
	assert_null(live_index_get(&x, &b));
	assert_int_equal(live_index_put(&x, NULL, &a), -1);
	live_index_del(&x, &a);
	assert_int_equal(x.n, 0);
	assert_null(live_index_get(&x, &a));
	live_index_free(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_against_reference),
		cmocka_unit_test(test_replace_and_absent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
