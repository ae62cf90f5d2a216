/* Unit tests for relay/api.c: the management API as a pure function from a
 * request to a response, with a real registry, an optional real SQLite store
 * in a temporary directory, and fake server hooks that record what the API
 * asks the server to do. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "common/token.h"
#include "relay/api.h"
#include "relay/registry.h"
#include "tests/unit/relay/tunnel_asserts.h"
#include "relay/store.h"
#include "relay/store_sqlite.h"

#define KEY "test-api-key-0123456789"
#define AUTH "Bearer " KEY
#define COLL "/api/v1/tunnels"
/* 2026-01-01T00:00:00Z */
#define NOW ((int64_t)1767225600)
#define NOW_TEXT "2026-01-01T00:00:00Z"

#define OPEN_BODY \
	"{\"description\":\"lab box\",\"destinationConfig\":{\"thingName\":\"thing-1\"," \
	"\"services\":[\"SSH\",\"HTTP\"]}}"

/* ---- fake server hooks ----------------------------------------------------- */

#define MAX_CLOSES 16

struct close_call {
	struct registry_tunnel *t;
	int side;
	int code;
	char reason[64];
};

struct fake_server {
	size_t n_close;
	struct close_call close[MAX_CLOSES];
	bool connected[2];
	size_t live;
	size_t n_connected_calls;
	size_t n_live_calls;
};

static void fake_close_side(void *server, struct registry_tunnel *t, int side, int code,
			    const char *reason)
{
	struct fake_server *s = server;
	assert_true(s->n_close < MAX_CLOSES);
	struct close_call *c = &s->close[s->n_close++];
	c->t = t;
	c->side = side;
	c->code = code;
	snprintf(c->reason, sizeof(c->reason), "%s", reason ? reason : "");
}

static bool fake_side_connected(void *server, const struct registry_tunnel *t,
				enum tunnel_side side)
{
	struct fake_server *s = server;
	s->n_connected_calls++;
	return s->connected[side];
}

static size_t fake_live_connections(void *server, const struct registry_tunnel *t)
{
	struct fake_server *s = server;
	s->n_live_calls++;
	return s->live;
}

/* ---- fixture ----------------------------------------------------------------- */

struct fx {
	struct registry reg;
	struct fake_server srv;
	struct api_env env;
	struct store *store;
	char dir[64];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	registry_init(&f->reg);
	f->env.registry = &f->reg;
	f->env.api_key = KEY;
	f->env.now = NOW;
	f->env.hooks.server = &f->srv;
	f->env.hooks.close_side = fake_close_side;
	f->env.hooks.side_connected = fake_side_connected;
	f->env.hooks.live_connections = fake_live_connections;
	*state = f;
	return 0;
}

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	char path[512];
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	registry_free(&f->reg);
	if (f->store)
		store_close(f->store);
	if (f->dir[0])
		remove_dir(f->dir);
	free(f);
	return 0;
}

/* A store in a fresh temporary directory, used by f->env. */
static void use_store(struct fx *f, char *path, size_t cap)
{
	snprintf(f->dir, sizeof(f->dir), "%s", "/tmp/test_api.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(path, cap, "%s/tunnels.db", f->dir);
	char err[256] = "";
	f->store = store_sqlite_open(path, err, sizeof(err));
	if (!f->store)
		fail_msg("store_sqlite_open: %s", err);
}

/* ---- helpers ------------------------------------------------------------------- */

struct saved {
	bool done;
	char err[256];
};

static void on_saved(void *ctx, const char *err)
{
	struct saved *sv = ctx;
	sv->done = true;
	snprintf(sv->err, sizeof(sv->err), "%s", err ? err : "");
}

/* Saves t in f->store and waits; hands the outcome to res when not NULL. */
static void save_now(struct fx *f, struct registry_tunnel *t, struct api_response *res)
{
	struct saved sv = { false, "" };
	char err[256] = "";
	if (store_save(f->store, t, on_saved, &sv, err, sizeof(err)))
		fail_msg("store_save: %s", err);
	assert_false(sv.done); /* the answer comes from the loop, later */
	store_flush(f->store);
	assert_true(sv.done);
	if (res)
		api_saved(res, sv.err[0] ? sv.err : NULL);
	else if (sv.err[0])
		fail_msg("store_save: %s", sv.err);
}

static void call_len(struct fx *f, const char *method, const char *path, const char *query,
		     const char *auth, const char *body, size_t body_len, struct api_response *res)
{
	struct api_request req = {
		.method = method,
		.path = path,
		.query = query,
		.authorization = auth,
		.body = body,
		.body_len = body_len,
	};
	/* Garbage in the response: api_handle must set every field itself. */
	memset(res, 0xA5, sizeof(*res));
	api_handle(&f->env, &req, res);
	/* As the server does: the answer waits for the save. */
	if (res->save && f->store)
		save_now(f, res->save, res);
}

static void call(struct fx *f, const char *method, const char *path, const char *query,
		 const char *body, struct api_response *res)
{
	call_len(f, method, path, query, AUTH, body, body ? strlen(body) : 0, res);
}

static cJSON *parse(const struct api_response *res)
{
	assert_non_null(res->body);
	cJSON *j = cJSON_Parse(res->body);
	if (!j)
		fail_msg("response body is not JSON: %s", res->body);
	return j;
}

static const char *get_str(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!cJSON_IsString(v))
		fail_msg("\"%s\" is not a string", key);
	return v->valuestring;
}

/* Checks status, error code and (when not NULL) the error field. */
static void assert_error(struct api_response *res, int status, const char *code, const char *field)
{
	if (res->status != status)
		fail_msg("status %d, want %d: %s", res->status, status, res->body ? res->body : "(null)");
	cJSON *j = parse(res);
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
	assert_true(cJSON_IsObject(err));
	assert_string_equal(get_str(err, "code"), code);
	assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(err, "message")));
	const cJSON *fld = cJSON_GetObjectItemCaseSensitive(err, "field");
	if (field) {
		if (!cJSON_IsString(fld) || strcmp(fld->valuestring, field))
			fail_msg("field %s, want %s: %s", cJSON_IsString(fld) ? fld->valuestring : "(none)",
				 field, res->body);
	} else {
		assert_null(fld);
	}
	assert_false(res->notify);
	cJSON_Delete(j);
}

/* A minted token: the first 8 characters of its tunnel's id (the routing
 * key), a dot, then 256 random bits as 43 base64url characters. */
static bool is_keyed_token(const char *s, const char *tunnel_id)
{
	if (strlen(s) != API_TOKEN_LEN || strncmp(s, tunnel_id, 8) || s[8] != '.')
		return false;
	for (const char *p = s + 9; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			return false;
	return true;
}

static bool is_uuid(const char *s)
{
	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
			return false;
		}
	}
	return true;
}

static void expect_time(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	assert_non_null(gmtime_r(&tt, &tm));
	assert_int_not_equal(strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm), 0);
}

static void assert_hash_of(const uint8_t hash[TOKEN_HASH_LEN], const char *token)
{
	uint8_t want[TOKEN_HASH_LEN];
	assert_int_equal(token_hash(token, strlen(token), want), 0);
	assert_memory_equal(hash, want, TOKEN_HASH_LEN);
}

/* True when the bytes of needle appear anywhere in the tunnel struct. */
static bool tunnel_contains(const struct registry_tunnel *t, const char *needle, size_t len)
{
	return memmem(t, sizeof(*t), needle, len) != NULL;
}

struct opened {
	char id[REGISTRY_MAX_ID + 1];
	char src[API_TOKEN_LEN + 1];
	char dst[API_TOKEN_LEN + 1];
	struct registry_tunnel *t;
};

/* Opens a tunnel with body and expects 201. */
static void open_ok(struct fx *f, const char *body, struct opened *o)
{
	struct api_response res;
	call(f, "POST", COLL, NULL, body, &res);
	if (res.status != 201) {
		char text[512];
		int status = res.status;
		snprintf(text, sizeof(text), "%s", res.body ? res.body : "(null)");
		api_response_free(&res);
		fail_msg("open: status %d: %s", status, text);
	}
	cJSON *j = parse(&res);
	snprintf(o->id, sizeof(o->id), "%s", get_str(j, "tunnelId"));
	snprintf(o->src, sizeof(o->src), "%s", get_str(j, "sourceAccessToken"));
	snprintf(o->dst, sizeof(o->dst), "%s", get_str(j, "destinationAccessToken"));
	cJSON_Delete(j);
	o->t = registry_find_id(&f->reg, o->id);
	assert_non_null(o->t);
	api_response_free(&res);
}

static void path_of(char *out, size_t cap, const char *id, const char *suffix)
{
	snprintf(out, cap, COLL "/%s%s", id, suffix);
}

/* ---- API off and authorization ----------------------------------------------- */

/* The console's calls: trusted, so no key is asked for, even with the
 * key-based API off; the call itself is checked as any other. */
static void test_trusted_call(void **state)
{
	struct fx *f = *state;
	struct api_response res;
	f->env.api_key = NULL;
	struct api_request req = {
		.method = "POST", .path = COLL, .body = OPEN_BODY, .body_len = strlen(OPEN_BODY),
		.trusted = true,
	};
	api_handle(&f->env, &req, &res);
	assert_int_equal(res.status, 201);
	assert_int_equal(f->reg.n, 1);
	api_response_free(&res);

	req.body = "{";
	req.body_len = 1;
	api_handle(&f->env, &req, &res);
	assert_int_equal(res.status, 400);
	api_response_free(&res);

	/* Not trusted, no key: still refused. */
	req.trusted = false;
	req.body = OPEN_BODY;
	req.body_len = strlen(OPEN_BODY);
	api_handle(&f->env, &req, &res);
	assert_error(&res, 403, "ApiDisabled", NULL);
	api_response_free(&res);
	assert_int_equal(f->reg.n, 1);
}

static void test_api_disabled(void **state)
{
	struct fx *f = *state;
	struct api_response res;

	f->env.api_key = NULL;
	call(f, "GET", COLL, NULL, NULL, &res);
	assert_error(&res, 403, "ApiDisabled", NULL);
	api_response_free(&res);

	f->env.api_key = "";
	call(f, "POST", COLL, NULL, OPEN_BODY, &res);
	assert_error(&res, 403, "ApiDisabled", NULL);
	api_response_free(&res);
	/* Nothing was opened. */
	assert_int_equal(f->reg.n, 0);

	/* Even with no Authorization header the answer is 403, not 401. */
	call_len(f, "GET", COLL, NULL, NULL, NULL, 0, &res);
	assert_error(&res, 403, "ApiDisabled", NULL);
	api_response_free(&res);
}

static void test_authorization(void **state)
{
	struct fx *f = *state;
	struct api_response res;
	static const char *const bad[] = {
		NULL,
		"",
		"Bearer",
		"Bearer ",
		"Bearer wrong-key",
		"Bearer " KEY "x",
		"Bearer " KEY " ",
		"Bearer test-api-key-012345678",
		"bearer " KEY,
		"Basic " KEY,
		KEY,
		"Bearer  " KEY,
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		call_len(f, "POST", COLL, NULL, bad[i], OPEN_BODY, strlen(OPEN_BODY), &res);
		assert_error(&res, 401, "Unauthorized", NULL);
		/* The refusal is logged, without the key that was offered. */
		assert_true(res.log_line[0] != '\0');
		assert_null(strstr(res.log_line, KEY));
		api_response_free(&res);
	}
	assert_int_equal(f->reg.n, 0);

	call_len(f, "GET", COLL, NULL, AUTH, NULL, 0, &res);
	assert_int_equal(res.status, 200);
	api_response_free(&res);

	call_len(f, "POST", COLL, NULL, AUTH, OPEN_BODY, strlen(OPEN_BODY), &res);
	assert_int_equal(res.status, 201);
	api_response_free(&res);
	assert_int_equal(f->reg.n, 1);
}

/* ---- POST open ---------------------------------------------------------------- */

static void test_open_success(void **state)
{
	struct fx *f = *state;
	struct api_response res;

	call(f, "POST", COLL, NULL, OPEN_BODY, &res);
	assert_int_equal(res.status, 201);
	cJSON *j = parse(&res);
	const char *id = get_str(j, "tunnelId");
	const char *src = get_str(j, "sourceAccessToken");
	const char *dst = get_str(j, "destinationAccessToken");
	assert_true(is_uuid(id));
	assert_int_equal(id[14], '4'); /* UUID version 4 */
	assert_non_null(strchr("89ab", id[19]));
	assert_true(is_keyed_token(src, id));
	assert_true(is_keyed_token(dst, id));
	assert_string_not_equal(src, dst);

	char want[32];
	expect_time(NOW + 60 * API_DEFAULT_LIFETIME_MINUTES, want);
	assert_string_equal(want, "2026-01-01T12:00:00Z");
	assert_string_equal(get_str(j, "expiresAt"), want);

	/* The destination is told its token. */
	assert_true(res.notify);
	assert_string_equal(res.notify_token, dst);

	/* The registry has the tunnel, with the hashes of the tokens only. */
	assert_int_equal(f->reg.n, 1);
	struct registry_tunnel *t = f->reg.tunnels[0];
	assert_ptr_equal(res.notify_tunnel, t);
	assert_ptr_equal(registry_find_id(&f->reg, id), t);
	assert_string_equal(t->id, id);
	assert_string_equal(t->thing, "thing-1");
	assert_string_equal(t->description, "lab box");
	assert_int_equal(t->n_services, 2);
	assert_string_equal(t->services[0], "SSH");
	assert_string_equal(t->services[1], "HTTP");
	assert_int_equal(t->lifetime_minutes, API_DEFAULT_LIFETIME_MINUTES);
	assert_int_equal(API_DEFAULT_LIFETIME_MINUTES, 720);
	assert_int_equal(t->created_at, NOW);
	assert_int_equal(t->expires_at, NOW + 720 * 60);
	assert_int_equal(t->closed_at, 0);
	assert_hash_of(t->side[SIDE_SOURCE].token_hash, src);
	assert_hash_of(t->side[SIDE_DESTINATION].token_hash, dst);
	for (int s = 0; s < 2; s++) {
		assert_false(t->side[s].used);
		assert_false(t->side[s].has_client_token);
		assert_string_equal(t->side[s].client_token, "");
		assert_int_equal(t->side_changed_at[s], 0);
	}
	enum tunnel_side side = SIDE_DESTINATION;
	assert_ptr_equal(registry_find_token(&f->reg, src, strlen(src), &side), t);
	assert_int_equal(side, SIDE_SOURCE);
	assert_ptr_equal(registry_find_token(&f->reg, dst, strlen(dst), &side), t);
	assert_int_equal(side, SIDE_DESTINATION);
	/* Nothing in the tunnel holds the tokens or a piece of them. */
	assert_false(tunnel_contains(t, src, strlen(src)));
	assert_false(tunnel_contains(t, dst, strlen(dst)));
	assert_false(tunnel_contains(t, src, 12));
	assert_false(tunnel_contains(t, dst, 12));
	assert_false(tunnel_contains(t, src + 20, 12));
	assert_false(tunnel_contains(t, dst + 20, 12));
	/* The log line names the tunnel but not the tokens. */
	assert_non_null(strstr(res.log_line, id));
	assert_null(strstr(res.log_line, src));
	assert_null(strstr(res.log_line, dst));
	/* Opening closes nothing. */
	assert_int_equal(f->srv.n_close, 0);

	cJSON_Delete(j);
	api_response_free(&res);
	assert_null(res.body);
	/* api_response_free wipes the token. */
	for (size_t i = 0; i < sizeof(res.notify_token); i++)
		assert_int_equal(res.notify_token[i], 0);
}

static void test_open_twice_distinct(void **state)
{
	struct fx *f = *state;
	struct opened a, b;
	open_ok(f, OPEN_BODY, &a);
	open_ok(f, OPEN_BODY, &b);
	assert_int_equal(f->reg.n, 2);
	assert_string_not_equal(a.id, b.id);
	assert_string_not_equal(a.src, b.src);
	assert_string_not_equal(a.dst, b.dst);
	assert_string_not_equal(a.src, b.dst);
	assert_ptr_not_equal(a.t, b.t);
}

static void test_open_lifetime_and_limits(void **state)
{
	struct fx *f = *state;
	struct opened o;
	char want[32];

	open_ok(f, "{\"destinationConfig\":{\"thingName\":\"t\",\"services\":[\"s\"]},"
		   "\"timeoutConfig\":{\"maxLifetimeTimeoutMinutes\":60}}", &o);
	assert_int_equal(o.t->lifetime_minutes, 60);
	assert_int_equal(o.t->expires_at, NOW + 3600);
	assert_string_equal(o.t->description, "");

	/* The response's expiresAt for a 1-minute and a 720-minute tunnel. */
	static const struct { const char *body; int minutes; } ok[] = {
		{ "{\"destinationConfig\":{\"thingName\":\"t\",\"services\":[\"s\"]},"
		  "\"timeoutConfig\":{\"maxLifetimeTimeoutMinutes\":1}}", 1 },
		{ "{\"destinationConfig\":{\"thingName\":\"t\",\"services\":[\"s\"]},"
		  "\"timeoutConfig\":{\"maxLifetimeTimeoutMinutes\":720}}", 720 },
		{ "{\"destinationConfig\":{\"thingName\":\"t\",\"services\":[\"s\"]},"
		  "\"timeoutConfig\":{\"maxLifetimeTimeoutMinutes\":60.0}}", 60 },
		{ "{\"destinationConfig\":{\"thingName\":\"t\",\"services\":[\"s\"]},"
		  "\"timeoutConfig\":{}}", 720 },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct api_response res;
		call(f, "POST", COLL, NULL, ok[i].body, &res);
		if (res.status != 201)
			fail_msg("case %zu: status %d: %s", i, res.status, res.body);
		cJSON *j = parse(&res);
		expect_time(NOW + 60 * (int64_t)ok[i].minutes, want);
		assert_string_equal(get_str(j, "expiresAt"), want);
		struct registry_tunnel *t = registry_find_id(&f->reg, get_str(j, "tunnelId"));
		assert_non_null(t);
		assert_int_equal(t->lifetime_minutes, ok[i].minutes);
		cJSON_Delete(j);
		api_response_free(&res);
	}

	/* Largest accepted values: 128-character thing name with every allowed
	 * kind of character, 3 services of 128 characters, 256-byte description. */
	char thing[129], svc[129], desc[257], body[2048];
	memset(thing, 'a', 128);
	memcpy(thing, "Az09_-:", 7);
	thing[128] = '\0';
	memset(svc, 'b', 128);
	memcpy(svc, "Sv:_-9", 6);
	svc[128] = '\0';
	memset(desc, 'd', 256);
	desc[256] = '\0';
	snprintf(body, sizeof(body),
		 "{\"description\":\"%s\",\"destinationConfig\":{\"thingName\":\"%s\","
		 "\"services\":[\"%s\",\"x\",\"y:z\"]}}", desc, thing, svc);
	open_ok(f, body, &o);
	assert_string_equal(o.t->thing, thing);
	assert_string_equal(o.t->description, desc);
	assert_int_equal(o.t->n_services, 3);
	assert_string_equal(o.t->services[0], svc);
	assert_string_equal(o.t->services[2], "y:z");
}

struct bad_case {
	const char *body;
	const char *field;
};

#define DC(x) "{\"destinationConfig\":" x "}"
#define DCS(thing, services) DC("{\"thingName\":" thing ",\"services\":" services "}")
#define WITH(extra) "{\"destinationConfig\":{\"thingName\":\"t\",\"services\":[\"s\"]}," extra "}"

static void test_open_validation(void **state)
{
	struct fx *f = *state;
	char long_thing[256], long_desc[512], long_svc[256];
	char t129[130], d257[258], s129[130];
	memset(t129, 'a', 129);
	t129[129] = '\0';
	memset(d257, 'd', 257);
	d257[257] = '\0';
	memset(s129, 's', 129);
	s129[129] = '\0';
	snprintf(long_thing, sizeof(long_thing), DCS("\"%s\"", "[\"s\"]"), t129);
	snprintf(long_desc, sizeof(long_desc), WITH("\"description\":\"%s\""), d257);
	snprintf(long_svc, sizeof(long_svc), DCS("\"t\"", "[\"%s\"]"), s129);

	const struct bad_case cases[] = {
		/* the body itself */
		{ "[]", "body" },
		{ "\"text\"", "body" },
		{ "42", "body" },
		{ "null", "body" },
		/* destinationConfig */
		{ "{}", "destinationConfig" },
		{ "{\"destinationconfig\":{\"thingName\":\"t\",\"services\":[\"s\"]}}", "destinationConfig" },
		{ DC("\"x\""), "destinationConfig" },
		{ DC("[]"), "destinationConfig" },
		{ DC("null"), "destinationConfig" },
		{ DC("7"), "destinationConfig" },
		/* thingName */
		{ DC("{\"services\":[\"s\"]}"), "destinationConfig.thingName" },
		{ DCS("\"\"", "[\"s\"]"), "destinationConfig.thingName" },
		{ DCS("\"bad name\"", "[\"s\"]"), "destinationConfig.thingName" },
		{ DCS("\"a/b\"", "[\"s\"]"), "destinationConfig.thingName" },
		{ DCS("\"a.b\"", "[\"s\"]"), "destinationConfig.thingName" },
		{ DCS("\"caf\\u00e9\"", "[\"s\"]"), "destinationConfig.thingName" },
		{ DCS("5", "[\"s\"]"), "destinationConfig.thingName" },
		{ DCS("null", "[\"s\"]"), "destinationConfig.thingName" },
		{ long_thing, "destinationConfig.thingName" },
		/* services */
		{ DC("{\"thingName\":\"t\"}"), "destinationConfig.services" },
		{ DCS("\"t\"", "[]"), "destinationConfig.services" },
		{ DCS("\"t\"", "[\"a\",\"b\",\"c\",\"d\"]"), "destinationConfig.services" },
		{ DCS("\"t\"", "[\"a\",\"b\",\"a\"]"), "destinationConfig.services" },
		{ DCS("\"t\"", "[\"a\",\"a\"]"), "destinationConfig.services" },
		{ DCS("\"t\"", "[\"a b\"]"), "destinationConfig.services" },
		{ DCS("\"t\"", "[\"\"]"), "destinationConfig.services" },
		{ DCS("\"t\"", "[\"ok\",\"bad/id\"]"), "destinationConfig.services" },
		{ long_svc, "destinationConfig.services" },
		{ DCS("\"t\"", "[1]"), "destinationConfig.services" },
		{ DCS("\"t\"", "[null]"), "destinationConfig.services" },
		{ DCS("\"t\"", "[[\"s\"]]"), "destinationConfig.services" },
		{ DCS("\"t\"", "[\"ok\",{}]"), "destinationConfig.services" },
		{ DCS("\"t\"", "\"s\""), "destinationConfig.services" },
		{ DCS("\"t\"", "{\"s\":1}"), "destinationConfig.services" },
		/* maxLifetimeTimeoutMinutes */
		{ WITH("\"timeoutConfig\":{\"maxLifetimeTimeoutMinutes\":0}"),
		  "timeoutConfig.maxLifetimeTimeoutMinutes" },
		{ WITH("\"timeoutConfig\":{\"maxLifetimeTimeoutMinutes\":721}"),
		  "timeoutConfig.maxLifetimeTimeoutMinutes" },
		{ WITH("\"timeoutConfig\":{\"maxLifetimeTimeoutMinutes\":1.5}"),
		  "timeoutConfig.maxLifetimeTimeoutMinutes" },
		{ WITH("\"timeoutConfig\":{\"maxLifetimeTimeoutMinutes\":\"60\"}"),
		  "timeoutConfig.maxLifetimeTimeoutMinutes" },
		{ WITH("\"timeoutConfig\":{\"maxLifetimeTimeoutMinutes\":-5}"),
		  "timeoutConfig.maxLifetimeTimeoutMinutes" },
		{ WITH("\"timeoutConfig\":{\"maxLifetimeTimeoutMinutes\":1e10}"),
		  "timeoutConfig.maxLifetimeTimeoutMinutes" },
		{ WITH("\"timeoutConfig\":{\"maxLifetimeTimeoutMinutes\":-1e10}"),
		  "timeoutConfig.maxLifetimeTimeoutMinutes" },
		{ WITH("\"timeoutConfig\":{\"maxLifetimeTimeoutMinutes\":4294967356}"),
		  "timeoutConfig.maxLifetimeTimeoutMinutes" },
		{ WITH("\"timeoutConfig\":{\"maxLifetimeTimeoutMinutes\":60.000001}"),
		  "timeoutConfig.maxLifetimeTimeoutMinutes" },
		{ WITH("\"timeoutConfig\":{\"maxLifetimeTimeoutMinutes\":null}"),
		  "timeoutConfig.maxLifetimeTimeoutMinutes" },
		{ WITH("\"timeoutConfig\":{\"maxLifetimeTimeoutMinutes\":true}"),
		  "timeoutConfig.maxLifetimeTimeoutMinutes" },
		{ WITH("\"timeoutConfig\":\"60\""), "timeoutConfig.maxLifetimeTimeoutMinutes" },
		{ WITH("\"timeoutConfig\":[60]"), "timeoutConfig.maxLifetimeTimeoutMinutes" },
		/* description */
		{ long_desc, "description" },
		{ WITH("\"description\":5"), "description" },
		{ WITH("\"description\":null"), "description" },
		{ WITH("\"description\":[\"x\"]"), "description" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct api_response res;
		call(f, "POST", COLL, NULL, cases[i].body, &res);
		if (res.status != 400)
			fail_msg("case %zu (%s): status %d, want 400: %s", i, cases[i].body, res.status,
				 res.body ? res.body : "(null)");
		assert_error(&res, 400, "BadRequest", cases[i].field);
		api_response_free(&res);
		/* A refused open leaves nothing behind. */
		if (f->reg.n != 0)
			fail_msg("case %zu (%s) added a tunnel", i, cases[i].body);
	}
	assert_int_equal(f->srv.n_close, 0);
}

/* A JSON string may hold U+0000, written as \u0000 or (cJSON accepts raw
 * control characters) as a raw 0x00 byte. cJSON then gives a C string cut
 * at the NUL, so "dev-1<NUL>evil" must not pass as the valid name "dev-1":
 * the tunnel (and the MQTT notification) would be for another thing than
 * the one named. Either the whole body (field "body") or the field itself
 * may be refused; what counts is the 400 and that nothing is opened. */
struct nul_case {
	const char *body;
	size_t len;
	const char *field;
};

#define NUL_CASE(text, fld) { text, sizeof(text) - 1, fld }

static void test_open_rejects_nul_in_names(void **state)
{
	struct fx *f = *state;
	const struct nul_case cases[] = {
		NUL_CASE(DCS("\"dev-1\\u0000evil\"", "[\"s\"]"), "destinationConfig.thingName"),
		NUL_CASE(DCS("\"dev-1\\u0000\"", "[\"s\"]"), "destinationConfig.thingName"),
		NUL_CASE(DCS("\"t\"", "[\"SSH\\u0000x\"]"), "destinationConfig.services"),
		/* raw NUL bytes inside the strings */
		NUL_CASE(DCS("\"dev-1\0evil\"", "[\"s\"]"), "destinationConfig.thingName"),
		NUL_CASE(DCS("\"dev-1\0\"", "[\"s\"]"), "destinationConfig.thingName"),
		NUL_CASE(DCS("\"t\"", "[\"SSH\0x\"]"), "destinationConfig.services"),
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct api_response res;
		call_len(f, "POST", COLL, NULL, AUTH, cases[i].body, cases[i].len, &res);
		if (res.status != 400) {
			char thing[REGISTRY_MAX_THING + 1] = "";
			if (f->reg.n)
				snprintf(thing, sizeof(thing), "%s", f->reg.tunnels[f->reg.n - 1]->thing);
			int status = res.status;
			api_response_free(&res);
			fail_msg("case %zu (%s, %zu bytes): status %d, want 400 (registered thing \"%s\")",
				 i, cases[i].body, cases[i].len, status, thing);
		}
		cJSON *j = parse(&res);
		const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
		const char *field = get_str(err, "field");
		bool ok = !strcmp(field, "body") || !strcmp(field, cases[i].field);
		cJSON_Delete(j);
		api_response_free(&res);
		if (!ok)
			fail_msg("case %zu: field %s, want body or %s", i, field, cases[i].field);
	}
	assert_int_equal(f->reg.n, 0);
}

/* The text \u0000 (a backslash, then "u0000") is not a NUL: in JSON it is
 * "\\u0000". A description holding it is a valid request. */
static void test_open_accepts_backslash_u0000_text(void **state)
{
	struct fx *f = *state;
	struct opened o;
	open_ok(f, "{\"description\":\"escape C:\\\\u0000\",\"destinationConfig\":"
		   "{\"thingName\":\"t\",\"services\":[\"s\"]}}", &o);
	assert_string_equal(o.t->description, "escape C:\\u0000");
}

static void test_open_malformed_json(void **state)
{
	struct fx *f = *state;
	static const char *const bodies[] = {
		"",
		"{",
		"{\"destinationConfig\":",
		"{'destinationConfig':{}}",
		"not json",
		"{\"a\":1,}",
	};
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		struct api_response res;
		call(f, "POST", COLL, NULL, bodies[i], &res);
		assert_error(&res, 400, "BadRequest", "body");
		api_response_free(&res);
	}
	/* A NULL body pointer is an empty body. */
	struct api_response res;
	call_len(f, "POST", COLL, NULL, AUTH, NULL, 0, &res);
	assert_error(&res, 400, "BadRequest", "body");
	api_response_free(&res);

	/* body_len bounds the parse: a valid body cut short is malformed. */
	call_len(f, "POST", COLL, NULL, AUTH, OPEN_BODY, strlen(OPEN_BODY) - 1, &res);
	assert_error(&res, 400, "BadRequest", "body");
	api_response_free(&res);
	assert_int_equal(f->reg.n, 0);
}

static void test_open_body_size(void **state)
{
	struct fx *f = *state;
	struct api_response res;
	/* A valid body padded with spaces to exactly API_MAX_BODY: accepted. */
	size_t n = API_MAX_BODY + 1;
	char *body = malloc(n + 1);
	assert_non_null(body);
	memset(body, ' ', n);
	memcpy(body, OPEN_BODY, strlen(OPEN_BODY));
	body[n] = '\0';

	call_len(f, "POST", COLL, NULL, AUTH, body, API_MAX_BODY, &res);
	assert_int_equal(res.status, 201);
	api_response_free(&res);
	assert_int_equal(f->reg.n, 1);

	/* One byte more: 413 before any parsing. */
	call_len(f, "POST", COLL, NULL, AUTH, body, API_MAX_BODY + 1, &res);
	assert_error(&res, 413, "PayloadTooLarge", "body");
	api_response_free(&res);

	/* Also for rotate. */
	char path[128];
	path_of(path, sizeof(path), f->reg.tunnels[0]->id, "/rotate");
	memcpy(body, "{\"clientMode\":\"ALL\"}", 20);
	call_len(f, "POST", path, NULL, AUTH, body, API_MAX_BODY + 1, &res);
	assert_error(&res, 413, "PayloadTooLarge", "body");
	api_response_free(&res);
	assert_int_equal(f->srv.n_close, 0);
	assert_int_equal(f->reg.n, 1);
	free(body);
}

/* ---- GET list and describe ------------------------------------------------------ */

static const cJSON *find_summary(const cJSON *list, const char *id)
{
	const cJSON *e;
	cJSON_ArrayForEach(e, list) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "tunnelId");
		if (cJSON_IsString(v) && !strcmp(v->valuestring, id))
			return e;
	}
	return NULL;
}

/* GETs the list with query and returns the tunnelSummaries array size;
 * *out gets the parsed body (caller deletes). */
static int list(struct fx *f, const char *query, cJSON **out)
{
	struct api_response res;
	call(f, "GET", COLL, query, NULL, &res);
	assert_int_equal(res.status, 200);
	assert_false(res.notify);
	cJSON *j = parse(&res);
	api_response_free(&res);
	const cJSON *l = cJSON_GetObjectItemCaseSensitive(j, "tunnelSummaries");
	assert_true(cJSON_IsArray(l));
	*out = j;
	return cJSON_GetArraySize(l);
}

static void test_list(void **state)
{
	struct fx *f = *state;
	cJSON *j;

	assert_int_equal(list(f, NULL, &j), 0);
	cJSON_Delete(j);

	struct opened a, b, c;
	open_ok(f, "{\"description\":\"first\",\"destinationConfig\":{\"thingName\":\"dev-A\","
		   "\"services\":[\"s\"]}}", &a);
	f->env.now = NOW + 10;
	open_ok(f, "{\"destinationConfig\":{\"thingName\":\"dev-A\",\"services\":[\"s\"]},"
		   "\"timeoutConfig\":{\"maxLifetimeTimeoutMinutes\":30}}", &b);
	open_ok(f, "{\"destinationConfig\":{\"thingName\":\"dev-B\",\"services\":[\"s\"]}}", &c);
	c.t->closed_at = NOW + 20; /* closed tunnels are listed too */

	assert_int_equal(list(f, NULL, &j), 3);
	const cJSON *l = cJSON_GetObjectItemCaseSensitive(j, "tunnelSummaries");
	const cJSON *ea = find_summary(l, a.id);
	const cJSON *eb = find_summary(l, b.id);
	const cJSON *ec = find_summary(l, c.id);
	assert_non_null(ea);
	assert_non_null(eb);
	assert_non_null(ec);
	assert_string_equal(get_str(ea, "thingName"), "dev-A");
	assert_string_equal(get_str(ea, "status"), "OPEN");
	assert_string_equal(get_str(ea, "description"), "first");
	assert_string_equal(get_str(ea, "createdAt"), NOW_TEXT);
	assert_string_equal(get_str(ea, "expiresAt"), "2026-01-01T12:00:00Z");
	assert_string_equal(get_str(eb, "description"), "");
	assert_string_equal(get_str(eb, "createdAt"), "2026-01-01T00:00:10Z");
	assert_string_equal(get_str(eb, "expiresAt"), "2026-01-01T00:30:10Z");
	assert_string_equal(get_str(ec, "thingName"), "dev-B");
	assert_string_equal(get_str(ec, "status"), "CLOSED");
	/* The list never carries tokens. */
	assert_null(cJSON_GetObjectItemCaseSensitive(ea, "sourceAccessToken"));
	assert_null(cJSON_GetObjectItemCaseSensitive(ea, "destinationAccessToken"));
	char *text = cJSON_PrintUnformatted(j);
	assert_non_null(text);
	assert_null(strstr(text, a.src));
	assert_null(strstr(text, a.dst));
	free(text);
	cJSON_Delete(j);

	assert_int_equal(list(f, "thingName=dev-A", &j), 2);
	l = cJSON_GetObjectItemCaseSensitive(j, "tunnelSummaries");
	assert_non_null(find_summary(l, a.id));
	assert_non_null(find_summary(l, b.id));
	assert_null(find_summary(l, c.id));
	cJSON_Delete(j);

	assert_int_equal(list(f, "x=1&thingName=dev-B&y=2", &j), 1);
	l = cJSON_GetObjectItemCaseSensitive(j, "tunnelSummaries");
	assert_non_null(find_summary(l, c.id));
	cJSON_Delete(j);

	assert_int_equal(list(f, "thingName=dev", &j), 0);
	cJSON_Delete(j);
	assert_int_equal(list(f, "thingName=dev-A-longer", &j), 0);
	cJSON_Delete(j);
	assert_int_equal(list(f, "thingName=", &j), 0);
	cJSON_Delete(j);
	/* Other parameters alone do not filter. */
	assert_int_equal(list(f, "thingNameX=dev-A", &j), 3);
	cJSON_Delete(j);
	assert_int_equal(list(f, "", &j), 3);
	cJSON_Delete(j);

	/* The collection path with a trailing slash lists too. */
	struct api_response res;
	call(f, "GET", COLL "/", NULL, NULL, &res);
	assert_int_equal(res.status, 200);
	api_response_free(&res);
}

static void describe(struct fx *f, const char *id, cJSON **out)
{
	char path[128];
	struct api_response res;
	path_of(path, sizeof(path), id, "");
	call(f, "GET", path, NULL, NULL, &res);
	if (res.status != 200) {
		int status = res.status;
		api_response_free(&res);
		fail_msg("describe: status %d", status);
	}
	assert_false(res.notify);
	*out = parse(&res);
	api_response_free(&res);
}

static void test_describe(void **state)
{
	struct fx *f = *state;
	struct opened o;
	cJSON *j;
	open_ok(f, "{\"description\":\"desc\",\"destinationConfig\":{\"thingName\":\"dev\","
		   "\"services\":[\"SSH\",\"RDP\",\"web\"]},\"timeoutConfig\":{\"maxLifetimeTimeoutMinutes\":90}}",
		&o);

	f->srv.connected[SIDE_SOURCE] = true;
	f->srv.connected[SIDE_DESTINATION] = false;
	f->srv.live = 7;
	o.t->side_changed_at[SIDE_SOURCE] = NOW + 5;
	describe(f, o.id, &j);
	assert_true(f->srv.n_connected_calls >= 2);
	assert_true(f->srv.n_live_calls >= 1);
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "tunnel");
	assert_true(cJSON_IsObject(d));
	assert_string_equal(get_str(d, "tunnelId"), o.id);
	assert_string_equal(get_str(d, "status"), "OPEN");
	assert_string_equal(get_str(d, "description"), "desc");
	const cJSON *dest = cJSON_GetObjectItemCaseSensitive(d, "destinationConfig");
	assert_string_equal(get_str(dest, "thingName"), "dev");
	const cJSON *svcs = cJSON_GetObjectItemCaseSensitive(dest, "services");
	assert_true(cJSON_IsArray(svcs));
	assert_int_equal(cJSON_GetArraySize(svcs), 3);
	assert_string_equal(cJSON_GetArrayItem(svcs, 0)->valuestring, "SSH");
	assert_string_equal(cJSON_GetArrayItem(svcs, 1)->valuestring, "RDP");
	assert_string_equal(cJSON_GetArrayItem(svcs, 2)->valuestring, "web");
	const cJSON *ss = cJSON_GetObjectItemCaseSensitive(d, "sourceConnectionState");
	const cJSON *ds = cJSON_GetObjectItemCaseSensitive(d, "destinationConnectionState");
	assert_string_equal(get_str(ss, "status"), "CONNECTED");
	assert_string_equal(get_str(ss, "lastUpdatedAt"), "2026-01-01T00:00:05Z");
	assert_string_equal(get_str(ds, "status"), "DISCONNECTED");
	assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(ds, "lastUpdatedAt")));
	const cJSON *tc = cJSON_GetObjectItemCaseSensitive(d, "timeoutConfig");
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(tc, "maxLifetimeTimeoutMinutes");
	assert_true(cJSON_IsNumber(m));
	assert_int_equal(m->valueint, 90);
	assert_string_equal(get_str(d, "createdAt"), NOW_TEXT);
	assert_string_equal(get_str(d, "expiresAt"), "2026-01-01T01:30:00Z");
	assert_null(cJSON_GetObjectItemCaseSensitive(d, "closedAt"));
	const cJSON *live = cJSON_GetObjectItemCaseSensitive(d, "liveConnections");
	assert_true(cJSON_IsNumber(live));
	assert_int_equal(live->valueint, 7);
	char *text = cJSON_PrintUnformatted(j);
	assert_null(strstr(text, o.src));
	assert_null(strstr(text, o.dst));
	free(text);
	cJSON_Delete(j);

	/* The other way round. */
	f->srv.connected[SIDE_SOURCE] = false;
	f->srv.connected[SIDE_DESTINATION] = true;
	f->srv.live = 0;
	describe(f, o.id, &j);
	d = cJSON_GetObjectItemCaseSensitive(j, "tunnel");
	assert_string_equal(get_str(cJSON_GetObjectItemCaseSensitive(d, "sourceConnectionState"), "status"),
			    "DISCONNECTED");
	assert_string_equal(
		get_str(cJSON_GetObjectItemCaseSensitive(d, "destinationConnectionState"), "status"),
		"CONNECTED");
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(d, "liveConnections")->valueint, 0);
	cJSON_Delete(j);

	/* Without hooks: disconnected, no live connections. */
	f->env.hooks.side_connected = NULL;
	f->env.hooks.live_connections = NULL;
	f->srv.connected[SIDE_SOURCE] = f->srv.connected[SIDE_DESTINATION] = true;
	f->srv.live = 3;
	describe(f, o.id, &j);
	d = cJSON_GetObjectItemCaseSensitive(j, "tunnel");
	assert_string_equal(get_str(cJSON_GetObjectItemCaseSensitive(d, "sourceConnectionState"), "status"),
			    "DISCONNECTED");
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(d, "liveConnections")->valueint, 0);
	cJSON_Delete(j);

	/* Closed: status and closedAt. */
	o.t->closed_at = NOW + 60;
	describe(f, o.id, &j);
	d = cJSON_GetObjectItemCaseSensitive(j, "tunnel");
	assert_string_equal(get_str(d, "status"), "CLOSED");
	assert_string_equal(get_str(d, "closedAt"), "2026-01-01T00:01:00Z");
	cJSON_Delete(j);
}

/* ---- routing errors ------------------------------------------------------------- */

static void test_not_found(void **state)
{
	struct fx *f = *state;
	struct opened o;
	struct api_response res;
	open_ok(f, OPEN_BODY, &o);

	char long_id[128];
	memset(long_id, 'a', 100);
	long_id[100] = '\0';
	const struct { const char *method; const char *path; const char *body; } cases[] = {
		{ "GET", COLL "/00000000-0000-4000-8000-000000000000", NULL },
		{ "DELETE", COLL "/00000000-0000-4000-8000-000000000000", NULL },
		{ "POST", COLL "/00000000-0000-4000-8000-000000000000/rotate", "{\"clientMode\":\"ALL\"}" },
		{ "GET", COLL "/nope", NULL },
		{ "GET", COLL "//rotate", NULL },
		/* unknown paths */
		{ "GET", "/", NULL },
		{ "GET", "", NULL },
		{ "GET", "/api/v1", NULL },
		{ "GET", "/api/v1/tunnel", NULL },
		{ "GET", "/api/v1/tunnelsX", NULL },
		{ "GET", "/api/v2/tunnels", NULL },
		{ "GET", "/metrics", NULL },
		{ "POST", "/api/v1/other", OPEN_BODY },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		call(f, cases[i].method, cases[i].path, NULL, cases[i].body, &res);
		if (res.status != 404)
			fail_msg("case %zu %s %s: status %d", i, cases[i].method, cases[i].path, res.status);
		assert_error(&res, 404, "NotFound", NULL);
		api_response_free(&res);
	}

	/* An id longer than any id: 404, even when its prefix is a real id. */
	char path[256];
	snprintf(path, sizeof(path), COLL "/%s%s", o.id, long_id);
	call(f, "GET", path, NULL, NULL, &res);
	assert_error(&res, 404, "NotFound", NULL);
	api_response_free(&res);
	snprintf(path, sizeof(path), COLL "/%s", long_id);
	call(f, "DELETE", path, NULL, NULL, &res);
	assert_error(&res, 404, "NotFound", NULL);
	api_response_free(&res);
	/* A prefix of a real id is not that id. */
	char prefix[16];
	snprintf(prefix, sizeof(prefix), "%.8s", o.id);
	path_of(path, sizeof(path), prefix, "");
	call(f, "DELETE", path, NULL, NULL, &res);
	assert_error(&res, 404, "NotFound", NULL);
	api_response_free(&res);

	assert_int_equal(f->reg.n, 1);
	assert_int_equal(o.t->closed_at, 0);
	assert_int_equal(f->srv.n_close, 0);
}

static void test_wrong_method(void **state)
{
	struct fx *f = *state;
	struct opened o;
	struct api_response res;
	open_ok(f, OPEN_BODY, &o);
	char id_path[128], rotate_path[128], other_path[128], slash_path[128];
	path_of(id_path, sizeof(id_path), o.id, "");
	path_of(rotate_path, sizeof(rotate_path), o.id, "/rotate");
	path_of(other_path, sizeof(other_path), o.id, "/other");
	path_of(slash_path, sizeof(slash_path), o.id, "/");

	const struct { const char *method; const char *path; const char *body; } cases[] = {
		{ "PUT", COLL, NULL },
		{ "DELETE", COLL, NULL },
		{ "PATCH", COLL "/", NULL },
		{ "POST", id_path, "{}" },
		{ "PUT", id_path, NULL },
		{ "GET", rotate_path, NULL },
		{ "DELETE", rotate_path, NULL },
		{ "PUT", rotate_path, "{\"clientMode\":\"ALL\"}" },
		{ "GET", other_path, NULL },
		{ "POST", other_path, "{\"clientMode\":\"ALL\"}" },
		{ "GET", slash_path, NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		call(f, cases[i].method, cases[i].path, NULL, cases[i].body, &res);
		if (res.status != 405)
			fail_msg("case %zu %s %s: status %d", i, cases[i].method, cases[i].path, res.status);
		assert_error(&res, 405, "MethodNotAllowed", NULL);
		api_response_free(&res);
	}
	/* None of these changed anything. */
	assert_int_equal(f->reg.n, 1);
	assert_int_equal(o.t->closed_at, 0);
	assert_int_equal(f->srv.n_close, 0);
	assert_hash_of(o.t->side[SIDE_SOURCE].token_hash, o.src);
	assert_hash_of(o.t->side[SIDE_DESTINATION].token_hash, o.dst);
}

/* ---- rotate -------------------------------------------------------------------- */

#define CLIENT_TOKEN "0123456789abcdef0123456789abcdef-client"

/* Marks both sides as connected with a client token. */
static void mark_used(struct registry_tunnel *t)
{
	for (int s = 0; s < 2; s++) {
		t->side[s].used = true;
		t->side[s].has_client_token = true;
		snprintf(t->side[s].client_token, sizeof(t->side[s].client_token), "%s", CLIENT_TOKEN);
	}
}

static void rotate(struct fx *f, const char *id, const char *body, struct api_response *res)
{
	char path[128];
	path_of(path, sizeof(path), id, "/rotate");
	call(f, "POST", path, NULL, body, res);
}

/* Runs one rotation and checks every effect. */
static void check_rotation(struct fx *f, const char *mode, bool src, bool dst)
{
	struct opened o, other;
	struct api_response res;
	char body[64];
	open_ok(f, OPEN_BODY, &other);
	open_ok(f, OPEN_BODY, &o);
	mark_used(o.t);
	mark_used(other.t);
	uint8_t before[2][TOKEN_HASH_LEN];
	memcpy(before[0], o.t->side[0].token_hash, TOKEN_HASH_LEN);
	memcpy(before[1], o.t->side[1].token_hash, TOKEN_HASH_LEN);
	uint8_t other_before[2][TOKEN_HASH_LEN];
	memcpy(other_before[0], other.t->side[0].token_hash, TOKEN_HASH_LEN);
	memcpy(other_before[1], other.t->side[1].token_hash, TOKEN_HASH_LEN);
	f->srv.n_close = 0;
	f->env.now = NOW + 100;

	snprintf(body, sizeof(body), "{\"clientMode\":\"%s\"}", mode);
	rotate(f, o.id, body, &res);
	if (res.status != 200)
		fail_msg("rotate %s: %d %s", mode, res.status, res.body);
	cJSON *j = parse(&res);
	assert_string_equal(get_str(j, "tunnelId"), o.id);
	const cJSON *ns = cJSON_GetObjectItemCaseSensitive(j, "sourceAccessToken");
	const cJSON *nd = cJSON_GetObjectItemCaseSensitive(j, "destinationAccessToken");
	const bool rotated[2] = { src, dst };
	const cJSON *fresh[2] = { ns, nd };
	const char *old[2] = { o.src, o.dst };
	size_t closes = 0;
	for (int s = 0; s < 2; s++) {
		struct registry_side *side = &o.t->side[s];
		if (rotated[s]) {
			assert_true(cJSON_IsString(fresh[s]));
			const char *tok = fresh[s]->valuestring;
			assert_true(is_keyed_token(tok, o.t->id)); /* the same key */
			assert_string_not_equal(tok, old[s]);
			assert_string_not_equal(tok, old[1 - s]);
			assert_hash_of(side->token_hash, tok);
			assert_memory_not_equal(side->token_hash, before[s], TOKEN_HASH_LEN);
			assert_false(side->used);
			assert_false(side->has_client_token);
			assert_string_equal(side->client_token, "");
			assert_false(tunnel_contains(o.t, tok, strlen(tok)));
			enum tunnel_side found = (enum tunnel_side)(1 - s);
			assert_ptr_equal(registry_find_token(&f->reg, tok, strlen(tok), &found), o.t);
			assert_int_equal(found, s);
			/* The old token no longer works. */
			assert_null(registry_find_token(&f->reg, old[s], strlen(old[s]), NULL));
			/* Its peers were closed, normally. */
			assert_true(closes < f->srv.n_close);
			assert_ptr_equal(f->srv.close[closes].t, o.t);
			assert_int_equal(f->srv.close[closes].side, s);
			assert_int_equal(f->srv.close[closes].code, 1000);
			closes++;
			assert_null(strstr(res.log_line, tok));
		} else {
			assert_null(fresh[s]);
			assert_memory_equal(side->token_hash, before[s], TOKEN_HASH_LEN);
			assert_true(side->used);
			assert_true(side->has_client_token);
			assert_string_equal(side->client_token, CLIENT_TOKEN);
			assert_ptr_equal(registry_find_token(&f->reg, old[s], strlen(old[s]), NULL), o.t);
		}
	}
	assert_int_equal(f->srv.n_close, closes);
	assert_true(res.log_line[0] != '\0');

	if (dst) {
		assert_true(res.notify);
		assert_ptr_equal(res.notify_tunnel, o.t);
		assert_string_equal(res.notify_token, nd->valuestring);
	} else {
		assert_false(res.notify);
	}
	/* The other tunnel is untouched. */
	assert_memory_equal(other.t->side[0].token_hash, other_before[0], TOKEN_HASH_LEN);
	assert_memory_equal(other.t->side[1].token_hash, other_before[1], TOKEN_HASH_LEN);
	assert_true(other.t->side[0].used && other.t->side[1].used);
	/* Rotation does not change the tunnel's times. */
	assert_int_equal(o.t->created_at, NOW);
	assert_int_equal(o.t->expires_at, NOW + 720 * 60);
	assert_int_equal(o.t->closed_at, 0);
	cJSON_Delete(j);
	api_response_free(&res);
}

static void test_rotate_source(void **state)
{
	check_rotation(*state, "SOURCE", true, false);
}

static void test_rotate_destination(void **state)
{
	check_rotation(*state, "DESTINATION", false, true);
}

static void test_rotate_all(void **state)
{
	check_rotation(*state, "ALL", true, true);
}

static void test_rotate_twice(void **state)
{
	struct fx *f = *state;
	struct opened o;
	struct api_response res;
	open_ok(f, OPEN_BODY, &o);
	rotate(f, o.id, "{\"clientMode\":\"SOURCE\"}", &res);
	assert_int_equal(res.status, 200);
	cJSON *j = parse(&res);
	char first[API_TOKEN_LEN + 1];
	snprintf(first, sizeof(first), "%s", get_str(j, "sourceAccessToken"));
	cJSON_Delete(j);
	api_response_free(&res);
	rotate(f, o.id, "{\"clientMode\":\"SOURCE\"}", &res);
	assert_int_equal(res.status, 200);
	j = parse(&res);
	assert_string_not_equal(get_str(j, "sourceAccessToken"), first);
	assert_hash_of(o.t->side[SIDE_SOURCE].token_hash, get_str(j, "sourceAccessToken"));
	cJSON_Delete(j);
	api_response_free(&res);
	assert_int_equal(f->srv.n_close, 2);
}

static void test_rotate_bad_mode(void **state)
{
	struct fx *f = *state;
	struct opened o;
	open_ok(f, OPEN_BODY, &o);
	mark_used(o.t);
	static const char *const bodies[] = {
		"{}",
		"{\"clientMode\":\"source\"}",
		"{\"clientMode\":\"BOTH\"}",
		"{\"clientMode\":\"\"}",
		"{\"clientMode\":\"ALL \"}",
		"{\"clientMode\":5}",
		"{\"clientMode\":null}",
		"{\"clientMode\":[\"ALL\"]}",
		"{\"clientmode\":\"ALL\"}",
		"[\"ALL\"]",
		"\"ALL\"",
	};
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		struct api_response res;
		rotate(f, o.id, bodies[i], &res);
		assert_error(&res, 400, "BadRequest", "clientMode");
		api_response_free(&res);
	}
	struct api_response res;
	rotate(f, o.id, "{\"clientMode\":", &res);
	assert_error(&res, 400, "BadRequest", "body");
	api_response_free(&res);

	assert_int_equal(f->srv.n_close, 0);
	assert_hash_of(o.t->side[SIDE_SOURCE].token_hash, o.src);
	assert_hash_of(o.t->side[SIDE_DESTINATION].token_hash, o.dst);
	assert_true(o.t->side[0].used && o.t->side[1].used);
}

static void test_rotate_closed(void **state)
{
	struct fx *f = *state;
	struct opened o;
	struct api_response res;
	char path[128];
	open_ok(f, OPEN_BODY, &o);
	path_of(path, sizeof(path), o.id, "");
	call(f, "DELETE", path, NULL, NULL, &res);
	assert_int_equal(res.status, 200);
	api_response_free(&res);
	f->srv.n_close = 0;

	static const char *const modes[] = { "SOURCE", "DESTINATION", "ALL" };
	for (size_t i = 0; i < 3; i++) {
		char body[64];
		snprintf(body, sizeof(body), "{\"clientMode\":\"%s\"}", modes[i]);
		rotate(f, o.id, body, &res);
		assert_error(&res, 409, "Conflict", NULL);
		api_response_free(&res);
	}
	assert_int_equal(f->srv.n_close, 0);
	assert_hash_of(o.t->side[SIDE_SOURCE].token_hash, o.src);
	assert_hash_of(o.t->side[SIDE_DESTINATION].token_hash, o.dst);
}

/* ---- DELETE ---------------------------------------------------------------------- */

static void test_delete(void **state)
{
	struct fx *f = *state;
	struct opened o, other;
	struct api_response res;
	char path[128];
	open_ok(f, OPEN_BODY, &other);
	open_ok(f, OPEN_BODY, &o);
	path_of(path, sizeof(path), o.id, "");

	f->env.now = NOW + 1234;
	call(f, "DELETE", path, NULL, NULL, &res);
	assert_int_equal(res.status, 200);
	assert_false(res.notify);
	cJSON *j = parse(&res);
	assert_string_equal(get_str(j, "tunnelId"), o.id);
	assert_string_equal(get_str(j, "status"), "CLOSED");
	cJSON_Delete(j);
	assert_non_null(strstr(res.log_line, o.id));
	api_response_free(&res);

	assert_int_equal(o.t->closed_at, NOW + 1234);
	assert_int_equal(other.t->closed_at, 0);
	assert_int_equal(f->srv.n_close, 1);
	assert_ptr_equal(f->srv.close[0].t, o.t);
	assert_int_equal(f->srv.close[0].side, -1);
	assert_int_equal(f->srv.close[0].code, 1000);
	/* Still in the registry, listed as closed. */
	assert_ptr_equal(registry_find_id(&f->reg, o.id), o.t);

	/* Again, later: still 200 and CLOSED; nothing changes, nothing closes. */
	f->env.now = NOW + 5000;
	call(f, "DELETE", path, NULL, NULL, &res);
	assert_int_equal(res.status, 200);
	j = parse(&res);
	assert_string_equal(get_str(j, "tunnelId"), o.id);
	assert_string_equal(get_str(j, "status"), "CLOSED");
	cJSON_Delete(j);
	api_response_free(&res);
	assert_int_equal(o.t->closed_at, NOW + 1234);
	assert_int_equal(f->srv.n_close, 1);

	/* Works without a close_side hook. */
	f->env.hooks.close_side = NULL;
	path_of(path, sizeof(path), other.id, "");
	call(f, "DELETE", path, NULL, NULL, &res);
	assert_int_equal(res.status, 200);
	api_response_free(&res);
	assert_int_equal(other.t->closed_at, NOW + 5000);
}

static void test_close_tunnel_direct(void **state)
{
	struct fx *f = *state;
	struct opened o;
	open_ok(f, OPEN_BODY, &o);
	f->env.now = NOW + 720 * 60;
	api_close_tunnel(&f->env, o.t, "tunnel expired");
	assert_int_equal(o.t->closed_at, NOW + 720 * 60);
	assert_int_equal(f->srv.n_close, 1);
	assert_int_equal(f->srv.close[0].side, -1);
	assert_int_equal(f->srv.close[0].code, 1000);
	assert_string_equal(f->srv.close[0].reason, "tunnel expired");
}

/* ---- notification ------------------------------------------------------------------ */

static void test_add_notification(void **state)
{
	struct fx *f = *state;
	struct api_response res;
	call(f, "POST", COLL, NULL, OPEN_BODY, &res);
	assert_int_equal(res.status, 201);
	assert_int_equal(api_add_notification(&res, true, "published to $aws/things/thing-1/tunnels/notify"), 0);
	assert_int_equal(res.status, 201);
	cJSON *j = parse(&res);
	/* The original fields stay. */
	assert_true(is_uuid(get_str(j, "tunnelId")));
	assert_true(is_keyed_token(get_str(j, "sourceAccessToken"), get_str(j, "tunnelId")));
	assert_string_equal(get_str(j, "destinationAccessToken"), res.notify_token);
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "notification");
	assert_true(cJSON_IsObject(n));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(n, "delivered")));
	assert_string_equal(get_str(n, "detail"), "published to $aws/things/thing-1/tunnels/notify");
	cJSON_Delete(j);
	api_response_free(&res);

	char path[128];
	path_of(path, sizeof(path), f->reg.tunnels[0]->id, "/rotate");
	call(f, "POST", path, NULL, "{\"clientMode\":\"DESTINATION\"}", &res);
	assert_int_equal(res.status, 200);
	assert_int_equal(api_add_notification(&res, false, "MQTT is not configured"), 0);
	assert_int_equal(res.status, 200);
	j = parse(&res);
	n = cJSON_GetObjectItemCaseSensitive(j, "notification");
	assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(n, "delivered")));
	assert_string_equal(get_str(n, "detail"), "MQTT is not configured");
	assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "destinationAccessToken")));
	cJSON_Delete(j);
	api_response_free(&res);

	/* No body to add to. */
	struct api_response empty;
	memset(&empty, 0, sizeof(empty));
	assert_int_equal(api_add_notification(&empty, true, "x"), -1);
	assert_null(empty.body);
}

/* ---- caps on open tunnels ------------------------------------------------------------- */

#define THING_BODY(thing) "{\"destinationConfig\":{\"thingName\":\"" thing "\",\"services\":[\"s\"]}}"

/* Expects 429 TooManyTunnels whose message names the option and its value. */
static void assert_too_many(struct fx *f, const char *body, const char *option, const char *value)
{
	struct api_response res;
	size_t before = f->reg.n;
	call(f, "POST", COLL, NULL, body, &res);
	assert_error(&res, 429, "TooManyTunnels", NULL);
	if (!strstr(res.body, option) || !strstr(res.body, value))
		fail_msg("message should name %s %s: %s", option, value, res.body);
	assert_int_equal(f->reg.n, before); /* nothing created */
	api_response_free(&res);
}

static void test_cap_per_thing(void **state)
{
	struct fx *f = *state;
	struct opened o[3];
	f->env.max_tunnels_per_thing = 2;
	open_ok(f, THING_BODY("a"), &o[0]);
	open_ok(f, THING_BODY("a"), &o[1]);
	assert_too_many(f, THING_BODY("a"), "--max-tunnels-per-thing", "2");
	open_ok(f, THING_BODY("b"), &o[2]); /* another thing is not held back */

	/* A closed tunnel frees its place. */
	struct api_response res;
	char path[128];
	path_of(path, sizeof(path), o[0].id, "");
	call(f, "DELETE", path, NULL, NULL, &res);
	assert_int_equal(res.status, 200);
	api_response_free(&res);
	open_ok(f, THING_BODY("a"), &o[0]);
	assert_too_many(f, THING_BODY("a"), "--max-tunnels-per-thing", "2");

	/* So does an expired one the tick has not closed yet. */
	f->env.now = o[1].t->expires_at;
	open_ok(f, THING_BODY("a"), &o[1]);
}

static void test_cap_in_all(void **state)
{
	struct fx *f = *state;
	struct opened o;
	f->env.max_tunnels = 3;
	open_ok(f, THING_BODY("a"), &o);
	open_ok(f, THING_BODY("b"), &o);
	open_ok(f, THING_BODY("c"), &o);
	assert_too_many(f, THING_BODY("d"), "--max-tunnels", "3");
}

static void test_cap_defaults(void **state)
{
	struct fx *f = *state;
	struct opened o;
	/* 0 means the default: the per-thing cap holds without any setting. */
	for (int i = 0; i < API_DEFAULT_MAX_TUNNELS_PER_THING; i++)
		open_ok(f, THING_BODY("busy"), &o);
	char value[16];
	snprintf(value, sizeof(value), "%d", API_DEFAULT_MAX_TUNNELS_PER_THING);
	assert_too_many(f, THING_BODY("busy"), "--max-tunnels-per-thing", value);
}

/* ---- repeated keys ------------------------------------------------------------------- */

static void test_repeated_keys(void **state)
{
	struct fx *f = *state;
	static const struct bad_case cases[] = {
		{ "{\"destinationConfig\":{\"thingName\":\"a\",\"thingName\":\"b\",\"services\":[\"s\"]}}",
		  "destinationConfig.thingName" },
		{ "{\"destinationConfig\":{\"thingName\":\"a\",\"services\":[\"s\"]},"
		  "\"destinationConfig\":{\"thingName\":\"b\",\"services\":[\"s\"]}}",
		  "destinationConfig" },
		{ "{\"destinationConfig\":{\"thingName\":\"a\",\"services\":[\"s\"]},"
		  "\"timeoutConfig\":{\"maxLifetimeTimeoutMinutes\":1,\"maxLifetimeTimeoutMinutes\":720}}",
		  "timeoutConfig.maxLifetimeTimeoutMinutes" },
		{ "{\"destinationConfig\":{\"thingName\":\"a\",\"services\":[{\"x\":1,\"x\":2}]}}",
		  "destinationConfig.services.x" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct api_response res;
		call(f, "POST", COLL, NULL, cases[i].body, &res);
		assert_error(&res, 400, "BadRequest", cases[i].field);
		if (!strstr(res.body, "more than once"))
			fail_msg("case %zu: %s", i, res.body);
		api_response_free(&res);
	}
	assert_int_equal(f->reg.n, 0);

	/* Rotation too; the same key in two different objects is fine. */
	struct opened o;
	open_ok(f, "{\"description\":\"d\",\"destinationConfig\":{\"thingName\":\"a\","
		   "\"services\":[\"s\"],\"description\":\"x\"}}", &o);
	char path[128];
	path_of(path, sizeof(path), o.id, "/rotate");
	struct api_response res;
	call(f, "POST", path, NULL, "{\"clientMode\":\"SOURCE\",\"clientMode\":\"ALL\"}", &res);
	assert_error(&res, 400, "BadRequest", "clientMode");
	api_response_free(&res);
}

/* ---- tokens wiped from freed JSON trees --------------------------------------------- */

/* A freed block that still holds a token: a run of its 43 random base64url
 * characters in a small block (cJSON's copy of one string; the larger print
 * buffers are cJSON's own business and not checked). */
static bool unwiped_token_freed;

static bool holds_token(const char *p, size_t len)
{
	size_t run = 0;
	for (size_t i = 0; i < len; i++) {
		char c = p[i];
		bool b64 = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			   c == '-' || c == '_';
		run = b64 ? run + 1 : 0;
		if (run >= ACCESS_TOKEN_RANDOM_LEN)
			return true;
	}
	return false;
}

static void checking_free(void *p)
{
	if (p) {
		size_t len = malloc_usable_size(p);
		if (len <= API_TOKEN_LEN + 16 && holds_token(p, len))
			unwiped_token_freed = true;
	}
	free(p);
}

static void test_tokens_wiped_from_trees(void **state)
{
	struct fx *f = *state;
	cJSON_Hooks hooks = { .malloc_fn = malloc, .free_fn = checking_free };
	cJSON_InitHooks(&hooks);
	unwiped_token_freed = false;
	struct api_response res;
	call(f, "POST", COLL, NULL, OPEN_BODY, &res);
	assert_int_equal(res.status, 201);
	assert_int_equal(api_add_notification(&res, true, "delivered"), 0);
	api_response_free(&res);
	/* The check itself sees a token string freed unwiped. */
	cJSON *probe = cJSON_CreateString("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ");
	bool found_by_api = unwiped_token_freed;
	cJSON_Delete(probe);
	bool check_works = unwiped_token_freed;
	cJSON_InitHooks(NULL);
	assert_false(found_by_api);
	assert_true(check_works);
}

/* ---- notifications kept for later ------------------------------------------------------ */

static void test_add_pending_notification(void **state)
{
	struct fx *f = *state;
	struct api_response res;
	call(f, "POST", COLL, NULL, OPEN_BODY, &res);
	assert_int_equal(res.status, 201);
	assert_int_equal(api_add_pending_notification(&res, "broker unreachable; will be sent when it is back"), 0);
	assert_int_equal(res.status, 201);
	cJSON *j = parse(&res);
	assert_true(is_keyed_token(get_str(j, "destinationAccessToken"), get_str(j, "tunnelId")));
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "notification");
	assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(n, "delivered")));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(n, "pending")));
	assert_string_equal(get_str(n, "detail"), "broker unreachable; will be sent when it is back");
	cJSON_Delete(j);
	api_response_free(&res);
	/* A plain result has no "pending". */
	call(f, "POST", COLL, NULL, OPEN_BODY, &res);
	assert_int_equal(api_add_notification(&res, true, "delivered"), 0);
	j = parse(&res);
	n = cJSON_GetObjectItemCaseSensitive(j, "notification");
	assert_null(cJSON_GetObjectItemCaseSensitive(n, "pending"));
	cJSON_Delete(j);
	api_response_free(&res);
}

struct fake_notices {
	const char *id;
	struct api_notice_state state;
	int calls;
};

static bool fake_notice_state(void *arg, const char *tunnel_id, struct api_notice_state *out)
{
	struct fake_notices *fn = arg;
	fn->calls++;
	if (strcmp(tunnel_id, fn->id))
		return false;
	*out = fn->state;
	return true;
}

static void test_describe_shows_kept_notification(void **state)
{
	struct fx *f = *state;
	struct opened o, other;
	open_ok(f, OPEN_BODY, &o);
	open_ok(f, OPEN_BODY, &other);
	struct fake_notices fn = { .id = o.id };
	fn.state.since = NOW;
	snprintf(fn.state.detail, sizeof(fn.state.detail), "%s", "broker unreachable");
	f->env.notices = &fn;
	f->env.notice_state = fake_notice_state;

	char path[128];
	struct api_response res;
	path_of(path, sizeof(path), o.id, "");
	call(f, "GET", path, NULL, NULL, &res);
	assert_int_equal(res.status, 200);
	cJSON *j = parse(&res);
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "tunnel"),
							   "notification");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(n, "pending")));
	assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(n, "failed")));
	assert_string_equal(get_str(n, "since"), NOW_TEXT);
	assert_string_equal(get_str(n, "detail"), "broker unreachable");
	assert_null(strstr(res.body, o.dst)); /* never the token */
	cJSON_Delete(j);
	api_response_free(&res);

	/* Refused: failed, not pending. */
	fn.state.failed = true;
	call(f, "GET", path, NULL, NULL, &res);
	j = parse(&res);
	n = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "tunnel"), "notification");
	assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(n, "pending")));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(n, "failed")));
	cJSON_Delete(j);
	api_response_free(&res);

	/* Nothing kept: no member at all. */
	path_of(path, sizeof(path), other.id, "");
	call(f, "GET", path, NULL, NULL, &res);
	assert_int_equal(res.status, 200);
	assert_null(strstr(res.body, "\"notification\""));
	api_response_free(&res);
	assert_int_equal(fn.calls, 3);
}

/* ---- time format ---------------------------------------------------------------------- */

static void test_format_time(void **state)
{
	char out[32];
	api_format_time(NOW, out);
	assert_string_equal(out, NOW_TEXT);
	api_format_time(1700000000, out);
	assert_string_equal(out, "2023-11-14T22:13:20Z");
	api_format_time(951782400, out); /* leap day */
	assert_string_equal(out, "2000-02-29T00:00:00Z");
	api_format_time(0, out);
	assert_string_equal(out, "");
	api_format_time(-5, out);
	assert_string_equal(out, "");
}

/* A save that fails turns the answer into a 500 with no token and no
 * notification; one that succeeds leaves the answer as it was. */
static void test_save_failure(void **state)
{
	struct fx *f = *state;
	struct api_response res;
	call(f, "POST", COLL, NULL, OPEN_BODY, &res);
	assert_int_equal(res.status, 201);
	struct registry_tunnel *t = res.save;
	assert_non_null(t);
	assert_true(res.notify);
	api_saved(&res, "disk full");
	assert_error(&res, 500, "InternalError", NULL);
	assert_non_null(strstr(res.body, "cannot save the tunnel: disk full"));
	assert_null(strstr(res.body, "AccessToken"));
	assert_string_equal(res.log_line, "");
	assert_int_equal(t->closed_at, NOW); /* nobody got its tokens */
	api_response_free(&res);

	struct opened o;
	open_ok(f, OPEN_BODY, &o);
	rotate(f, o.id, "{\"clientMode\":\"ALL\"}", &res);
	assert_int_equal(res.status, 200);
	assert_ptr_equal(res.save, o.t);
	api_saved(&res, NULL);
	assert_int_equal(res.status, 200);
	assert_true(res.notify);
	api_saved(&res, "disk full");
	assert_error(&res, 500, "InternalError", NULL);
	assert_non_null(strstr(res.body, "cannot save the tunnel: disk full"));
	assert_int_equal(o.t->closed_at, 0);
	api_response_free(&res);

	char path[128];
	path_of(path, sizeof(path), o.id, "");
	call(f, "DELETE", path, NULL, NULL, &res);
	assert_int_equal(res.status, 200);
	api_saved(&res, "disk full");
	assert_error(&res, 500, "InternalError", NULL);
	assert_non_null(strstr(res.body, "closed, but not saved: disk full"));
	assert_int_equal(o.t->closed_at, NOW); /* closed all the same */
	api_response_free(&res);

	/* Closing a closed tunnel saves nothing. */
	call(f, "DELETE", path, NULL, NULL, &res);
	assert_int_equal(res.status, 200);
	assert_null(res.save);
	api_response_free(&res);
}

/* ---- with a real store ------------------------------------------------------------- */

/* Loads the store into a fresh registry and compares it with f->reg. */
static void assert_store_matches(struct fx *f)
{
	struct registry fresh;
	char err[256] = "";
	registry_init(&fresh);
	int n = store_load(f->store, &fresh, err, sizeof(err));
	if (n < 0)
		fail_msg("store_load: %s", err);
	assert_int_equal((size_t)n, f->reg.n);
	assert_int_equal(fresh.n, f->reg.n);
	for (size_t i = 0; i < f->reg.n; i++) {
		const struct registry_tunnel *t = f->reg.tunnels[i];
		const struct registry_tunnel *u = registry_find_id(&fresh, t->id);
		assert_non_null(u);
		assert_same_tunnel(t, u);
	}
	registry_free(&fresh);
}

static void test_store_persists(void **state)
{
	struct fx *f = *state;
	char dbpath[128];
	use_store(f, dbpath, sizeof(dbpath));
	struct opened o, p;
	open_ok(f, "{\"description\":\"kept\",\"destinationConfig\":{\"thingName\":\"dev:1\","
		   "\"services\":[\"SSH\",\"VNC\"]},\"timeoutConfig\":{\"maxLifetimeTimeoutMinutes\":45}}",
		&o);
	assert_store_matches(f);

	/* The loaded tunnel accepts the tokens the API gave out. */
	struct registry fresh;
	char err[256] = "";
	registry_init(&fresh);
	assert_int_equal(store_load(f->store, &fresh, err, sizeof(err)), 1);
	enum tunnel_side side = SIDE_SOURCE;
	struct registry_tunnel *u = registry_find_token(&fresh, o.dst, strlen(o.dst), &side);
	assert_non_null(u);
	assert_string_equal(u->id, o.id);
	assert_int_equal(side, SIDE_DESTINATION);
	assert_int_equal(u->lifetime_minutes, 45);
	assert_string_equal(u->thing, "dev:1");
	assert_int_equal(u->closed_at, 0);
	registry_free(&fresh);

	/* A rotation is saved. */
	open_ok(f, OPEN_BODY, &p);
	o.t->side[SIDE_SOURCE].used = true;
	struct api_response res;
	rotate(f, o.id, "{\"clientMode\":\"SOURCE\"}", &res);
	assert_int_equal(res.status, 200);
	api_response_free(&res);
	assert_store_matches(f);

	/* A closed tunnel is saved as closed. */
	f->env.now = NOW + 777;
	char path[128];
	path_of(path, sizeof(path), o.id, "");
	call(f, "DELETE", path, NULL, NULL, &res);
	assert_int_equal(res.status, 200);
	api_response_free(&res);
	assert_store_matches(f);
	registry_init(&fresh);
	assert_int_equal(store_load(f->store, &fresh, err, sizeof(err)), 2);
	u = registry_find_id(&fresh, o.id);
	assert_non_null(u);
	assert_int_equal(u->closed_at, NOW + 777);
	assert_int_equal(registry_find_id(&fresh, p.id)->closed_at, 0);
	registry_free(&fresh);

	/* Expiry through api_close_tunnel is saved too. */
	f->env.now = NOW + 888;
	api_close_tunnel(&f->env, p.t, "tunnel expired");
	save_now(f, p.t, NULL);
	assert_store_matches(f);

	/* Reopening the file gives the same. */
	store_close(f->store);
	f->store = store_sqlite_open(dbpath, err, sizeof(err));
	assert_non_null(f->store);
	assert_store_matches(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_api_disabled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trusted_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_authorization, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_success, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_twice_distinct, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_lifetime_and_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_rejects_nul_in_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_accepts_backslash_u0000_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_malformed_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_body_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_describe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_method, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotate_source, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotate_destination, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotate_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotate_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotate_bad_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotate_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_tunnel_direct, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_notification, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap_per_thing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap_in_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repeated_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tokens_wiped_from_trees, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_pending_notification, setup, teardown),
		cmocka_unit_test_setup_teardown(test_describe_shows_kept_notification, setup, teardown),
		cmocka_unit_test_setup_teardown(test_format_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_persists, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
