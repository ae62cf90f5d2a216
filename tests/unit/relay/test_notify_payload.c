/* Unit tests for relay/notify_payload.c: the MQTT notification's topic and
 * JSON payload (PROTOCOL.md §8). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "proto/wire.h"
#include "relay/notify_payload.h"

#define TOKEN "AQGAAXhzdGVzdC1kZXN0aW5hdGlvbi10b2tlbi0wMTIzNDU2Nzg5"

/* ---- topic ---------------------------------------------------------------- */

static void topic_default_template(void **state)
{
	char topic[NOTIFY_MAX_TOPIC];
	int n = notify_topic(topic, sizeof(topic), NULL, "nanopi-01");
	assert_string_equal(topic, "$aws/things/nanopi-01/tunnels/notify");
	assert_int_equal(n, (int)strlen(topic));
	n = notify_topic(topic, sizeof(topic), NOTIFY_DEFAULT_TOPIC_TEMPLATE, "a");
	assert_string_equal(topic, "$aws/things/a/tunnels/notify");
}

static void topic_custom_template(void **state)
{
	char topic[NOTIFY_MAX_TOPIC];
	assert_int_equal(notify_topic(topic, sizeof(topic), "fleet/{thing}/notify/{thing}", "Dev_1:x"),
			 (int)strlen("fleet/Dev_1:x/notify/Dev_1:x"));
	assert_string_equal(topic, "fleet/Dev_1:x/notify/Dev_1:x");
	/* A brace that is not the placeholder stays as it is. */
	assert_true(notify_topic(topic, sizeof(topic), "t/{thin}/{thing}", "d") > 0);
	assert_string_equal(topic, "t/{thin}/d");
}

static void topic_thing_name_charset(void **state)
{
	char topic[NOTIFY_MAX_TOPIC];
	assert_true(notify_thing_valid("ABC-xyz_09:"));
	assert_true(notify_topic(topic, sizeof(topic), NULL, "ABC-xyz_09:") > 0);
	assert_string_equal(topic, "$aws/things/ABC-xyz_09:/tunnels/notify");
}

static void topic_bad_thing_names_refused(void **state)
{
	static const char *const bad[] = {
		"", "a/b", "/", "+", "#", "dev+", "dev#", "a b", "dev.1", "dév", "a\tb", "a\nb",
		"$aws", "{thing}", "*",
	};
	char topic[NOTIFY_MAX_TOPIC];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		strcpy(topic, "junk");
		assert_false(notify_thing_valid(bad[i]));
		assert_int_equal(notify_topic(topic, sizeof(topic), NULL, bad[i]), -1);
		assert_string_equal(topic, "");
	}
	assert_false(notify_thing_valid(NULL));
	assert_int_equal(notify_topic(topic, sizeof(topic), NULL, NULL), -1);
}

static void topic_thing_length_limit(void **state)
{
	char name[NOTIFY_MAX_THING + 2];
	char topic[NOTIFY_MAX_TOPIC];
	memset(name, 'a', NOTIFY_MAX_THING);
	name[NOTIFY_MAX_THING] = '\0';
	assert_true(notify_thing_valid(name)); /* 128 */
	assert_int_equal(notify_topic(topic, sizeof(topic), NULL, name),
			 (int)(strlen("$aws/things//tunnels/notify") + NOTIFY_MAX_THING));
	name[NOTIFY_MAX_THING] = 'a';
	name[NOTIFY_MAX_THING + 1] = '\0';
	assert_false(notify_thing_valid(name)); /* 129 */
	assert_int_equal(notify_topic(topic, sizeof(topic), NULL, name), -1);
}

static void topic_buffer_too_small(void **state)
{
	const char *want = "$aws/things/nanopi-01/tunnels/notify";
	char topic[64];
	size_t len = strlen(want);
	assert_int_equal(notify_topic(topic, len, NULL, "nanopi-01"), -1);
	assert_string_equal(topic, "");
	assert_int_equal(notify_topic(topic, len + 1, NULL, "nanopi-01"), (int)len);
	assert_string_equal(topic, want);
	assert_int_equal(notify_topic(NULL, 10, NULL, "nanopi-01"), -1);
	assert_int_equal(notify_topic(topic, 0, NULL, "nanopi-01"), -1);
}

static void template_check(void **state)
{
	char err[256];
	assert_int_equal(notify_topic_template_check(NULL, err, sizeof(err)), 0);
	assert_int_equal(notify_topic_template_check(NOTIFY_DEFAULT_TOPIC_TEMPLATE, err, sizeof(err)), 0);
	assert_int_equal(notify_topic_template_check("{thing}", err, sizeof(err)), 0);

	static const struct {
		const char *tmpl, *why;
	} bad[] = {
		{ "", "is empty" },
		{ "$aws/things/tunnels/notify", "does not contain {thing}" },
		{ "$aws/things/+/{thing}", "wildcard" },
		{ "$aws/{thing}/#", "wildcard" },
		{ "a/{thing}\n", "control character" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(notify_topic_template_check(bad[i].tmpl, err, sizeof(err)), -1);
		assert_non_null(strstr(err, bad[i].why));
		char topic[NOTIFY_MAX_TOPIC];
		assert_int_equal(notify_topic(topic, sizeof(topic), bad[i].tmpl, "nanopi-01"), -1);
	}
	/* Long enough that a 128-character thing would not fit. */
	char tmpl[NOTIFY_MAX_TOPIC];
	memset(tmpl, 'x', sizeof(tmpl));
	memcpy(tmpl, "{thing}", 7);
	/* Expanded with 128 characters: 1024 bytes, no room for the NUL. */
	const size_t longest = NOTIFY_MAX_TOPIC - 1 - NOTIFY_MAX_THING + 7;
	tmpl[longest + 1] = '\0';
	assert_int_equal(notify_topic_template_check(tmpl, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too long"));
	tmpl[longest] = '\0';
	assert_int_equal(notify_topic_template_check(tmpl, err, sizeof(err)), 0);
	char name[NOTIFY_MAX_THING + 1];
	memset(name, 'n', NOTIFY_MAX_THING);
	name[NOTIFY_MAX_THING] = '\0';
	char topic[NOTIFY_MAX_TOPIC];
	assert_int_equal(notify_topic(topic, sizeof(topic), tmpl, name), NOTIFY_MAX_TOPIC - 1);
	/* No err buffer: still refused, nothing written. */
	assert_int_equal(notify_topic_template_check("", NULL, 0), -1);
}

/* ---- payload -------------------------------------------------------------- */

static const char *const ssh[] = { "SSH" };

static struct notify_message message(void)
{
	struct notify_message m = {
		.token = TOKEN,
		.tunnel_id = "3f9c2a7e-0d1b-4c55-9a61-7b2f0e8d4c11",
		.region = NULL,
		.services = ssh,
		.n_services = 1,
		.endpoint = NULL,
	};
	return m;
}

static size_t member_count(const cJSON *obj)
{
	size_t n = 0;
	for (const cJSON *c = obj->child; c != NULL; c = c->next)
		n++;
	return n;
}

static const char *str_member(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void payload_fields_exact(void **state)
{
	struct notify_message m = message();
	char *text = notify_payload(&m);
	assert_non_null(text);
	cJSON *root = cJSON_Parse(text);
	assert_non_null(root);
	assert_true(cJSON_IsObject(root));
	assert_int_equal(member_count(root), 5);
	assert_string_equal(str_member(root, "clientAccessToken"), TOKEN);
	assert_string_equal(str_member(root, "clientMode"), "destination");
	assert_string_equal(str_member(root, "region"), NOTIFY_DEFAULT_REGION);
	assert_string_equal(str_member(root, "tunnelId"), m.tunnel_id);
	const cJSON *services = cJSON_GetObjectItemCaseSensitive(root, "services");
	assert_true(cJSON_IsArray(services));
	assert_int_equal(cJSON_GetArraySize(services), 1);
	assert_string_equal(cJSON_GetArrayItem(services, 0)->valuestring, "SSH");
	assert_null(cJSON_GetObjectItemCaseSensitive(root, "endpoint"));
	cJSON_Delete(root);
	/* One line, keys in the documented order. */
	assert_string_equal(text, "{\"clientAccessToken\":\"" TOKEN "\",\"clientMode\":\"destination\","
				  "\"region\":\"self-hosted\",\"services\":[\"SSH\"],"
				  "\"tunnelId\":\"3f9c2a7e-0d1b-4c55-9a61-7b2f0e8d4c11\"}");
	free(text);
}

static void payload_endpoint_only_when_configured(void **state)
{
	struct notify_message m = message();
	m.endpoint = "";
	char *text = notify_payload(&m);
	assert_non_null(text);
	cJSON *root = cJSON_Parse(text);
	assert_non_null(root);
	assert_null(cJSON_GetObjectItemCaseSensitive(root, "endpoint"));
	cJSON_Delete(root);
	free(text);

	m.endpoint = "relay.example.net:8443";
	text = notify_payload(&m);
	assert_non_null(text);
	root = cJSON_Parse(text);
	assert_non_null(root);
	assert_int_equal(member_count(root), 6);
	assert_string_equal(str_member(root, "endpoint"), "relay.example.net:8443");
	cJSON_Delete(root);
	free(text);
}

static void payload_region_and_services(void **state)
{
	static const char *const three[] = { "SSH", "HTTP_1", "vnc:5900" };
	struct notify_message m = message();
	m.region = "eu-central-1";
	m.services = three;
	m.n_services = 3;
	char *text = notify_payload(&m);
	assert_non_null(text);
	cJSON *root = cJSON_Parse(text);
	assert_non_null(root);
	assert_string_equal(str_member(root, "region"), "eu-central-1");
	const cJSON *services = cJSON_GetObjectItemCaseSensitive(root, "services");
	assert_int_equal(cJSON_GetArraySize(services), 3);
	for (int i = 0; i < 3; i++)
		assert_string_equal(cJSON_GetArrayItem(services, i)->valuestring, three[i]);
	cJSON_Delete(root);
	free(text);

	m.region = ""; /* empty means the default, like NULL */
	m.n_services = 1;
	text = notify_payload(&m);
	assert_non_null(text);
	root = cJSON_Parse(text);
	assert_string_equal(str_member(root, "region"), NOTIFY_DEFAULT_REGION);
	cJSON_Delete(root);
	free(text);
}

static void payload_escapes_json(void **state)
{
	/* A token or tunnel id with JSON-special characters stays one string. */
	struct notify_message m = message();
	m.token = "a\"b\\c}";
	m.tunnel_id = "id\",\"clientMode\":\"source";
	char *text = notify_payload(&m);
	assert_non_null(text);
	cJSON *root = cJSON_Parse(text);
	assert_non_null(root);
	assert_int_equal(member_count(root), 5);
	assert_string_equal(str_member(root, "clientAccessToken"), "a\"b\\c}");
	assert_string_equal(str_member(root, "clientMode"), "destination");
	assert_string_equal(str_member(root, "tunnelId"), m.tunnel_id);
	cJSON_Delete(root);
	free(text);
}

static void payload_bad_arguments(void **state)
{
	static const char *const bad_id[] = { "SS H" };
	static const char *const empty_id[] = { "" };
	static const char *const null_id[] = { NULL };
	static const char *const four[] = { "A", "B", "C", "D" };
	char long_id[TUNNEL_MAX_SERVICE_ID + 2];
	memset(long_id, 'S', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	const char *const too_long[] = { long_id };

	assert_null(notify_payload(NULL));
	struct notify_message m = message();
	m.token = NULL;
	assert_null(notify_payload(&m));
	m.token = "";
	assert_null(notify_payload(&m));
	m = message();
	m.tunnel_id = NULL;
	assert_null(notify_payload(&m));
	m.tunnel_id = "";
	assert_null(notify_payload(&m));
	m = message();
	m.services = NULL;
	assert_null(notify_payload(&m));
	m = message();
	m.n_services = 0;
	assert_null(notify_payload(&m));
	m.services = four;
	m.n_services = 4;
	assert_null(notify_payload(&m));
	m.services = bad_id;
	m.n_services = 1;
	assert_null(notify_payload(&m));
	m.services = empty_id;
	assert_null(notify_payload(&m));
	m.services = null_id;
	assert_null(notify_payload(&m));
	m.services = too_long;
	assert_null(notify_payload(&m));
	long_id[sizeof(long_id) - 2] = '\0'; /* exactly the limit */
	char *text = notify_payload(&m);
	assert_non_null(text);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(topic_default_template),
		cmocka_unit_test(topic_custom_template),
		cmocka_unit_test(topic_thing_name_charset),
		cmocka_unit_test(topic_bad_thing_names_refused),
		cmocka_unit_test(topic_thing_length_limit),
		cmocka_unit_test(topic_buffer_too_small),
		cmocka_unit_test(template_check),
		cmocka_unit_test(payload_fields_exact),
		cmocka_unit_test(payload_endpoint_only_when_configured),
		cmocka_unit_test(payload_region_and_services),
		cmocka_unit_test(payload_escapes_json),
		cmocka_unit_test(payload_bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
