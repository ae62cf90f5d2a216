/* Unit tests for tunnelctl ssh and forward: their command lines parsed
 * (tunnelctl/cli.c) and the child command lines built from them
 * (tunnelctl/session_argv.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/tunnelctl/tctl_support.h"
#include "tunnelctl/cli.h"
#include "tunnelctl/session_argv.h"

/* argv joined with '|' between words. */
static const char *joined(char *const *v)
{
	static char buf[4096];
	buf[0] = '\0';
	for (int i = 0; v[i]; i++) {
		if (i)
			strncat(buf, "|", sizeof(buf) - strlen(buf) - 1);
		strncat(buf, v[i], sizeof(buf) - strlen(buf) - 1);
	}
	return buf;
}

static void test_parse_ssh_passes_the_rest_to_ssh(void **state)
{
	(void)state;
	assert_int_equal(parse("--url", "https://r:8443", "--key", "k", "ssh", "root@nanopi-01", "-p",
			       "22", "-v", "--", "uname", "-a", NULL), 0);
	assert_int_equal(args.cmd, CMD_SSH);
	assert_string_equal(args.thing, "nanopi-01");
	assert_string_equal(args.ssh_user, "root");
	assert_int_equal(args.n_services, 1);
	assert_string_equal(args.services[0], "SSH");
	assert_int_equal(args.n_ssh_args, 6);
	assert_string_equal(args.ssh_args[0], "-p");
	assert_string_equal(args.ssh_args[5], "-a");
	/* tunnelctl's own options before the command, a service other than SSH */
	assert_int_equal(parse("--service", "SSH2", "--lifetime", "5", "--url", "https://r",
			       "--key", "k", "ssh", "dev", NULL), 0);
	assert_string_equal(args.services[0], "SSH2");
	assert_int_equal(args.lifetime, 5);
	assert_null(args.ssh_user);
	assert_int_equal(args.n_ssh_args, 0);
	/* --token-env: no URL or key needed */
	assert_int_equal(parse("--token-env", "TOK", "ssh", "dev", "true", NULL), 0);
	assert_string_equal(args.token_env, "TOK");
	assert_int_equal(parse("ssh", "--help", NULL), 0);
	assert_true(args.help);
	assert_int_equal(args.cmd, CMD_SSH);
}

static void test_parse_forward(void **state)
{
	(void)state;
	assert_int_equal(parse("--token-env", "T", "forward", "dev", "HTTP", "8080", NULL), 0);
	assert_int_equal(args.cmd, CMD_FORWARD);
	assert_string_equal(args.thing, "dev");
	assert_string_equal(args.services[0], "HTTP");
	assert_string_equal(args.local, "8080");
	assert_int_equal(parse("forward", "dev", "DNS", "udp:5353", "--token-env", "T", NULL), 0);
	assert_string_equal(args.local, "udp:5353");
	assert_int_equal(parse("forward", "dev", "WEB", "--token-env", "T", NULL), 0);
	assert_null(args.local);
}

static void test_parse_session_errors(void **state)
{
	(void)state;
	assert_int_equal(parse("--token-env", "T", "ssh", NULL), 2);
	contains(err, "thing name is required");
	assert_int_equal(parse("--token-env", "T", "ssh", "bad thing", NULL), 2);
	contains(err, "thingName must be");
	assert_int_equal(parse("--token-env", "T", "ssh", "@dev", NULL), 2);
	assert_int_equal(parse("--token-env", "T", "forward", "dev", NULL), 2);
	contains(err, "service is required");
	assert_int_equal(parse("--token-env", "T", "forward", "dev", "S", "1", "2", NULL), 2);
	assert_int_equal(parse("--token-env", "A=B", "forward", "dev", "S", NULL), 2);
	assert_int_equal(parse("--token-env", "T", "list", NULL), 2);
	contains(err, "does not take --token-env");
	/* Without --token-env the API is needed. */
	assert_int_equal(parse("ssh", "dev", NULL), 2);
	contains(err, "no API URL");
}

static void test_ssh_options_split(void **state)
{
	(void)state;
	char *a[] = { "-p", "22", "-vA", "-oBatchMode=yes", "-i", "k", "uname", "-a" };
	int dd;
	assert_int_equal(session_ssh_options(a, 8, &dd), 6);
	assert_int_equal(dd, 0);
	char *b[] = { "-v", "--", "-x" };
	assert_int_equal(session_ssh_options(b, 3, &dd), 1);
	assert_int_equal(dd, 1);
	char *c[] = { "-vp", "22", "host-cmd" };
	assert_int_equal(session_ssh_options(c, 3, &dd), 2);
	char *d[] = { "-p" }; /* a value missing at the end */
	assert_int_equal(session_ssh_options(d, 1, &dd), 1);
	assert_int_equal(session_ssh_options(NULL, 0, &dd), 0);
}

static void test_ssh_argv(void **state)
{
	(void)state;
	assert_int_equal(parse("--url", "https://r:8443", "--key", "k", "--ca", "/etc/ca 1%.pem",
			       "ssh", "root@nanopi-01", "-i", "key", "--", "uname", "-a", NULL), 0);
	struct session_argv v;
	char e[256];
	assert_int_equal(session_ssh_argv(&args, "/opt/it's/localproxy", "r:8443", &v, e, sizeof(e)), 0);
	assert_string_equal(joined(v.v),
			    "ssh|-i|key|-o|ProxyCommand='/opt/it'\\''s/localproxy' '--stdio' 'SSH' "
			    "'-e' 'r:8443' '-c' '/etc/ca 1%%.pem'|-o|HostKeyAlias=nanopi-01|-l|root|--|"
			    "nanopi-01|uname|-a");
	/* No token anywhere: localproxy reads it from its environment. */
	not_contains(v.proxy_command, "-t");
	session_argv_free(&v);

	assert_int_equal(parse("--token-env", "T", "ssh", "dev", NULL), 0);
	assert_int_equal(session_ssh_argv(&args, "localproxy", NULL, &v, e, sizeof(e)), 0);
	assert_string_equal(joined(v.v), "ssh|-o|ProxyCommand='localproxy' '--stdio' 'SSH'|-o|"
			    "HostKeyAlias=dev|--|dev");
	session_argv_free(&v);
}

static void test_forward_argv(void **state)
{
	(void)state;
	assert_int_equal(parse("--token-env", "T", "--ca", "ca.pem", "forward", "dev", "DNS", NULL), 0);
	struct session_argv v;
	char e[256];
	assert_int_equal(session_forward_argv(&args, "/x/localproxy", "h:443", "udp:5353", &v, e,
					      sizeof(e)), 0);
	assert_string_equal(joined(v.v), "/x/localproxy|-s|DNS=udp:5353|-e|h:443|-c|ca.pem");
	session_argv_free(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_parse_ssh_passes_the_rest_to_ssh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_forward, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_session_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ssh_options_split, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ssh_argv, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forward_argv, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
