/* Unit tests for relay/aws_api.c and relay/aws_tags.c: AWS's IoT Secure
 * Tunneling API as a pure function, with requests signed here the way
 * botocore signs them, a real registry and fake server hooks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "relay/aws_api.h"
#include "relay/aws_tags.h"

#define KEY_ID "AKIAUNITTEST00000001"
#define SECRET "unit-test-secret-0123456789abcdef"
/* 2026-01-01T00:00:00Z */
#define NOW ((int64_t)1767225600)
#define AMZ_DATE "20260101T000000Z"

struct fx {
	struct registry reg;
	struct api_env env;
	struct aws_keys keys;
	size_t closes;
};

static void fake_close_side(void *server, struct registry_tunnel *t, int side, int code, const char *reason)
{
	((struct fx *)server)->closes++;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[200];
	if (!f)
		return -1;
	registry_init(&f->reg);
	f->env.registry = &f->reg;
	f->env.now = NOW;
	f->env.hooks.server = f;
	f->env.hooks.close_side = fake_close_side;
	if (aws_keys_parse("[k]\naws_access_key_id=" KEY_ID "\naws_secret_access_key=" SECRET "\n",
			   &f->keys, err, sizeof(err)) != 1)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	registry_free(&f->reg);
	aws_keys_wipe(&f->keys);
	free(f);
	return 0;
}

/* ---- signed requests ----------------------------------------------------------- */

struct headers {
	const char *value[5]; /* content-type, host, x-amz-date, x-amz-target, authorization */
};

static const char *const header_names[] = { "content-type", "host", "x-amz-date", "x-amz-target",
					    "authorization" };

static const char *lookup(void *ctx, const char *name)
{
	const struct headers *h = ctx;
	for (size_t i = 0; i < 5; i++)
		if (!strcmp(header_names[i], name))
			return h->value[i];
	return NULL;
}

/* Signs POST / for operation op with body, as key_id/secret at date, then
 * (after signing) swaps in sent_body when not NULL, and calls the API. */
static void call_as(struct fx *f, const char *op, const char *body, const char *key_id, const char *secret,
		    const char *date, const char *sent_body, struct api_response *res)
{
	char target[80], auth[400], sig[65], scope[80];
	snprintf(target, sizeof(target), "IoTSecuredTunneling.%s", op);
	struct headers h = { { AWS_CONTENT_TYPE, "127.0.0.1:8443", date, target, NULL } };
	struct sigv4_request req = { .method = "POST", .path = "/", .body = body, .body_len = strlen(body),
				     .header = lookup, .header_ctx = &h };
	snprintf(scope, sizeof(scope), "%.8s/us-east-1/IoTSecuredTunneling/aws4_request", date);
	const char *signed_headers = "content-type;host;x-amz-date;x-amz-target";
	assert_int_equal(sigv4_signature(&req, signed_headers, date, scope, secret, sig), 0);
	snprintf(auth, sizeof(auth), "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
		 key_id, scope, signed_headers, sig);
	h.value[4] = auth;
	if (sent_body) {
		req.body = sent_body;
		req.body_len = strlen(sent_body);
	}
	memset(res, 0xA5, sizeof(*res));
	aws_api_handle(&f->env, &f->keys, &req, res);
}

/* A call that changes a tunnel must ask for it to be saved; others not. */
static void check_save(const char *op, const struct api_response *res)
{
	static const char *const changing[] = { "OpenTunnel", "CloseTunnel", "RotateTunnelAccessToken",
						"TagResource", "UntagResource" };
	bool changes = false;
	for (size_t i = 0; i < sizeof(changing) / sizeof(changing[0]); i++)
		changes = changes || !strcmp(op, changing[i]);
	if (res->status != 200 || !changes)
		assert_null(res->save);
	else if (strcmp(op, "CloseTunnel")) /* closing a closed tunnel changes nothing */
		assert_non_null(res->save);
}

static cJSON *call(struct fx *f, const char *op, const char *body, int want_status)
{
	struct api_response res;
	call_as(f, op, body, KEY_ID, SECRET, AMZ_DATE, NULL, &res);
	if (res.status != want_status)
		fail_msg("%s: status %d, want %d: %s", op, res.status, want_status, res.body);
	assert_string_equal(res.content_type, AWS_CONTENT_TYPE);
	check_save(op, &res);
	cJSON *j = cJSON_Parse(res.body);
	assert_non_null(j);
	api_response_free(&res);
	return j;
}

static void expect_error(struct fx *f, const char *op, const char *body, int status, const char *type)
{
	cJSON *j = call(f, op, body, status);
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "__type");
	if (!cJSON_IsString(t) || strcmp(t->valuestring, type))
		fail_msg("%s %s: __type %s, want %s", op, body, cJSON_IsString(t) ? t->valuestring : "-", type);
	assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "message")));
	cJSON_Delete(j);
}

static const char *str(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!cJSON_IsString(v))
		fail_msg("\"%s\" is not a string", key);
	return v->valuestring;
}

/* Opens a tunnel for thing; returns its id in id. */
static void open_for(struct fx *f, const char *thing, char id[REGISTRY_MAX_ID + 1])
{
	char body[300];
	snprintf(body, sizeof(body), "{\"destinationConfig\":{\"thingName\":\"%s\",\"services\":[\"SSH\"]}}", thing);
	struct api_response res;
	call_as(f, "OpenTunnel", body, KEY_ID, SECRET, AMZ_DATE, NULL, &res);
	assert_int_equal(res.status, 200);
	assert_true(res.notify);
	cJSON *j = cJSON_Parse(res.body);
	snprintf(id, REGISTRY_MAX_ID + 1, "%s", str(j, "tunnelId"));
	cJSON_Delete(j);
	api_response_free(&res);
}

/* ---- tests ------------------------------------------------------------------------ */

/* The relay's caps on open tunnels hold for AWS's API too, in AWS's words;
 * and a body with a repeated key is refused as one that cannot be read, as
 * /api/v1 refuses it. */
static void test_limits_and_repeated_keys(void **state)
{
	struct fx *f = *state;
	char id[REGISTRY_MAX_ID + 1];
	f->env.max_tunnels_per_thing = 1;
	open_for(f, "dev-9", id);
	const char *again = "{\"destinationConfig\":{\"thingName\":\"dev-9\",\"services\":[\"SSH\"]}}";
	expect_error(f, "OpenTunnel", again, 400, "LimitExceededException");
	/* Another thing is not held back by dev-9's cap. */
	open_for(f, "dev-10", id);
	expect_error(f, "OpenTunnel",
		     "{\"destinationConfig\":{\"thingName\":\"a\",\"thingName\":\"b\",\"services\":[\"SSH\"]}}",
		     400, "SerializationException");
}

static void test_open_describe(void **state)
{
	struct fx *f = *state;
	cJSON *j = call(f, "OpenTunnel",
			"{\"description\":\"lab\",\"destinationConfig\":{\"thingName\":\"dev-1\",\"services\":"
			"[\"SSH\",\"HTTP\"]},\"timeoutConfig\":{\"maxLifetimeTimeoutMinutes\":30},"
			"\"tags\":[{\"key\":\"team\",\"value\":\"ops\"}]}", 200);
	char id[REGISTRY_MAX_ID + 1], body[200], arn[200];
	snprintf(id, sizeof(id), "%s", str(j, "tunnelId"));
	snprintf(arn, sizeof(arn), "arn:aws:iotsecuretunneling:us-east-1:000000000000:tunnel/%s", id);
	assert_string_equal(str(j, "tunnelArn"), arn);
	/* "RK.RANDOM": the routing key is the start of the tunnel id. */
	assert_int_equal(strlen(str(j, "sourceAccessToken")), API_TOKEN_LEN);
	assert_int_equal(strlen(str(j, "destinationAccessToken")), API_TOKEN_LEN);
	assert_memory_equal(str(j, "sourceAccessToken"), id, 8);
	assert_memory_equal(str(j, "destinationAccessToken"), id, 8);
	assert_int_equal(str(j, "sourceAccessToken")[8], '.');
	cJSON_Delete(j);

	snprintf(body, sizeof(body), "{\"tunnelId\":\"%s\"}", id);
	j = call(f, "DescribeTunnel", body, 200);
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "tunnel");
	assert_string_equal(str(t, "status"), "OPEN");
	assert_string_equal(str(t, "description"), "lab");
	const cJSON *created = cJSON_GetObjectItemCaseSensitive(t, "createdAt");
	assert_true(cJSON_IsNumber(created) && created->valuedouble == (double)NOW); /* epoch seconds */
	char *text = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(t, "destinationConfig"));
	assert_string_equal(text, "{\"thingName\":\"dev-1\",\"services\":[\"SSH\",\"HTTP\"]}");
	free(text);
	text = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(t, "tags"));
	assert_string_equal(text, "[{\"key\":\"team\",\"value\":\"ops\"}]");
	free(text);
	assert_string_equal(str(cJSON_GetObjectItemCaseSensitive(t, "sourceConnectionState"), "status"),
			    "DISCONNECTED");
	cJSON_Delete(j);
}

static void test_close_delete_rotate(void **state)
{
	struct fx *f = *state;
	char id[REGISTRY_MAX_ID + 1], body[200];
	open_for(f, "dev-1", id);
	snprintf(body, sizeof(body), "{\"tunnelId\":\"%s\",\"clientMode\":\"SOURCE\"}", id);
	cJSON *j = call(f, "RotateTunnelAccessToken", body, 200);
	assert_non_null(cJSON_GetObjectItemCaseSensitive(j, "sourceAccessToken"));
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "destinationAccessToken"));
	cJSON_Delete(j);
	expect_error(f, "RotateTunnelAccessToken", "{\"tunnelId\":\"x\",\"clientMode\":\"ALL\"}", 400,
		     "ResourceNotFoundException");
	snprintf(body, sizeof(body), "{\"tunnelId\":\"%s\",\"clientMode\":\"BOTH\"}", id);
	expect_error(f, "RotateTunnelAccessToken", body, 400, "ValidationException");

	snprintf(body, sizeof(body), "{\"tunnelId\":\"%s\"}", id);
	cJSON_Delete(call(f, "CloseTunnel", body, 200));
	assert_true(f->reg.tunnels[0]->closed_at == NOW);
	j = call(f, "DescribeTunnel", body, 200);
	assert_string_equal(str(cJSON_GetObjectItemCaseSensitive(j, "tunnel"), "status"), "CLOSED");
	cJSON_Delete(j);
	snprintf(body, sizeof(body), "{\"tunnelId\":\"%s\",\"clientMode\":\"ALL\"}", id);
	expect_error(f, "RotateTunnelAccessToken", body, 400, "ValidationException"); /* closed */

	snprintf(body, sizeof(body), "{\"tunnelId\":\"%s\",\"delete\":\"yes\"}", id);
	expect_error(f, "CloseTunnel", body, 400, "ValidationException");
	snprintf(body, sizeof(body), "{\"tunnelId\":\"%s\",\"delete\":true}", id);
	cJSON_Delete(call(f, "CloseTunnel", body, 200));
	expect_error(f, "DescribeTunnel", body, 400, "ResourceNotFoundException");
	expect_error(f, "CloseTunnel", body, 400, "ResourceNotFoundException");
	j = call(f, "ListTunnels", "{}", 200);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "tunnelSummaries")), 0);
	cJSON_Delete(j);
}

static void test_list_pages(void **state)
{
	struct fx *f = *state;
	char id[5][REGISTRY_MAX_ID + 1], body[200];
	for (int i = 0; i < 5; i++)
		open_for(f, i % 2 ? "odd" : "even", id[i]);
	/* Pages of two: ids 0 1, then 2 3, then 4. */
	char next[REGISTRY_MAX_ID + 1] = "";
	for (int page = 0; page < 3; page++) {
		if (next[0])
			snprintf(body, sizeof(body), "{\"maxResults\":2,\"nextToken\":\"%s\"}", next);
		else
			snprintf(body, sizeof(body), "{\"maxResults\":2}");
		cJSON *j = call(f, "ListTunnels", body, 200);
		const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "tunnelSummaries");
		assert_int_equal(cJSON_GetArraySize(list), page < 2 ? 2 : 1);
		assert_string_equal(str(cJSON_GetArrayItem(list, 0), "tunnelId"), id[2 * page]);
		const cJSON *tok = cJSON_GetObjectItemCaseSensitive(j, "nextToken");
		assert_true(page < 2 ? cJSON_IsString(tok) : tok == NULL);
		snprintf(next, sizeof(next), "%s", tok ? tok->valuestring : "");
		cJSON_Delete(j);
	}
	cJSON *j = call(f, "ListTunnels", "{\"thingName\":\"odd\"}", 200);
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "tunnelSummaries");
	assert_int_equal(cJSON_GetArraySize(list), 2);
	assert_string_equal(str(cJSON_GetArrayItem(list, 1), "tunnelId"), id[3]);
	cJSON_Delete(j);
	expect_error(f, "ListTunnels", "{\"maxResults\":0}", 400, "ValidationException");
	expect_error(f, "ListTunnels", "{\"maxResults\":101}", 400, "ValidationException");
	expect_error(f, "ListTunnels", "{\"nextToken\":\"unknown\"}", 400, "ValidationException");
}

static void test_tags(void **state)
{
	struct fx *f = *state;
	char id[REGISTRY_MAX_ID + 1], body[400], arn[200];
	open_for(f, "dev-1", id);
	snprintf(arn, sizeof(arn), "arn:aws:iotsecuretunneling:us-east-1:000000000000:tunnel/%s", id);
	snprintf(body, sizeof(body), "{\"resourceArn\":\"%s\",\"tags\":[{\"key\":\"a\",\"value\":\"1\"},"
		 "{\"key\":\"b\",\"value\":\"2\"}]}", arn);
	cJSON_Delete(call(f, "TagResource", body, 200));
	snprintf(body, sizeof(body), "{\"resourceArn\":\"%s\",\"tags\":[{\"key\":\"a\",\"value\":\"3\"}]}", arn);
	cJSON_Delete(call(f, "TagResource", body, 200));
	snprintf(body, sizeof(body), "{\"resourceArn\":\"%s\",\"tagKeys\":[\"b\",\"zz\"]}", arn);
	cJSON_Delete(call(f, "UntagResource", body, 200));
	snprintf(body, sizeof(body), "{\"resourceArn\":\"%s\"}", arn);
	cJSON *j = call(f, "ListTagsForResource", body, 200);
	char *text = cJSON_PrintUnformatted(j);
	assert_string_equal(text, "{\"tags\":[{\"key\":\"a\",\"value\":\"3\"}]}");
	free(text);
	cJSON_Delete(j);
	assert_string_equal(f->reg.tunnels[0]->tags, "[{\"key\":\"a\",\"value\":\"3\"}]");

	snprintf(body, sizeof(body), "{\"resourceArn\":\"%s\",\"tags\":[{\"key\":\"bad#\",\"value\":\"x\"}]}", arn);
	expect_error(f, "TagResource", body, 400, "ValidationException");
	expect_error(f, "ListTagsForResource", "{\"resourceArn\":\"arn:aws:iot:us-east-1:1:thing/x\"}", 400,
		     "ValidationException");
	expect_error(f, "ListTagsForResource",
		     "{\"resourceArn\":\"arn:aws:iotsecuretunneling:us-east-1:1:tunnel/nope\"}", 400,
		     "ResourceNotFoundException");
	assert_string_equal(f->reg.tunnels[0]->tags, "[{\"key\":\"a\",\"value\":\"3\"}]");
}

static void test_tag_limits(void **state)
{
	char tags[REGISTRY_MAX_TAGS + 1] = "";
	struct ops_error e;
	/* 50 tags fit; the 51st does not, and leaves the 50 alone. */
	cJSON *list = cJSON_CreateArray();
	for (int i = 0; i < AWS_TAGS_MAX; i++) {
		char key[16];
		snprintf(key, sizeof(key), "k%d", i);
		cJSON *t = cJSON_CreateObject();
		cJSON_AddStringToObject(t, "key", key);
		cJSON_AddStringToObject(t, "value", "v");
		cJSON_AddItemToArray(list, t);
	}
	assert_int_equal(aws_tags_add(tags, sizeof(tags), list, &e), 0);
	cJSON_Delete(list);
	char before[sizeof(tags)];
	strcpy(before, tags);
	cJSON *one = cJSON_Parse("[{\"key\":\"extra\",\"value\":\"v\"}]");
	assert_int_equal(aws_tags_add(tags, sizeof(tags), one, &e), -1);
	assert_int_equal(e.failure, OPS_INVALID);
	assert_string_equal(tags, before);
	cJSON_Delete(one);
	/* A 256-character value is fine, 257 is not. */
	char big[600];
	snprintf(big, sizeof(big), "[{\"key\":\"k0\",\"value\":\"%0256d\"}]", 0);
	one = cJSON_Parse(big);
	assert_int_equal(aws_tags_add(tags, sizeof(tags), one, &e), 0);
	cJSON_Delete(one);
	snprintf(big, sizeof(big), "[{\"key\":\"k0\",\"value\":\"%0257d\"}]", 0);
	one = cJSON_Parse(big);
	assert_int_equal(aws_tags_add(tags, sizeof(tags), one, &e), -1);
	cJSON_Delete(one);
	one = cJSON_Parse("[]");
	assert_int_equal(aws_tags_add(tags, sizeof(tags), one, &e), -1); /* TagList: at least one */
	assert_int_equal(aws_tags_remove(tags, sizeof(tags), one, &e), 0);
	cJSON_Delete(one);
}

static void test_auth_refusals(void **state)
{
	struct fx *f = *state;
	struct api_response res;
	const char *body = "{}";
	struct {
		const char *key_id, *secret, *date, *sent;
		int status;
		const char *type;
	} cases[] = {
		{ KEY_ID, "wrong-secret-0123456789abcdef", AMZ_DATE, NULL, 403, "InvalidSignatureException" },
		{ "AKIAUNKNOWN000000001", SECRET, AMZ_DATE, NULL, 403, "UnrecognizedClientException" },
		{ KEY_ID, SECRET, "20251231T234459Z", NULL, 403, "InvalidSignatureException" }, /* 15 min 1 s old */
		{ KEY_ID, SECRET, AMZ_DATE, "{\"thingName\":\"x\"}", 403, "InvalidSignatureException" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		call_as(f, "ListTunnels", body, cases[i].key_id, cases[i].secret, cases[i].date, cases[i].sent, &res);
		assert_int_equal(res.status, cases[i].status);
		cJSON *j = cJSON_Parse(res.body);
		assert_string_equal(str(j, "__type"), cases[i].type);
		assert_null(strstr(res.body, SECRET));
		assert_null(strstr(res.log_line, SECRET));
		assert_non_null(strstr(res.log_line, "refused"));
		cJSON_Delete(j);
		api_response_free(&res);
	}
	/* 15 minutes exactly is still fine. */
	call_as(f, "ListTunnels", body, KEY_ID, SECRET, "20251231T234500Z", NULL, &res);
	assert_int_equal(res.status, 200);
	api_response_free(&res);
	/* The API is off without keys. */
	struct sigv4_request req = { .method = "POST", .path = "/", .body = "{}", .body_len = 2 };
	aws_api_handle(&f->env, NULL, &req, &res);
	assert_int_equal(res.status, 403);
	assert_non_null(strstr(res.body, "AccessDeniedException"));
	api_response_free(&res);
}

/* The store failed: a 500 InternalFailure without the tokens, no notification. */
static void test_save_failure(void **state)
{
	struct fx *f = *state;
	struct api_response res;
	call_as(f, "OpenTunnel", "{\"destinationConfig\":{\"thingName\":\"d\",\"services\":[\"SSH\"]}}",
		KEY_ID, SECRET, AMZ_DATE, NULL, &res);
	assert_int_equal(res.status, 200);
	assert_non_null(res.save);
	api_saved(&res, "disk full");
	assert_int_equal(res.status, 500);
	assert_false(res.notify);
	assert_non_null(strstr(res.body, "\"__type\":\"InternalFailure\""));
	assert_null(strstr(res.body, "AccessToken"));
	assert_true(f->reg.tunnels[0]->closed_at == NOW); /* nobody got its tokens */
	api_response_free(&res);
}

static void test_bad_requests(void **state)
{
	struct fx *f = *state;
	expect_error(f, "DeleteTunnel", "{}", 400, "UnknownOperationException");
	expect_error(f, "ListTunnels", "[]", 400, "SerializationException");
	expect_error(f, "ListTunnels", "{", 400, "SerializationException");
	expect_error(f, "DescribeTunnel", "{}", 400, "ValidationException");
	expect_error(f, "OpenTunnel", "{\"destinationConfig\":{\"thingName\":\"x\",\"services\":[]}}", 400,
		     "ValidationException");
	expect_error(f, "OpenTunnel", "{\"destinationConfig\":{\"thingName\":\"x\",\"services\":[\"S\"]},"
		     "\"tags\":[{\"key\":\"\",\"value\":\"x\"}]}", 400, "ValidationException");
	assert_int_equal(f->reg.n, 0); /* nothing half-made */
	expect_error(f, "ListTunnels", "{\"thingName\":\"a\\u0000b\"}", 400, "SerializationException");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_describe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_delete_rotate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tag_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits_and_repeated_keys, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
