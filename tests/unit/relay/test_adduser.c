/* Unit tests for relay/adduser.c and relay/password_hash.c: a user added
 * (password from stdin) is read back by the users file's parser and its
 * hash verifies the password and refuses others; a second adduser of the
 * same name replaces its line; the file is 0600. */
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

#include "relay/adduser.h"
#include "relay/console_users.h"
#include "relay/password_hash.h"

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/test_adduser.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static void test_hash_and_check(void **state)
{
	char hash[PASSWORD_HASH_CAP];
	assert_int_equal(password_hash_make("correct horse", hash), 0);
	assert_memory_equal(hash, "$y$", 3);
	assert_true(password_hash_check("correct horse", hash));
	assert_false(password_hash_check("correct horsE", hash));
	assert_false(password_hash_check("", hash));
	/* No user: never a match, whatever the password. */
	assert_false(password_hash_check("correct horse", NULL));
	/* Two hashes of one password differ (fresh salt). */
	char again[PASSWORD_HASH_CAP];
	assert_int_equal(password_hash_make("correct horse", again), 0);
	assert_string_not_equal(hash, again);
}

/* Runs adduser with stdin from text. */
static int run_adduser(const char *users, const char *name, const char *role, const char *input)
{
	char in[128];
	snprintf(in, sizeof(in), "%s/stdin", dir);
	FILE *f = fopen(in, "w");
	assert_non_null(f);
	fputs(input, f);
	assert_int_equal(fclose(f), 0);
	assert_non_null(freopen(in, "r", stdin));
	char *argv[] = { "adduser", "--users", (char *)users, (char *)name, (char *)role, NULL };
	return adduser_main(5, argv);
}

static void test_round_trip(void **state)
{
	char users[128], err[256];
	snprintf(users, sizeof(users), "%s/users", dir);
	assert_int_equal(run_adduser(users, "alice", "admin", "first-password\n"), 0);
	assert_int_equal(run_adduser(users, "bob", "operator", "bobs-password\n"), 0);
	struct stat st;
	assert_int_equal(stat(users, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	struct console_users u;
	memset(&u, 0, sizeof(u));
	assert_int_equal(console_users_load(&u, users, err, sizeof(err)), 0);
	assert_int_equal(u.n, 2);
	const struct console_user *a = console_users_find(&u, "alice");
	assert_int_equal(a->role, CONSOLE_ADMIN);
	assert_true(password_hash_check("first-password", a->hash));
	assert_false(password_hash_check("bobs-password", a->hash));
	console_users_free(&u);

	/* Again for alice: her line is replaced, bob's kept, order kept. */
	assert_int_equal(run_adduser(users, "alice", "operator", "second-password\n"), 0);
	assert_int_equal(console_users_load(&u, users, err, sizeof(err)), 0);
	assert_int_equal(u.n, 2);
	assert_string_equal(u.user[0].name, "alice");
	assert_int_equal(u.user[0].role, CONSOLE_OPERATOR);
	assert_true(password_hash_check("second-password", u.user[0].hash));
	assert_false(password_hash_check("first-password", u.user[0].hash));
	assert_true(password_hash_check("bobs-password", u.user[1].hash));
	console_users_free(&u);
}

static void test_refusals(void **state)
{
	char users[128];
	snprintf(users, sizeof(users), "%s/users2", dir);
	assert_int_equal(run_adduser(users, "alice", "root", "a-long-password\n"), 2);
	assert_int_equal(run_adduser(users, "al:ice", "admin", "a-long-password\n"), 2);
	assert_int_equal(run_adduser(users, "alice", "admin", "short\n"), 1);
	assert_int_equal(run_adduser(users, "alice", "admin", ""), 1);
	assert_int_equal(access(users, F_OK), -1); /* nothing written */
	/* A bad file is left alone. */
	FILE *f = fopen(users, "w");
	assert_non_null(f);
	fputs("broken line\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(run_adduser(users, "alice", "admin", "a-long-password\n"), 1);
	char buf[64] = "";
	f = fopen(users, "r");
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "broken line\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_and_check),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
