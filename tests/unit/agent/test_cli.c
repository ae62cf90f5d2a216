/* Unit tests for agent/cli.c: tunnel-agent's command line and --help (which
 * must document every configuration key). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cli.h"
#include "agent/config.h"

static int parse(char **argv, struct agent_cli *cli, char *out, char *err)
{
	int argc = 0;
	while (argv[argc] != NULL)
		argc++;
	FILE *o = fmemopen(out, 16384, "w");
	FILE *e = fmemopen(err, 1024, "w");
	int rc = agent_cli_parse(argc, argv, cli, o, e);
	fclose(o);
	fclose(e);
	return rc;
}

static char out[16384], err[1024];

static void defaults_and_options(void **state)
{
	struct agent_cli cli;
	char *a[] = {"tunnel-agent", NULL};
	assert_int_equal(parse(a, &cli, out, err), 0);
	assert_string_equal(cli.config_path, AGENT_DEFAULT_CONFIG);
	assert_false(cli.check);
	char *b[] = {"tunnel-agent", "-c", "/etc/x.json", "--check", NULL};
	assert_int_equal(parse(b, &cli, out, err), 0);
	assert_string_equal(cli.config_path, "/etc/x.json");
	assert_true(cli.check);
	char *c[] = {"tunnel-agent", "--config=/y.json", NULL};
	assert_int_equal(parse(c, &cli, out, err), 0);
	assert_string_equal(cli.config_path, "/y.json");
}

static void errors(void **state)
{
	struct agent_cli cli;
	char *a[] = {"tunnel-agent", "-x", NULL};
	assert_int_equal(parse(a, &cli, out, err), -1);
	assert_string_equal(err, "tunnel-agent: unknown option -x (see --help)\n");
	char *b[] = {"tunnel-agent", "-c", NULL};
	assert_int_equal(parse(b, &cli, out, err), -1);
	assert_string_equal(err, "tunnel-agent: option -c needs a value (see --help)\n");
	char *c[] = {"tunnel-agent", "extra", NULL};
	assert_int_equal(parse(c, &cli, out, err), -1);
	assert_string_equal(err, "tunnel-agent: unexpected argument 'extra' (see --help)\n");
	char *d[] = {"tunnel-agent", "-c", "", NULL};
	assert_int_equal(parse(d, &cli, out, err), -1);
	assert_string_equal(err, "tunnel-agent: -c needs a file name\n");
}

static void help_documents_every_key(void **state)
{
	struct agent_cli cli;
	char *a[] = {"tunnel-agent", "--help", NULL};
	assert_int_equal(parse(a, &cli, out, err), 1);
	const char *keys[] = {"\"thingName\"", "\"broker\"", "\"uri\"", "\"ca\"", "\"cert\"",
			      "\"key\"", "\"clientId\"", "\"keepAliveSeconds\"", "\"notifyTopic\"",
			      "\"relay\"", "\"endpoint\"", "\"localproxy\"", "\"services\"",
			      "\"maxTunnels\"", "\"logLevel\"", "\"useNotifiedEndpoint\"", "--check",
			      "-c, --config", AGENT_DEFAULT_CONFIG, AGENT_DEFAULT_LOCALPROXY,
			      AGENT_DEFAULT_TOPIC, "SIGHUP"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strstr(out, keys[i]) == NULL)
			fail_msg("--help does not mention %s", keys[i]);
	char *b[] = {"tunnel-agent", "-h", NULL};
	assert_int_equal(parse(b, &cli, out, err), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_and_options),
		cmocka_unit_test(errors),
		cmocka_unit_test(help_documents_every_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
