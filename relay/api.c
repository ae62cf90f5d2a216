#include "relay/api.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/token.h"
#include "proto/message.h"

/* ---- responses ---------------------------------------------------------- */

/* Response bodies may hold fresh tokens: wipe them before freeing. */
static void free_body(char *body)
{
	secret_wipe(body);
	free(body);
}

/* Wipes every string value in a tree, then frees it: trees built for a
 * response, or parsed back from one, hold fresh tokens. */
static void wipe_strings(cJSON *list)
{
	for (cJSON *e = list; e; e = e->next) {
		if (cJSON_IsString(e) && e->valuestring)
			secret_wipe(e->valuestring);
		wipe_strings(e->child);
	}
}

static void delete_wiped(cJSON *json)
{
	if (json) {
		if (cJSON_IsString(json) && json->valuestring)
			secret_wipe(json->valuestring);
		wipe_strings(json->child);
	}
	cJSON_Delete(json);
}

static void set_body(struct api_response *res, int status, cJSON *json)
{
	res->status = status;
	free_body(res->body);
	res->body = json ? cJSON_PrintUnformatted(json) : NULL;
	delete_wiped(json);
	if (!res->body) {
		res->status = 500;
		res->body = strdup("{\"error\":{\"code\":\"InternalError\",\"message\":\"out of memory\"}}");
	}
}

/* {"error":{"code":…,"message":…,"field":…}} */
static void set_error(struct api_response *res, int status, const char *code,
		      const char *field, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void set_error(struct api_response *res, int status, const char *code,
		      const char *field, const char *fmt, ...)
{
	char message[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	cJSON *root = cJSON_CreateObject();
	cJSON *err = cJSON_AddObjectToObject(root, "error");
	if (err) {
		cJSON_AddStringToObject(err, "code", code);
		cJSON_AddStringToObject(err, "message", message);
		if (field)
			cJSON_AddStringToObject(err, "field", field);
	}
	set_body(res, status, root);
}

void api_format_time(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (t <= 0 || !gmtime_r(&tt, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		strcpy(out, "");
}

static void add_time(cJSON *obj, const char *key, int64_t t)
{
	char text[32];
	api_format_time(t, text);
	if (text[0])
		cJSON_AddStringToObject(obj, key, text);
	else
		cJSON_AddNullToObject(obj, key);
}

/* pending: -1 leaves it out. */
static int add_notification(struct api_response *res, bool delivered, int pending,
			    const char *detail)
{
	cJSON *root = res->body ? cJSON_Parse(res->body) : NULL;
	cJSON *n = root ? cJSON_AddObjectToObject(root, "notification") : NULL;
	if (!n) {
		delete_wiped(root);
		return -1;
	}
	cJSON_AddBoolToObject(n, "delivered", delivered);
	if (pending >= 0)
		cJSON_AddBoolToObject(n, "pending", pending);
	cJSON_AddStringToObject(n, "detail", detail);
	set_body(res, res->status, root);
	return 0;
}

int api_add_notification(struct api_response *res, bool delivered, const char *detail)
{
	return add_notification(res, delivered, -1, detail);
}

int api_add_pending_notification(struct api_response *res, const char *detail)
{
	return add_notification(res, false, 1, detail);
}

void api_response_free(struct api_response *res)
{
	free_body(res->body);
	res->body = NULL;
	OPENSSL_cleanse(res->notify_token, sizeof(res->notify_token));
}

/* ---- helpers -------------------------------------------------------------- */

static bool authorized(const struct api_env *env, const char *header)
{
	static const char prefix[] = "Bearer ";
	if (!header || strncmp(header, prefix, sizeof(prefix) - 1))
		return false;
	const char *given = header + sizeof(prefix) - 1;
	uint8_t a[TOKEN_HASH_LEN], b[TOKEN_HASH_LEN];
	/* Compare hashes so the time taken says nothing about the key. */
	if (token_hash(given, strlen(given), a) || token_hash(env->api_key, strlen(env->api_key), b))
		return false;
	return token_hash_equal(a, b);
}

static int new_tunnel_id(char out[REGISTRY_MAX_ID + 1])
{
	unsigned char r[16];
	if (RAND_bytes(r, sizeof(r)) != 1)
		return -1;
	r[6] = (unsigned char)((r[6] & 0x0f) | 0x40); /* UUID version 4 */
	r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
	snprintf(out, REGISTRY_MAX_ID + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11],
		 r[12], r[13], r[14], r[15]);
	return 0;
}

/* Gives a side a fresh token: returns it in token (API_TOKEN_LEN + 1). */
static int rotate_side(struct api_env *env, struct registry_tunnel *t, enum tunnel_side side,
		       char *token)
{
	uint8_t hash[TOKEN_HASH_LEN];
	do {
		if (access_token_generate(token, API_TOKEN_LEN + 1) ||
		    token_hash(token, API_TOKEN_LEN, hash))
			return -1;
	} while (registry_hash_in_use(env->registry, hash)); /* 2^-256: but cheap to be sure */
	struct registry_side *s = &t->side[side];
	memcpy(s->token_hash, hash, TOKEN_HASH_LEN);
	s->used = false;
	s->has_client_token = false;
	OPENSSL_cleanse(s->client_token, sizeof(s->client_token));
	return 0;
}

static bool thing_name_valid(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len > REGISTRY_MAX_THING)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' || s[i] == ':'))
			return false;
	return true;
}

/* The response goes out once t is saved (api_saved). */
static void save(struct api_env *env, struct registry_tunnel *t, enum api_save_failure failure,
		 struct api_response *res)
{
	res->save = t;
	res->save_failure = failure;
	res->now = env->now;
}

void api_saved(struct api_response *res, const char *err)
{
	if (!err || !res->save)
		return;
	/* The body may hold fresh tokens nobody will get: set_body wipes it. */
	res->notify = false;
	OPENSSL_cleanse(res->notify_token, sizeof(res->notify_token));
	res->log_line[0] = '\0';
	switch (res->save_failure) {
	case API_SAVE_OPEN:
		/* Nobody got its tokens: leave it closed rather than dangling. */
		res->save->closed_at = res->now;
		set_error(res, 500, "InternalError", NULL, "cannot save the tunnel: %s", err);
		break;
	case API_SAVE_ROTATE:
		set_error(res, 500, "InternalError", NULL, "cannot save the tunnel: %s", err);
		break;
	case API_SAVE_CLOSE:
		set_error(res, 500, "InternalError", NULL, "closed, but not saved: %.199s", err);
		break;
	}
}

void api_close_tunnel(struct api_env *env, struct registry_tunnel *t, const char *reason)
{
	t->closed_at = env->now;
	if (env->hooks.close_side)
		env->hooks.close_side(env->hooks.server, t, -1, 1000, reason);
}

/* ---- POST /api/v1/tunnels ------------------------------------------------ */

static size_t cap_or(size_t cap, size_t fallback)
{
	return cap ? cap : fallback;
}

/* Refuses (429) an open that would go past a cap on open tunnels; a tunnel
 * past its expiry that the tick has not closed yet does not count. */
static int check_tunnel_caps(const struct api_env *env, const char *thing,
			     struct api_response *res)
{
	size_t max_all = cap_or(env->max_tunnels, API_DEFAULT_MAX_TUNNELS);
	size_t max_thing = cap_or(env->max_tunnels_per_thing, API_DEFAULT_MAX_TUNNELS_PER_THING);
	size_t open_all = 0, open_thing = 0;
	for (size_t i = 0; i < env->registry->n; i++) {
		const struct registry_tunnel *t = env->registry->tunnels[i];
		if (t->closed_at || (t->expires_at && t->expires_at <= env->now))
			continue;
		open_all++;
		if (!strcmp(t->thing, thing))
			open_thing++;
	}
	if (open_thing >= max_thing) {
		set_error(res, 429, "TooManyTunnels", NULL,
			  "thing %s already has %zu open tunnels, the most allowed "
			  "(tunnel-relay --max-tunnels-per-thing %zu): close one first",
			  thing, open_thing, max_thing);
		return -1;
	}
	if (open_all >= max_all) {
		set_error(res, 429, "TooManyTunnels", NULL,
			  "the relay already has %zu open tunnels, the most allowed "
			  "(tunnel-relay --max-tunnels %zu): close one first", open_all, max_all);
		return -1;
	}
	return 0;
}

/* Reads and checks the open request into t; on error fills res. */
static int parse_open(const cJSON *root, struct registry_tunnel *t, struct api_response *res)
{
	if (!cJSON_IsObject(root)) {
		set_error(res, 400, "BadRequest", "body", "the body must be a JSON object");
		return -1;
	}
	const cJSON *dest = cJSON_GetObjectItemCaseSensitive(root, "destinationConfig");
	if (!cJSON_IsObject(dest)) {
		set_error(res, 400, "BadRequest", "destinationConfig", "destinationConfig must be an object");
		return -1;
	}
	const cJSON *thing = cJSON_GetObjectItemCaseSensitive(dest, "thingName");
	if (!cJSON_IsString(thing) || !thing_name_valid(thing->valuestring)) {
		set_error(res, 400, "BadRequest", "destinationConfig.thingName",
			  "thingName must be 1-128 characters of [A-Za-z0-9_:-]");
		return -1;
	}
	strcpy(t->thing, thing->valuestring);
	const cJSON *services = cJSON_GetObjectItemCaseSensitive(dest, "services");
	int n = cJSON_IsArray(services) ? cJSON_GetArraySize(services) : -1;
	if (n < 1 || n > (int)TUNNEL_MAX_SERVICES) {
		set_error(res, 400, "BadRequest", "destinationConfig.services",
			  "services must be an array of 1 to 3 service names");
		return -1;
	}
	for (int i = 0; i < n; i++) {
		const cJSON *s = cJSON_GetArrayItem(services, i);
		if (!cJSON_IsString(s) || !tunnel_service_id_valid(s->valuestring)) {
			set_error(res, 400, "BadRequest", "destinationConfig.services",
				  "service %d must be 1-128 characters of [A-Za-z0-9_:-]", i);
			return -1;
		}
		for (int j = 0; j < i; j++) {
			if (!strcmp(t->services[j], s->valuestring)) {
				set_error(res, 400, "BadRequest", "destinationConfig.services",
					  "service %s is listed twice", s->valuestring);
				return -1;
			}
		}
		strcpy(t->services[i], s->valuestring);
	}
	t->n_services = (size_t)n;
	t->lifetime_minutes = API_DEFAULT_LIFETIME_MINUTES;
	const cJSON *timeout = cJSON_GetObjectItemCaseSensitive(root, "timeoutConfig");
	if (timeout) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(timeout, "maxLifetimeTimeoutMinutes");
		/* Range first: converting an out-of-range double to int is undefined. */
		if (!cJSON_IsObject(timeout) || (m && !cJSON_IsNumber(m)) ||
		    (m && (m->valuedouble < 1 || m->valuedouble > API_MAX_LIFETIME_MINUTES ||
			   m->valuedouble != (double)(int)m->valuedouble))) {
			set_error(res, 400, "BadRequest", "timeoutConfig.maxLifetimeTimeoutMinutes",
				  "maxLifetimeTimeoutMinutes must be a whole number from 1 to %d",
				  API_MAX_LIFETIME_MINUTES);
			return -1;
		}
		if (m)
			t->lifetime_minutes = m->valueint;
	}
	const cJSON *desc = cJSON_GetObjectItemCaseSensitive(root, "description");
	if (desc) {
		if (!cJSON_IsString(desc) || strlen(desc->valuestring) > REGISTRY_MAX_DESCRIPTION) {
			set_error(res, 400, "BadRequest", "description",
				  "description must be a string of at most %d characters",
				  REGISTRY_MAX_DESCRIPTION);
			return -1;
		}
		strcpy(t->description, desc->valuestring);
	}
	return 0;
}

static void open_tunnel(struct api_env *env, const cJSON *root, struct api_response *res)
{
	struct registry_tunnel *t = calloc(1, sizeof(*t));
	char tokens[2][API_TOKEN_LEN + 1];
	char err[256];
	if (!t) {
		set_error(res, 500, "InternalError", NULL, "out of memory");
		return;
	}
	if (parse_open(root, t, res) || check_tunnel_caps(env, t->thing, res)) {
		free(t);
		return;
	}
	t->created_at = env->now;
	t->expires_at = env->now + 60 * (int64_t)t->lifetime_minutes;
	if (new_tunnel_id(t->id) || rotate_side(env, t, SIDE_SOURCE, tokens[0]) ||
	    rotate_side(env, t, SIDE_DESTINATION, tokens[1]) ||
	    registry_insert(env->registry, t, err, sizeof(err))) {
		OPENSSL_cleanse(t, sizeof(*t));
		free(t);
		OPENSSL_cleanse(tokens, sizeof(tokens));
		set_error(res, 500, "InternalError", NULL, "cannot create the tunnel");
		return;
	}
	cJSON *out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "tunnelId", t->id);
	cJSON_AddStringToObject(out, "sourceAccessToken", tokens[0]);
	cJSON_AddStringToObject(out, "destinationAccessToken", tokens[1]);
	add_time(out, "expiresAt", t->expires_at);
	set_body(res, 201, out);
	res->notify = true;
	res->notify_tunnel = t;
	memcpy(res->notify_token, tokens[1], sizeof(res->notify_token));
	OPENSSL_cleanse(tokens, sizeof(tokens));
	save(env, t, API_SAVE_OPEN, res);
	snprintf(res->log_line, sizeof(res->log_line), "tunnel %s opened for %s (%zu service%s, %d min)",
		 t->id, t->thing, t->n_services, t->n_services > 1 ? "s" : "", t->lifetime_minutes);
}

/* ---- GET ------------------------------------------------------------------- */

static const char *status_of(const struct registry_tunnel *t)
{
	return t->closed_at ? "CLOSED" : "OPEN";
}

/* The value of name=… in a query string, copied into out; false if absent. */
static bool query_value(const char *query, const char *name, char *out, size_t cap)
{
	/* Arguments are separated by '&' (or ',', as libwebsockets joins them);
	 * neither can occur in a thing name. */
	size_t nlen = strlen(name);
	for (const char *p = query; p && *p; p += strcspn(p, "&,"), p += *p ? 1 : 0) {
		if (!strncmp(p, name, nlen) && p[nlen] == '=') {
			const char *v = p + nlen + 1;
			size_t len = strcspn(v, "&,");
			if (len >= cap)
				len = cap - 1;
			memcpy(out, v, len);
			out[len] = '\0';
			return true;
		}
	}
	return false;
}

static void list_tunnels(struct api_env *env, const char *query, struct api_response *res)
{
	char thing[REGISTRY_MAX_THING + 2] = "";
	bool filter = query_value(query, "thingName", thing, sizeof(thing));
	cJSON *out = cJSON_CreateObject();
	cJSON *list = cJSON_AddArrayToObject(out, "tunnelSummaries");
	for (size_t i = 0; list && i < env->registry->n; i++) {
		const struct registry_tunnel *t = env->registry->tunnels[i];
		if (filter && strcmp(t->thing, thing))
			continue;
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "tunnelId", t->id);
		cJSON_AddStringToObject(e, "thingName", t->thing);
		cJSON_AddStringToObject(e, "status", status_of(t));
		cJSON_AddStringToObject(e, "description", t->description);
		add_time(e, "createdAt", t->created_at);
		add_time(e, "expiresAt", t->expires_at);
		cJSON_AddItemToArray(list, e);
	}
	set_body(res, 200, out);
}

static void add_side_state(struct api_env *env, cJSON *obj, const char *key,
			   const struct registry_tunnel *t, enum tunnel_side side)
{
	cJSON *s = cJSON_AddObjectToObject(obj, key);
	bool up = env->hooks.side_connected && env->hooks.side_connected(env->hooks.server, t, side);
	cJSON_AddStringToObject(s, "status", up ? "CONNECTED" : "DISCONNECTED");
	add_time(s, "lastUpdatedAt", t->side_changed_at[side]);
}

/* "notification":{"pending":…,"failed":…,"since":…,"detail":…} while the
 * relay keeps one for t (never the token). */
static void add_notice(const struct api_env *env, cJSON *d, const struct registry_tunnel *t)
{
	struct api_notice_state st;
	memset(&st, 0, sizeof(st));
	if (!env->notice_state || !env->notice_state(env->notices, t->id, &st))
		return;
	cJSON *n = cJSON_AddObjectToObject(d, "notification");
	cJSON_AddBoolToObject(n, "pending", !st.failed);
	cJSON_AddBoolToObject(n, "failed", st.failed);
	add_time(n, "since", st.since);
	cJSON_AddStringToObject(n, "detail", st.detail);
}

static void describe_tunnel(struct api_env *env, struct registry_tunnel *t, struct api_response *res)
{
	cJSON *out = cJSON_CreateObject();
	cJSON *d = cJSON_AddObjectToObject(out, "tunnel");
	cJSON_AddStringToObject(d, "tunnelId", t->id);
	cJSON_AddStringToObject(d, "status", status_of(t));
	cJSON_AddStringToObject(d, "description", t->description);
	cJSON *dest = cJSON_AddObjectToObject(d, "destinationConfig");
	cJSON_AddStringToObject(dest, "thingName", t->thing);
	cJSON *services = cJSON_AddArrayToObject(dest, "services");
	for (size_t i = 0; i < t->n_services; i++)
		cJSON_AddItemToArray(services, cJSON_CreateString(t->services[i]));
	add_side_state(env, d, "sourceConnectionState", t, SIDE_SOURCE);
	add_side_state(env, d, "destinationConnectionState", t, SIDE_DESTINATION);
	cJSON *timeout = cJSON_AddObjectToObject(d, "timeoutConfig");
	cJSON_AddNumberToObject(timeout, "maxLifetimeTimeoutMinutes", t->lifetime_minutes);
	add_time(d, "createdAt", t->created_at);
	add_time(d, "expiresAt", t->expires_at);
	if (t->closed_at)
		add_time(d, "closedAt", t->closed_at);
	size_t live = env->hooks.live_connections ? env->hooks.live_connections(env->hooks.server, t) : 0;
	cJSON_AddNumberToObject(d, "liveConnections", (double)live);
	add_notice(env, d, t);
	set_body(res, 200, out);
}

/* ---- rotate / close ------------------------------------------------------ */

static void rotate_tunnel(struct api_env *env, struct registry_tunnel *t, const cJSON *root,
			  struct api_response *res)
{
	const cJSON *mode = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "clientMode") : NULL;
	const char *m = cJSON_IsString(mode) ? mode->valuestring : "";
	bool src = !strcmp(m, "SOURCE") || !strcmp(m, "ALL");
	bool dst = !strcmp(m, "DESTINATION") || !strcmp(m, "ALL");
	if (!src && !dst) {
		set_error(res, 400, "BadRequest", "clientMode",
			  "clientMode must be SOURCE, DESTINATION or ALL");
		return;
	}
	if (t->closed_at) {
		set_error(res, 409, "Conflict", NULL, "tunnel %s is closed", t->id);
		return;
	}
	char tokens[2][API_TOKEN_LEN + 1] = { "", "" };
	for (int side = 0; side < 2; side++) {
		if (!(side == SIDE_SOURCE ? src : dst))
			continue;
		if (rotate_side(env, t, (enum tunnel_side)side, tokens[side])) {
			set_error(res, 500, "InternalError", NULL, "cannot make a token");
			OPENSSL_cleanse(tokens, sizeof(tokens));
			return;
		}
		/* The old token stops working: so do the connections made with it. */
		if (env->hooks.close_side)
			env->hooks.close_side(env->hooks.server, t, side, 1000, "access token rotated");
	}
	cJSON *out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "tunnelId", t->id);
	if (src)
		cJSON_AddStringToObject(out, "sourceAccessToken", tokens[SIDE_SOURCE]);
	if (dst)
		cJSON_AddStringToObject(out, "destinationAccessToken", tokens[SIDE_DESTINATION]);
	set_body(res, 200, out);
	if (dst) {
		res->notify = true;
		res->notify_tunnel = t;
		memcpy(res->notify_token, tokens[SIDE_DESTINATION], sizeof(res->notify_token));
	}
	OPENSSL_cleanse(tokens, sizeof(tokens));
	save(env, t, API_SAVE_ROTATE, res);
	snprintf(res->log_line, sizeof(res->log_line), "tunnel %s: rotated the %s token%s", t->id,
		 src && dst ? "source and destination" : src ? "source" : "destination",
		 src && dst ? "s" : "");
}

static void close_tunnel(struct api_env *env, struct registry_tunnel *t, struct api_response *res)
{
	if (!t->closed_at) {
		api_close_tunnel(env, t, "tunnel closed");
		save(env, t, API_SAVE_CLOSE, res);
		snprintf(res->log_line, sizeof(res->log_line), "tunnel %s closed by the API", t->id);
	}
	cJSON *out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "tunnelId", t->id);
	cJSON_AddStringToObject(out, "status", "CLOSED");
	set_body(res, 200, out);
}

/* ---- routing ------------------------------------------------------------- */

/* cJSON cuts a string at a NUL, so "dev-1\u0000evil" would pass as the
 * valid "dev-1": refuse a body holding a NUL byte or an escaped one. */
static bool has_nul(const char *body, size_t len)
{
	for (size_t i = 0; body && i < len; i++) {
		if (body[i] == '\0')
			return true;
		if (body[i] != '\\' || i + 1 >= len)
			continue;
		if (body[i + 1] == 'u' && i + 5 < len && !memcmp(body + i + 2, "0000", 4))
			return true;
		i++; /* skip the escaped character, so "\\u0000" is text */
	}
	return false;
}

/* cJSON keeps both members of {"a":1,"a":2} and lookups see the first:
 * a body whose reader could disagree with ours is refused. Writes the
 * dotted path of the first repeated key into path; false when none. */
static bool repeated_key(const cJSON *json, char *path, size_t cap)
{
	for (const cJSON *e = json ? json->child : NULL; e; e = e->next) {
		if (cJSON_IsObject(json) && e->string) {
			for (const cJSON *later = e->next; later; later = later->next) {
				if (later->string && !strcmp(e->string, later->string)) {
					size_t used = strlen(path);
					snprintf(path + used, cap - used, "%s%s", used ? "." : "", e->string);
					return true;
				}
			}
		}
		size_t used = strlen(path);
		if (cJSON_IsObject(json) && e->string)
			snprintf(path + used, cap - used, "%s%s", used ? "." : "", e->string);
		if (repeated_key(e, path, cap))
			return true;
		path[used] = '\0';
	}
	return false;
}

static const char collection[] = "/api/v1/tunnels";

void api_handle(struct api_env *env, const struct api_request *req, struct api_response *res)
{
	memset(res, 0, sizeof(*res));
	if (!env->api_key || !env->api_key[0]) {
		set_error(res, 403, "ApiDisabled", NULL,
			  "the management API is off: start tunnel-relay with --api-key-file");
		return;
	}
	if (!authorized(env, req->authorization)) {
		set_error(res, 401, "Unauthorized", NULL, "missing or wrong API key (Authorization: Bearer KEY)");
		snprintf(res->log_line, sizeof(res->log_line), "API call %s %s refused: wrong or missing key",
			 req->method, req->path);
		return;
	}
	size_t clen = sizeof(collection) - 1;
	if (strncmp(req->path, collection, clen) || (req->path[clen] && req->path[clen] != '/')) {
		set_error(res, 404, "NotFound", NULL, "no such API path: %s", req->path);
		return;
	}
	cJSON *body = NULL;
	if (!strcmp(req->method, "POST")) {
		if (req->body_len > API_MAX_BODY) {
			set_error(res, 413, "PayloadTooLarge", "body", "the body is larger than %u bytes",
				  API_MAX_BODY);
			return;
		}
		if (has_nul(req->body, req->body_len)) {
			set_error(res, 400, "BadRequest", "body", "NUL characters are not allowed");
			return;
		}
		body = cJSON_ParseWithLength(req->body ? req->body : "", req->body_len);
		if (!body) {
			set_error(res, 400, "BadRequest", "body", "the body is not valid JSON");
			return;
		}
		char key[128] = "";
		if (repeated_key(body, key, sizeof(key))) {
			set_error(res, 400, "BadRequest", key, "the key %s appears more than once", key);
			cJSON_Delete(body);
			return;
		}
	}
	const char *rest = req->path + clen; /* "", "/ID" or "/ID/rotate" */
	if (!*rest || !strcmp(rest, "/")) {
		if (!strcmp(req->method, "POST"))
			open_tunnel(env, body, res);
		else if (!strcmp(req->method, "GET"))
			list_tunnels(env, req->query, res);
		else
			set_error(res, 405, "MethodNotAllowed", NULL, "%s is not allowed here", req->method);
		cJSON_Delete(body);
		return;
	}
	char id[REGISTRY_MAX_ID + 2];
	size_t idlen = strcspn(rest + 1, "/");
	const char *action = rest + 1 + idlen;
	snprintf(id, sizeof(id), "%.*s", (int)(idlen < sizeof(id) - 1 ? idlen : sizeof(id) - 1), rest + 1);
	struct registry_tunnel *t = idlen <= REGISTRY_MAX_ID ? registry_find_id(env->registry, id) : NULL;
	if (!t) {
		set_error(res, 404, "NotFound", NULL, "no tunnel with id %s", id);
	} else if (!*action && !strcmp(req->method, "GET")) {
		describe_tunnel(env, t, res);
	} else if (!*action && !strcmp(req->method, "DELETE")) {
		close_tunnel(env, t, res);
	} else if (!strcmp(action, "/rotate") && !strcmp(req->method, "POST")) {
		rotate_tunnel(env, t, body, res);
	} else {
		set_error(res, 405, "MethodNotAllowed", NULL, "%s %s is not an API call", req->method, req->path);
	}
	cJSON_Delete(body);
}
