/* Unit tests for relay/recording_name.c: recordings' file names and ids,
 * strictly (no id can name a file outside its thing's directory). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "relay/recording_name.h"

static void test_parse(void **state)
{
	struct recording_name r;
	assert_true(recording_parse_file("nanopi-01", "20261126T160000Z-alice-t1.cast", &r));
	assert_string_equal(r.thing, "nanopi-01");
	assert_string_equal(r.user, "alice");
	assert_string_equal(r.term_id, "t1");
	assert_int_equal(r.started_at, 1795708800); /* 2026-11-26T16:00:00Z */
	/* A user name with dashes and dots: the terminal id has none. */
	assert_true(recording_parse_file("d", "20261126T160000Z-ops-team.x-ab_12.cast", &r));
	assert_string_equal(r.user, "ops-team.x");
	assert_string_equal(r.term_id, "ab_12");
	char id[512];
	recording_id(&r, id, sizeof(id));
	assert_string_equal(id, "d.20261126T160000Z-ops-team.x-ab_12");
	struct recording_name back;
	assert_true(recording_parse_id(id, &back));
	assert_string_equal(back.file, r.file);
	assert_string_equal(back.thing, "d");
}

static void test_refused(void **state)
{
	struct recording_name r;
	const char *bad_files[] = {
		"20261126T160000Z-alice-t1.txt", "20261126T160000Z-alice.cast", "20261126T160000Z--t1.cast",
		"2026112XT160000Z-alice-t1.cast", "20261326T160000Z-alice-t1.cast", "x.cast", "",
		"20261126T160000Z-al/ice-t1.cast", "20261126T160000Z-alice-t/1.cast", ".cast",
		"20261126T160000Z-alice-t1.cast/", "../20261126T160000Z-alice-t1.cast",
	};
	for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++)
		if (recording_parse_file("dev", bad_files[i], &r))
			fail_msg("took %s", bad_files[i]);
	assert_false(recording_parse_file("..", "20261126T160000Z-alice-t1.cast", &r));
	assert_false(recording_parse_file("a/b", "20261126T160000Z-alice-t1.cast", &r));
	assert_false(recording_parse_file("", "20261126T160000Z-alice-t1.cast", &r));
	const char *bad_ids[] = {
		"dev", "dev.", ".20261126T160000Z-alice-t1", "../dev.20261126T160000Z-alice-t1",
		"dev/x.20261126T160000Z-alice-t1", "dev.20261126T160000Z-alice-t1/../../x",
		"dev.20261126T160000Z-alice-t1.cast",
	};
	for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++)
		if (recording_parse_id(bad_ids[i], &r))
			fail_msg("took id %s", bad_ids[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
