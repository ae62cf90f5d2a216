/* Unit tests for relay/store_pg_known.c: the PostgreSQL store's map of the
 * rows' revs, and the reload's sweep of rows gone. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/store_pg_known.h"

static void test_set_find_remove(void **state)
{
	(void)state;
	struct known_rows *m = calloc(1, sizeof(*m));
	assert_non_null(m);
	assert_null(known_find(m, "a"));
	struct known_row *k = known_get(m, "a");
	assert_non_null(k);
	assert_int_equal(k->rev, KNOWN_REV_UNKNOWN);
	assert_false(k->closed_here);
	known_set(m, "a", 7);
	known_set(m, "b", 9);
	assert_ptr_equal(known_find(m, "a"), k);
	assert_int_equal(known_find(m, "a")->rev, 7);
	assert_int_equal(known_find(m, "b")->rev, 9);
	known_remove(m, "a");
	known_remove(m, "a"); /* gone already: nothing */
	assert_null(known_find(m, "a"));
	assert_int_equal(known_find(m, "b")->rev, 9);
	known_free(m);
	free(m);
}

struct gone_list {
	int n;
	char ids[8][16];
};

static void on_gone(void *arg, const char *id)
{
	struct gone_list *g = arg;
	assert_true(g->n < 8);
	snprintf(g->ids[g->n++], sizeof(g->ids[0]), "%s", id);
}

/* Rows a reload finds stay; the others go, each named once; rows added
 * during the reload count as found. */
static void test_reload_drops_unseen(void **state)
{
	(void)state;
	struct known_rows *m = calloc(1, sizeof(*m));
	assert_non_null(m);
	char id[16];
	for (int i = 0; i < 2000; i++) { /* more than the buckets: chains */
		snprintf(id, sizeof(id), "t-%d", i);
		known_set(m, id, i);
	}
	unsigned seen = known_begin_reload(m);
	for (int i = 0; i < 2000; i++) {
		if (i == 5 || i == 1500)
			continue;
		snprintf(id, sizeof(id), "t-%d", i);
		known_find(m, id)->seen = seen;
	}
	known_set(m, "new", 1);
	struct gone_list g = { 0 };
	known_drop_unseen(m, seen, on_gone, &g);
	assert_int_equal(g.n, 2);
	assert_true((!strcmp(g.ids[0], "t-5") && !strcmp(g.ids[1], "t-1500")) ||
		    (!strcmp(g.ids[1], "t-5") && !strcmp(g.ids[0], "t-1500")));
	assert_null(known_find(m, "t-5"));
	assert_non_null(known_find(m, "t-6"));
	assert_non_null(known_find(m, "new"));
	g.n = 0;
	known_drop_unseen(m, seen, on_gone, &g);
	assert_int_equal(g.n, 0);
	known_free(m);
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_find_remove),
		cmocka_unit_test(test_reload_drops_unseen),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
