/* Unit tests for relay/store_uri.c: which backend --db names, and URIs
 * logged without their passwords. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "relay/store_uri.h"

static void test_postgres_uris_are_told_from_paths(void **state)
{
	(void)state;
	assert_true(store_uri_is_postgres("postgresql://relay@127.0.0.1:5432/tunnels"));
	assert_true(store_uri_is_postgres("postgres://h/db"));
	assert_true(store_uri_is_postgres("PostgreSQL://h/db"));
	assert_false(store_uri_is_postgres("/var/lib/tunnel-relay/tunnels.db"));
	assert_false(store_uri_is_postgres("tunnels.db"));
	assert_false(store_uri_is_postgres("postgresql:/x"));
	assert_false(store_uri_is_postgres("./postgresql://x")); /* a path that looks like one */
	assert_false(store_uri_is_postgres(""));
	assert_false(store_uri_is_postgres(NULL));
}

static void check_mask(const char *uri, const char *want)
{
	char out[256];
	store_uri_mask(uri, out, sizeof(out));
	assert_string_equal(out, want);
}

static void test_password_in_userinfo_is_masked(void **state)
{
	(void)state;
	check_mask("postgresql://relay:s3cret@db.example:5432/tunnels",
		   "postgresql://relay:***@db.example:5432/tunnels");
	check_mask("postgres://relay:p%40ss@h/db?sslmode=require",
		   "postgres://relay:***@h/db?sslmode=require");
	/* '@' in the password: the last '@' of the authority ends it. */
	check_mask("postgresql://u:a@b@h/db", "postgresql://u:***@h/db");
}

static void test_password_parameter_is_masked(void **state)
{
	(void)state;
	check_mask("postgresql://h/db?sslmode=require&password=hunter2&application_name=relay",
		   "postgresql://h/db?sslmode=require&password=***&application_name=relay");
	check_mask("postgresql://h/db?PASSWORD=x", "postgresql://h/db?PASSWORD=***");
	check_mask("postgresql://u:p@h/db?password=q", "postgresql://u:***@h/db?password=***");
}

static void test_nothing_to_mask_is_copied(void **state)
{
	(void)state;
	check_mask("postgresql://relay@127.0.0.1:5432/tunnels",
		   "postgresql://relay@127.0.0.1:5432/tunnels");
	check_mask("postgresql://h:5432/db", "postgresql://h:5432/db"); /* port, not password */
	check_mask("/var/lib/tunnel-relay/tunnels.db", "/var/lib/tunnel-relay/tunnels.db");
	check_mask("postgresql:///db?host=/run/postgresql", "postgresql:///db?host=/run/postgresql");
}

static void test_masking_is_bounded(void **state)
{
	(void)state;
	char out[16];
	memset(out, 'x', sizeof(out));
	store_uri_mask("postgresql://relay:secretsecret@h/db", out, sizeof(out));
	assert_string_equal(out, "postgresql://re");
	char tiny[1] = { 'x' };
	store_uri_mask("postgresql://u:p@h/db", tiny, sizeof(tiny));
	assert_int_equal(tiny[0], '\0');
	/* Cut inside the password: never any of it. */
	char cut[22];
	store_uri_mask("postgresql://u:secret@h/db", cut, sizeof(cut));
	assert_null(strstr(cut, "sec"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_postgres_uris_are_told_from_paths),
		cmocka_unit_test(test_password_in_userinfo_is_masked),
		cmocka_unit_test(test_password_parameter_is_masked),
		cmocka_unit_test(test_nothing_to_mask_is_copied),
		cmocka_unit_test(test_masking_is_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
