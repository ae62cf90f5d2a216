/* Unit tests for agent/notification.c (whether to act on a tunnel
 * notification, PROTOCOL.md §8) and agent/seen.c (ignoring duplicates). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/config.h"
#include "agent/notification.h"
#include "agent/seen.h"
#include "relay/notify_payload.h"

#define TOKEN "AQGAAXhzdGVzdC1kZXN0aW5hdGlvbi10b2tlbi0wMTIzNDU2Nzg5"
#define TOPIC "$aws/things/nanopi-01/tunnels/notify"

#define CONFIG                                                                             \
	"{\"thingName\":\"nanopi-01\","                                                    \
	"\"broker\":{\"uri\":\"ssl://broker:8883\",\"ca\":\"/p/ca.pem\","                  \
	"\"cert\":\"/p/dev.pem\",\"key\":\"/p/dev.key\"},"                                 \
	"\"relay\":{\"endpoint\":\"relay.example:443\",\"ca\":\"/p/ca.pem\"},"             \
	"\"services\":{\"SSH\":\"127.0.0.1:22\",\"HTTP\":\"127.0.0.1:80\","                \
	"\"RDP\":\"10.0.0.5:3389\",\"VNC\":\"5900\"}}"

static struct agent_config cfg;

static int setup(void **state)
{
	char err[512];
	if (agent_config_parse(CONFIG, strlen(CONFIG), "agent.json", &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

static bool decide(const char *payload, struct notification *n, char *why, size_t cap)
{
	return notification_decide(&cfg, TOPIC, payload, strlen(payload), n, why, cap);
}

/* Refused with exactly this reason, which never shows the token. */
static void expect_refused(const char *payload, const char *want)
{
	struct notification n;
	char why[640] = "";
	bool ok = decide(payload, &n, why, sizeof(why));
	if (ok || strcmp(why, want) != 0)
		fail_msg("payload %s\n  %s, reason '%s'\n  want '%s'", payload,
			 ok ? "accepted" : "refused", why, want);
	assert_null(n.token);
	assert_null(strstr(why, TOKEN));
	assert_null(strstr(why, "SECRET"));
	notification_clear(&n);
}

/* ---- accepted ------------------------------------------------------------- */

static void accepts_what_the_relay_publishes(void **state)
{
	const char *services[] = {"SSH", "HTTP"};
	struct notify_message m = {
		.token = TOKEN,
		.tunnel_id = "t-0123",
		.services = services,
		.n_services = 2,
		.endpoint = "relay.public:8443",
	};
	char *payload = notify_payload(&m);
	assert_non_null(payload);
	struct notification n;
	char why[256] = "";
	if (!decide(payload, &n, why, sizeof(why)))
		fail_msg("refused: %s", why);
	assert_string_equal(n.token, TOKEN);
	assert_int_equal(n.token_len, strlen(TOKEN));
	assert_string_equal(n.tunnel_id, "t-0123");
	assert_int_equal(n.n_services, 2);
	assert_string_equal(n.services[0], "SSH");
	assert_string_equal(n.services[1], "HTTP");
	/* useNotifiedEndpoint is false: the device's own relay.endpoint. */
	assert_string_equal(n.endpoint, "relay.example:443");
	assert_false(n.endpoint_notified);
	assert_string_equal(n.key, "t-0123");
	assert_string_equal(n.label, "tunnel t-0123");
	uint8_t hash[TOKEN_HASH_LEN];
	assert_int_equal(token_hash(TOKEN, strlen(TOKEN), hash), 0);
	assert_memory_equal(n.token_hash, hash, TOKEN_HASH_LEN);
	char text[64];
	notification_services_text(&n, text, sizeof(text));
	assert_string_equal(text, "SSH,HTTP");
	notification_clear(&n);
	assert_null(n.token);
	assert_int_equal(n.token_len, 0);
	explicit_bzero(payload, strlen(payload));
	free(payload);
}

static void accepts_aws_style_without_tunnel_id(void **state)
{
	struct notification n;
	char why[256] = "";
	assert_true(decide("{\"clientAccessToken\":\"" TOKEN "\",\"clientMode\":\"destination\","
			   "\"region\":\"us-east-1\",\"services\":[\"RDP\"]}",
			   &n, why, sizeof(why)));
	assert_string_equal(n.tunnel_id, "");
	/* Keyed by the token's hash; the label shows 16 hex digits of it. */
	assert_int_equal(strncmp(n.key, "sha256:", 7), 0);
	assert_int_equal(strlen(n.key), 7 + 64);
	char want[96];
	snprintf(want, sizeof(want), "tunnel (no id, token sha256 %.16s)", n.key + 7);
	assert_string_equal(n.label, want);
	assert_null(strstr(n.label, TOKEN));
	notification_clear(&n);
}

static void unknown_keys_are_ignored(void **state)
{
	struct notification n;
	char why[256] = "";
	assert_true(decide("{\"future\":{\"x\":[1,2]},\"clientAccessToken\":\"" TOKEN "\","
			   "\"clientMode\":\"destination\",\"services\":[\"SSH\"],\"n\":null,"
			   "\"tunnelId\":\"abc\",\"extra\":true}",
			   &n, why, sizeof(why)));
	assert_string_equal(n.tunnel_id, "abc");
	notification_clear(&n);
	/* Whitespace around the object is fine. */
	assert_true(decide("\n { \"clientAccessToken\" : \"" TOKEN "\" , \"clientMode\" : "
			   "\"destination\" , \"services\" : [ \"VNC\" , \"SSH\" , \"HTTP\" ] }\r\n",
			   &n, why, sizeof(why)));
	assert_int_equal(n.n_services, 3);
	notification_clear(&n);
}

static void token_length_limits(void **state)
{
	char payload[8192];
	char token[TUNNEL_MAX_ACCESS_TOKEN + 2];
	memset(token, 'k', TUNNEL_MAX_ACCESS_TOKEN);
	token[TUNNEL_MAX_ACCESS_TOKEN] = '\0';
	snprintf(payload, sizeof(payload), "{\"clientAccessToken\":\"%s\",\"clientMode\":"
		 "\"destination\",\"services\":[\"SSH\"]}", token);
	struct notification n;
	char why[256] = "";
	assert_true(decide(payload, &n, why, sizeof(why)));
	assert_int_equal(n.token_len, TUNNEL_MAX_ACCESS_TOKEN);
	notification_clear(&n);
	strcat(token, "k");
	snprintf(payload, sizeof(payload), "{\"clientAccessToken\":\"%s\",\"clientMode\":"
		 "\"destination\",\"services\":[\"SSH\"]}", token);
	expect_refused(payload, "\"clientAccessToken\" is 4097 characters long (at most 4096)");
}

static void endpoint_from_the_notification(void **state)
{
	static const char *payload = "{\"clientAccessToken\":\"" TOKEN "\",\"clientMode\":"
				     "\"destination\",\"services\":[\"SSH\"],\"endpoint\":"
				     "\"relay.other:9443\"}";
	struct notification n;
	char why[256] = "";
	assert_true(decide(payload, &n, why, sizeof(why)));
	assert_string_equal(n.endpoint, "relay.example:443"); /* not told otherwise */
	notification_clear(&n);
	/* A malformed endpoint does not matter when it is not used. */
	assert_true(decide("{\"clientAccessToken\":\"" TOKEN "\",\"clientMode\":\"destination\","
			   "\"services\":[\"SSH\"],\"endpoint\":42}", &n, why, sizeof(why)));
	notification_clear(&n);

	cfg.use_notified_endpoint = true;
	assert_true(decide(payload, &n, why, sizeof(why)));
	assert_string_equal(n.endpoint, "relay.other:9443");
	assert_true(n.endpoint_notified);
	notification_clear(&n);
	/* No endpoint in the notification: the configured one. */
	assert_true(decide("{\"clientAccessToken\":\"" TOKEN "\",\"clientMode\":\"destination\","
			   "\"services\":[\"SSH\"]}", &n, why, sizeof(why)));
	assert_string_equal(n.endpoint, "relay.example:443");
	assert_false(n.endpoint_notified);
	notification_clear(&n);
	expect_refused("{\"clientAccessToken\":\"" TOKEN "\",\"clientMode\":\"destination\","
		       "\"services\":[\"SSH\"],\"endpoint\":\"host:port\"}",
		       "\"endpoint\" 'host:port' is not HOST:PORT");
	expect_refused("{\"clientAccessToken\":\"" TOKEN "\",\"clientMode\":\"destination\","
		       "\"services\":[\"SSH\"],\"endpoint\":\"a b:1\"}",
		       "\"endpoint\" 'a b:1' is not HOST:PORT");
	expect_refused("{\"clientAccessToken\":\"" TOKEN "\",\"clientMode\":\"destination\","
		       "\"services\":[\"SSH\"],\"endpoint\":[\"x:1\"]}",
		       "\"endpoint\" is an array, not \"HOST:PORT\"");
	char saved[sizeof(cfg.relay_endpoint)];
	memcpy(saved, cfg.relay_endpoint, sizeof(saved));
	cfg.relay_endpoint[0] = '\0';
	expect_refused("{\"clientAccessToken\":\"" TOKEN "\",\"clientMode\":\"destination\","
		       "\"services\":[\"SSH\"]}",
		       "the notification names no \"endpoint\" and relay.endpoint is not configured");
	memcpy(cfg.relay_endpoint, saved, sizeof(saved));
	cfg.use_notified_endpoint = false;
}

/* ---- refused -------------------------------------------------------------- */

static void not_json(void **state)
{
	expect_refused("not json {", "payload is not JSON (syntax error at byte 0 of 10)");
	expect_refused("{\"clientAccessToken\":\"SECRET", "payload is not JSON (syntax error at byte 22 of 28)");
	expect_refused("{} x", "payload is not JSON (unexpected text at byte 3 of 4)");
	expect_refused("[\"SECRET\"]", "payload is an array, not a JSON object");
	expect_refused("\"destination\"", "payload is a string, not a JSON object");
	struct notification n;
	char why[256];
	assert_false(notification_decide(&cfg, TOPIC, "", 0, &n, why, sizeof(why)));
	assert_string_equal(why, "empty payload");
	assert_false(notification_decide(&cfg, TOPIC, "{}\0{}", 5, &n, why, sizeof(why)));
	assert_string_equal(why, "payload is not JSON (it contains a NUL byte)");
}

static void oversize_payload(void **state)
{
	struct notification n;
	char why[256];
	assert_false(notification_decide(&cfg, TOPIC, NULL, NOTIFICATION_MAX_PAYLOAD + 1, &n, why,
					 sizeof(why)));
	assert_string_equal(why, "payload of 65537 bytes (at most 65536)");
}

static void wrong_topic(void **state)
{
	struct notification n;
	char why[512];
	const char *p = "{\"clientAccessToken\":\"" TOKEN "\",\"clientMode\":\"destination\","
			"\"services\":[\"SSH\"]}";
	assert_false(notification_decide(&cfg, "$aws/things/nanopi-02/tunnels/notify", p, strlen(p),
					 &n, why, sizeof(why)));
	assert_string_equal(why, "arrived on topic '$aws/things/nanopi-02/tunnels/notify', not "
				 "$aws/things/nanopi-01/tunnels/notify");
	assert_false(notification_decide(&cfg, NULL, p, strlen(p), &n, why, sizeof(why)));
	assert_null(n.token);
}

static void wrong_mode(void **state)
{
	expect_refused("{\"clientAccessToken\":\"SECRET\",\"services\":[\"SSH\"]}",
		       "no \"clientMode\" (want \"destination\")");
	expect_refused("{\"clientAccessToken\":\"SECRET\",\"clientMode\":\"source\",\"services\":[\"SSH\"]}",
		       "\"clientMode\" is 'source', not 'destination'");
	expect_refused("{\"clientAccessToken\":\"SECRET\",\"clientMode\":\"Destination\",\"services\":[\"SSH\"]}",
		       "\"clientMode\" is 'Destination', not 'destination'");
	expect_refused("{\"clientAccessToken\":\"SECRET\",\"clientMode\":1,\"services\":[\"SSH\"]}",
		       "\"clientMode\" is a number, not \"destination\"");
	expect_refused("{\"clientMode\":\"\\u0001x\",\"services\":[\"SSH\"]}",
		       "\"clientMode\" is '?x', not 'destination'");
}

static void bad_tokens(void **state)
{
	expect_refused("{\"clientMode\":\"destination\",\"services\":[\"SSH\"]}",
		       "no \"clientAccessToken\"");
	expect_refused("{\"clientAccessToken\":\"\",\"clientMode\":\"destination\",\"services\":[\"SSH\"]}",
		       "\"clientAccessToken\" is empty");
	expect_refused("{\"clientAccessToken\":null,\"clientMode\":\"destination\",\"services\":[\"SSH\"]}",
		       "\"clientAccessToken\" is null, not a string");
	expect_refused("{\"clientAccessToken\":123,\"clientMode\":\"destination\",\"services\":[\"SSH\"]}",
		       "\"clientAccessToken\" is a number, not a string");
	expect_refused("{\"clientAccessToken\":\"SECRET TOKEN\",\"clientMode\":\"destination\","
		       "\"services\":[\"SSH\"]}",
		       "\"clientAccessToken\" contains a character other than printable ASCII "
		       "(spaces and control characters are not allowed)");
	expect_refused("{\"clientAccessToken\":\"SECRET\\nX\",\"clientMode\":\"destination\","
		       "\"services\":[\"SSH\"]}",
		       "\"clientAccessToken\" contains a character other than printable ASCII "
		       "(spaces and control characters are not allowed)");
}

static void bad_services(void **state)
{
#define HEAD "{\"clientAccessToken\":\"SECRET\",\"clientMode\":\"destination\","
	expect_refused(HEAD "\"tunnelId\":\"t1\"}", "no \"services\"");
	expect_refused(HEAD "\"services\":[]}", "\"services\" is empty");
	expect_refused(HEAD "\"services\":\"SSH\"}", "\"services\" is a string, not an array");
	expect_refused(HEAD "\"services\":{\"SSH\":1}}", "\"services\" is an object, not an array");
	expect_refused(HEAD "\"services\":[\"SSH\",7]}", "services[1] is a number, not a string");
	expect_refused(HEAD "\"services\":[[\"SSH\"]]}", "services[0] is an array, not a string");
	expect_refused(HEAD "\"services\":[\"FTP\"]}",
		       "service FTP is not in this device's service map (mapped: SSH, HTTP, RDP, VNC)");
	expect_refused(HEAD "\"services\":[\"SSH\",\"ssh\"]}",
		       "service ssh is not in this device's service map (mapped: SSH, HTTP, RDP, VNC)");
	expect_refused(HEAD "\"services\":[\"SSH\",\"SSH\"]}", "service SSH is listed twice");
	expect_refused(HEAD "\"services\":[\"SSH\",\"HTTP\",\"RDP\",\"VNC\"]}",
		       "\"services\" lists 4 services (at most 3)");
	expect_refused(HEAD "\"services\":[\"a b\"]}",
		       "services[0] 'a b' is not a service id (1-128 of [A-Za-z0-9_:-])");
	expect_refused(HEAD "\"services\":[\"SSH=1.2.3.4:22\"]}",
		       "services[0] 'SSH=1.2.3.4:22' is not a service id (1-128 of [A-Za-z0-9_:-])");
	expect_refused(HEAD "\"services\":[\"\"]}",
		       "services[0] '' is not a service id (1-128 of [A-Za-z0-9_:-])");
#undef HEAD
}

static void bad_tunnel_ids_and_labels(void **state)
{
	expect_refused("{\"tunnelId\":5,\"clientMode\":\"destination\"}",
		       "\"tunnelId\" is a number, not a string");
	expect_refused("{\"tunnelId\":\"a/b\",\"clientMode\":\"destination\"}",
		       "\"tunnelId\" 'a/b' is not a tunnel id (1-128 of [A-Za-z0-9_.:-])");
	expect_refused("{\"tunnelId\":\"\",\"clientMode\":\"destination\"}",
		       "\"tunnelId\" '' is not a tunnel id (1-128 of [A-Za-z0-9_.:-])");
	/* A refusal still names the tunnel when it can. */
	struct notification n;
	char why[256];
	assert_false(decide("{\"tunnelId\":\"t-7\",\"clientAccessToken\":\"SECRET\","
			    "\"clientMode\":\"source\",\"services\":[\"SSH\"]}", &n, why, sizeof(why)));
	assert_string_equal(n.label, "tunnel t-7");
	assert_null(n.token);
	assert_false(decide("{\"clientMode\":\"source\"}", &n, why, sizeof(why)));
	assert_string_equal(n.label, "");
}

static void reasons_truncate_safely(void **state)
{
	struct notification n;
	char why[16];
	assert_false(decide("{\"clientAccessToken\":\"SECRET\",\"clientMode\":\"destination\","
			    "\"services\":[\"FTP\"]}", &n, why, sizeof(why)));
	assert_int_equal(strlen(why), sizeof(why) - 1);
	/* A long untrusted value is cut, with "...". */
	char payload[1024], mode[300];
	memset(mode, 'm', 200);
	mode[200] = '\0';
	snprintf(payload, sizeof(payload), "{\"clientMode\":\"%s\"}", mode);
	char big[512];
	assert_false(decide(payload, &n, big, sizeof(big)));
	assert_non_null(strstr(big, "mmm..."));
	assert_true(strlen(big) < 100);
}

/* ---- duplicates ---------------------------------------------------------- */

static void seen_remembers_hashes(void **state)
{
	static struct seen_tokens s;
	seen_init(&s);
	uint8_t a[TOKEN_HASH_LEN], b[TOKEN_HASH_LEN];
	assert_int_equal(token_hash("token-a", 7, a), 0);
	assert_int_equal(token_hash("token-b", 7, b), 0);
	assert_false(seen_contains(&s, a));
	seen_add(&s, a);
	assert_true(seen_contains(&s, a));
	assert_false(seen_contains(&s, b));
	seen_add(&s, a); /* once */
	assert_int_equal(s.n, 1);
}

static void seen_forgets_the_oldest(void **state)
{
	static struct seen_tokens s;
	seen_init(&s);
	uint8_t first[TOKEN_HASH_LEN], h[TOKEN_HASH_LEN];
	assert_int_equal(token_hash("t0", 2, first), 0);
	seen_add(&s, first);
	for (unsigned i = 1; i < SEEN_MAX; i++) {
		char t[16];
		int len = snprintf(t, sizeof(t), "t%u", i);
		assert_int_equal(token_hash(t, (size_t)len, h), 0);
		seen_add(&s, h);
	}
	assert_int_equal(s.n, SEEN_MAX);
	assert_true(seen_contains(&s, first));
	assert_int_equal(token_hash("one more", 8, h), 0);
	seen_add(&s, h);
	assert_false(seen_contains(&s, first));
	assert_true(seen_contains(&s, h));
	assert_int_equal(s.n, SEEN_MAX);
}

static void same_payload_twice_is_a_duplicate(void **state)
{
	static struct seen_tokens s;
	seen_init(&s);
	const char *p = "{\"clientAccessToken\":\"" TOKEN "\",\"clientMode\":\"destination\","
			"\"services\":[\"SSH\"],\"tunnelId\":\"t1\"}";
	/* The same token with other services or another tunnel id is still
	 * the same token: a duplicate. */
	const char *q = "{\"clientAccessToken\":\"" TOKEN "\",\"clientMode\":\"destination\","
			"\"services\":[\"HTTP\"],\"tunnelId\":\"t2\"}";
	const char *r = "{\"clientAccessToken\":\"" TOKEN "x\",\"clientMode\":\"destination\","
			"\"services\":[\"SSH\"],\"tunnelId\":\"t1\"}";
	struct notification n;
	char why[256];
	assert_true(decide(p, &n, why, sizeof(why)));
	assert_false(seen_contains(&s, n.token_hash));
	seen_add(&s, n.token_hash);
	notification_clear(&n);
	assert_true(decide(p, &n, why, sizeof(why)));
	assert_true(seen_contains(&s, n.token_hash));
	notification_clear(&n);
	assert_true(decide(q, &n, why, sizeof(why)));
	assert_true(seen_contains(&s, n.token_hash));
	notification_clear(&n);
	assert_true(decide(r, &n, why, sizeof(why)));
	assert_false(seen_contains(&s, n.token_hash)); /* rotated token: new */
	notification_clear(&n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(accepts_what_the_relay_publishes),
		cmocka_unit_test(accepts_aws_style_without_tunnel_id),
		cmocka_unit_test(unknown_keys_are_ignored),
		cmocka_unit_test(token_length_limits),
		cmocka_unit_test(endpoint_from_the_notification),
		cmocka_unit_test(not_json),
		cmocka_unit_test(oversize_payload),
		cmocka_unit_test(wrong_topic),
		cmocka_unit_test(wrong_mode),
		cmocka_unit_test(bad_tokens),
		cmocka_unit_test(bad_services),
		cmocka_unit_test(bad_tunnel_ids_and_labels),
		cmocka_unit_test(reasons_truncate_safely),
		cmocka_unit_test(seen_remembers_hashes),
		cmocka_unit_test(seen_forgets_the_oldest),
		cmocka_unit_test(same_payload_twice_is_a_duplicate),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
