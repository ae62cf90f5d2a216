/* Unit tests for term/asciicast.c: the header, event escaping, UTF-8
 * held back across reads and replaced when broken. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "term/asciicast.h"

static void test_header(void **state)
{
	char out[256];
	(void)state;
	int n = asciicast_header(out, sizeof(out), 80, 24, 1764172800, "xterm-256color");
	assert_string_equal(out, "{\"version\": 2, \"width\": 80, \"height\": 24, \"timestamp\": "
				 "1764172800, \"env\": {\"TERM\": \"xterm-256color\"}}\n");
	assert_int_equal(n, (int)strlen(out));
	assert_int_equal(asciicast_header(out, 20, 80, 24, 0, "xterm"), -1);
	assert_int_equal(asciicast_header(out, sizeof(out), 80, 24, 0, "x\"y"), -1);
}

static void test_event_escapes(void **state)
{
	char out[256];
	(void)state;
	const uint8_t data[] = "a\"b\\c\r\n\x1b[0m\x7f";
	int n = asciicast_event(out, sizeof(out), 1.5, 'o', data, sizeof(data) - 1);
	assert_string_equal(out, "[1.500000, \"o\", \"a\\\"b\\\\c\\u000d\\u000a\\u001b[0m\\u007f\"]\n");
	assert_int_equal(n, (int)strlen(out));
	n = asciicast_event(out, sizeof(out), 2, 'r', (const uint8_t *)"100x40", 6);
	assert_string_equal(out, "[2.000000, \"r\", \"100x40\"]\n");
}

static void test_event_utf8(void **state)
{
	char out[256];
	(void)state;
	/* é, €, 😀 pass through; a stray continuation byte, an overlong '/',
	 * a surrogate and 0xff become U+FFFD each. */
	const uint8_t ok[] = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
	asciicast_event(out, sizeof(out), 0, 'o', ok, sizeof(ok) - 1);
	assert_string_equal(out, "[0.000000, \"o\", \"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"]\n");
	const uint8_t bad[] = "\x80" "\xc0\xaf" "\xed\xa0\x80" "\xff" "z";
	asciicast_event(out, sizeof(out), 0, 'o', bad, sizeof(bad) - 1);
	assert_non_null(strstr(out, "\"\\ufffd\\ufffd\\ufffd"));
	assert_non_null(strstr(out, "\\ufffdz\"]"));
	assert_null(strstr(out, "\xed"));
}

static void test_utf8_whole(void **state)
{
	(void)state;
	const uint8_t euro[] = "ab\xe2\x82\xac";
	assert_int_equal(asciicast_utf8_whole(euro, 5), 5);
	assert_int_equal(asciicast_utf8_whole(euro, 4), 2); /* cut after 2 of 3 bytes */
	assert_int_equal(asciicast_utf8_whole(euro, 3), 2);
	assert_int_equal(asciicast_utf8_whole(euro, 2), 2);
	/* A broken start is not held back (it will be replaced, not waited for). */
	const uint8_t broken[] = "ab\xe2" "A";
	assert_int_equal(asciicast_utf8_whole(broken, 4), 4);
	assert_int_equal(asciicast_utf8_whole(NULL, 0), 0);
}

/* The cap macro is enough for the worst input: every byte escaped. */
static void test_event_cap(void **state)
{
	(void)state;
	uint8_t data[300];
	memset(data, 0x01, sizeof(data));
	size_t cap = ASCIICAST_EVENT_CAP(sizeof(data));
	char *out = malloc(cap);
	assert_non_null(out);
	int n = asciicast_event(out, cap, 123456.789, 'o', data, sizeof(data));
	assert_true(n > 0 && (size_t)n < cap);
	assert_int_equal(asciicast_event(out, 40, 0, 'o', data, sizeof(data)), -1);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_event_escapes),
		cmocka_unit_test(test_event_utf8),
		cmocka_unit_test(test_utf8_whole),
		cmocka_unit_test(test_event_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
