/* Unit tests for relay/console_users.c: the users file's strict parse,
 * its line-numbered errors, and reading it again when it changes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "relay/console_users.h"

#define HASH_A "$y$j9T$abcdefgh$0123456789abcdefghijklmnopqrstuvwxyzABCDEF"
#define HASH_B "$6$salt$xyz"

static int parse(const char *text, struct console_users *u, char *err)
{
	memset(u, 0, sizeof(*u));
	return console_users_parse(text, strlen(text), u, err, 256);
}

static void test_good_file(void **state)
{
	struct console_users u;
	char err[256] = "";
	const char *text = "# console users\n"
			   "alice:admin:" HASH_A "\n"
			   "\n"
			   "bob.ops@site-1:operator:" HASH_B "\r\n";
	assert_int_equal(parse(text, &u, err), 0);
	assert_int_equal(u.n, 2);
	const struct console_user *a = console_users_find(&u, "alice");
	assert_non_null(a);
	assert_int_equal(a->role, CONSOLE_ADMIN);
	assert_string_equal(a->hash, HASH_A);
	const struct console_user *b = console_users_find(&u, "bob.ops@site-1");
	assert_non_null(b);
	assert_int_equal(b->role, CONSOLE_OPERATOR);
	assert_string_equal(b->hash, HASH_B);
	assert_null(console_users_find(&u, "carol"));
	console_users_free(&u);
	/* No final newline, an empty file. */
	assert_int_equal(parse("alice:admin:" HASH_A, &u, err), 0);
	assert_int_equal(u.n, 1);
	console_users_free(&u);
	assert_int_equal(parse("", &u, err), 0);
	assert_int_equal(u.n, 0);
	console_users_free(&u);
}

static void expect_error(const char *text, const char *want)
{
	struct console_users u;
	char err[256] = "";
	assert_int_equal(parse(text, &u, err), -1);
	if (!strstr(err, want))
		fail_msg("error '%s' lacks '%s'", err, want);
	assert_null(strstr(err, "$y$")); /* never the hash */
}

static void test_bad_lines(void **state)
{
	expect_error("alice:admin:" HASH_A "\nbob:root:" HASH_B "\n", "line 2: user bob: the role");
	expect_error("alice:admin\n", "line 1: want NAME:ROLE:HASH");
	expect_error("# c\n\nal ice:admin:" HASH_A "\n", "line 3: the name");
	expect_error(":admin:" HASH_A "\n", "line 1: the name");
	expect_error("alice:admin:plain-password\n", "line 1: user alice: the hash");
	expect_error("alice:admin:$y$has space\n", "line 1: user alice: the hash");
	expect_error("alice:admin:" HASH_A "\nalice:operator:" HASH_B "\n", "line 2: user alice appears twice");
	char longline[1000];
	memset(longline, 'a', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	expect_error(longline, "line 1: too long");
}

static void test_names_and_roles(void **state)
{
	assert_true(console_user_name_valid("a"));
	assert_true(console_user_name_valid("A.b_c-d@e"));
	assert_false(console_user_name_valid(""));
	assert_false(console_user_name_valid("a:b"));
	assert_false(console_user_name_valid("a/b"));
	char name[70];
	memset(name, 'x', 64);
	name[64] = '\0';
	assert_false(console_user_name_valid(name));
	name[63] = '\0';
	assert_true(console_user_name_valid(name));
	assert_int_equal(console_role_parse("admin"), CONSOLE_ADMIN);
	assert_int_equal(console_role_parse("operator"), CONSOLE_OPERATOR);
	assert_int_equal(console_role_parse("Admin"), 0);
	assert_string_equal(console_role_name(CONSOLE_ADMIN), "admin");
	assert_string_equal(console_role_name(CONSOLE_OPERATOR), "operator");
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void test_reload_on_change(void **state)
{
	char dir[] = "/tmp/test_console_users.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/users", dir);
	write_text(path, "alice:admin:" HASH_A "\n");
	struct console_users u;
	memset(&u, 0, sizeof(u));
	char err[256];
	assert_int_equal(console_users_load(&u, path, err, sizeof(err)), 0);
	u.checked_at = 100;
	assert_int_equal(u.n, 1);

	write_text(path, "alice:admin:" HASH_A "\nbob:operator:" HASH_B "\n");
	/* Within the same second: not looked at. */
	console_users_refresh(&u, path, 100);
	assert_int_equal(u.n, 1);
	console_users_refresh(&u, path, 101);
	assert_int_equal(u.n, 2);
	assert_non_null(console_users_find(&u, "bob"));

	/* A file that became bad keeps the users read before. */
	write_text(path, "alice:admin:" HASH_A "\nbob:nobody:" HASH_B "\ncarol:operator:" HASH_B "\n");
	console_users_refresh(&u, path, 102);
	assert_int_equal(u.n, 2);
	assert_null(console_users_find(&u, "carol"));

	/* Fixed: read again. */
	write_text(path, "carol:operator:" HASH_B "\n");
	console_users_refresh(&u, path, 103);
	assert_int_equal(u.n, 1);
	assert_non_null(console_users_find(&u, "carol"));
	assert_null(console_users_find(&u, "alice"));

	/* A missing file: an error at load, and kept users on refresh. */
	assert_int_equal(unlink(path), 0);
	console_users_refresh(&u, path, 104);
	assert_int_equal(u.n, 1);
	struct console_users v;
	memset(&v, 0, sizeof(v));
	assert_int_equal(console_users_load(&v, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot read the users file"));
	console_users_free(&u);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_names_and_roles),
		cmocka_unit_test(test_reload_on_change),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
