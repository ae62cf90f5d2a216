/* Unit tests for relay/relay_conf.c: relay.conf's lines become arguments
 * checked against the option table, before the command line's. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relay/relay_conf.h"
#include "relay/relay_options.h"

static const struct option table[] = {
	{"port", required_argument, NULL, 'p'},
	{"cert", required_argument, NULL, 1},
	{"quiet", no_argument, NULL, 2},
	{"config", required_argument, NULL, 3},
	{"check", no_argument, NULL, 4},
	{NULL, 0, NULL, 0},
};

static void test_value_becomes_long_option(void **state)
{
	char *arg = NULL, err[256] = "";
	(void)state;
	assert_int_equal(relay_conf_arg("cert", "/etc/x y.pem", table, &arg, err, sizeof(err)), 0);
	assert_string_equal(arg, "--cert=/etc/x y.pem");
	free(arg);
}

static void test_flags_take_yes_or_no(void **state)
{
	char *arg = NULL, err[256] = "";
	(void)state;
	assert_int_equal(relay_conf_arg("quiet", "yes", table, &arg, err, sizeof(err)), 0);
	assert_string_equal(arg, "--quiet");
	free(arg);
	assert_int_equal(relay_conf_arg("quiet", "false", table, &arg, err, sizeof(err)), 0);
	assert_null(arg);
	/* on/off too (proxy-protocol = on). */
	assert_int_equal(relay_conf_arg("quiet", "on", table, &arg, err, sizeof(err)), 0);
	assert_string_equal(arg, "--quiet");
	free(arg);
	assert_int_equal(relay_conf_arg("quiet", "off", table, &arg, err, sizeof(err)), 0);
	assert_null(arg);
	assert_int_equal(relay_conf_arg("quiet", "maybe", table, &arg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "want yes or no"));
}

static void test_refused_keys_say_why(void **state)
{
	char *arg = NULL, err[256] = "";
	(void)state;
	assert_int_equal(relay_conf_arg("prot", "1", table, &arg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown key 'prot'"));
	assert_int_equal(relay_conf_arg("config", "/x", table, &arg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "command line"));
	assert_int_equal(relay_conf_arg("check", "yes", table, &arg, err, sizeof(err)), -1);
	assert_int_equal(relay_conf_arg("port", "", table, &arg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no value"));
	assert_null(arg);
}

/* A temporary file holding text; its path in path. */
static void write_temp(char *path, size_t cap, const char *text)
{
	snprintf(path, cap, "/tmp/relay-conf-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(close(fd), 0);
}

static void test_file_goes_before_command_line(void **state)
{
	char path[64];
	(void)state;
	write_temp(path, sizeof(path), "# comment\n\nport = 9443\n  cert=/c.pem  \nquiet = no\n");
	char *argv[] = {"tunnel-relay", "--config", path, "-p", "1", NULL};
	struct relay_args a;
	assert_int_equal(relay_conf_merge(5, argv, table, &a), 0);
	unlink(path);
	assert_int_equal(a.argc, 7);
	assert_false(a.check);
	assert_string_equal(a.argv[0], "tunnel-relay");
	assert_string_equal(a.argv[1], "--port=9443");
	assert_string_equal(a.argv[2], "--cert=/c.pem");
	assert_string_equal(a.argv[3], "--config");
	assert_string_equal(a.argv[5], "-p");
	assert_null(a.argv[7]);
	relay_args_free(&a);
}

static void test_bad_line_fails_and_check_is_seen(void **state)
{
	char path[64];
	(void)state;
	write_temp(path, sizeof(path), "port = 1\njust words\n");
	char config_arg[80];
	snprintf(config_arg, sizeof(config_arg), "--config=%s", path);
	char *argv[] = {"tunnel-relay", config_arg, "--check", NULL};
	struct relay_args a;
	assert_int_equal(relay_conf_merge(3, argv, table, &a), -1);
	unlink(path);
	assert_true(a.check);
	assert_null(a.argv);
	char *missing[] = {"tunnel-relay", "--config", "/nonexistent/relay.conf", NULL};
	assert_int_equal(relay_conf_merge(3, missing, table, &a), -1);
}

/* Every key of the real table is accepted, except the command line's own. */
static void test_real_table(void **state)
{
	char *arg = NULL, err[256] = "";
	(void)state;
	assert_int_equal(relay_conf_arg("db", "/var/lib/tunnel-relay/relay.db", relay_options_table(),
					&arg, err, sizeof(err)), 0);
	assert_string_equal(arg, "--db=/var/lib/tunnel-relay/relay.db");
	free(arg);
	assert_int_equal(relay_conf_arg("help", "yes", relay_options_table(), &arg, err, sizeof(err)),
			 -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_value_becomes_long_option),
		cmocka_unit_test(test_flags_take_yes_or_no),
		cmocka_unit_test(test_refused_keys_say_why),
		cmocka_unit_test(test_file_goes_before_command_line),
		cmocka_unit_test(test_bad_line_fails_and_check_is_seen),
		cmocka_unit_test(test_real_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
