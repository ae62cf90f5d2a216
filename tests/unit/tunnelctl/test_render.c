/* Unit tests for tunnelctl/render.c: what each command prints, tables and --json. */
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
#include "tunnelctl/render.h"

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

static void test_render_open_pending(void **state)
{
	(void)state;
	assert_int_equal(parse("open", "--url", "https://h", "--key", "k", "--thing", "pi",
			       "--service", "SSH", NULL), 0);
	struct capture c = render(&args, 201,
				  "{\"tunnelId\":\"t1\",\"sourceAccessToken\":\"S\","
				  "\"expiresAt\":\"x\",\"notification\":{\"delivered\":false,"
				  "\"pending\":true,\"detail\":\"broker unreachable; will be sent when it "
				  "is back\"}}");
	assert_int_equal(c.rc, 0);
	contains(c.out, "Device notified over MQTT: not yet, pending (broker unreachable; will be "
			"sent when it is back)\n"
			"The relay sends it once the broker is back; the device's agent starts its "
			"side then.\n");
	not_contains(c.out, "tunnelctl rotate");
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

static void test_render_things(void **state)
{
	(void)state;
	assert_int_equal(parse("things", "--url", "https://h", "--key", "k", NULL), 0);
	struct capture c = render(
		&args, 200,
		"{\"things\":["
		"{\"thingName\":\"nanopi-01\",\"state\":\"online\",\"since\":\"2026-11-26T16:00:00Z\","
		"\"services\":[\"SSH\",\"HTTP\"],\"agentVersion\":\"0.3.0\",\"bootTime\":null,"
		"\"maxTunnels\":4,\"openTunnels\":1},"
		"{\"thingName\":\"gw\",\"state\":\"unknown\",\"since\":null,\"services\":[],"
		"\"agentVersion\":null,\"bootTime\":null,\"maxTunnels\":null,\"openTunnels\":2}]}");
	assert_int_equal(c.rc, 0);
	expect_text(c.out,
		    "THING      STATE    SINCE                 SERVICES  AGENT  OPEN  MAX\n"
		    "nanopi-01  online   2026-11-26T16:00:00Z  SSH,HTTP  0.3.0  1     4\n"
		    "gw         unknown  -                     -         -      2     -\n");
	capture_free(&c);

	c = render(&args, 200, "{\"things\":[]}");
	expect_text(c.out, "No things.\n");
	capture_free(&c);

	c = render(&args, 200, "{\"tunnels\":[]}");
	assert_int_equal(c.rc, 1);
	contains(c.err, "things list");
	capture_free(&c);

	assert_int_equal(parse("things", "nanopi-01", "--url", "https://h", "--key", "k", NULL), 0);
	c = render(&args, 200,
		   "{\"thingName\":\"nanopi-01\",\"state\":\"offline\",\"since\":\"2026-11-26T16:00:00Z\","
		   "\"services\":[\"SSH\"],\"agentVersion\":\"0.3.0\",\"bootTime\":\"2026-11-26T10:00:00Z\","
		   "\"maxTunnels\":4,\"openTunnels\":0}");
	assert_int_equal(c.rc, 0);
	expect_text(c.out,
		    "Thing:            nanopi-01\n"
		    "State:            offline\n"
		    "Since:            2026-11-26T16:00:00Z\n"
		    "Services:         SSH\n"
		    "Agent version:    0.3.0\n"
		    "Boot time:        2026-11-26T10:00:00Z\n"
		    "Open tunnels:     0\n"
		    "Max tunnels:      4\n");
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

	/* a notification the relay keeps: pending, or failed */
	c = render(&args, 200,
		   "{\"tunnel\":{\"tunnelId\":\"3f2c\",\"liveConnections\":0,\"notification\":"
		   "{\"pending\":true,\"failed\":false,\"since\":\"2026-11-22T02:50:00Z\","
		   "\"detail\":\"broker unreachable\"}}}");
	assert_int_equal(c.rc, 0);
	contains(c.out, "Live connections: 0\n"
			"Notification:     pending since 2026-11-22T02:50:00Z (broker unreachable)\n");
	capture_free(&c);
	c = render(&args, 200,
		   "{\"tunnel\":{\"tunnelId\":\"3f2c\",\"notification\":{\"pending\":false,"
		   "\"failed\":true,\"since\":null,\"detail\":\"Not authorized\"}}}");
	contains(c.out, "Notification:     failed (Not authorized)\n");
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
		cmocka_unit_test_setup_teardown(test_render_open_ssh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_open_services_not_delivered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_open_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_open_quotes_shell_words, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_open_bad_response, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_things, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_describe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_control_characters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_rotate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_json, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
