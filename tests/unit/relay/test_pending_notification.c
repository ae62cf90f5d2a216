/* Unit tests for relay/pending_notification.c: making a kept notification
 * and the verdict on whether it is still worth sending. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/token.h"
#include "relay/pending_notification.h"
#include "relay/registry.h"

#define NOW ((int64_t)1767225600)
#define TOKEN "Abcdefghijklmnopqrstuvwxyz0123456789_-ABCDE"

/* A registry with one open tunnel "t-1" whose destination token is TOKEN. */
static struct registry_tunnel *add_tunnel(struct registry *r)
{
	struct registry_tunnel *t = calloc(1, sizeof(*t));
	assert_non_null(t);
	strcpy(t->id, "t-1");
	strcpy(t->thing, "nanopi-01");
	t->n_services = 2;
	strcpy(t->services[0], "SSH");
	strcpy(t->services[1], "HTTP");
	assert_int_equal(token_hash(TOKEN, strlen(TOKEN), t->side[SIDE_DESTINATION].token_hash), 0);
	assert_int_equal(token_hash("source-token-0123456789", 23, t->side[SIDE_SOURCE].token_hash), 0);
	t->created_at = NOW;
	t->expires_at = NOW + 3600;
	char err[128];
	assert_int_equal(registry_insert(r, t, err, sizeof(err)), 0);
	return t;
}

static void test_make(void **state)
{
	struct registry r;
	registry_init(&r);
	struct registry_tunnel *t = add_tunnel(&r);
	struct pending_notification pn;
	assert_int_equal(pending_notification_make(&pn, t, TOKEN, NOW), 0);
	assert_string_equal(pn.tunnel_id, "t-1");
	assert_string_equal(pn.thing, "nanopi-01");
	assert_int_equal(pn.n_services, 2);
	assert_string_equal(pn.services[1], "HTTP");
	assert_string_equal(pn.token, TOKEN);
	assert_int_equal(pn.since, NOW);
	assert_null(pending_notification_problem(&pn));

	/* A token that does not fit, an empty one, a tunnel without a thing. */
	char long_token[PENDING_TOKEN_MAX + 2];
	memset(long_token, 'a', sizeof(long_token) - 1);
	long_token[sizeof(long_token) - 1] = '\0';
	assert_int_equal(pending_notification_make(&pn, t, long_token, NOW), -1);
	assert_int_equal(pn.token[0], '\0');
	assert_int_equal(pending_notification_make(&pn, t, "", NOW), -1);
	t->thing[0] = '\0';
	assert_int_equal(pending_notification_make(&pn, t, TOKEN, NOW), -1);
	registry_free(&r);
}

static void test_verdicts(void **state)
{
	struct registry r;
	registry_init(&r);
	struct registry_tunnel *t = add_tunnel(&r);
	struct pending_notification pn;
	assert_int_equal(pending_notification_make(&pn, t, TOKEN, NOW), 0);
	assert_int_equal(pending_notification_check(&pn, &r, NOW), PENDING_CURRENT);
	/* Expired (at the second it expires), closed, rotated, gone. */
	assert_int_equal(pending_notification_check(&pn, &r, NOW + 3600), PENDING_EXPIRED);
	t->closed_at = NOW + 10;
	assert_int_equal(pending_notification_check(&pn, &r, NOW + 20), PENDING_CLOSED);
	t->closed_at = 0;
	assert_int_equal(token_hash("another-token-0123456789", 24,
				    t->side[SIDE_DESTINATION].token_hash), 0);
	assert_int_equal(pending_notification_check(&pn, &r, NOW), PENDING_TOKEN_ROTATED);
	strcpy(pn.tunnel_id, "t-2");
	assert_int_equal(pending_notification_check(&pn, &r, NOW), PENDING_NO_TUNNEL);
	/* A tunnel that never expires stays current. */
	assert_int_equal(token_hash(TOKEN, strlen(TOKEN), t->side[SIDE_DESTINATION].token_hash), 0);
	strcpy(pn.tunnel_id, "t-1");
	t->expires_at = 0;
	assert_int_equal(pending_notification_check(&pn, &r, NOW + 999999), PENDING_CURRENT);
	/* Every verdict has words. */
	for (int v = PENDING_CURRENT; v <= PENDING_TOKEN_ROTATED; v++)
		assert_true(strlen(pending_verdict_text((enum pending_verdict)v)) > 3);
	registry_free(&r);
}

static void test_problem_and_wipe(void **state)
{
	struct registry r;
	registry_init(&r);
	struct registry_tunnel *t = add_tunnel(&r);
	struct pending_notification pn;
	assert_int_equal(pending_notification_make(&pn, t, TOKEN, NOW), 0);
	struct pending_notification bad = pn;
	strcpy(bad.tunnel_id, "a/b");
	assert_non_null(pending_notification_problem(&bad));
	bad = pn;
	strcpy(bad.services[0], "no spaces");
	assert_non_null(pending_notification_problem(&bad));
	bad = pn;
	bad.n_services = 0;
	assert_non_null(pending_notification_problem(&bad));

	pending_notification_wipe_token(&pn);
	assert_null(memmem(&pn, sizeof(pn), "Abcdefghij", 10));
	assert_string_equal(pn.thing, "nanopi-01"); /* only the token goes */
	assert_non_null(pending_notification_problem(&pn)); /* and it cannot be kept */
	pending_notification_wipe(&pn);
	assert_int_equal(pn.thing[0], '\0');
	registry_free(&r);
}

/* Another node's row: adopted once old enough, for a known tunnel this
 * node holds nothing for; stale ones too (the tick drops them). */
static void test_adopt_rule(void **state)
{
	struct pending_notification row;
	memset(&row, 0, sizeof(row));
	strcpy(row.tunnel_id, "t-1");
	row.since = NOW;
	const int64_t old_enough = NOW + PENDING_ADOPT_AFTER_S;
	assert_int_equal(pending_notification_adopt(&row, false, true, old_enough), PENDING_ADOPT);
	assert_int_equal(pending_notification_adopt(&row, false, true, old_enough + 3600),
			 PENDING_ADOPT);
	/* Kept moments ago: its node is probably sending it. */
	assert_int_equal(pending_notification_adopt(&row, false, true, old_enough - 1),
			 PENDING_ADOPT_YOUNG);
	assert_int_equal(pending_notification_adopt(&row, false, true, NOW), PENDING_ADOPT_YOUNG);
	/* Kept "later" than now (another node's clock ahead). */
	assert_int_equal(pending_notification_adopt(&row, false, true, NOW - 60),
			 PENDING_ADOPT_YOUNG);
	/* This node's own copy decides, however old the row. */
	assert_int_equal(pending_notification_adopt(&row, true, true, old_enough + 3600),
			 PENDING_ADOPT_HELD);
	/* A tunnel not known here yet is left alone (not dropped as gone). */
	assert_int_equal(pending_notification_adopt(&row, false, false, old_enough + 3600),
			 PENDING_ADOPT_UNKNOWN);
	(void)state;
}

/* Taken before publishing: every adopted one; this node's own once old
 * enough that another node may soon adopt it (before it may). */
static void test_take_first_rule(void **state)
{
	struct pending_notification pn;
	memset(&pn, 0, sizeof(pn));
	strcpy(pn.tunnel_id, "t-1");
	pn.since = NOW;
	assert_true(pending_notification_take_first(&pn, true, NOW));
	assert_false(pending_notification_take_first(&pn, false, NOW));
	assert_false(pending_notification_take_first(&pn, false, NOW + PENDING_TAKE_AFTER_S - 1));
	assert_true(pending_notification_take_first(&pn, false, NOW + PENDING_TAKE_AFTER_S));
	assert_true(PENDING_TAKE_AFTER_S < PENDING_ADOPT_AFTER_S);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_make),
		cmocka_unit_test(test_verdicts),
		cmocka_unit_test(test_problem_and_wipe),
		cmocka_unit_test(test_adopt_rule),
		cmocka_unit_test(test_take_first_rule),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
