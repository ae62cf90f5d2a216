/* Unit tests for tunnelctl's pure parts: command line parsing (tunnelctl/cli.c),
 * request building (request.c, url.c) and output rendering (render.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tunnelctl/cli.h"
#include "tunnelctl/render.h"
#include "tunnelctl/request.h"
#include "tunnelctl/url.h"

/* ---- helpers -------------------------------------------------------------- */

/* argv lives here: tctl_args points into it, and --key is wiped in it. */
#define MAX_ARGS 32
static char arg_store[MAX_ARGS][300];
static char *argv_store[MAX_ARGS + 1];
static struct tctl_args args;
static char err[512];

/* Parses "tunnelctl" followed by the NULL-terminated arguments. */
static int parse(const char *first, ...)
{
	int argc = 0;
	snprintf(arg_store[argc], sizeof(arg_store[argc]), "tunnelctl");
	argv_store[argc] = arg_store[argc];
	argc++;
	va_list ap;
	va_start(ap, first);
	for (const char *s = first; s; s = va_arg(ap, const char *)) {
		assert_true(argc < MAX_ARGS);
		snprintf(arg_store[argc], sizeof(arg_store[argc]), "%s", s);
		argv_store[argc] = arg_store[argc];
		argc++;
	}
	va_end(ap);
	argv_store[argc] = NULL;
	tctl_args_free(&args);
	return tctl_parse(argc, argv_store, &args, err, sizeof(err));
}

static void contains(const char *text, const char *want)
{
	if (!strstr(text, want))
		fail_msg("'%s' does not contain '%s'", text, want);
}

static void not_contains(const char *text, const char *unwanted)
{
	if (strstr(text, unwanted))
		fail_msg("'%s' contains '%s'", text, unwanted);
}

static int setup(void **state)
{
	(void)state;
	unsetenv(TCTL_ENV_URL);
	unsetenv(TCTL_ENV_KEY);
	unsetenv(TCTL_ENV_CA);
	memset(&args, 0, sizeof(args));
	err[0] = '\0';
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tctl_args_free(&args);
	unsetenv(TCTL_ENV_URL);
	unsetenv(TCTL_ENV_KEY);
	unsetenv(TCTL_ENV_CA);
	return 0;
}

/* Captured stdout/stderr of one render call. */
struct capture {
	char *out, *err;
	size_t out_len, err_len;
	int rc;
};

static void capture_free(struct capture *c)
{
	free(c->out);
	free(c->err);
}

static struct capture render(const struct tctl_args *a, long status, const char *body)
{
	struct capture c = {0};
	FILE *out = open_memstream(&c.out, &c.out_len);
	FILE *errf = open_memstream(&c.err, &c.err_len);
	assert_non_null(out);
	assert_non_null(errf);
	c.rc = render_response(a, status, body, body ? strlen(body) : 0, out, errf);
	fclose(out);
	fclose(errf);
	return c;
}

static void expect_text(const char *got, const char *want)
{
	if (strcmp(got, want) != 0)
		fail_msg("got:\n%s\nwant:\n%s", got, want);
}

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

/* ---- request building ------------------------------------------------------ */

static void test_request_open(void **state)
{
	(void)state;
	assert_int_equal(parse("open", "--url", "https://relay.example:8443/", "--key", "k", "--thing",
			       "nanopi-01", "--service", "SSH", "--service", "HTTP", "--lifetime", "60",
			       "--description", "say \"hi\"", NULL), 0);
	struct tctl_request req;
	assert_int_equal(tctl_request_build(&args, &req, err, sizeof(err)), 0);
	assert_string_equal(req.method, "POST");
	assert_string_equal(req.url, "https://relay.example:8443/api/v1/tunnels");
	cJSON *got = cJSON_Parse(req.body);
	cJSON *want = cJSON_Parse(
		"{\"destinationConfig\":{\"thingName\":\"nanopi-01\",\"services\":[\"SSH\",\"HTTP\"]},"
		"\"timeoutConfig\":{\"maxLifetimeTimeoutMinutes\":60},\"description\":\"say \\\"hi\\\"\"}");
	assert_non_null(got);
	assert_true(cJSON_Compare(got, want, 1));
	cJSON_Delete(got);
	cJSON_Delete(want);
	tctl_request_free(&req);

	/* no lifetime, no description: not sent */
	assert_int_equal(parse("open", "--url", "https://h", "--key", "k", "--thing", "t",
			       "--service", "SSH", NULL), 0);
	assert_int_equal(tctl_request_build(&args, &req, err, sizeof(err)), 0);
	assert_string_equal(req.body, "{\"destinationConfig\":{\"services\":[\"SSH\"],\"thingName\":\"t\"}}");
	tctl_request_free(&req);
}

static void test_request_others(void **state)
{
	(void)state;
	setenv(TCTL_ENV_URL, "https://h:8443/prefix//", 1);
	setenv(TCTL_ENV_KEY, "k", 1);
	struct tctl_request req;

	assert_int_equal(parse("list", NULL), 0);
	assert_int_equal(tctl_request_build(&args, &req, err, sizeof(err)), 0);
	assert_string_equal(req.method, "GET");
	assert_string_equal(req.url, "https://h:8443/prefix/api/v1/tunnels");
	assert_null(req.body);
	tctl_request_free(&req);

	assert_int_equal(parse("list", "--thing", "a b&c=d", NULL), 0);
	assert_int_equal(tctl_request_build(&args, &req, err, sizeof(err)), 0);
	assert_string_equal(req.url, "https://h:8443/prefix/api/v1/tunnels?thingName=a%20b%26c%3Dd");
	tctl_request_free(&req);

	assert_int_equal(parse("describe", "3f2c/../x", NULL), 0);
	assert_int_equal(tctl_request_build(&args, &req, err, sizeof(err)), 0);
	assert_string_equal(req.method, "GET");
	assert_string_equal(req.url, "https://h:8443/prefix/api/v1/tunnels/3f2c%2F..%2Fx");
	tctl_request_free(&req);

	assert_int_equal(parse("rotate", "3f2c", "--mode", "destination", NULL), 0);
	assert_int_equal(tctl_request_build(&args, &req, err, sizeof(err)), 0);
	assert_string_equal(req.method, "POST");
	assert_string_equal(req.url, "https://h:8443/prefix/api/v1/tunnels/3f2c/rotate");
	assert_string_equal(req.body, "{\"clientMode\":\"DESTINATION\"}");
	tctl_request_free(&req);

	assert_int_equal(parse("close", "3f2c", NULL), 0);
	assert_int_equal(tctl_request_build(&args, &req, err, sizeof(err)), 0);
	assert_string_equal(req.method, "DELETE");
	assert_string_equal(req.url, "https://h:8443/prefix/api/v1/tunnels/3f2c");
	assert_null(req.body);
	tctl_request_free(&req);
}

static void endpoint_is(const char *url, const char *want)
{
	char out[300];
	if (url_endpoint(url, out, sizeof(out)) != 0)
		fail_msg("url_endpoint('%s') failed", url);
	if (strcmp(out, want) != 0)
		fail_msg("url_endpoint('%s') = '%s', want '%s'", url, out, want);
}

static void test_url_endpoint(void **state)
{
	(void)state;
	endpoint_is("https://relay.example:8443", "relay.example:8443");
	endpoint_is("https://relay.example:8443/", "relay.example:8443");
	endpoint_is("https://relay.example", "relay.example:443");
	endpoint_is("HTTPS://relay.example/api?x=1#f", "relay.example:443");
	endpoint_is("https://user:pw@relay.example:9000/x", "relay.example:9000");
	endpoint_is("https://[::1]:8443", "[::1]:8443");
	endpoint_is("https://[::1]", "[::1]:443");
	endpoint_is("https://127.0.0.1:65535", "127.0.0.1:65535");
	static const char *const bad[] = {
		"http://relay.example:8443", "relay.example:8443", "https://", "https://:8443",
		"https://h:0", "https://h:65536", "https://h:", "https://h:80a", "https://[::1",
		"https://[]:1", "https://[::1]x", "https://h:123456",
	};
	char out[300];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (url_endpoint(bad[i], out, sizeof(out)) == 0)
			fail_msg("url_endpoint('%s') accepted: '%s'", bad[i], out);
	/* too small an output buffer */
	char tiny[8];
	assert_int_equal(url_endpoint("https://relay.example:8443", tiny, sizeof(tiny)), -1);
}

static void test_url_escape_and_join(void **state)
{
	(void)state;
	char *s = url_escape("aZ09-._~ /?#&=%\xc3\xa9");
	assert_string_equal(s, "aZ09-._~%20%2F%3F%23%26%3D%25%C3%A9");
	free(s);
	s = url_escape("");
	assert_string_equal(s, "");
	free(s);
	s = url_join("https://h/", "/api");
	assert_string_equal(s, "https://h/api");
	free(s);
	s = url_join("https://h", "/api");
	assert_string_equal(s, "https://h/api");
	free(s);
}

/* ---- rendering: open ------------------------------------------------------- */

static const char open_ok[] =
	"{\"tunnelId\":\"3f2c9a\",\"sourceAccessToken\":\"SRC-tok_1\","
	"\"destinationAccessToken\":\"DST-secret\",\"expiresAt\":\"2026-11-22T03:50:00Z\","
	"\"notification\":{\"delivered\":true,\"detail\":\"\"}}";

static void test_render_open_ssh(void **state)
{
	(void)state;
	assert_int_equal(parse("open", "--url", "https://relay.example:8443", "--key", "API-KEY",
			       "--ca", "certs/dev/ca.pem", "--thing", "nanopi-01", "--service", "SSH",
			       NULL), 0);
	struct capture c = render(&args, 201, open_ok);
	assert_int_equal(c.rc, 0);
	expect_text(c.out,
		    "Tunnel 3f2c9a open for nanopi-01 (SSH) until 2026-11-22T03:50:00Z.\n"
		    "Device notified over MQTT: yes\n"
		    "On your PC run:\n"
		    "  AWSIOT_TUNNEL_ACCESS_TOKEN=SRC-tok_1 localproxy -s 2222 -e relay.example:8443 "
		    "-c certs/dev/ca.pem\n"
		    "  ssh -p 2222 <user>@localhost\n");
	expect_text(c.err, "");
	contains(c.out, "-e relay.example:8443");
	not_contains(c.out, "DST-secret"); /* destination token: only with --json */
	not_contains(c.out, "API-KEY");
	capture_free(&c);
}

static void test_render_open_services_not_delivered(void **state)
{
	(void)state;
	assert_int_equal(parse("open", "--url", "https://[::1]", "--key", "k", "--thing", "pi",
			       "--service", "SSH", "--service", "HTTP", "--service", "VNC", NULL), 0);
	struct capture c = render(&args, 201,
				  "{\"tunnelId\":\"t1\",\"sourceAccessToken\":\"S\","
				  "\"expiresAt\":\"2026-11-22T03:50:00Z\",\"notification\":"
				  "{\"delivered\":false,\"detail\":\"broker unreachable\"}}");
	assert_int_equal(c.rc, 0);
	expect_text(c.out,
		    "Tunnel t1 open for pi (SSH, HTTP, VNC) until 2026-11-22T03:50:00Z.\n"
		    "Device notified over MQTT: no (broker unreachable)\n"
		    "The device's agent starts its side only when notified: run 'tunnelctl rotate t1 "
		    "--mode DESTINATION' to notify it again, or use --json to get the destination "
		    "token.\n"
		    "On your PC run:\n"
		    "  AWSIOT_TUNNEL_ACCESS_TOKEN=S localproxy -s SSH=2222,HTTP=2223,VNC=2224 "
		    "-e '[::1]:443'\n"
		    "  ssh -p 2222 <user>@localhost\n"
		    "  # HTTP: http://localhost:2223/\n"
		    "  # VNC: connect your client to localhost:2224\n");
	capture_free(&c);
}

static void test_render_open_quotes_shell_words(void **state)
{
	(void)state;
	assert_int_equal(parse("open", "--url", "https://relay.example:8443", "--key", "k",
			       "--ca", "/home/me/my ca's.pem", "--thing", "pi", "--service", "HTTPS",
			       NULL), 0);
	struct capture c = render(&args, 201,
				  "{\"tunnelId\":\"t1\",\"sourceAccessToken\":\"a b;rm\","
				  "\"expiresAt\":\"x\"}");
	assert_int_equal(c.rc, 0);
	contains(c.out, "Device notified over MQTT: unknown\n");
	contains(c.out, "  AWSIOT_TUNNEL_ACCESS_TOKEN='a b;rm' localproxy -s 2222 "
			"-e relay.example:8443 -c '/home/me/my ca'\\''s.pem'\n");
	contains(c.out, "  # HTTPS: https://localhost:2222/\n");
	capture_free(&c);
}

static void test_render_open_bad_response(void **state)
{
	(void)state;
	assert_int_equal(parse("open", "--url", "https://h", "--key", "k", "--thing", "pi",
			       "--service", "SSH", NULL), 0);
	struct capture c = render(&args, 201, "{\"tunnelId\":\"t1\"}");
	assert_int_equal(c.rc, 1);
	contains(c.err, "tunnelctl: HTTP 201: the response has no sourceAccessToken");
	capture_free(&c);
	c = render(&args, 201, "not json");
	assert_int_equal(c.rc, 1);
	contains(c.err, "not a JSON object");
	capture_free(&c);
	c = render(&args, 201, "");
	assert_int_equal(c.rc, 1);
	capture_free(&c);
	c = render(&args, 200, "[1,2]");
	assert_int_equal(c.rc, 1);
	capture_free(&c);
}

/* ---- rendering: list, describe, rotate, close ------------------------------ */

static void test_render_list(void **state)
{
	(void)state;
	assert_int_equal(parse("list", "--url", "https://h", "--key", "k", NULL), 0);
	struct capture c = render(
		&args, 200,
		"{\"tunnelSummaries\":["
		"{\"tunnelId\":\"3f2c9a1b\",\"thingName\":\"nanopi-01\",\"status\":\"OPEN\","
		"\"description\":\"d\",\"createdAt\":\"2026-11-22T02:50:00Z\",\"expiresAt\":\"2026-11-22T03:50:00Z\"},"
		"{\"tunnelId\":\"77\",\"thingName\":\"caf\xc3\xa9\",\"status\":\"CLOSED\","
		"\"createdAt\":\"2026-11-21T02:50:00Z\"}]}");
	assert_int_equal(c.rc, 0);
	expect_text(c.out,
		    "ID        THING      STATUS  CREATED               EXPIRES\n"
		    "3f2c9a1b  nanopi-01  OPEN    2026-11-22T02:50:00Z  2026-11-22T03:50:00Z\n"
		    "77        caf\xc3\xa9       CLOSED  2026-11-21T02:50:00Z  -\n");
	capture_free(&c);

	c = render(&args, 200, "{\"tunnelSummaries\":[]}");
	assert_int_equal(c.rc, 0);
	expect_text(c.out, "No tunnels.\n");
	capture_free(&c);

	c = render(&args, 200, "{\"tunnels\":[]}");
	assert_int_equal(c.rc, 1);
	contains(c.err, "tunnelSummaries");
	capture_free(&c);
}

static void test_render_describe(void **state)
{
	(void)state;
	assert_int_equal(parse("describe", "3f2c", "--url", "https://h", "--key", "k", NULL), 0);
	struct capture c = render(
		&args, 200,
		"{\"tunnel\":{\"tunnelId\":\"3f2c\",\"status\":\"OPEN\",\"description\":\"fan\","
		"\"destinationConfig\":{\"thingName\":\"nanopi-01\",\"services\":[\"SSH\",\"HTTP\"]},"
		"\"sourceConnectionState\":{\"status\":\"CONNECTED\",\"lastUpdatedAt\":\"2026-11-22T02:51:00Z\"},"
		"\"destinationConnectionState\":{\"status\":\"DISCONNECTED\"},"
		"\"timeoutConfig\":{\"maxLifetimeTimeoutMinutes\":60},"
		"\"createdAt\":\"2026-11-22T02:50:00Z\",\"expiresAt\":\"2026-11-22T03:50:00Z\","
		"\"liveConnections\":2}}");
	assert_int_equal(c.rc, 0);
	expect_text(c.out,
		    "Tunnel:           3f2c\n"
		    "Status:           OPEN\n"
		    "Description:      fan\n"
		    "Thing:            nanopi-01\n"
		    "Services:         SSH, HTTP\n"
		    "Source:           CONNECTED since 2026-11-22T02:51:00Z\n"
		    "Destination:      DISCONNECTED\n"
		    "Lifetime:         60 minutes\n"
		    "Created:          2026-11-22T02:50:00Z\n"
		    "Expires:          2026-11-22T03:50:00Z\n"
		    "Live connections: 2\n");
	capture_free(&c);

	/* a closed tunnel shows when it closed */
	c = render(&args, 200,
		   "{\"tunnel\":{\"tunnelId\":\"3f2c\",\"status\":\"CLOSED\","
		   "\"expiresAt\":\"2026-11-22T03:50:00Z\",\"closedAt\":\"2026-11-22T03:00:00Z\"}}");
	assert_int_equal(c.rc, 0);
	contains(c.out, "Expires:          2026-11-22T03:50:00Z\nClosed:           2026-11-22T03:00:00Z\n");
	capture_free(&c);

	/* missing parts (and null times) show as "-" */
	c = render(&args, 200, "{\"tunnel\":{\"tunnelId\":\"3f2c\",\"createdAt\":null}}");
	assert_int_equal(c.rc, 0);
	contains(c.out, "Created:          -\n");
	not_contains(c.out, "Closed:");
	contains(c.out, "Description:      -\n");
	contains(c.out, "Services:         -\n");
	contains(c.out, "Source:           -\n");
	contains(c.out, "Live connections: -\n");
	capture_free(&c);

	c = render(&args, 200, "{}");
	assert_int_equal(c.rc, 1);
	capture_free(&c);
}

static void test_render_control_characters(void **state)
{
	(void)state;
	assert_int_equal(parse("describe", "3f2c", "--url", "https://h", "--key", "k", NULL), 0);
	struct capture c = render(&args, 200,
				  "{\"tunnel\":{\"tunnelId\":\"3f2c\",\"description\":"
				  "\"a\\u001b[31mred\\r\\nb\\u009bc\\u007f\"}}");
	assert_int_equal(c.rc, 0);
	contains(c.out, "Description:      a?[31mred??b?c?\n");
	not_contains(c.out, "\x1b");
	capture_free(&c);
}

static void test_render_rotate(void **state)
{
	(void)state;
	assert_int_equal(parse("rotate", "3f2c", "--mode", "ALL", "--url", "https://h", "--key", "k",
			       NULL), 0);
	struct capture c = render(&args, 200,
				  "{\"tunnelId\":\"3f2c\",\"sourceAccessToken\":\"NEWSRC\","
				  "\"destinationAccessToken\":\"NEWDST\",\"notification\":"
				  "{\"delivered\":true,\"detail\":\"published\"}}");
	assert_int_equal(c.rc, 0);
	expect_text(c.out,
		    "Tunnel 3f2c: new source and destination tokens; the previous ones no longer work.\n"
		    "Source token: NEWSRC\n"
		    "  (run localproxy with AWSIOT_TUNNEL_ACCESS_TOKEN set to it)\n"
		    "Destination token: issued (printed only with --json)\n"
		    "Device notified over MQTT: yes (published)\n");
	not_contains(c.out, "NEWDST");
	capture_free(&c);

	assert_int_equal(parse("rotate", "3f2c", "--mode", "SOURCE", "--url", "https://h", "--key", "k",
			       NULL), 0);
	c = render(&args, 200, "{\"tunnelId\":\"3f2c\",\"sourceAccessToken\":\"S2\"}");
	assert_int_equal(c.rc, 0);
	expect_text(c.out,
		    "Tunnel 3f2c: new source token; the previous one no longer works.\n"
		    "Source token: S2\n"
		    "  (run localproxy with AWSIOT_TUNNEL_ACCESS_TOKEN set to it)\n");
	capture_free(&c);

	assert_int_equal(parse("rotate", "3f2c", "--mode", "DESTINATION", "--url", "https://h", "--key",
			       "k", NULL), 0);
	c = render(&args, 200,
		   "{\"tunnelId\":\"3f2c\",\"destinationAccessToken\":\"D2\",\"notification\":"
		   "{\"delivered\":false,\"detail\":\"no subscriber\"}}");
	assert_int_equal(c.rc, 0);
	expect_text(c.out,
		    "Tunnel 3f2c: new destination token; the previous one no longer works.\n"
		    "Destination token: issued (printed only with --json)\n"
		    "Device notified over MQTT: no (no subscriber)\n");
	capture_free(&c);

	c = render(&args, 200, "{\"tunnelId\":\"3f2c\"}");
	assert_int_equal(c.rc, 1);
	capture_free(&c);
}

static void test_render_close(void **state)
{
	(void)state;
	assert_int_equal(parse("close", "3f2c", "--url", "https://h", "--key", "k", NULL), 0);
	struct capture c = render(&args, 200, "{\"tunnelId\":\"3f2c\",\"status\":\"CLOSED\"}");
	assert_int_equal(c.rc, 0);
	expect_text(c.out, "Tunnel 3f2c closed.\n");
	expect_text(c.err, "");
	capture_free(&c);
}

/* ---- rendering: errors and --json ------------------------------------------ */

static void test_render_errors(void **state)
{
	(void)state;
	assert_int_equal(parse("describe", "X", "--url", "https://h", "--key", "k", NULL), 0);
	struct capture c = render(&args, 404,
				  "{\"error\":{\"code\":\"NotFound\",\"message\":\"no tunnel with id X\"}}");
	assert_int_equal(c.rc, 1);
	expect_text(c.out, "");
	expect_text(c.err, "tunnelctl: HTTP 404: NotFound: no tunnel with id X\n");
	capture_free(&c);

	c = render(&args, 400,
		   "{\"error\":{\"code\":\"BadRequest\",\"message\":\"" TCTL_MSG_LIFETIME "\","
		   "\"field\":\"" TCTL_FIELD_LIFETIME "\"}}");
	assert_int_equal(c.rc, 1);
	expect_text(c.err, "tunnelctl: HTTP 400: BadRequest: " TCTL_MSG_LIFETIME
			   " (field: " TCTL_FIELD_LIFETIME ")\n");
	capture_free(&c);

	c = render(&args, 401, "{\"error\":{\"code\":\"Unauthorized\",\"message\":\"bad key\"}}");
	assert_int_equal(c.rc, 1);
	expect_text(c.err, "tunnelctl: HTTP 401: Unauthorized: bad key\n");
	capture_free(&c);

	/* not our JSON: a proxy's page, an empty body */
	c = render(&args, 502, "<html>Bad Gateway</html>\n<body>...");
	assert_int_equal(c.rc, 1);
	expect_text(c.err, "tunnelctl: HTTP 502: <html>Bad Gateway</html>\n");
	capture_free(&c);
	c = render(&args, 503, "");
	assert_int_equal(c.rc, 1);
	expect_text(c.err, "tunnelctl: HTTP 503: (empty response)\n");
	capture_free(&c);
	c = render(&args, 500, "{\"error\":\"oops\"}");
	assert_int_equal(c.rc, 1);
	expect_text(c.err, "tunnelctl: HTTP 500: {\"error\":\"oops\"}\n");
	capture_free(&c);

	/* A body that is not NUL-terminated: only len bytes are read (under
	 * ASan, a read past them into the guard byte would be reported). */
	char *unterminated = malloc(5);
	assert_non_null(unterminated);
	memcpy(unterminated, "Bad G", 5);
	char *text = NULL;
	size_t text_len = 0;
	FILE *errf = open_memstream(&text, &text_len);
	assert_non_null(errf);
	render_error(502, unterminated, 5, errf);
	fclose(errf);
	expect_text(text, "tunnelctl: HTTP 502: Bad G\n");
	free(text);
	free(unterminated);

	/* a long first line is cut */
	char body[400];
	memset(body, 'x', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	c = render(&args, 500, body);
	assert_int_equal(c.rc, 1);
	assert_true(strlen(c.err) < 160);
	contains(c.err, "...\n");
	capture_free(&c);

	/* --json: the error JSON on stdout too, the line on stderr */
	assert_int_equal(parse("describe", "X", "--json", "--url", "https://h", "--key", "k", NULL), 0);
	c = render(&args, 404, "{\"error\":{\"code\":\"NotFound\",\"message\":\"no tunnel with id X\"}}");
	assert_int_equal(c.rc, 1);
	contains(c.out, "\"NotFound\"");
	expect_text(c.err, "tunnelctl: HTTP 404: NotFound: no tunnel with id X\n");
	capture_free(&c);
}

static void test_render_json(void **state)
{
	(void)state;
	assert_int_equal(parse("--json", "open", "--url", "https://h", "--key", "k", "--thing", "pi",
			       "--service", "SSH", NULL), 0);
	struct capture c = render(&args, 201, open_ok);
	assert_int_equal(c.rc, 0);
	expect_text(c.err, "");
	/* pretty (several lines), same content as the server's, with both tokens */
	assert_true(strchr(c.out, '\n') != strrchr(c.out, '\n'));
	contains(c.out, "DST-secret");
	cJSON *got = cJSON_Parse(c.out), *want = cJSON_Parse(open_ok);
	assert_true(cJSON_Compare(got, want, 1));
	cJSON_Delete(got);
	cJSON_Delete(want);
	capture_free(&c);

	/* a 2xx that is not JSON is still an error in --json mode */
	c = render(&args, 200, "<html>");
	assert_int_equal(c.rc, 1);
	capture_free(&c);
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
		cmocka_unit_test_setup_teardown(test_request_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_others, setup, teardown),
		cmocka_unit_test(test_url_endpoint),
		cmocka_unit_test(test_url_escape_and_join),
		cmocka_unit_test_setup_teardown(test_render_open_ssh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_open_services_not_delivered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_open_quotes_shell_words, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_open_bad_response, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_describe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_control_characters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_rotate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_json, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
