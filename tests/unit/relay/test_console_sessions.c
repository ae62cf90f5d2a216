/* Unit tests for relay/console_sessions.c: random ids, CSRF tokens, idle
 * expiry, sign-out, and the bound on sessions. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "relay/console_sessions.h"

static void test_open_find_expire(void **state)
{
	struct console_sessions s;
	assert_int_equal(console_sessions_init(&s, 16, 60), 0);
	const struct console_session *a = console_sessions_open(&s, "alice", CONSOLE_ADMIN, 1000);
	assert_non_null(a);
	char id[CONSOLE_SECRET_LEN + 1], csrf[CONSOLE_SECRET_LEN + 1];
	strcpy(id, a->id);
	strcpy(csrf, a->csrf);
	assert_int_equal(strlen(id), CONSOLE_SECRET_LEN);
	assert_string_not_equal(id, csrf);
	for (size_t i = 0; i < strlen(id); i++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", id[i]));
	const struct console_session *b = console_sessions_open(&s, "alice", CONSOLE_ADMIN, 1000);
	assert_string_not_equal(b->id, id);

	struct console_session *f = console_sessions_find(&s, id, 1059);
	assert_non_null(f);
	assert_string_equal(f->user, "alice");
	assert_true(console_sessions_csrf_ok(f, csrf));
	assert_false(console_sessions_csrf_ok(f, b->csrf));
	assert_false(console_sessions_csrf_ok(f, NULL));
	assert_false(console_sessions_csrf_ok(f, ""));
	/* Use restarts the idle timer: alive at 1059 + 59. */
	assert_non_null(console_sessions_find(&s, id, 1118));
	/* Idle 60 s: gone, and stays gone. */
	assert_null(console_sessions_find(&s, id, 1178));
	assert_null(console_sessions_find(&s, id, 1118));
	/* Wrong or malformed ids. */
	char wrong[CONSOLE_SECRET_LEN + 1];
	strcpy(wrong, csrf);
	assert_null(console_sessions_find(&s, wrong, 1000));
	assert_null(console_sessions_find(&s, "short", 1000));
	assert_null(console_sessions_find(&s, "", 1000));
	assert_null(console_sessions_find(&s, NULL, 1000));
	console_sessions_free(&s);
}

static void test_signout_and_user(void **state)
{
	struct console_sessions s;
	assert_int_equal(console_sessions_init(&s, 16, 600), 0);
	char a1[CONSOLE_SECRET_LEN + 1], a2[CONSOLE_SECRET_LEN + 1], b1[CONSOLE_SECRET_LEN + 1];
	strcpy(a1, console_sessions_open(&s, "alice", CONSOLE_ADMIN, 10)->id);
	strcpy(a2, console_sessions_open(&s, "alice", CONSOLE_ADMIN, 10)->id);
	strcpy(b1, console_sessions_open(&s, "bob", CONSOLE_OPERATOR, 10)->id);
	console_sessions_close(&s, console_sessions_find(&s, a1, 11));
	assert_null(console_sessions_find(&s, a1, 12));
	assert_non_null(console_sessions_find(&s, a2, 12));
	console_sessions_close_user(&s, "alice");
	assert_null(console_sessions_find(&s, a2, 13));
	struct console_session *b = console_sessions_find(&s, b1, 13);
	assert_non_null(b);
	assert_int_equal(b->role, CONSOLE_OPERATOR);
	console_sessions_free(&s);
}

static void test_bounded(void **state)
{
	struct console_sessions s;
	assert_int_equal(console_sessions_init(&s, 4, 600), 0);
	char first[CONSOLE_SECRET_LEN + 1], last[CONSOLE_SECRET_LEN + 1];
	strcpy(first, console_sessions_open(&s, "u0", CONSOLE_OPERATOR, 100)->id);
	for (int i = 1; i < 4; i++)
		assert_non_null(console_sessions_open(&s, "u", CONSOLE_OPERATOR, 100 + i));
	/* Full: the next replaces the one used longest ago (first). */
	strcpy(last, console_sessions_open(&s, "u5", CONSOLE_OPERATOR, 200)->id);
	assert_null(console_sessions_find(&s, first, 201));
	assert_non_null(console_sessions_find(&s, last, 201));
	console_sessions_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_find_expire),
		cmocka_unit_test(test_signout_and_user),
		cmocka_unit_test(test_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
