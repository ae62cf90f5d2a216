/* Unit tests for relay/tunnel_timers.c: expiry and purge times in order,
 * only the due ones, a tunnel closed early purged after its expiry. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "relay/registry.h"
#include "relay/tunnel_timers.h"

#define KEEP 100

static void test_expiry_then_purge(void **state)
{
	struct tunnel_timers tt;
	tunnel_timers_init(&tt, KEEP);
	struct registry_tunnel a = { .expires_at = 50 }, b = { .expires_at = 20 },
			       never = { .expires_at = 0 };
	assert_int_equal(tunnel_timers_schedule(&tt, &a), 0);
	assert_int_equal(tunnel_timers_schedule(&tt, &b), 0);
	assert_int_equal(tunnel_timers_schedule(&tt, &never), 0);
	assert_int_equal(tt.n, 2); /* nothing for a tunnel that never expires */
	struct registry_tunnel *t = NULL;
	assert_int_equal(tunnel_timers_next_due(&tt, 19, &t), TIMER_NONE);
	assert_int_equal(tunnel_timers_next_due(&tt, 20, &t), TIMER_EXPIRE);
	assert_ptr_equal(t, &b);
	assert_int_equal(tunnel_timers_next_due(&tt, 20, &t), TIMER_NONE);
	b.closed_at = 20; /* the server closes it and schedules again */
	assert_int_equal(tunnel_timers_schedule(&tt, &b), 0);
	assert_int_equal(tunnel_timers_next_due(&tt, 60, &t), TIMER_EXPIRE);
	assert_ptr_equal(t, &a);
	assert_int_equal(tunnel_timers_next_due(&tt, 119, &t), TIMER_NONE);
	assert_int_equal(tunnel_timers_next_due(&tt, 120, &t), TIMER_PURGE);
	assert_ptr_equal(t, &b);
	tunnel_timers_free(&tt);
}

static void test_loaded_closed_is_purged(void **state)
{
	struct tunnel_timers tt;
	tunnel_timers_init(&tt, KEEP);
	struct registry_tunnel old = { .expires_at = 10, .closed_at = 5 };
	assert_int_equal(tunnel_timers_schedule(&tt, &old), 0);
	struct registry_tunnel *t = NULL;
	assert_int_equal(tunnel_timers_next_due(&tt, 104, &t), TIMER_NONE);
	assert_int_equal(tunnel_timers_next_due(&tt, 105, &t), TIMER_PURGE);
	tunnel_timers_free(&tt);
}

/* Many tunnels in random order come out sorted by due time. */
static void test_heap_order(void **state)
{
	enum { N = 2000 };
	struct tunnel_timers tt;
	tunnel_timers_init(&tt, KEEP);
	struct registry_tunnel *ts = calloc(N, sizeof(*ts));
	assert_non_null(ts);
	srand(7);
	for (int i = 0; i < N; i++) {
		ts[i].expires_at = 1 + rand() % 100000;
		assert_int_equal(tunnel_timers_schedule(&tt, &ts[i]), 0);
	}
	int64_t last = 0;
	struct registry_tunnel *t;
	for (int i = 0; i < N; i++) {
		assert_int_equal(tunnel_timers_next_due(&tt, 100000, &t), TIMER_EXPIRE);
		assert_true(t->expires_at >= last);
		last = t->expires_at;
	}
	assert_int_equal(tunnel_timers_next_due(&tt, 1000000, &t), TIMER_NONE);
	free(ts);
	tunnel_timers_free(&tt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expiry_then_purge),
		cmocka_unit_test(test_loaded_closed_is_purged),
		cmocka_unit_test(test_heap_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
