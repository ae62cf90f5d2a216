/* Unit tests for relay/presence_payload.c: presence topic filters, the
 * thing a topic names, the strict parse of a presence message, and what
 * the relay keeps when one arrives (presence_merge). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "relay/presence_payload.h"

#define NOW 1795708800 /* 2026-11-26T16:00:00Z */

static void filters(void **state)
{
	char err[256];
	assert_int_equal(presence_filter_check(PRESENCE_DEFAULT_FILTER, err, sizeof(err)), 0);
	assert_int_equal(presence_filter_check("+/presence", err, sizeof(err)), 0);
	assert_int_equal(presence_filter_check("a/+/b", err, sizeof(err)), 0);
	assert_int_equal(presence_filter_check("tunnels/presence/#", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "'#'"));
	assert_int_equal(presence_filter_check("tunnels/presence", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "exactly one '+'"));
	assert_int_equal(presence_filter_check("+/x/+", err, sizeof(err)), -1);
	assert_int_equal(presence_filter_check("a/b+", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "whole level"));
	assert_int_equal(presence_filter_check("a/+\n", err, sizeof(err)), -1);
	assert_int_equal(presence_filter_check("", err, sizeof(err)), -1);
}

static void topic_to_thing(void **state)
{
	char thing[REGISTRY_MAX_THING + 1];
	assert_true(presence_topic_thing("tunnels/presence/+", "tunnels/presence/nanopi-01", thing));
	assert_string_equal(thing, "nanopi-01");
	assert_true(presence_topic_thing("a/+/b", "a/dev:1_x/b", thing));
	assert_string_equal(thing, "dev:1_x");
	/* No match, an empty or extra level, a name that is not a thing's. */
	assert_false(presence_topic_thing("tunnels/presence/+", "tunnels/other/x", thing));
	assert_false(presence_topic_thing("tunnels/presence/+", "tunnels/presence/", thing));
	assert_false(presence_topic_thing("tunnels/presence/+", "tunnels/presence/a/b", thing));
	assert_false(presence_topic_thing("a/+/b", "a/x/c", thing));
	assert_false(presence_topic_thing("a/+/b", "a/b", thing));
	assert_false(presence_topic_thing("tunnels/presence/+", "tunnels/presence/a b", thing));
	char topic[300], long_name[140];
	memset(long_name, 'x', 129);
	long_name[129] = '\0';
	snprintf(topic, sizeof(topic), "tunnels/presence/%s", long_name);
	assert_false(presence_topic_thing("tunnels/presence/+", topic, thing));
	long_name[128] = '\0';
	snprintf(topic, sizeof(topic), "tunnels/presence/%s", long_name);
	assert_true(presence_topic_thing("tunnels/presence/+", topic, thing));
	assert_string_equal(thing, long_name);
}

static int parse(const char *json, struct thing_presence *p, char *why, size_t cap)
{
	memset(p, 0, sizeof(*p));
	strcpy(p->name, "dev");
	return presence_payload_parse(json, strlen(json), p, why, cap);
}

static void online_message(void **state)
{
	struct thing_presence p;
	char why[128] = "";
	const char *json = "{\"state\":\"online\",\"agentVersion\":\"0.3.0\",\"services\":[\"SSH\","
			   "\"HTTP\"],\"bootTime\":\"2026-11-26T10:00:00Z\",\"since\":"
			   "\"2026-11-26T16:00:00Z\",\"maxTunnels\":4,\"futureKey\":{\"x\":1}}";
	assert_int_equal(parse(json, &p, why, sizeof(why)), 0);
	assert_string_equal(p.name, "dev"); /* kept */
	assert_int_equal(p.state, THING_ONLINE);
	assert_int_equal(p.n_services, 2);
	assert_string_equal(p.services[0], "SSH");
	assert_string_equal(p.services[1], "HTTP");
	assert_string_equal(p.agent_version, "0.3.0");
	assert_int_equal(p.boot_time, NOW - 6 * 3600);
	assert_int_equal(p.since, NOW);
	assert_int_equal(p.max_tunnels, 4);
}

static void will_message(void **state)
{
	struct thing_presence p;
	char why[128];
	assert_int_equal(parse("{\"state\":\"offline\"}", &p, why, sizeof(why)), 0);
	assert_int_equal(p.state, THING_OFFLINE);
	assert_int_equal(p.since, 0);
	assert_int_equal(p.n_services, 0);
}

static void expect_refused(const char *json, const char *want)
{
	struct thing_presence p;
	char why[128] = "";
	if (parse(json, &p, why, sizeof(why)) != -1 || !strstr(why, want))
		fail_msg("%s: got '%s', want '%s'", json, why, want);
}

static void refused_messages(void **state)
{
	expect_refused("", "empty");
	expect_refused("not json", "not JSON");
	expect_refused("[1]", "not a JSON object");
	expect_refused("{}", "state must be");
	expect_refused("{\"state\":\"away\"}", "state must be");
	expect_refused("{\"state\":1}", "state must be");
	expect_refused("{\"state\":\"online\",\"services\":\"SSH\"}", "services must be an array");
	expect_refused("{\"state\":\"online\",\"services\":[\"S S\"]}", "services: each");
	expect_refused("{\"state\":\"online\",\"services\":[7]}", "services: each");
	expect_refused("{\"state\":\"online\",\"agentVersion\":\"0123456789012345678901234567890123\"}",
		       "agentVersion");
	expect_refused("{\"state\":\"online\",\"agentVersion\":\"a\\nb\"}", "agentVersion");
	expect_refused("{\"state\":\"online\",\"maxTunnels\":0}", "maxTunnels");
	expect_refused("{\"state\":\"online\",\"maxTunnels\":2.5}", "maxTunnels");
	expect_refused("{\"state\":\"online\",\"maxTunnels\":100000}", "maxTunnels");
	expect_refused("{\"state\":\"online\",\"since\":\"yesterday\"}", "since must be a time");
	expect_refused("{\"state\":\"online\",\"since\":\"2026-02-31T00:00:00Z\"}", "since");
	expect_refused("{\"state\":\"online\",\"bootTime\":\"2026-11-26T10:00:00+01:00\"}", "bootTime");
	expect_refused("{\"state\":\"online\",\"since\":5}", "since");
	/* 33 services: one more than an agent can map. */
	char json[1024] = "{\"state\":\"online\",\"services\":[";
	for (int i = 0; i < 33; i++)
		snprintf(json + strlen(json), sizeof(json) - strlen(json), "%s\"S%d\"", i ? "," : "", i);
	strcat(json, "]}");
	expect_refused(json, "more than 32");
	/* Bigger than the notifier reads, and a NUL inside. */
	struct thing_presence p;
	char why[128];
	char big[PRESENCE_MAX_PAYLOAD + 2];
	memset(big, ' ', sizeof(big));
	assert_int_equal(presence_payload_parse(big, sizeof(big), &p, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "larger"));
	assert_int_equal(presence_payload_parse("{\"state\":\"online\"}\0x", 20, &p, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "NUL"));
}

static void merge_stamps_and_keeps(void **state)
{
	struct thing_presence old, msg;
	char why[128];
	assert_int_equal(parse("{\"state\":\"online\",\"agentVersion\":\"0.3.0\",\"services\":[\"SSH\"],"
			       "\"since\":\"2026-11-26T16:00:00Z\",\"maxTunnels\":4}", &old, why,
			       sizeof(why)), 0);
	/* First news of a thing: a change. */
	struct thing_presence first = old;
	assert_true(presence_merge(NULL, &first, NOW + 5));
	assert_int_equal(first.since, NOW); /* its own time is kept */
	/* The same retained message again: no change. */
	struct thing_presence again = old;
	assert_false(presence_merge(&old, &again, NOW + 99));
	/* The will: offline, stamped on arrival, what was said before kept. */
	assert_int_equal(parse("{\"state\":\"offline\"}", &msg, why, sizeof(why)), 0);
	assert_true(presence_merge(&old, &msg, NOW + 60));
	assert_int_equal(msg.state, THING_OFFLINE);
	assert_int_equal(msg.since, NOW + 60);
	assert_int_equal(msg.n_services, 1);
	assert_string_equal(msg.services[0], "SSH");
	assert_string_equal(msg.agent_version, "0.3.0");
	assert_int_equal(msg.max_tunnels, 4);
	/* The will again (the relay resubscribed): keeps the first arrival time. */
	struct thing_presence stored = msg, will;
	assert_int_equal(parse("{\"state\":\"offline\"}", &will, why, sizeof(why)), 0);
	assert_false(presence_merge(&stored, &will, NOW + 600));
	assert_int_equal(will.since, NOW + 60);
	/* Online again without a time: stamped now; its services replace the old. */
	assert_int_equal(parse("{\"state\":\"online\",\"services\":[\"HTTP\"]}", &msg, why,
			       sizeof(why)), 0);
	assert_true(presence_merge(&stored, &msg, NOW + 700));
	assert_int_equal(msg.since, NOW + 700);
	assert_int_equal(msg.n_services, 1);
	assert_string_equal(msg.services[0], "HTTP");
	assert_string_equal(msg.agent_version, "");
	/* A bare "online" (a lifecycle event passed on) keeps what was said too. */
	stored = msg;
	assert_int_equal(parse("{\"state\":\"offline\"}", &msg, why, sizeof(why)), 0);
	assert_true(presence_merge(&stored, &msg, NOW + 800));
	stored = msg;
	assert_int_equal(parse("{\"state\":\"online\"}", &msg, why, sizeof(why)), 0);
	assert_true(presence_merge(&stored, &msg, NOW + 900));
	assert_int_equal(msg.n_services, 1);
	assert_string_equal(msg.services[0], "HTTP");
	assert_int_equal(msg.since, NOW + 900);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(filters),
		cmocka_unit_test(topic_to_thing),
		cmocka_unit_test(online_message),
		cmocka_unit_test(will_message),
		cmocka_unit_test(refused_messages),
		cmocka_unit_test(merge_stamps_and_keeps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
