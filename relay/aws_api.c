#include "relay/aws_api.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/token.h"
#include "relay/aws_tags.h"
#include "relay/store.h"

/* What one call needs besides its JSON. */
struct call {
	struct api_env *env;
	const char *region;     /* of the signature's scope: goes into ARNs */
	struct api_response *res;
};

/* ---- responses ------------------------------------------------------------- */

static void set_json(struct api_response *res, int status, cJSON *json)
{
	res->content_type = AWS_CONTENT_TYPE;
	api_set_json(res, status, json, "{\"__type\":\"InternalFailure\",\"message\":\"out of memory\"}");
}

/* {"__type":type,"message":…}: botocore reads the error name from __type. */
static void set_error(struct api_response *res, int status, const char *type, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void set_error(struct api_response *res, int status, const char *type, const char *fmt, ...)
{
	char message[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "__type", type);
	cJSON_AddStringToObject(root, "message", message);
	set_json(res, status, root);
}

/* An operation's failure under AWS's error names. */
static void set_ops_error(struct api_response *res, const struct ops_error *e)
{
	if (e->failure == OPS_NOT_FOUND)
		set_error(res, 400, "ResourceNotFoundException", "%s", e->message);
	else if (e->failure == OPS_INTERNAL)
		set_error(res, 500, "InternalFailure", "%s", e->message);
	else if (e->failure == OPS_TOO_MANY)
		set_error(res, 400, "LimitExceededException", "%s", e->message);
	else
		set_error(res, 400, "ValidationException", "%s%s%s", e->field ? e->field : "",
			  e->field ? ": " : "", e->message);
}

static void add_arn(const struct call *c, cJSON *obj, const struct registry_tunnel *t)
{
	char arn[REGISTRY_MAX_ID + 128];
	snprintf(arn, sizeof(arn), "arn:aws:iotsecuretunneling:%s:" AWS_ACCOUNT_ID ":tunnel/%s", c->region,
		 t->id);
	cJSON_AddStringToObject(obj, "tunnelArn", arn);
}

/* Timestamps of the JSON protocol: seconds since the epoch, as numbers. */
static void add_time(cJSON *obj, const char *key, int64_t t)
{
	if (t > 0)
		cJSON_AddNumberToObject(obj, key, (double)t);
}

static int64_t last_updated(const struct registry_tunnel *t)
{
	int64_t when = t->closed_at > t->created_at ? t->closed_at : t->created_at;
	for (int s = 0; s < 2; s++)
		if (t->side_changed_at[s] > when)
			when = t->side_changed_at[s];
	return when;
}

static const char *status_of(const struct registry_tunnel *t)
{
	return t->closed_at ? "CLOSED" : "OPEN";
}

/* ---- request fields ---------------------------------------------------------- */

static const char *string_field(const cJSON *root, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The tunnel named by tunnelId; NULL after answering the error. */
static struct registry_tunnel *tunnel_of(const struct call *c, const cJSON *root)
{
	const char *id = string_field(root, "tunnelId");
	if (!id) {
		set_error(c->res, 400, "ValidationException", "tunnelId is required");
		return NULL;
	}
	struct registry_tunnel *t = strlen(id) <= REGISTRY_MAX_ID ? ops_find(c->env, id) : NULL;
	if (!t)
		set_error(c->res, 400, "ResourceNotFoundException", "tunnel %.*s not found", REGISTRY_MAX_ID, id);
	return t;
}

/* The tunnel named by resourceArn (…:tunnel/ID); NULL after answering. */
static struct registry_tunnel *tunnel_of_arn(const struct call *c, const cJSON *root)
{
	const char *arn = string_field(root, "resourceArn");
	const char *slash = arn ? strrchr(arn, '/') : NULL;
	if (!arn || !slash || slash - arn < 7 || strncmp(slash - 7, ":tunnel", 7)) {
		set_error(c->res, 400, "ValidationException",
			  "resourceArn must be a tunnel ARN (arn:aws:iotsecuretunneling:REGION:ACCOUNT:tunnel/ID)");
		return NULL;
	}
	struct registry_tunnel *t = strlen(slash + 1) <= REGISTRY_MAX_ID ? ops_find(c->env, slash + 1) : NULL;
	if (!t)
		set_error(c->res, 400, "ResourceNotFoundException", "tunnel %.*s not found", REGISTRY_MAX_ID,
			  slash + 1);
	return t;
}

/* ---- operations ------------------------------------------------------------ */

static void open_tunnel(const struct call *c, const cJSON *root)
{
	struct registry_tunnel *t = calloc(1, sizeof(*t));
	struct ops_error e;
	if (!t) {
		set_error(c->res, 500, "InternalFailure", "out of memory");
		return;
	}
	const cJSON *tags = cJSON_GetObjectItemCaseSensitive(root, "tags");
	if (ops_parse_open(root, t, &e) || (tags && aws_tags_add(t->tags, sizeof(t->tags), tags, &e))) {
		free(t);
		set_ops_error(c->res, &e);
		return;
	}
	ops_tokens tokens;
	t = ops_open(c->env, t, tokens, &e);
	if (!t) {
		OPENSSL_cleanse(tokens, sizeof(tokens));
		set_ops_error(c->res, &e);
		return;
	}
	cJSON *out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "tunnelId", t->id);
	add_arn(c, out, t);
	cJSON_AddStringToObject(out, "sourceAccessToken", tokens[SIDE_SOURCE]);
	cJSON_AddStringToObject(out, "destinationAccessToken", tokens[SIDE_DESTINATION]);
	set_json(c->res, 200, out);
	api_set_notify(c->res, t, tokens[SIDE_DESTINATION]);
	OPENSSL_cleanse(tokens, sizeof(tokens));
	api_save_later(c->env, t, API_SAVE_OPEN, c->res);
	snprintf(c->res->log_line, sizeof(c->res->log_line),
		 "tunnel %s opened for %s through the AWS API (%zu service%s, %d min)", t->id, t->thing,
		 t->n_services, t->n_services > 1 ? "s" : "", t->lifetime_minutes);
}

static void close_tunnel(const struct call *c, const cJSON *root)
{
	struct registry_tunnel *t = tunnel_of(c, root);
	if (!t)
		return;
	const cJSON *del = cJSON_GetObjectItemCaseSensitive(root, "delete");
	if (del && !cJSON_IsBool(del)) {
		set_error(c->res, 400, "ValidationException", "delete must be true or false");
		return;
	}
	set_json(c->res, 200, cJSON_CreateObject());
	if (ops_close(c->env, t, cJSON_IsTrue(del))) {
		api_save_later(c->env, t, API_SAVE_CLOSE, c->res);
		snprintf(c->res->log_line, sizeof(c->res->log_line), "tunnel %s %s through the AWS API",
			 t->id, t->deleted ? "closed and deleted" : "closed");
	}
}

static void add_connection_state(const struct call *c, cJSON *obj, const char *key,
				 const struct registry_tunnel *t, enum tunnel_side side)
{
	cJSON *s = cJSON_AddObjectToObject(obj, key);
	cJSON_AddStringToObject(s, "status", ops_side_connected(c->env, t, side) ? "CONNECTED" : "DISCONNECTED");
	add_time(s, "lastUpdatedAt", t->side_changed_at[side]);
}

static void describe_tunnel(const struct call *c, const cJSON *root)
{
	struct registry_tunnel *t = tunnel_of(c, root);
	if (!t)
		return;
	cJSON *out = cJSON_CreateObject();
	cJSON *d = cJSON_AddObjectToObject(out, "tunnel");
	cJSON_AddStringToObject(d, "tunnelId", t->id);
	add_arn(c, d, t);
	cJSON_AddStringToObject(d, "status", status_of(t));
	add_connection_state(c, d, "sourceConnectionState", t, SIDE_SOURCE);
	add_connection_state(c, d, "destinationConnectionState", t, SIDE_DESTINATION);
	if (t->description[0])
		cJSON_AddStringToObject(d, "description", t->description);
	cJSON *dest = cJSON_AddObjectToObject(d, "destinationConfig");
	if (t->thing[0])
		cJSON_AddStringToObject(dest, "thingName", t->thing);
	cJSON *services = cJSON_AddArrayToObject(dest, "services");
	for (size_t i = 0; services && i < t->n_services; i++)
		cJSON_AddItemToArray(services, cJSON_CreateString(t->services[i]));
	if (t->lifetime_minutes) {
		cJSON *timeout = cJSON_AddObjectToObject(d, "timeoutConfig");
		cJSON_AddNumberToObject(timeout, "maxLifetimeTimeoutMinutes", t->lifetime_minutes);
	}
	cJSON *tags = aws_tags_json(t->tags);
	if (tags && cJSON_GetArraySize(tags))
		cJSON_AddItemToObject(d, "tags", tags);
	else
		cJSON_Delete(tags);
	add_time(d, "createdAt", t->created_at);
	add_time(d, "lastUpdatedAt", last_updated(t));
	set_json(c->res, 200, out);
}

/* Index in the registry of the tunnel a nextToken names (its id). */
static bool resume_at(const struct call *c, const char *token, size_t *index)
{
	for (size_t i = 0; i < c->env->registry->n; i++) {
		if (!strcmp(c->env->registry->tunnels[i]->id, token)) {
			*index = i;
			return true;
		}
	}
	return false;
}

static void list_tunnels(const struct call *c, const cJSON *root)
{
	const char *thing = string_field(root, "thingName");
	const cJSON *max = cJSON_GetObjectItemCaseSensitive(root, "maxResults");
	const char *next = string_field(root, "nextToken");
	size_t limit = 100, start = 0;
	if (max) {
		if (!cJSON_IsNumber(max) || max->valuedouble < 1 || max->valuedouble > 100) {
			set_error(c->res, 400, "ValidationException", "maxResults must be from 1 to 100");
			return;
		}
		limit = (size_t)max->valuedouble;
	}
	/* nextToken is the id of the first tunnel of the next page: the
	 * registry only ever appends, so the order holds between calls. */
	if (next && !resume_at(c, next, &start)) {
		set_error(c->res, 400, "ValidationException", "nextToken is not one this relay gave");
		return;
	}
	cJSON *out = cJSON_CreateObject();
	cJSON *list = cJSON_AddArrayToObject(out, "tunnelSummaries");
	size_t count = 0;
	for (size_t i = start; list && i < c->env->registry->n; i++) {
		const struct registry_tunnel *t = c->env->registry->tunnels[i];
		if (t->deleted || (thing && strcmp(t->thing, thing)))
			continue;
		if (count == limit) {
			cJSON_AddStringToObject(out, "nextToken", t->id);
			break;
		}
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "tunnelId", t->id);
		add_arn(c, e, t);
		cJSON_AddStringToObject(e, "status", status_of(t));
		if (t->description[0])
			cJSON_AddStringToObject(e, "description", t->description);
		add_time(e, "createdAt", t->created_at);
		add_time(e, "lastUpdatedAt", last_updated(t));
		cJSON_AddItemToArray(list, e);
		count++;
	}
	set_json(c->res, 200, out);
}

static void rotate_tokens(const struct call *c, const cJSON *root)
{
	struct registry_tunnel *t = tunnel_of(c, root);
	if (!t)
		return;
	const char *m = string_field(root, "clientMode");
	bool src = m && (!strcmp(m, "SOURCE") || !strcmp(m, "ALL"));
	bool dst = m && (!strcmp(m, "DESTINATION") || !strcmp(m, "ALL"));
	if (!src && !dst) {
		set_error(c->res, 400, "ValidationException", "clientMode must be SOURCE, DESTINATION or ALL");
		return;
	}
	ops_tokens tokens = { "", "" };
	struct ops_error e;
	if (ops_rotate(c->env, t, src, dst, tokens, &e)) {
		OPENSSL_cleanse(tokens, sizeof(tokens));
		set_ops_error(c->res, &e);
		return;
	}
	cJSON *out = cJSON_CreateObject();
	add_arn(c, out, t);
	if (src)
		cJSON_AddStringToObject(out, "sourceAccessToken", tokens[SIDE_SOURCE]);
	if (dst)
		cJSON_AddStringToObject(out, "destinationAccessToken", tokens[SIDE_DESTINATION]);
	set_json(c->res, 200, out);
	if (dst)
		api_set_notify(c->res, t, tokens[SIDE_DESTINATION]);
	OPENSSL_cleanse(tokens, sizeof(tokens));
	api_save_later(c->env, t, API_SAVE_ROTATE, c->res);
	snprintf(c->res->log_line, sizeof(c->res->log_line), "tunnel %s: rotated the %s token%s (AWS API)",
		 t->id, src && dst ? "source and destination" : src ? "source" : "destination",
		 src && dst ? "s" : "");
}

/* TagResource and UntagResource (the tags stay as they were on error). */
static void edit_tags(const struct call *c, const cJSON *root, bool add)
{
	struct registry_tunnel *t = tunnel_of_arn(c, root);
	if (!t)
		return;
	struct ops_error e;
	int rc = add ? aws_tags_add(t->tags, sizeof(t->tags), cJSON_GetObjectItemCaseSensitive(root, "tags"), &e)
		     : aws_tags_remove(t->tags, sizeof(t->tags),
				       cJSON_GetObjectItemCaseSensitive(root, "tagKeys"), &e);
	if (rc) {
		set_ops_error(c->res, &e);
		return;
	}
	set_json(c->res, 200, cJSON_CreateObject());
	api_save_later(c->env, t, API_SAVE_TAGS, c->res);
}

static void tag_resource(const struct call *c, const cJSON *root)
{
	edit_tags(c, root, true);
}

static void untag_resource(const struct call *c, const cJSON *root)
{
	edit_tags(c, root, false);
}

static void list_tags(const struct call *c, const cJSON *root)
{
	struct registry_tunnel *t = tunnel_of_arn(c, root);
	if (!t)
		return;
	cJSON *out = cJSON_CreateObject();
	cJSON *tags = aws_tags_json(t->tags);
	if (tags && cJSON_GetArraySize(tags))
		cJSON_AddItemToObject(out, "tags", tags);
	else
		cJSON_Delete(tags);
	set_json(c->res, 200, out);
}

/* The store could not save what the call changed: a 500 in AWS's words. */
static void save_failed(struct api_response *res, const char *err)
{
	if (store_error_unavailable(err)) {
		set_error(res, 503, "ServiceUnavailableException", "database unavailable, retry: %.200s",
			  err);
		return;
	}
	if (store_error_lost_race(err)) {
		set_error(res, 409, "ConflictException", "%.200s", err);
		return;
	}
	set_error(res, 500, "InternalFailure", "%s: %.200s",
		  res->save_failure == API_SAVE_CLOSE ? "closed, but not saved" : "cannot save the tunnel", err);
}

/* ---- dispatch -------------------------------------------------------------- */

static const struct {
	const char *name;
	void (*run)(const struct call *c, const cJSON *root);
} operations[] = {
	{ "OpenTunnel", open_tunnel },
	{ "CloseTunnel", close_tunnel },
	{ "DescribeTunnel", describe_tunnel },
	{ "ListTunnels", list_tunnels },
	{ "RotateTunnelAccessToken", rotate_tokens },
	{ "TagResource", tag_resource },
	{ "UntagResource", untag_resource },
	{ "ListTagsForResource", list_tags },
};

bool aws_api_wants(const char *method, const char *path, const char *target)
{
	return target && !strcmp(method, "POST") && !strcmp(path, "/");
}

/* AWS's names for the ways a signature can fail. */
static void set_auth_error(struct api_response *res, enum sigv4_verdict v, const char *reason)
{
	switch (v) {
	case SIGV4_MISSING:
		set_error(res, 403, "MissingAuthenticationTokenException", "%s", reason);
		break;
	case SIGV4_MALFORMED:
	case SIGV4_WRONG_SCOPE:
		set_error(res, 400, "IncompleteSignatureException", "%s", reason);
		break;
	case SIGV4_UNKNOWN_KEY:
		set_error(res, 403, "UnrecognizedClientException", "%s", reason);
		break;
	default:
		set_error(res, 403, "InvalidSignatureException", "%s", reason);
		break;
	}
}

static const char *verdict_name(enum sigv4_verdict v)
{
	static const char *const names[] = { "ok", "no signature", "malformed signature", "wrong scope",
					     "unknown access key", "expired date", "wrong signature" };
	return (size_t)v < sizeof(names) / sizeof(names[0]) ? names[v] : "?";
}

void aws_api_handle(struct api_env *env, const struct aws_keys *keys,
		    const struct sigv4_request *req, struct api_response *res)
{
	memset(res, 0, sizeof(*res));
	res->on_save_failed = save_failed;
	if (!keys || !keys->n) {
		set_error(res, 403, "AccessDeniedException",
			  "the AWS API is off: start tunnel-relay with --aws-credentials");
		return;
	}
	if (req->body_len > API_MAX_BODY) {
		set_error(res, 413, "ValidationException", "the body is larger than %u bytes", API_MAX_BODY);
		return;
	}
	struct sigv4_result who;
	enum sigv4_verdict v = sigv4_verify(req, env->now, AWS_SIGNING_NAME, aws_keys_secret, (void *)keys, &who);
	if (v != SIGV4_OK) {
		set_auth_error(res, v, who.reason);
		/* The key id is public (it names the caller), the secret never leaves sigv4.c. */
		snprintf(res->log_line, sizeof(res->log_line), "AWS API call refused: %s (access key %.40s)",
			 verdict_name(v), who.key_id[0] ? who.key_id : "-");
		return;
	}
	const char *target = req->header(req->header_ctx, "x-amz-target");
	size_t plen = strlen(AWS_TARGET_PREFIX);
	const char *op = target && !strncmp(target, AWS_TARGET_PREFIX, plen) ? target + plen : "";
	size_t i = 0;
	while (i < sizeof(operations) / sizeof(operations[0]) && strcmp(operations[i].name, op))
		i++;
	if (i == sizeof(operations) / sizeof(operations[0])) {
		set_error(res, 400, "UnknownOperationException", "unknown operation %.80s", target ? target : "");
		return;
	}
	struct ops_error e;
	cJSON *root = ops_parse_json(req->body, req->body_len, &e);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		set_error(res, 400, "SerializationException", "the body must be a JSON object");
		return;
	}
	struct call c = { .env = env, .region = who.region, .res = res };
	operations[i].run(&c, root);
	cJSON_Delete(root);
}
