/* Unit tests for relay/things.c: the presence table by name (put, replace,
 * find, order of things_each, growth past the first table, the cap). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/things.h"

static struct thing_presence named(const char *name, enum thing_state state, int64_t since)
{
	struct thing_presence p;
	memset(&p, 0, sizeof(p));
	snprintf(p.name, sizeof(p.name), "%s", name);
	p.state = state;
	p.since = since;
	return p;
}

static void put_find_replace(void **state)
{
	struct things *t = things_new();
	assert_non_null(t);
	assert_null(things_find(t, "a"));
	struct thing_presence a = named("a", THING_ONLINE, 10);
	strcpy(a.services[0], "SSH");
	a.n_services = 1;
	const struct thing_presence *kept = things_put(t, &a);
	assert_non_null(kept);
	assert_ptr_equal(things_find(t, "a"), kept);
	assert_string_equal(kept->services[0], "SSH");
	assert_null(things_find(t, "b"));
	struct thing_presence a2 = named("a", THING_OFFLINE, 20);
	/* Replaced in place: the same entry, new content, still one thing. */
	assert_ptr_equal(things_put(t, &a2), kept);
	assert_int_equal(kept->state, THING_OFFLINE);
	assert_int_equal(kept->since, 20);
	assert_int_equal(kept->n_services, 0);
	assert_int_equal(things_count(t), 1);
	things_free(t);
}

struct seen_names {
	char names[4][REGISTRY_MAX_THING + 1];
	size_t n;
};

static void remember(void *arg, const struct thing_presence *p)
{
	struct seen_names *s = arg;
	if (s->n < 4)
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s", p->name);
	s->n++;
}

static void each_in_insertion_order(void **state)
{
	struct things *t = things_new();
	const char *order[] = {"zeta", "alpha", "mid"};
	for (size_t i = 0; i < 3; i++) {
		struct thing_presence p = named(order[i], THING_ONLINE, 1);
		assert_non_null(things_put(t, &p));
	}
	struct thing_presence again = named("alpha", THING_OFFLINE, 2);
	assert_non_null(things_put(t, &again));
	struct seen_names s = {0};
	things_each(t, remember, &s);
	assert_int_equal(s.n, 3);
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(s.names[i], order[i]);
	things_free(t);
	/* NULL tables: nothing found, nothing walked. */
	assert_null(things_find(NULL, "a"));
	s.n = 0;
	things_each(NULL, remember, &s);
	assert_int_equal(s.n, 0);
	assert_int_equal(things_count(NULL), 0);
}

/* Many names (the table grows several times): each found, each itself. */
static void many_things(void **state)
{
	struct things *t = things_new();
	enum { N = 5000 };
	char name[32];
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "dev-%d", i);
		struct thing_presence p = named(name, THING_ONLINE, i + 1);
		assert_non_null(things_put(t, &p));
	}
	assert_int_equal(things_count(t), N);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "dev-%d", i);
		const struct thing_presence *p = things_find(t, name);
		assert_non_null(p);
		assert_string_equal(p->name, name);
		assert_int_equal(p->since, i + 1);
	}
	assert_null(things_find(t, "dev-5000"));
	things_free(t);
}

static void cap_refuses_new_names_only(void **state)
{
	struct things *t = things_new();
	char name[32];
	for (int i = 0; i < THINGS_MAX; i++) {
		snprintf(name, sizeof(name), "d%d", i);
		struct thing_presence p = named(name, THING_ONLINE, 1);
		assert_non_null(things_put(t, &p));
	}
	struct thing_presence extra = named("one-too-many", THING_ONLINE, 1);
	assert_null(things_put(t, &extra));
	assert_null(things_find(t, "one-too-many"));
	/* A known thing still changes. */
	struct thing_presence known = named("d7", THING_OFFLINE, 9);
	const struct thing_presence *kept = things_put(t, &known);
	assert_non_null(kept);
	assert_int_equal(kept->state, THING_OFFLINE);
	assert_int_equal(things_count(t), THINGS_MAX);
	things_free(t);
}

static void state_names(void **state)
{
	assert_string_equal(thing_state_name(THING_ONLINE), "online");
	assert_string_equal(thing_state_name(THING_OFFLINE), "offline");
	assert_string_equal(thing_state_name(THING_UNKNOWN), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(put_find_replace),
		cmocka_unit_test(each_in_insertion_order),
		cmocka_unit_test(many_things),
		cmocka_unit_test(cap_refuses_new_names_only),
		cmocka_unit_test(state_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
