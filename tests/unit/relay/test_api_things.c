/* Unit tests for relay/api_things.c (GET /api/v1/things[/NAME]) and the
 * registry's per-thing count behind openTunnels. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "relay/api.h"
#include "relay/api_things.h"
#include "relay/registry.h"
#include "relay/things.h"

#define KEY "test-api-key-0123456789"
#define AUTH "Bearer " KEY
#define NOW ((int64_t)1795708800) /* 2026-11-26T16:00:00Z */

struct fx {
	struct registry reg;
	struct things *things;
	struct api_env env;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	registry_init(&f->reg);
	f->things = things_new();
	f->env.registry = &f->reg;
	f->env.things = f->things;
	f->env.api_key = KEY;
	f->env.now = NOW;
	*state = f;
	return f->things ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	registry_free(&f->reg);
	things_free(f->things);
	free(f);
	return 0;
}

static cJSON *get(struct fx *f, const char *method, const char *path, const char *auth, int want)
{
	struct api_request req = {.method = method, .path = path, .authorization = auth};
	struct api_response res;
	api_handle(&f->env, &req, &res);
	if (res.status != want)
		fail_msg("%s %s: status %d, want %d: %s", method, path, res.status, want,
			 res.body ? res.body : "");
	cJSON *j = cJSON_Parse(res.body);
	api_response_free(&res);
	assert_non_null(j);
	return j;
}

/* Opens a tunnel for thing through the API; returns it. */
static struct registry_tunnel *open_for(struct fx *f, const char *thing)
{
	char body[256];
	snprintf(body, sizeof(body), "{\"destinationConfig\":{\"thingName\":\"%s\",\"services\":"
		 "[\"SSH\"]}}", thing);
	struct api_request req = {.method = "POST", .path = "/api/v1/tunnels", .authorization = AUTH,
				  .body = body, .body_len = strlen(body)};
	struct api_response res;
	api_handle(&f->env, &req, &res);
	assert_int_equal(res.status, 201);
	struct registry_tunnel *t = res.save;
	api_response_free(&res);
	assert_non_null(t);
	return t;
}

static void put_presence(struct fx *f, const char *name, enum thing_state state)
{
	struct thing_presence p;
	memset(&p, 0, sizeof(p));
	snprintf(p.name, sizeof(p.name), "%s", name);
	p.state = state;
	p.since = NOW - 60;
	strcpy(p.services[0], "SSH");
	strcpy(p.services[1], "HTTP");
	p.n_services = 2;
	strcpy(p.agent_version, "0.3.0");
	p.boot_time = NOW - 3600;
	p.max_tunnels = 4;
	assert_non_null(things_put(f->things, &p));
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void list_merges_presence_and_tunnels(void **state)
{
	struct fx *f = *state;
	put_presence(f, "zeta", THING_ONLINE);
	put_presence(f, "alpha", THING_OFFLINE);
	open_for(f, "zeta");
	open_for(f, "zeta");
	struct registry_tunnel *closed = open_for(f, "zeta");
	closed->closed_at = NOW;
	open_for(f, "beta"); /* tunnels, no presence: unknown */
	open_for(f, "beta");
	cJSON *j = get(f, "GET", "/api/v1/things", AUTH, 200);
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "things");
	assert_int_equal(cJSON_GetArraySize(list), 3);
	const cJSON *a = cJSON_GetArrayItem(list, 0), *b = cJSON_GetArrayItem(list, 1),
		    *z = cJSON_GetArrayItem(list, 2);
	assert_string_equal(str(a, "thingName"), "alpha"); /* sorted by name */
	assert_string_equal(str(a, "state"), "offline");
	assert_int_equal((int)num(a, "openTunnels"), 0);
	assert_string_equal(str(b, "thingName"), "beta");
	assert_string_equal(str(b, "state"), "unknown");
	assert_int_equal((int)num(b, "openTunnels"), 2);
	assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(b, "since")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(b, "maxTunnels")));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(b, "services")), 0);
	assert_string_equal(str(z, "thingName"), "zeta");
	assert_string_equal(str(z, "state"), "online");
	assert_string_equal(str(z, "since"), "2026-11-26T15:59:00Z");
	assert_string_equal(str(z, "bootTime"), "2026-11-26T15:00:00Z");
	assert_string_equal(str(z, "agentVersion"), "0.3.0");
	assert_int_equal((int)num(z, "maxTunnels"), 4);
	assert_int_equal((int)num(z, "openTunnels"), 2); /* the closed one does not count */
	const cJSON *services = cJSON_GetObjectItemCaseSensitive(z, "services");
	assert_int_equal(cJSON_GetArraySize(services), 2);
	assert_string_equal(cJSON_GetArrayItem(services, 1)->valuestring, "HTTP");
	cJSON_Delete(j);
}

static void one_thing(void **state)
{
	struct fx *f = *state;
	put_presence(f, "dev-1", THING_ONLINE);
	open_for(f, "dev-1");
	open_for(f, "other");
	cJSON *j = get(f, "GET", "/api/v1/things/dev-1", AUTH, 200);
	assert_string_equal(str(j, "thingName"), "dev-1");
	assert_string_equal(str(j, "state"), "online");
	assert_int_equal((int)num(j, "openTunnels"), 1);
	cJSON_Delete(j);
	j = get(f, "GET", "/api/v1/things/other", AUTH, 200);
	assert_string_equal(str(j, "state"), "unknown");
	assert_int_equal((int)num(j, "openTunnels"), 1);
	cJSON_Delete(j);
	/* Expired but not closed yet by the tick: not open any more. */
	struct registry_tunnel *t = open_for(f, "dev-1");
	t->expires_at = NOW;
	j = get(f, "GET", "/api/v1/things/dev-1", AUTH, 200);
	assert_int_equal((int)num(j, "openTunnels"), 1);
	cJSON_Delete(j);
}

static void errors(void **state)
{
	struct fx *f = *state;
	cJSON_Delete(get(f, "GET", "/api/v1/things/nobody", AUTH, 404));
	cJSON_Delete(get(f, "GET", "/api/v1/things/a%20b", AUTH, 400));
	cJSON_Delete(get(f, "GET", "/api/v1/things/a/b", AUTH, 404));
	cJSON_Delete(get(f, "DELETE", "/api/v1/things/x", AUTH, 405));
	cJSON_Delete(get(f, "POST", "/api/v1/things", AUTH, 405));
	cJSON_Delete(get(f, "GET", "/api/v1/things", NULL, 401));
	cJSON_Delete(get(f, "GET", "/api/v1/things", "Bearer wrong-key-0123456789", 401));
	cJSON_Delete(get(f, "GET", "/api/v1/thingsX", AUTH, 404));
	/* No presence table at all: still lists the things with tunnels. */
	f->env.things = NULL;
	open_for(f, "dev");
	cJSON *j = get(f, "GET", "/api/v1/things", AUTH, 200);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "things")), 1);
	cJSON_Delete(j);
}

/* The by_thing index follows inserts and removals. */
static void registry_counts_per_thing(void **state)
{
	struct fx *f = *state;
	struct registry_tunnel *a = open_for(f, "dev");
	open_for(f, "dev");
	open_for(f, "devX");
	size_t listed = 0;
	assert_int_equal(registry_open_for_thing(&f->reg, "dev", NOW, &listed), 2);
	assert_int_equal(listed, 2);
	a->closed_at = NOW;
	assert_int_equal(registry_open_for_thing(&f->reg, "dev", NOW, &listed), 1);
	assert_int_equal(listed, 2);
	registry_remove(&f->reg, a);
	assert_int_equal(registry_open_for_thing(&f->reg, "dev", NOW, &listed), 1);
	assert_int_equal(listed, 1);
	assert_int_equal(registry_open_for_thing(&f->reg, "nobody", NOW, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(list_merges_presence_and_tunnels, setup, teardown),
		cmocka_unit_test_setup_teardown(one_thing, setup, teardown),
		cmocka_unit_test_setup_teardown(errors, setup, teardown),
		cmocka_unit_test_setup_teardown(registry_counts_per_thing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
