/* Unit tests for proxy/options.c: config lines, region endpoints and the
 * whole command line / environment / config file merge. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/token.h"
#include "common/config_line.h"
#include "proxy/options.h"

/* ---- config_line_parse --------------------------------------------------- */

static void line_ok(const char *text, const char *want_key, const char *want_value)
{
	char line[256];
	char *key = NULL, *value = NULL;
	snprintf(line, sizeof(line), "%s", text);
	int rc = config_line_parse(line, &key, &value);
	if (rc != 1)
		fail_msg("'%s': returned %d, want 1", text, rc);
	assert_non_null(key);
	assert_non_null(value);
	/* key and value point into line. */
	assert_true(key >= line && key < line + sizeof(line));
	assert_true(value >= line && value < line + sizeof(line));
	if (strcmp(key, want_key) != 0 || strcmp(value, want_value) != 0)
		fail_msg("'%s': got key '%s' value '%s', want '%s' '%s'", text, key, value,
			 want_key, want_value);
}

static void line_rc(const char *text, int want)
{
	char line[256];
	char *key = NULL, *value = NULL;
	snprintf(line, sizeof(line), "%s", text);
	int rc = config_line_parse(line, &key, &value);
	if (rc != want)
		fail_msg("'%s': returned %d, want %d", text, rc, want);
}

static void test_config_line_key_value(void **state)
{
	(void)state;
	line_ok("key = value", "key", "value");
	line_ok("key=value", "key", "value");
	line_ok("key = value\n", "key", "value");
	line_ok("proxy-endpoint = h:1234\r\n", "proxy-endpoint", "h:1234");
	line_ok("\t  key\t =\t value \t\r\n", "key", "value");
	line_ok("key = value with spaces  ", "key", "value with spaces");
	line_ok("key = a=b", "key", "a=b");
	line_ok("key =", "key", "");
	line_ok("key = \r\n", "key", "");
	line_ok("capath = /etc/ssl/certs/ca.pem\n", "capath", "/etc/ssl/certs/ca.pem");
}

static void test_config_line_blank_and_comments(void **state)
{
	(void)state;
	line_rc("", 0);
	line_rc("\n", 0);
	line_rc("\r\n", 0);
	line_rc("   \t  \r\n", 0);
	line_rc("# comment", 0);
	line_rc("#key = value\n", 0);
	line_rc("; comment = with equals\n", 0);
	line_rc("   # indented comment\n", 0);
	line_rc("\t; indented comment\r\n", 0);
}

static void test_config_line_malformed(void **state)
{
	(void)state;
	line_rc("novalue", -1);
	line_rc("no value here\r\n", -1);
	line_rc("= value", -1);
	line_rc("=value\n", -1);
	line_rc("  \t= value\n", -1);
}

/* ---- region_endpoint ----------------------------------------------------- */

static void test_region_endpoint(void **state)
{
	char out[128];
	(void)state;
	assert_int_equal(region_endpoint("us-east-1", out, sizeof(out)), 0);
	assert_string_equal(out, "data.tunneling.iot.us-east-1.amazonaws.com");
	assert_int_equal(region_endpoint("cn-north-1", out, sizeof(out)), 0);
	assert_string_equal(out, "data.tunneling.iot.cn-north-1.amazonaws.com.cn");
	assert_int_equal(region_endpoint("cn-northwest-1", out, sizeof(out)), 0);
	assert_string_equal(out, "data.tunneling.iot.cn-northwest-1.amazonaws.com.cn");
	assert_int_equal(region_endpoint("eu-central-1", out, sizeof(out)), 0);
	assert_string_equal(out, "data.tunneling.iot.eu-central-1.amazonaws.com");
}

static void test_region_endpoint_bad(void **state)
{
	static const char *const bad[] = {
		"", "US-EAST-1", "us_east_1", "us-east-1.", "us east 1", "us/east",
		"a.b", "evil.com/x", "us-east-1:443", "ü", "123456789012345678901234567890123",
	};
	char out[128];
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (region_endpoint(bad[i], out, sizeof(out)) != -1)
			fail_msg("region '%s' accepted as '%s'", bad[i], out);
	/* 32 characters is the longest accepted. */
	assert_int_equal(region_endpoint("12345678901234567890123456789012", out, sizeof(out)), 0);
}

static void test_region_endpoint_small_buffer(void **state)
{
	const char *want = "data.tunneling.iot.us-east-1.amazonaws.com";
	char out[128];
	(void)state;
	size_t n = strlen(want);
	memset(out, 'X', sizeof(out));
	assert_int_equal(region_endpoint("us-east-1", out, n + 1), 0);
	assert_string_equal(out, want);
	memset(out, 'X', sizeof(out));
	assert_int_equal(region_endpoint("us-east-1", out, n), -1);
	assert_int_equal(out[n], 'X'); /* nothing written past cap */
	assert_int_equal(region_endpoint("us-east-1", out, 1), -1);
	assert_int_equal(region_endpoint("cn-north-1", out, n + 1), -1); /* needs 3 more */
	assert_int_equal(region_endpoint("us-east-1", out, 0), -1);
}

/* ---- proxy_options_parse ------------------------------------------------- */

static char tmpdir[64];

static const char *const env_vars[] = {
	"AWSIOT_TUNNEL_ACCESS_TOKEN", "AWSIOT_TUNNEL_CLIENT_TOKEN", "AWSIOT_TUNNEL_ENDPOINT",
	"AWSIOT_TUNNEL_REGION", "HTTPS_PROXY", "https_proxy", "POSIXLY_CORRECT",
};

#define MAX_ARGS 32

struct args {
	int argc;
	char *argv[MAX_ARGS + 1];
	char *orig[MAX_ARGS]; /* getopt may permute argv: free these */
};

/* argv from a NULL-terminated list of strings (writable heap copies). */
static void args_build(struct args *a, ...)
{
	va_list ap;
	const char *s;
	memset(a, 0, sizeof(*a));
	a->argv[a->argc] = a->orig[a->argc] = strdup("localproxy");
	a->argc++;
	va_start(ap, a);
	while ((s = va_arg(ap, const char *)) != NULL) {
		assert_true(a->argc < MAX_ARGS);
		a->argv[a->argc] = a->orig[a->argc] = strdup(s);
		assert_non_null(a->orig[a->argc]);
		a->argc++;
	}
	va_end(ap);
	a->argv[a->argc] = NULL;
}

static void args_free(struct args *a)
{
	for (int i = 0; i < a->argc; i++)
		free(a->orig[i]);
	memset(a, 0, sizeof(*a));
}

/* Parses with stdout and stderr sent to path (or /dev/null). */
/* Whether the last parse left AWSIOT_TUNNEL_ACCESS_TOKEN in the
 * environment (it must not: localproxy forgets it once copied). */
static bool env_token_left;

/* Each parse starts from the environment the test set up, as each run of
 * localproxy would: the token variables the parse removes are put back. */
static int parse_to(struct args *a, struct proxy_options *o, const char *path)
{
	static const char *const secret_vars[] = { "AWSIOT_TUNNEL_ACCESS_TOKEN",
						   "AWSIOT_TUNNEL_CLIENT_TOKEN" };
	char *saved[2];
	for (size_t i = 0; i < 2; i++) {
		const char *v = getenv(secret_vars[i]);
		saved[i] = v ? strdup(v) : NULL;
		assert_true(!v || saved[i]);
	}
	fflush(stdout);
	fflush(stderr);
	int saved_out = dup(1), saved_err = dup(2);
	int fd = open(path ? path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved_out >= 0 && saved_err >= 0 && fd >= 0);
	dup2(fd, 1);
	dup2(fd, 2);
	close(fd);
	optind = 0; /* glibc: full getopt reinitialisation */
	int rc = proxy_options_parse(a->argc, a->argv, o);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	env_token_left = getenv(secret_vars[0]) != NULL;
	for (size_t i = 0; i < 2; i++) {
		if (saved[i])
			assert_int_equal(setenv(secret_vars[i], saved[i], 1), 0);
		free(saved[i]);
	}
	close(saved_out);
	close(saved_err);
	return rc;
}

static int parse(struct args *a, struct proxy_options *o)
{
	return parse_to(a, o, NULL);
}

static void path_in_tmp(char *out, size_t cap, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", tmpdir, name);
	assert_true(n > 0 && (size_t)n < cap);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static char *read_text(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int group_setup(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/test_options.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	/* No real ~/.config/localproxy/config may leak into the tests. */
	return setenv("HOME", tmpdir, 1);
}

static int group_teardown(void **state)
{
	(void)state;
	return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Each test starts with a clean environment and no files in HOME. */
static int test_setup(void **state)
{
	char path[512];
	(void)state;
	for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
		unsetenv(env_vars[i]);
	path_in_tmp(path, sizeof(path), ".config/localproxy/config");
	unlink(path);
	return 0;
}

static bool is_hex64(const char *s)
{
	if (strlen(s) != 64)
		return false;
	for (size_t i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static void test_parse_source_basic(void **state)
{
	struct args a;
	struct proxy_options o;
	(void)state;
	setenv("AWSIOT_TUNNEL_ACCESS_TOKEN", "env-token", 1);
	args_build(&a, "-s", "2222", "-e", "relay.example", NULL);
	assert_int_equal(parse(&a, &o), 0);
	assert_int_equal(o.mode, PROXY_MODE_SOURCE);
	assert_string_equal(o.source_listen, "2222");
	assert_string_equal(o.destination_app, "");
	assert_string_equal(o.endpoint.host, "relay.example");
	assert_int_equal(o.endpoint.port, 443);
	assert_string_equal(o.bind_address, "localhost");
	assert_non_null(o.access_token);
	assert_string_equal(o.access_token, "env-token");
	/* The copy is all that is kept: not readable in /proc/PID/environ. */
	assert_false(env_token_left);
	assert_true(is_hex64(o.client_token));
	assert_true(client_token_valid(o.client_token, strlen(o.client_token)));
	assert_int_equal(o.client_version, 3);
	assert_int_equal(o.verbose, 4);
	assert_false(o.no_verify);
	assert_string_equal(o.capath, "");
	assert_string_equal(o.https_proxy.host, "");
	if (access("/etc/localproxy/config", F_OK) != 0)
		assert_string_equal(o.config_used, "");

	/* A second run generates a different client token. */
	char first[sizeof(o.client_token)];
	strcpy(first, o.client_token);
	proxy_options_free(&o);
	assert_null(o.access_token);
	assert_int_equal(parse(&a, &o), 0);
	assert_string_not_equal(first, o.client_token);
	proxy_options_free(&o);
	args_free(&a);
}

static void test_parse_destination_and_long_options(void **state)
{
	struct args a;
	struct proxy_options o;
	char ca[512];
	(void)state;
	path_in_tmp(ca, sizeof(ca), "ca.pem");
	write_file(ca, "not really a certificate\n");
	args_build(&a, "--destination-app", "SSH=22,HTTP=10.0.0.1:80", "--access-token", "tok",
		   "--proxy-endpoint", "[::1]:8443", "--capath", ca, "--no-ssl-host-verify",
		   "--verbose", "6", "--client-token", "0123456789abcdef0123456789ABCDEF-x",
		   "--local-bind-address", "0.0.0.0", NULL);
	assert_int_equal(parse(&a, &o), 0);
	assert_int_equal(o.mode, PROXY_MODE_DESTINATION);
	assert_string_equal(o.destination_app, "SSH=22,HTTP=10.0.0.1:80");
	assert_string_equal(o.source_listen, "");
	assert_string_equal(o.access_token, "tok");
	assert_string_equal(o.endpoint.host, "::1");
	assert_int_equal(o.endpoint.port, 8443);
	assert_string_equal(o.capath, ca);
	assert_true(o.no_verify);
	assert_int_equal(o.verbose, 6);
	assert_string_equal(o.client_token, "0123456789abcdef0123456789ABCDEF-x");
	assert_string_equal(o.bind_address, "0.0.0.0");
	proxy_options_free(&o);
	args_free(&a);
}

static void test_parse_token_wiped_from_argv(void **state)
{
	struct args a;
	struct proxy_options o;
	static const char token[] = "secret-access-token-value";
	static const char ctoken[] = "client-token-0123456789abcdef0123456789";
	(void)state;
	args_build(&a, "-s", "2222", "-t", token, "-e", "h", "-i", ctoken, NULL);
	assert_int_equal(parse(&a, &o), 0);
	assert_string_equal(o.access_token, token);
	assert_string_equal(o.client_token, ctoken);
	/* argv[4] and argv[8] (as built) are now all NUL bytes. */
	for (size_t i = 0; i < sizeof(token); i++)
		assert_int_equal(a.orig[4][i], '\0');
	for (size_t i = 0; i < sizeof(ctoken); i++)
		assert_int_equal(a.orig[8][i], '\0');
	/* Other arguments are untouched. */
	assert_string_equal(a.orig[2], "2222");
	assert_string_equal(a.orig[6], "h");
	proxy_options_free(&o);
	args_free(&a);

	/* Attached forms: only the token part is wiped. */
	args_build(&a, "-s", "2222", "--access-token=abc123", "-e", "h", NULL);
	assert_int_equal(parse(&a, &o), 0);
	assert_string_equal(o.access_token, "abc123");
	assert_string_equal(a.orig[3], "--access-token=");
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(a.orig[3][strlen("--access-token=") + i], '\0');
	proxy_options_free(&o);
	args_free(&a);

	args_build(&a, "-s", "2222", "-tXYZ", "-e", "h", NULL);
	assert_int_equal(parse(&a, &o), 0);
	assert_string_equal(o.access_token, "XYZ");
	assert_string_equal(a.orig[3], "-t");
	proxy_options_free(&o);
	args_free(&a);
}

static void test_parse_missing_endpoint(void **state)
{
	struct args a;
	struct proxy_options o;
	(void)state;
	if (access("/etc/localproxy/config", F_OK) == 0)
		skip();
	args_build(&a, "-s", "2222", "-t", "tok", NULL);
	assert_int_equal(parse(&a, &o), -1);
	assert_null(o.access_token);
	proxy_options_free(&o); /* harmless after a failed parse */
	args_free(&a);
}

static void test_parse_source_and_destination(void **state)
{
	struct args a;
	struct proxy_options o;
	(void)state;
	args_build(&a, "-s", "2222", "-d", "22", "-t", "tok", "-e", "h", NULL);
	assert_int_equal(parse(&a, &o), -1);
	assert_null(o.access_token);
	args_free(&a);
}

static void test_parse_config_file(void **state)
{
	struct args a;
	struct proxy_options o;
	char cfg[512], ca[512], text[1200];
	(void)state;
	path_in_tmp(ca, sizeof(ca), "ca-bundle.pem");
	write_file(ca, "x\n");
	path_in_tmp(cfg, sizeof(cfg), "my.conf");
	snprintf(text, sizeof(text),
		 "# localproxy settings\r\n"
		 "\r\n"
		 "proxy-endpoint = h:1234\r\n"
		 "  capath\t=\t%s  \n"
		 "; the end\n", ca);
	write_file(cfg, text);
	args_build(&a, "-s", "2222", "-t", "tok", "--config", cfg, NULL);
	assert_int_equal(parse(&a, &o), 0);
	assert_string_equal(o.endpoint.host, "h");
	assert_int_equal(o.endpoint.port, 1234);
	assert_string_equal(o.capath, ca);
	assert_string_equal(o.config_used, cfg);
	proxy_options_free(&o);
	args_free(&a);
}

static void test_parse_config_in_home(void **state)
{
	struct args a;
	struct proxy_options o;
	char dir[512], cfg[512];
	(void)state;
	path_in_tmp(dir, sizeof(dir), ".config");
	mkdir(dir, 0700);
	path_in_tmp(dir, sizeof(dir), ".config/localproxy");
	mkdir(dir, 0700);
	path_in_tmp(cfg, sizeof(cfg), ".config/localproxy/config");
	write_file(cfg, "proxy-endpoint = home-relay:9000\naccess-token = file-token\n"
			"destination-client-type = V1\n");
	args_build(&a, "-d", "22", NULL);
	assert_int_equal(parse(&a, &o), 0);
	assert_string_equal(o.endpoint.host, "home-relay");
	assert_int_equal(o.endpoint.port, 9000);
	assert_string_equal(o.access_token, "file-token");
	assert_int_equal(o.client_version, 1);
	assert_string_equal(o.config_used, cfg);
	proxy_options_free(&o);
	args_free(&a);
}

static void test_parse_config_unknown_key(void **state)
{
	struct args a;
	struct proxy_options o;
	char cfg[512], out[512];
	(void)state;
	path_in_tmp(cfg, sizeof(cfg), "unknown.conf");
	path_in_tmp(out, sizeof(out), "stderr.txt");
	write_file(cfg, "proxy-endpoint = h:1\nendpoint = h:2\n");
	args_build(&a, "-s", "2222", "-t", "tok", "--config", cfg, NULL);
	assert_int_equal(parse_to(&a, &o, out), -1);
	assert_non_null(strstr(read_text(out), ":2:")); /* names the line */
	args_free(&a);
}

static void test_parse_config_malformed_and_missing(void **state)
{
	struct args a;
	struct proxy_options o;
	char cfg[512];
	(void)state;
	path_in_tmp(cfg, sizeof(cfg), "bad.conf");
	write_file(cfg, "proxy-endpoint h:1\n");
	args_build(&a, "-s", "2222", "-t", "tok", "--config", cfg, NULL);
	assert_int_equal(parse(&a, &o), -1);
	args_free(&a);

	path_in_tmp(cfg, sizeof(cfg), "does-not-exist.conf");
	args_build(&a, "-s", "2222", "-t", "tok", "-e", "h", "--config", cfg, NULL);
	assert_int_equal(parse(&a, &o), -1);
	args_free(&a);
}

static void test_parse_precedence(void **state)
{
	struct args a;
	struct proxy_options o;
	char cfg[512];
	(void)state;
	path_in_tmp(cfg, sizeof(cfg), "prec.conf");
	write_file(cfg, "proxy-endpoint = c:3\nlocal-bind-address = 10.1.1.1\n");
	setenv("AWSIOT_TUNNEL_ENDPOINT", "b:2", 1);
	setenv("AWSIOT_TUNNEL_ACCESS_TOKEN", "env-token", 1);

	/* Command line beats environment beats config file. */
	args_build(&a, "-s", "2222", "-t", "cli-token", "-e", "a:1", "--config", cfg, NULL);
	assert_int_equal(parse(&a, &o), 0);
	assert_string_equal(o.endpoint.host, "a");
	assert_int_equal(o.endpoint.port, 1);
	assert_string_equal(o.access_token, "cli-token");
	assert_string_equal(o.bind_address, "10.1.1.1");
	proxy_options_free(&o);
	args_free(&a);

	args_build(&a, "-s", "2222", "--config", cfg, NULL);
	assert_int_equal(parse(&a, &o), 0);
	assert_string_equal(o.endpoint.host, "b");
	assert_int_equal(o.endpoint.port, 2);
	assert_string_equal(o.access_token, "env-token");
	proxy_options_free(&o);

	unsetenv("AWSIOT_TUNNEL_ENDPOINT");
	assert_int_equal(parse(&a, &o), 0);
	assert_string_equal(o.endpoint.host, "c");
	assert_int_equal(o.endpoint.port, 3);
	proxy_options_free(&o);

	/* An empty environment variable counts as unset. */
	setenv("AWSIOT_TUNNEL_ENDPOINT", "", 1);
	assert_int_equal(parse(&a, &o), 0);
	assert_string_equal(o.endpoint.host, "c");
	proxy_options_free(&o);
	args_free(&a);

	/* The last of repeated options wins. */
	args_build(&a, "-s", "2222", "-e", "x:1", "-e", "y:2", NULL);
	assert_int_equal(parse(&a, &o), 0);
	assert_string_equal(o.endpoint.host, "y");
	proxy_options_free(&o);
	args_free(&a);
}

static void test_parse_region(void **state)
{
	struct args a;
	struct proxy_options o;
	(void)state;
	setenv("AWSIOT_TUNNEL_ACCESS_TOKEN", "tok", 1);
	args_build(&a, "-s", "2222", "-r", "cn-north-1", NULL);
	assert_int_equal(parse(&a, &o), 0);
	assert_string_equal(o.endpoint.host, "data.tunneling.iot.cn-north-1.amazonaws.com.cn");
	assert_int_equal(o.endpoint.port, 443);
	proxy_options_free(&o);
	args_free(&a);

	args_build(&a, "-s", "2222", "-r", "Not/A/Region", NULL);
	assert_int_equal(parse(&a, &o), -1);
	args_free(&a);

	/* -e and -r on the same command line: the explicit endpoint wins. */
	args_build(&a, "-s", "2222", "-r", "us-east-1", "-e", "mine:4443", NULL);
	assert_int_equal(parse(&a, &o), 0);
	assert_string_equal(o.endpoint.host, "mine");
	proxy_options_free(&o);
	args_free(&a);
}

/* The documented precedence is command line > environment > config file.
 * A region given on the command line must therefore not be silently
 * overridden by an endpoint from a lower-precedence source: either the
 * region wins or the conflict is reported. */
static void test_parse_cli_region_beats_lower_endpoint(void **state)
{
	static const char want[] = "data.tunneling.iot.us-east-1.amazonaws.com";
	struct args a;
	struct proxy_options o;
	char cfg[512], got_env[300] = "", got_cfg[300] = "";
	(void)state;
	setenv("AWSIOT_TUNNEL_ACCESS_TOKEN", "tok", 1);

	/* Record both outcomes first (freeing everything), then judge. */
	setenv("AWSIOT_TUNNEL_ENDPOINT", "b:2", 1);
	args_build(&a, "-s", "2222", "-r", "us-east-1", NULL);
	if (parse(&a, &o) == 0) {
		snprintf(got_env, sizeof(got_env), "%s:%d", o.endpoint.host, o.endpoint.port);
		proxy_options_free(&o);
	}
	args_free(&a);
	unsetenv("AWSIOT_TUNNEL_ENDPOINT");

	path_in_tmp(cfg, sizeof(cfg), "region.conf");
	write_file(cfg, "proxy-endpoint = c:3\n");
	args_build(&a, "-s", "2222", "-r", "us-east-1", "--config", cfg, NULL);
	if (parse(&a, &o) == 0) {
		snprintf(got_cfg, sizeof(got_cfg), "%s:%d", o.endpoint.host, o.endpoint.port);
		proxy_options_free(&o);
	}
	args_free(&a);

	/* "" = rejected as a conflict (acceptable); else it must be the region's. */
	bool env_ok = !got_env[0] || !strncmp(got_env, want, strlen(want));
	bool cfg_ok = !got_cfg[0] || !strncmp(got_cfg, want, strlen(want));
	if (!env_ok || !cfg_ok)
		fail_msg("-r us-east-1 on the command line lost to a lower-precedence endpoint: "
			 "with AWSIOT_TUNNEL_ENDPOINT=b:2 -> %s; with config 'proxy-endpoint = c:3' -> %s",
			 got_env[0] ? got_env : "rejected", got_cfg[0] ? got_cfg : "rejected");
}

static void test_parse_client_type(void **state)
{
	struct args a;
	struct proxy_options o;
	(void)state;
	setenv("AWSIOT_TUNNEL_ACCESS_TOKEN", "tok", 1);
	setenv("AWSIOT_TUNNEL_ENDPOINT", "h", 1);
	args_build(&a, "-d", "22", "-y", "V2", NULL);
	assert_int_equal(parse(&a, &o), 0);
	assert_int_equal(o.client_version, 2);
	proxy_options_free(&o);
	args_free(&a);

	args_build(&a, "-d", "22", "--destination-client-type", "V1", NULL);
	assert_int_equal(parse(&a, &o), 0);
	assert_int_equal(o.client_version, 1);
	proxy_options_free(&o);
	args_free(&a);

	/* A source still negotiates 3.0; -y shapes its messages. */
	args_build(&a, "-s", "2222", "-y", "V1", NULL);
	assert_int_equal(parse(&a, &o), 0);
	assert_int_equal(o.client_version, 3);
	assert_int_equal(o.destination_type, 1);
	proxy_options_free(&o);
	args_free(&a);

	args_build(&a, "-s", "2222", NULL);
	assert_int_equal(parse(&a, &o), 0);
	assert_int_equal(o.client_version, 3);
	assert_int_equal(o.destination_type, 3);
	proxy_options_free(&o);
	args_free(&a);

	args_build(&a, "-d", "22", "-y", "V3", NULL);
	assert_int_equal(parse(&a, &o), -1);
	args_free(&a);
	args_build(&a, "-d", "22", "-y", "v2", NULL);
	assert_int_equal(parse(&a, &o), -1);
	args_free(&a);
}

/* --stdio SERVICE is -s SERVICE=- and quiets the logs unless -v says
 * otherwise; --udp-idle-timeout is bounded. */
static void test_parse_stdio_and_udp_idle(void **state)
{
	struct args a;
	struct proxy_options o;
	(void)state;
	setenv("AWSIOT_TUNNEL_ACCESS_TOKEN", "tok", 1);
	setenv("AWSIOT_TUNNEL_ENDPOINT", "h", 1);
	args_build(&a, "--stdio", "SSH", NULL);
	assert_int_equal(parse(&a, &o), 0);
	assert_int_equal(o.mode, PROXY_MODE_SOURCE);
	assert_string_equal(o.source_listen, "SSH=-");
	assert_int_equal(o.verbose, 3);
	assert_int_equal(o.udp_idle_s, UDP_IDLE_DEFAULT_S);
	proxy_options_free(&o);
	args_free(&a);

	args_build(&a, "--stdio", "SSH", "-v", "5", NULL);
	assert_int_equal(parse(&a, &o), 0);
	assert_int_equal(o.verbose, 5);
	proxy_options_free(&o);
	args_free(&a);

	const char *const bad[][4] = {
		{ "--stdio", "S S", NULL },
		{ "--stdio", "", NULL },
		{ "-s", "22", "--stdio", "SSH" },
		{ "-s", "udp:53", "--udp-idle-timeout", "0" },
		{ "-s", "udp:53", "--udp-idle-timeout", "86401" },
		{ "-s", "udp:53", "--udp-idle-timeout", "5s" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		args_build(&a, bad[i][0], bad[i][1], bad[i][2], bad[i][3], NULL);
		if (parse(&a, &o) != -1)
			fail_msg("case %zu (%s %s) was accepted", i, bad[i][0], bad[i][1]);
		args_free(&a);
	}

	args_build(&a, "-s", "udp:53", "--udp-idle-timeout", "5", NULL);
	assert_int_equal(parse(&a, &o), 0);
	assert_int_equal(o.udp_idle_s, 5);
	proxy_options_free(&o);
	args_free(&a);
}

static void test_parse_help(void **state)
{
	struct args a;
	struct proxy_options o;
	char out[512];
	(void)state;
	path_in_tmp(out, sizeof(out), "help.txt");
	args_build(&a, "--help", NULL);
	assert_int_equal(parse_to(&a, &o, out), 1);
	assert_non_null(strstr(read_text(out), "Usage"));
	args_free(&a);
	args_build(&a, "-s", "2222", "-h", NULL);
	assert_int_equal(parse(&a, &o), 1);
	assert_null(o.access_token);
	args_free(&a);
}

static void test_parse_errors(void **state)
{
	struct args a;
	struct proxy_options o;
	char ca[512];
	(void)state;
	setenv("AWSIOT_TUNNEL_ENDPOINT", "h", 1);
	setenv("AWSIOT_TUNNEL_ACCESS_TOKEN", "tok", 1);
	path_in_tmp(ca, sizeof(ca), "no-such-ca.pem");

	struct {
		const char *what;
		const char *argv[8];
	} cases[] = {
		{ "no mode", { NULL } },
		{ "unexpected argument", { "-s", "2222", "extra", NULL } },
		{ "unknown option", { "-s", "2222", "-Z", NULL } },
		{ "unknown long option", { "-s", "2222", "--frobnicate", NULL } },
		{ "missing value", { "-s", "2222", "-e", NULL } },
		{ "verbose 7", { "-s", "2222", "-v", "7", NULL } },
		{ "verbose x", { "-s", "2222", "-v", "x", NULL } },
		{ "verbose empty", { "-s", "2222", "-v", "", NULL } },
		{ "mode bogus", { "-m", "both", "-s", "2222", NULL } },
		{ "mode contradicts -d", { "-m", "source", "-d", "22", NULL } },
		{ "mode contradicts -s", { "-m", "destination", "-s", "2222", NULL } },
		{ "mode without -s", { "-m", "source", NULL } },
		{ "mode without -d", { "-m", "destination", NULL } },
		{ "bad client token", { "-s", "2222", "-i", "short", NULL } },
		{ "missing capath", { "-s", "2222", "-c", ca, NULL } },
		{ "endpoint port only", { "-s", "2222", "-e", "443", NULL } },
		{ "endpoint bad port", { "-s", "2222", "-e", "h:0", NULL } },
		{ "bad access token", { "-s", "2222", "-t", "has space", NULL } },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *const *v = cases[i].argv;
		/* args_build stops at the first NULL. */
		args_build(&a, v[0], v[1], v[2], v[3], v[4], (const char *)NULL);
		int rc = parse(&a, &o);
		if (rc != -1)
			fail_msg("%s: returned %d, want -1", cases[i].what, rc);
		assert_null(o.access_token);
		args_free(&a);
	}

	/* No access token anywhere. */
	unsetenv("AWSIOT_TUNNEL_ACCESS_TOKEN");
	args_build(&a, "-s", "2222", NULL);
	assert_int_equal(parse(&a, &o), -1);
	args_free(&a);
}

static void test_parse_mode_and_verify_from_config(void **state)
{
	struct args a;
	struct proxy_options o;
	char cfg[512];
	(void)state;
	setenv("AWSIOT_TUNNEL_ACCESS_TOKEN", "tok", 1);
	path_in_tmp(cfg, sizeof(cfg), "mode.conf");
	write_file(cfg, "proxy-endpoint = h\nmode = destination\ndestination-app = /run/app.sock\n"
			"no-ssl-host-verify = false\nverbose = 0\n");
	args_build(&a, "--config", cfg, NULL);
	assert_int_equal(parse(&a, &o), 0);
	assert_int_equal(o.mode, PROXY_MODE_DESTINATION);
	assert_string_equal(o.destination_app, "/run/app.sock");
	assert_false(o.no_verify);
	assert_int_equal(o.verbose, 0);
	proxy_options_free(&o);
	args_free(&a);

	write_file(cfg, "proxy-endpoint = h\nsource-listen-port = 2222\nno-ssl-host-verify = true\n");
	args_build(&a, "--config", cfg, NULL);
	assert_int_equal(parse(&a, &o), 0);
	assert_int_equal(o.mode, PROXY_MODE_SOURCE);
	assert_true(o.no_verify);
	proxy_options_free(&o);
	args_free(&a);
}

static void test_parse_https_proxy(void **state)
{
	struct args a;
	struct proxy_options o;
	(void)state;
	setenv("AWSIOT_TUNNEL_ACCESS_TOKEN", "tok", 1);
	args_build(&a, "-s", "2222", "-e", "h", NULL);

	setenv("HTTPS_PROXY", "http://proxy.corp:8080/", 1);
	assert_int_equal(parse(&a, &o), 0);
	assert_string_equal(o.https_proxy.host, "proxy.corp");
	assert_int_equal(o.https_proxy.port, 8080);
	proxy_options_free(&o);

	unsetenv("HTTPS_PROXY");
	setenv("https_proxy", "squid", 1);
	assert_int_equal(parse(&a, &o), 0);
	assert_string_equal(o.https_proxy.host, "squid");
	assert_int_equal(o.https_proxy.port, 3128);
	proxy_options_free(&o);
	unsetenv("https_proxy");
	args_free(&a);
}

/* Fills a stretch of stack below the caller with a non-NUL byte, so that a
 * later read of an uninitialised local buffer is visible. */
__attribute__((noinline)) static void dirty_stack(void)
{
	volatile char junk[64 * 1024];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = 'Q';
}

/* HTTPS_PROXY without a host ("3128", "http://:3128") must be rejected with
 * a sensible message (not with an uninitialised error buffer). The parse
 * runs in a child process so that a sanitizer abort is reported here as a
 * test failure, with the sanitizer's report, and the other tests still run. */
static void test_parse_https_proxy_without_host(void **state)
{
	struct args a;
	struct proxy_options o;
	char out[512];
	int status = 0;
	(void)state;
	setenv("AWSIOT_TUNNEL_ACCESS_TOKEN", "tok", 1);
	path_in_tmp(out, sizeof(out), "proxy-err.txt");
	args_build(&a, "-s", "2222", "-e", "h", NULL);
	setenv("HTTPS_PROXY", "http://:3128", 1);
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dirty_stack();
		int rc = parse_to(&a, &o, out);
		_exit(rc == -1 ? 0 : 10 + rc);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	args_free(&a);
	const char *text = read_text(out);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("HTTPS_PROXY without a host: parse did not return -1 cleanly "
			 "(wait status %#x); its stderr:\n%.3000s", status, text);
	const char *msg = strstr(text, "HTTPS_PROXY: ");
	assert_non_null(msg);
	msg += strlen("HTTPS_PROXY: ");
	size_t n = strcspn(msg, "\n");
	if (n == 0 || n > 200 || strstr(msg, "QQQQ") != NULL)
		fail_msg("HTTPS_PROXY without a host: garbage error message '%.*s'",
			 (int)(n > 80 ? 80 : n), msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_line_key_value),
		cmocka_unit_test(test_config_line_blank_and_comments),
		cmocka_unit_test(test_config_line_malformed),
		cmocka_unit_test(test_region_endpoint),
		cmocka_unit_test(test_region_endpoint_bad),
		cmocka_unit_test(test_region_endpoint_small_buffer),
		cmocka_unit_test_setup(test_parse_source_basic, test_setup),
		cmocka_unit_test_setup(test_parse_destination_and_long_options, test_setup),
		cmocka_unit_test_setup(test_parse_token_wiped_from_argv, test_setup),
		cmocka_unit_test_setup(test_parse_missing_endpoint, test_setup),
		cmocka_unit_test_setup(test_parse_source_and_destination, test_setup),
		cmocka_unit_test_setup(test_parse_config_file, test_setup),
		cmocka_unit_test_setup(test_parse_config_in_home, test_setup),
		cmocka_unit_test_setup(test_parse_config_unknown_key, test_setup),
		cmocka_unit_test_setup(test_parse_config_malformed_and_missing, test_setup),
		cmocka_unit_test_setup(test_parse_precedence, test_setup),
		cmocka_unit_test_setup(test_parse_region, test_setup),
		cmocka_unit_test_setup(test_parse_cli_region_beats_lower_endpoint, test_setup),
		cmocka_unit_test_setup(test_parse_client_type, test_setup),
		cmocka_unit_test_setup(test_parse_help, test_setup),
		cmocka_unit_test_setup(test_parse_stdio_and_udp_idle, test_setup),
		cmocka_unit_test_setup(test_parse_errors, test_setup),
		cmocka_unit_test_setup(test_parse_mode_and_verify_from_config, test_setup),
		cmocka_unit_test_setup(test_parse_https_proxy, test_setup),
		cmocka_unit_test_setup(test_parse_https_proxy_without_host, test_setup),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
