/* Unit tests for proxy/ca_bundle.c: the first bundle that exists wins, and
 * none is none. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "proxy/ca_bundle.h"

static const char *present;

static bool exists_if_present(const char *path)
{
	return present && !strcmp(path, present);
}

static void test_picks_the_one_there(void **state)
{
	(void)state;
	present = "/etc/pki/tls/certs/ca-bundle.crt";
	assert_string_equal(ca_bundle_pick(ca_bundle_candidates, exists_if_present), present);
	present = "/etc/ssl/ca-bundle.pem";
	assert_string_equal(ca_bundle_pick(ca_bundle_candidates, exists_if_present), present);
}

static void test_none_there(void **state)
{
	(void)state;
	present = NULL;
	assert_null(ca_bundle_pick(ca_bundle_candidates, exists_if_present));
}

static bool always(const char *path)
{
	return true;
}

/* Debian's own bundle comes first: where it exists, nothing else is read. */
static void test_debian_first(void **state)
{
	(void)state;
	assert_string_equal(ca_bundle_pick(ca_bundle_candidates, always),
			    "/etc/ssl/certs/ca-certificates.crt");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_picks_the_one_there),
		cmocka_unit_test(test_none_there),
		cmocka_unit_test(test_debian_first),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
