#include "relay/api.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/token.h"
#include "relay/api_things.h"
#include "relay/store.h"

/* ---- responses ---------------------------------------------------------- */

static void set_body(struct api_response *res, int status, cJSON *json)
{
	api_set_json(res, status, json,
		     "{\"error\":{\"code\":\"InternalError\",\"message\":\"out of memory\"}}");
}

/* An operation's failure in this API's words. */
static void set_ops_error(struct api_response *res, const struct ops_error *e)
{
	const char *code = e->failure == OPS_INVALID ? "BadRequest" :
			   e->failure == OPS_NOT_FOUND ? "NotFound" :
			   e->failure == OPS_CONFLICT ? "Conflict" :
			   e->failure == OPS_TOO_MANY ? "TooManyTunnels" : "InternalError";
	api_set_error(res, (int)e->failure, code, e->field, "%s", e->message);
}

void api_save_later(const struct api_env *env, struct registry_tunnel *t, enum api_save_failure failure,
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
	if (res->save_failure == API_SAVE_OPEN)
		res->save->closed_at = res->now; /* nobody got its tokens: closed, not dangling */
	if (res->on_save_failed) {
		res->on_save_failed(res, err);
		return;
	}
	if (store_error_unavailable(err))
		/* The relay goes on and reconnects: worth a retry, not a bug. */
		api_set_error(res, 503, "ServiceUnavailable", NULL,
			      "database unavailable, retry: %.199s", err);
	else if (store_error_lost_race(err))
		api_set_error(res, 409, "Conflict", NULL, "%.199s", err);
	else if (res->save_failure == API_SAVE_CLOSE)
		api_set_error(res, 500, "InternalError", NULL, "closed, but not saved: %.199s", err);
	else
		api_set_error(res, 500, "InternalError", NULL, "cannot save the tunnel: %s", err);
}

void api_set_notify(struct api_response *res, struct registry_tunnel *t, const char *token)
{
	res->notify = true;
	res->notify_tunnel = t;
	snprintf(res->notify_token, sizeof(res->notify_token), "%s", token);
}

/* pending: -1 leaves it out. */
static int add_notification(struct api_response *res, bool delivered, int pending,
			    const char *detail)
{
	cJSON *root = res->body ? cJSON_Parse(res->body) : NULL;
	cJSON *n = root ? cJSON_AddObjectToObject(root, "notification") : NULL;
	if (!n) {
		api_delete_wiped(root);
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

/* ---- POST /api/v1/tunnels ------------------------------------------------ */

static void open_tunnel(struct api_env *env, const cJSON *root, struct api_response *res)
{
	struct registry_tunnel *t = calloc(1, sizeof(*t));
	ops_tokens tokens;
	struct ops_error e;
	if (!t) {
		api_set_error(res, 500, "InternalError", NULL, "out of memory");
		return;
	}
	if (ops_parse_open(root, t, &e)) {
		free(t);
		set_ops_error(res, &e);
		return;
	}
	t = ops_open(env, t, tokens, &e);
	if (!t) {
		OPENSSL_cleanse(tokens, sizeof(tokens));
		set_ops_error(res, &e);
		return;
	}
	cJSON *out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "tunnelId", t->id);
	cJSON_AddStringToObject(out, "sourceAccessToken", tokens[SIDE_SOURCE]);
	cJSON_AddStringToObject(out, "destinationAccessToken", tokens[SIDE_DESTINATION]);
	api_add_time(out, "expiresAt", t->expires_at);
	set_body(res, 201, out);
	api_set_notify(res, t, tokens[SIDE_DESTINATION]);
	OPENSSL_cleanse(tokens, sizeof(tokens));
	api_save_later(env, t, API_SAVE_OPEN, res);
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
		if (t->deleted || (filter && strcmp(t->thing, thing)))
			continue;
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "tunnelId", t->id);
		cJSON_AddStringToObject(e, "thingName", t->thing);
		cJSON_AddStringToObject(e, "status", status_of(t));
		cJSON_AddStringToObject(e, "description", t->description);
		api_add_time(e, "createdAt", t->created_at);
		api_add_time(e, "expiresAt", t->expires_at);
		cJSON_AddItemToArray(list, e);
	}
	set_body(res, 200, out);
}

static void add_side_state(struct api_env *env, cJSON *obj, const char *key,
			   const struct registry_tunnel *t, enum tunnel_side side)
{
	cJSON *s = cJSON_AddObjectToObject(obj, key);
	bool up = ops_side_connected(env, t, side);
	cJSON_AddStringToObject(s, "status", up ? "CONNECTED" : "DISCONNECTED");
	api_add_time(s, "lastUpdatedAt", t->side_changed_at[side]);
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
	api_add_time(n, "since", st.since);
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
	api_add_time(d, "createdAt", t->created_at);
	api_add_time(d, "expiresAt", t->expires_at);
	if (t->closed_at)
		api_add_time(d, "closedAt", t->closed_at);
	size_t live = ops_live_connections(env, t);
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
		api_set_error(res, 400, "BadRequest", "clientMode",
			  "clientMode must be SOURCE, DESTINATION or ALL");
		return;
	}
	ops_tokens tokens = { "", "" };
	struct ops_error e;
	if (ops_rotate(env, t, src, dst, tokens, &e)) {
		OPENSSL_cleanse(tokens, sizeof(tokens));
		set_ops_error(res, &e);
		return;
	}
	cJSON *out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "tunnelId", t->id);
	if (src)
		cJSON_AddStringToObject(out, "sourceAccessToken", tokens[SIDE_SOURCE]);
	if (dst)
		cJSON_AddStringToObject(out, "destinationAccessToken", tokens[SIDE_DESTINATION]);
	set_body(res, 200, out);
	if (dst)
		api_set_notify(res, t, tokens[SIDE_DESTINATION]);
	OPENSSL_cleanse(tokens, sizeof(tokens));
	api_save_later(env, t, API_SAVE_ROTATE, res);
	snprintf(res->log_line, sizeof(res->log_line), "tunnel %s: rotated the %s token%s", t->id,
		 src && dst ? "source and destination" : src ? "source" : "destination",
		 src && dst ? "s" : "");
}

static void close_tunnel(struct api_env *env, struct registry_tunnel *t, struct api_response *res)
{
	if (ops_close(env, t, false)) {
		api_save_later(env, t, API_SAVE_CLOSE, res);
		snprintf(res->log_line, sizeof(res->log_line), "tunnel %s closed by the API", t->id);
	}
	cJSON *out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "tunnelId", t->id);
	cJSON_AddStringToObject(out, "status", "CLOSED");
	set_body(res, 200, out);
}

/* ---- routing ------------------------------------------------------------- */

static const char collection[] = "/api/v1/tunnels";
static const char things_collection[] = "/api/v1/things";

/* The key-based API's gate: false (res filled) when the API is off or the
 * Authorization header does not carry the key. */
static bool key_accepted(const struct api_env *env, const struct api_request *req,
			 struct api_response *res)
{
	if (!env->api_key || !env->api_key[0]) {
		api_set_error(res, 403, "ApiDisabled", NULL,
			  "the management API is off: start tunnel-relay with --api-key-file");
		return false;
	}
	if (!authorized(env, req->authorization)) {
		api_set_error(res, 401, "Unauthorized", NULL, "missing or wrong API key (Authorization: Bearer KEY)");
		snprintf(res->log_line, sizeof(res->log_line), "API call %s %s refused: wrong or missing key",
			 req->method, req->path);
		return false;
	}
	return true;
}

void api_handle(struct api_env *env, const struct api_request *req, struct api_response *res)
{
	memset(res, 0, sizeof(*res));
	if (!req->trusted && !key_accepted(env, req, res))
		return;
	size_t tlen = sizeof(things_collection) - 1;
	if (!strncmp(req->path, things_collection, tlen) &&
	    (!req->path[tlen] || req->path[tlen] == '/')) {
		api_things_handle(env, req->method, req->path + tlen, res);
		return;
	}
	size_t clen = sizeof(collection) - 1;
	if (strncmp(req->path, collection, clen) || (req->path[clen] && req->path[clen] != '/')) {
		api_set_error(res, 404, "NotFound", NULL, "no such API path: %s", req->path);
		return;
	}
	cJSON *body = NULL;
	if (!strcmp(req->method, "POST")) {
		if (req->body_len > API_MAX_BODY) {
			api_set_error(res, 413, "PayloadTooLarge", "body", "the body is larger than %u bytes",
				  API_MAX_BODY);
			return;
		}
		struct ops_error e;
		body = ops_parse_json(req->body, req->body_len, &e);
		if (!body) {
			set_ops_error(res, &e);
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
			api_set_error(res, 405, "MethodNotAllowed", NULL, "%s is not allowed here", req->method);
		cJSON_Delete(body);
		return;
	}
	char id[REGISTRY_MAX_ID + 2];
	size_t idlen = strcspn(rest + 1, "/");
	const char *action = rest + 1 + idlen;
	snprintf(id, sizeof(id), "%.*s", (int)(idlen < sizeof(id) - 1 ? idlen : sizeof(id) - 1), rest + 1);
	struct registry_tunnel *t = idlen <= REGISTRY_MAX_ID ? ops_find(env, id) : NULL;
	if (!t) {
		api_set_error(res, 404, "NotFound", NULL, "no tunnel with id %s", id);
	} else if (!*action && !strcmp(req->method, "GET")) {
		describe_tunnel(env, t, res);
	} else if (!*action && !strcmp(req->method, "DELETE")) {
		close_tunnel(env, t, res);
	} else if (!strcmp(action, "/rotate") && !strcmp(req->method, "POST")) {
		rotate_tunnel(env, t, body, res);
	} else {
		api_set_error(res, 405, "MethodNotAllowed", NULL, "%s %s is not an API call", req->method, req->path);
	}
	cJSON_Delete(body);
}
