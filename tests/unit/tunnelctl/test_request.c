/* Unit tests for tunnelctl/request.c and url.c: building API requests and URLs. */
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
#include "tunnelctl/request.h"
#include "tunnelctl/url.h"

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

	assert_int_equal(parse("things", NULL), 0);
	assert_int_equal(tctl_request_build(&args, &req, err, sizeof(err)), 0);
	assert_string_equal(req.method, "GET");
	assert_string_equal(req.url, "https://h:8443/prefix/api/v1/things");
	tctl_request_free(&req);

	assert_int_equal(parse("things", "dev:1", NULL), 0);
	assert_int_equal(tctl_request_build(&args, &req, err, sizeof(err)), 0);
	assert_string_equal(req.url, "https://h:8443/prefix/api/v1/things/dev%3A1");
	tctl_request_free(&req);

	/* A name that is not a thing's, a second name, an option of another command. */
	assert_int_equal(parse("things", "a/b", NULL), 2);
	contains(err, "things: 'a/b'");
	assert_int_equal(parse("things", "a", "b", NULL), 2);
	assert_int_equal(parse("things", "--mode", "ALL", NULL), 2);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_request_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_others, setup, teardown),
		cmocka_unit_test(test_url_endpoint),
		cmocka_unit_test(test_url_escape_and_join),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
