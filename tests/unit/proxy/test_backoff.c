/* Unit tests for proxy/backoff.c: reconnect delays with jitter. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "proxy/backoff.h"

/* Nominal delay of attempt i: 1 s doubling, capped at 30 s. */
static uint32_t nominal(unsigned i)
{
	uint32_t n = BACKOFF_FIRST_MS;
	while (i-- > 0 && n < BACKOFF_MAX_MS)
		n *= 2;
	return n > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : n;
}

static void test_first_delay(void **state)
{
	struct backoff b;
	(void)state;
	for (uint32_t r = 0; r < 2000; r += 7) {
		backoff_reset(&b);
		uint32_t d = backoff_next_ms(&b, r);
		assert_in_range(d, 750, 1000);
	}
}

static void test_jitter_edges(void **state)
{
	struct backoff b;
	(void)state;
	/* random = 0 gives the bottom of the range: 75% of nominal. */
	backoff_reset(&b);
	assert_int_equal(backoff_next_ms(&b, 0), 750);
	backoff_reset(&b);
	uint32_t d = backoff_next_ms(&b, UINT32_MAX);
	assert_in_range(d, 750, 1000);
	/* random = quarter picks the nominal value itself. */
	backoff_reset(&b);
	assert_int_equal(backoff_next_ms(&b, 250), 1000);
	backoff_reset(&b);
	assert_int_equal(backoff_next_ms(&b, 251), 750);
	/* UINT32_MAX % 251 = 169 with the modulo mapping. */
	assert_int_equal(d, 750 + UINT32_MAX % 251);

	/* At the cap: [22500, 30000]. */
	backoff_reset(&b);
	for (int i = 0; i < 10; i++)
		(void)backoff_next_ms(&b, 0);
	assert_int_equal(backoff_next_ms(&b, 0), 22500);
	assert_in_range(backoff_next_ms(&b, UINT32_MAX), 22500, 30000);
	assert_int_equal(backoff_next_ms(&b, 7500), 30000);
}

static void test_doubling(void **state)
{
	struct backoff b;
	(void)state;
	backoff_reset(&b);
	/* With random = quarter the delay is exactly the nominal value. */
	static const uint32_t want[] = { 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000 };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		uint32_t q = want[i] / 4;
		assert_int_equal(backoff_next_ms(&b, q), want[i]);
	}
	/* Bottom of the range doubles too. */
	backoff_reset(&b);
	static const uint32_t low[] = { 750, 1500, 3000, 6000, 12000, 22500, 22500 };
	for (size_t i = 0; i < sizeof(low) / sizeof(low[0]); i++)
		assert_int_equal(backoff_next_ms(&b, 0), low[i]);
}

static void test_capped_forever(void **state)
{
	struct backoff b;
	uint32_t rnd = 12345;
	(void)state;
	backoff_reset(&b);
	for (unsigned i = 0; i < 1000; i++) {
		rnd = rnd * 1103515245u + 12345u;
		uint32_t d = backoff_next_ms(&b, rnd);
		uint32_t n = nominal(i);
		assert_in_range(d, n - n / 4, n);
		if (i >= 5)
			assert_in_range(d, 22500, 30000);
	}
}

static void test_reset(void **state)
{
	struct backoff b;
	(void)state;
	backoff_reset(&b);
	for (int i = 0; i < 7; i++)
		(void)backoff_next_ms(&b, 0);
	assert_int_equal(backoff_next_ms(&b, 0), 22500);
	backoff_reset(&b);
	assert_int_equal(backoff_next_ms(&b, 0), 750);
	assert_int_equal(backoff_next_ms(&b, 0), 1500);
	/* A zero-initialised backoff behaves like a reset one. */
	struct backoff z = { 0 };
	assert_int_equal(backoff_next_ms(&z, 0), 750);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_delay),
		cmocka_unit_test(test_jitter_edges),
		cmocka_unit_test(test_doubling),
		cmocka_unit_test(test_capped_forever),
		cmocka_unit_test(test_reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
