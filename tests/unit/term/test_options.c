/* Unit tests for term/options.c: the token comes from the environment only
 * and leaves it; required options; values that could become localproxy
 * options are refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "term/options.h"

#define TOKEN "tok-abcdefghijklmnopqrstuvwxyz"

static int parse(struct term_options *o, const char *const *args, size_t n)
{
	char *argv[32];
	argv[0] = "tunnel-term";
	for (size_t i = 0; i < n; i++)
		argv[i + 1] = (char *)args[i];
	argv[n + 1] = NULL;
	optind = 0; /* glibc: restart getopt from scratch */
	return term_options_parse((int)n + 1, argv, o);
}

static const char *const base[] = {"--relay", "127.0.0.1:8443", "--ca", "/tmp/ca.pem", "--thing",
				   "dev-1", "--service", "SSH", "--localproxy", "/usr/bin/localproxy"};
#define N_BASE (sizeof(base) / sizeof(base[0]))

static void test_full(void **state)
{
	(void)state;
	struct term_options o;
	const char *args[N_BASE + 8];
	memcpy(args, base, sizeof(base));
	const char *more[] = {"--known-host-key", "SHA256:abc", "--record", "/tmp/r.cast",
			      "--cols", "132", "--rows", "50"};
	memcpy(args + N_BASE, more, sizeof(more));
	setenv(TERM_TOKEN_ENV, TOKEN, 1);
	assert_int_equal(parse(&o, args, N_BASE + 8), 0);
	assert_null(getenv(TERM_TOKEN_ENV));
	assert_string_equal(o.token, TOKEN);
	assert_string_equal(o.relay, "127.0.0.1:8443");
	assert_string_equal(o.service, "SSH");
	assert_string_equal(o.known_host_key, "SHA256:abc");
	assert_string_equal(o.record, "/tmp/r.cast");
	assert_int_equal(o.cols, 132);
	assert_int_equal(o.rows, 50);
	term_options_free(&o);
	assert_null(o.token);
}

static void test_defaults_and_help(void **state)
{
	(void)state;
	struct term_options o;
	setenv(TERM_TOKEN_ENV, TOKEN, 1);
	assert_int_equal(parse(&o, base, N_BASE), 0);
	assert_int_equal(o.cols, 80);
	assert_int_equal(o.rows, 24);
	assert_string_equal(o.known_host_key, "");
	term_options_free(&o);
	const char *help[] = {"--help"};
	assert_int_equal(parse(&o, help, 1), 1);
}

static void test_refused(void **state)
{
	(void)state;
	struct term_options o;
	const char *args[N_BASE + 2];
	memcpy(args, base, sizeof(base));
	/* Each: one more option that must make parsing fail. */
	const char *const bad[][2] = {
		{"--cols", "0"}, {"--rows", "1001"}, {"--cols", "8x"},
		{"--service", "-t"},             /* would be an option to localproxy */
		{"--service", "SSH x"},
		{"--relay", "no-port"},
		{"--known-host-key", "MD5:aa"},
		{"--nonsense", "1"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv(TERM_TOKEN_ENV, TOKEN, 1);
		args[N_BASE] = bad[i][0];
		args[N_BASE + 1] = bad[i][1];
		assert_int_equal(parse(&o, args, N_BASE + 2), -1);
		assert_null(o.token);
	}
	/* No token, or a malformed one. */
	unsetenv(TERM_TOKEN_ENV);
	assert_int_equal(parse(&o, base, N_BASE), -1);
	setenv(TERM_TOKEN_ENV, "has space", 1);
	assert_int_equal(parse(&o, base, N_BASE), -1);
	/* A required option missing. */
	setenv(TERM_TOKEN_ENV, TOKEN, 1);
	assert_int_equal(parse(&o, base, N_BASE - 2), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_defaults_and_help),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
