/* Unit tests for tunnelctl/cli.c: command line parsing, environment, validation, help. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/tunnelctl/tctl_support.h"
#include "tunnelctl/cli.h"

/* ---- parsing: every command ---------------------------------------------- */

static void test_parse_open_all_options(void **state)
{
	(void)state;
	assert_int_equal(parse("--url", "https://relay.example:8443", "--key", "k-123", "--ca",
			       "ca.pem", "open", "--thing", "nanopi-01", "--service", "SSH",
			       "--service", "HTTP", "--lifetime", "60", "--description",
			       "fix the fan", NULL), 0);
	assert_int_equal(args.cmd, CMD_OPEN);
	assert_false(args.help);
	assert_false(args.json);
	assert_false(args.verbose);
	assert_string_equal(args.url, "https://relay.example:8443");
	assert_string_equal(args.key, "k-123");
	assert_true(args.key_on_command_line);
	assert_string_equal(args.ca, "ca.pem");
	assert_string_equal(args.thing, "nanopi-01");
	assert_int_equal(args.n_services, 2);
	assert_string_equal(args.services[0], "SSH");
	assert_string_equal(args.services[1], "HTTP");
	assert_int_equal(args.lifetime, 60);
	assert_string_equal(args.description, "fix the fan");
	assert_null(args.id);
	/* The key was copied and wiped out of argv (it no longer shows in ps). */
	assert_string_equal(arg_store[4], "");
}

static void test_parse_open_minimal(void **state)
{
	(void)state;
	setenv(TCTL_ENV_URL, "https://localhost:8443", 1);
	setenv(TCTL_ENV_KEY, "envkey", 1);
	assert_int_equal(parse("open", "--thing", "t", "--service", "SSH", NULL), 0);
	assert_int_equal(args.lifetime, 0); /* the relay's default */
	assert_null(args.description);
	assert_null(args.ca);
	assert_int_equal(args.n_services, 1);
	/* the limits themselves are accepted */
	assert_int_equal(parse("open", "--thing", "t", "--service", "SSH", "--lifetime", "1", NULL), 0);
	assert_int_equal(args.lifetime, 1);
	assert_int_equal(parse("open", "--thing", "t", "--service", "a", "--service", "b",
			       "--service", "c", "--lifetime", "720", NULL), 0);
	assert_int_equal(args.lifetime, 720);
	assert_int_equal(args.n_services, 3);
}

static void test_parse_list(void **state)
{
	(void)state;
	setenv(TCTL_ENV_URL, "https://localhost:8443", 1);
	setenv(TCTL_ENV_KEY, "envkey", 1);
	assert_int_equal(parse("list", NULL), 0);
	assert_int_equal(args.cmd, CMD_LIST);
	assert_null(args.thing);
	assert_int_equal(parse("list", "--thing", "nanopi-01", NULL), 0);
	assert_string_equal(args.thing, "nanopi-01");
	assert_int_equal(parse("list", "--thing=nanopi-02", NULL), 0);
	assert_string_equal(args.thing, "nanopi-02");
}

static void test_parse_describe_close_rotate(void **state)
{
	(void)state;
	setenv(TCTL_ENV_URL, "https://localhost:8443", 1);
	setenv(TCTL_ENV_KEY, "envkey", 1);
	assert_int_equal(parse("describe", "3f2c", NULL), 0);
	assert_int_equal(args.cmd, CMD_DESCRIBE);
	assert_string_equal(args.id, "3f2c");
	assert_int_equal(parse("close", "3f2c", NULL), 0);
	assert_int_equal(args.cmd, CMD_CLOSE);
	assert_string_equal(args.id, "3f2c");
	assert_int_equal(parse("rotate", "3f2c", "--mode", "DESTINATION", NULL), 0);
	assert_int_equal(args.cmd, CMD_ROTATE);
	assert_string_equal(args.id, "3f2c");
	assert_string_equal(args.mode, "DESTINATION");
	assert_int_equal(parse("rotate", "--mode", "source", "3f2c", NULL), 0);
	assert_string_equal(args.mode, "SOURCE"); /* any case, sent in upper case */
	assert_int_equal(parse("rotate", "3f2c", "--mode=All", NULL), 0);
	assert_string_equal(args.mode, "ALL");
	/* "--" ends the options */
	assert_int_equal(parse("describe", "--", "3f2c", NULL), 0);
	assert_string_equal(args.id, "3f2c");
}

static void test_parse_global_options_after_command(void **state)
{
	(void)state;
	assert_int_equal(parse("open", "--thing", "t", "--service", "SSH", "--url",
			       "https://h:1", "--json", "-v", "--key", "k", "--ca", "c.pem", NULL), 0);
	assert_int_equal(args.cmd, CMD_OPEN);
	assert_string_equal(args.url, "https://h:1");
	assert_string_equal(args.key, "k");
	assert_string_equal(args.ca, "c.pem");
	assert_true(args.json);
	assert_true(args.verbose);

	assert_int_equal(parse("describe", "ID1", "--verbose", "--url=https://h:2", "--key=k2",
			       NULL), 0);
	assert_string_equal(args.id, "ID1");
	assert_string_equal(args.url, "https://h:2");
	assert_string_equal(args.key, "k2");
	assert_true(args.verbose);

	/* mixed: some before, some after */
	assert_int_equal(parse("--json", "--url", "https://h:3", "close", "ID2", "--key", "k3", NULL), 0);
	assert_int_equal(args.cmd, CMD_CLOSE);
	assert_true(args.json);
	assert_string_equal(args.url, "https://h:3");
}

/* ---- parsing: environment ------------------------------------------------- */

static void test_parse_env_fallbacks(void **state)
{
	(void)state;
	setenv(TCTL_ENV_URL, "https://env.example:8443", 1);
	setenv(TCTL_ENV_KEY, "env-key", 1);
	setenv(TCTL_ENV_CA, "/etc/env-ca.pem", 1);
	assert_int_equal(parse("list", NULL), 0);
	assert_string_equal(args.url, "https://env.example:8443");
	assert_string_equal(args.key, "env-key");
	assert_false(args.key_on_command_line);
	assert_string_equal(args.ca, "/etc/env-ca.pem");

	/* the command line wins over the environment */
	assert_int_equal(parse("list", "--url", "https://cli:1", "--key", "cli-key", "--ca", "cli.pem",
			       NULL), 0);
	assert_string_equal(args.url, "https://cli:1");
	assert_string_equal(args.key, "cli-key");
	assert_true(args.key_on_command_line);
	assert_string_equal(args.ca, "cli.pem");

	/* an empty CA variable means the system CAs */
	setenv(TCTL_ENV_CA, "", 1);
	assert_int_equal(parse("list", NULL), 0);
	assert_null(args.ca);
}

static void test_parse_missing_url(void **state)
{
	(void)state;
	setenv(TCTL_ENV_KEY, "k", 1);
	assert_int_equal(parse("list", NULL), 2);
	contains(err, "--url");
	contains(err, "TUNNEL_API_URL");
	setenv(TCTL_ENV_URL, "", 1);
	assert_int_equal(parse("list", NULL), 2);
	contains(err, "TUNNEL_API_URL");
}

static void test_parse_missing_key(void **state)
{
	(void)state;
	setenv(TCTL_ENV_URL, "https://localhost:8443", 1);
	assert_int_equal(parse("describe", "x", NULL), 2);
	contains(err, "--key");
	contains(err, "TUNNEL_API_KEY");
	setenv(TCTL_ENV_KEY, "", 1);
	assert_int_equal(parse("describe", "x", NULL), 2);
	contains(err, "TUNNEL_API_KEY");
	/* a key that would break the header */
	assert_int_equal(parse("describe", "x", "--key", "a\r\nX-Evil: 1", NULL), 2);
	contains(err, "line break");
	not_contains(err, "Evil");
}

static void test_parse_url_must_be_https(void **state)
{
	(void)state;
	setenv(TCTL_ENV_KEY, "k", 1);
	assert_int_equal(parse("list", "--url", "http://localhost:8443", NULL), 2);
	contains(err, "https://");
	assert_int_equal(parse("list", "--url", "localhost:8443", NULL), 2);
	assert_int_equal(parse("list", "--url", "HTTPS://localhost:8443", NULL), 0);
}

/* ---- parsing: local validation --------------------------------------------- */

static void test_parse_bad_lifetime(void **state)
{
	(void)state;
	setenv(TCTL_ENV_URL, "https://localhost:8443", 1);
	setenv(TCTL_ENV_KEY, "k", 1);
	static const char *const bad[] = {"0", "721", "-5", "abc", "60x", "", " 60", "+60",
					  "99999999999999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse("open", "--thing", "t", "--service", "SSH", "--lifetime", bad[i], NULL) != 2)
			fail_msg("--lifetime '%s' was accepted", bad[i]);
		contains(err, TCTL_MSG_LIFETIME);
		contains(err, TCTL_FIELD_LIFETIME);
	}
}

static void test_parse_bad_services(void **state)
{
	(void)state;
	setenv(TCTL_ENV_URL, "https://localhost:8443", 1);
	setenv(TCTL_ENV_KEY, "k", 1);
	assert_int_equal(parse("open", "--thing", "t", NULL), 2);
	contains(err, TCTL_MSG_SERVICES);
	assert_int_equal(parse("open", "--thing", "t", "--service", "A", "--service", "B",
			       "--service", "C", "--service", "D", NULL), 2);
	contains(err, TCTL_MSG_SERVICES);
	contains(err, TCTL_FIELD_SERVICES);
	assert_int_equal(parse("open", "--thing", "t", "--service", "S S", NULL), 2);
	contains(err, "--service 'S S': service 0 must be 1-128 characters of [A-Za-z0-9_:-] "
		      "(field: destinationConfig.services)");
	assert_int_equal(parse("open", "--thing", "t", "--service", "SSH", "--service", "", NULL), 2);
	contains(err, "service 1 must be 1-128 characters of [A-Za-z0-9_:-]");
	char long_id[130];
	memset(long_id, 'a', 129);
	long_id[129] = '\0';
	assert_int_equal(parse("open", "--thing", "t", "--service", long_id, NULL), 2);
	long_id[128] = '\0';
	assert_int_equal(parse("open", "--thing", "t", "--service", long_id, NULL), 0);
	assert_int_equal(parse("open", "--thing", "t", "--service", "SSH", "--service", "SSH", NULL), 2);
	contains(err, "service SSH is listed twice");
	assert_int_equal(parse("open", "--thing", "t", "--service", "a_b:c-D9", NULL), 0);
}

static void test_parse_bad_open_thing(void **state)
{
	(void)state;
	setenv(TCTL_ENV_URL, "https://localhost:8443", 1);
	setenv(TCTL_ENV_KEY, "k", 1);
	assert_int_equal(parse("open", "--service", "SSH", NULL), 2);
	contains(err, "--thing");
	contains(err, TCTL_FIELD_THING);
	assert_int_equal(parse("open", "--thing", "", "--service", "SSH", NULL), 2);
	contains(err, TCTL_MSG_THING);
	assert_int_equal(parse("open", "--thing", "nano pi", "--service", "SSH", NULL), 2);
	contains(err, "--thing 'nano pi': " TCTL_MSG_THING);
	char name[130];
	memset(name, 'n', 129);
	name[129] = '\0';
	assert_int_equal(parse("open", "--thing", name, "--service", "SSH", NULL), 2);
	name[128] = '\0';
	assert_int_equal(parse("open", "--thing", name, "--service", "SSH", NULL), 0);
	assert_int_equal(parse("open", "--thing", "a_b:c-D9", "--service", "SSH", NULL), 0);
}

static void test_parse_bad_description(void **state)
{
	(void)state;
	setenv(TCTL_ENV_URL, "https://localhost:8443", 1);
	setenv(TCTL_ENV_KEY, "k", 1);
	char text[258];
	memset(text, 'd', 257);
	text[257] = '\0';
	assert_int_equal(parse("open", "--thing", "t", "--service", "SSH", "--description", text, NULL), 2);
	contains(err, TCTL_MSG_DESCRIPTION);
	contains(err, TCTL_FIELD_DESCRIPTION);
	text[256] = '\0';
	assert_int_equal(parse("open", "--thing", "t", "--service", "SSH", "--description", text, NULL), 0);
	assert_int_equal(parse("open", "--thing", "t", "--service", "SSH", "--description", "", NULL), 0);
}

static void test_parse_bad_mode(void **state)
{
	(void)state;
	setenv(TCTL_ENV_URL, "https://localhost:8443", 1);
	setenv(TCTL_ENV_KEY, "k", 1);
	assert_int_equal(parse("rotate", "x", NULL), 2);
	contains(err, TCTL_MSG_MODE);
	assert_int_equal(parse("rotate", "x", "--mode", "BOTH", NULL), 2);
	contains(err, TCTL_MSG_MODE);
	contains(err, "BOTH");
	contains(err, TCTL_FIELD_MODE);
	assert_int_equal(parse("rotate", "x", "--mode", "", NULL), 2);
}

/* ---- parsing: usage errors and help -------------------------------------- */

static void test_parse_usage_errors(void **state)
{
	(void)state;
	setenv(TCTL_ENV_URL, "https://localhost:8443", 1);
	setenv(TCTL_ENV_KEY, "k", 1);
	assert_int_equal(parse(NULL), 2);
	contains(err, "no command");
	assert_int_equal(parse("--json", NULL), 2);
	contains(err, "no command");
	assert_int_equal(parse("frobnicate", NULL), 2);
	contains(err, "unknown command 'frobnicate'");
	assert_int_equal(parse("list", "--bogus", NULL), 2);
	contains(err, "unknown option --bogus");
	assert_int_equal(parse("list", "-x", NULL), 2);
	contains(err, "unknown option -x");
	assert_int_equal(parse("open", "--service", "SSH", "--thing", NULL), 2);
	contains(err, "--thing needs a value");
	assert_int_equal(parse("describe", NULL), 2);
	contains(err, "tunnel ID is required");
	assert_int_equal(parse("describe", "a", "b", NULL), 2);
	contains(err, "unexpected argument 'b'");
	assert_int_equal(parse("list", "extra", NULL), 2);
	contains(err, "unexpected argument 'extra'");
	assert_int_equal(parse("close", "", NULL), 2);
	/* options of another command */
	assert_int_equal(parse("list", "--service", "SSH", NULL), 2);
	contains(err, "list does not take --service");
	assert_int_equal(parse("close", "x", "--mode", "ALL", NULL), 2);
	contains(err, "close does not take --mode");
	assert_int_equal(parse("describe", "x", "--thing", "t", NULL), 2);
	contains(err, "describe does not take --thing");
	assert_int_equal(parse("rotate", "x", "--mode", "ALL", "--lifetime", "5", NULL), 2);
	contains(err, "--lifetime");
}

static void test_parse_help(void **state)
{
	(void)state;
	/* no URL or key needed for help */
	assert_int_equal(parse("--help", NULL), 0);
	assert_true(args.help);
	assert_int_equal(args.cmd, CMD_NONE);
	assert_int_equal(parse("open", "--help", NULL), 0);
	assert_true(args.help);
	assert_int_equal(args.cmd, CMD_OPEN);
	assert_int_equal(parse("-h", "rotate", NULL), 0);
	assert_true(args.help);
	assert_int_equal(args.cmd, CMD_ROTATE);
	assert_int_equal(parse("help", "list", NULL), 0);
	assert_true(args.help);
	assert_int_equal(args.cmd, CMD_LIST);
	assert_int_equal(parse("help", NULL), 0);
	assert_true(args.help);
	assert_int_equal(args.cmd, CMD_NONE);
	assert_int_equal(parse("help", "nope", NULL), 2);

	/* every help text names its command and the env variables */
	for (int c = CMD_NONE; c <= CMD_CLOSE; c++) {
		char *text = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&text, &len);
		tctl_usage((enum tctl_cmd)c, f);
		fclose(f);
		contains(text, "Usage: tunnelctl");
		contains(text, tctl_cmd_name((enum tctl_cmd)c));
		contains(text, TCTL_ENV_KEY);
		contains(text, TCTL_ENV_URL);
		if (c == CMD_OPEN || c == CMD_ROTATE)
			contains(text, "only with --json"); /* where the destination token goes */
		free(text);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_parse_open_all_options, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_open_minimal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_describe_close_rotate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_global_options_after_command, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_env_fallbacks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_missing_url, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_missing_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_url_must_be_https, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_bad_lifetime, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_bad_services, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_bad_open_thing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_bad_description, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_bad_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_usage_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_help, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
