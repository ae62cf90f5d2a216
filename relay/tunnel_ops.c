#include "relay/tunnel_ops.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/text.h"
#include "common/token.h"
#include "proto/message.h"
#include "relay/cluster.h"

static int fail(struct ops_error *e, enum ops_failure failure, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(struct ops_error *e, enum ops_failure failure, const char *field, const char *fmt, ...)
{
	e->failure = failure;
	e->field = field;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return -1;
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

/* Gives a side a fresh token keyed by the tunnel's id (so a rotation
 * keeps the key): returns it in token (API_TOKEN_LEN + 1). */
static int rotate_side(struct api_env *env, struct registry_tunnel *t, enum tunnel_side side,
		       char *token)
{
	uint8_t hash[TOKEN_HASH_LEN];
	do {
		if (access_token_generate_keyed(t->id, token, API_TOKEN_LEN + 1) ||
		    token_hash(token, strlen(token), hash))
			return -1;
	} while (registry_hash_in_use(env->registry, hash)); /* 2^-256: but cheap to be sure */
	if (registry_set_token_hash(env->registry, t, side, hash))
		return -1;
	struct registry_side *s = &t->side[side];
	s->used = false;
	s->has_client_token = false;
	OPENSSL_cleanse(s->client_token, sizeof(s->client_token));
	return 0;
}

bool ops_thing_name_valid(const char *s)
{
	return text_is_name(s, REGISTRY_MAX_THING, "_:-");
}

void api_close_tunnel(struct api_env *env, struct registry_tunnel *t, const char *reason)
{
	t->closed_at = env->now;
	if (env->hooks.close_side)
		env->hooks.close_side(env->hooks.server, t, -1, 1000, reason);
}

bool ops_side_connected(const struct api_env *env, const struct registry_tunnel *t,
			enum tunnel_side side)
{
	bool here = env->hooks.side_connected && env->hooks.side_connected(env->hooks.server, t, side);
	return cluster_side_connected(t, side, here, env->hooks.node_id);
}

/* Connected to this node, whatever the row says: what letting go is about. */
static bool connected_here(const struct api_env *env, const struct registry_tunnel *t,
			   enum tunnel_side side)
{
	return env->hooks.side_connected && env->hooks.side_connected(env->hooks.server, t, side);
}

size_t ops_live_connections(const struct api_env *env, const struct registry_tunnel *t)
{
	return env->hooks.live_connections ? env->hooks.live_connections(env->hooks.server, t) : 0;
}

struct registry_tunnel *ops_find(struct api_env *env, const char *id)
{
	struct registry_tunnel *t = registry_find_id(env->registry, id);
	return t && !t->deleted ? t : NULL;
}

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

/* cJSON keeps both members of {"a":1,"a":2} and lookups see the first.
 * Writes the dotted path of the first repeated key into path; false when
 * none. */
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

cJSON *ops_parse_json(const char *body, size_t len, struct ops_error *e)
{
	if (has_nul(body, len)) {
		fail(e, OPS_INVALID, "body", "NUL characters are not allowed");
		return NULL;
	}
	cJSON *root = cJSON_ParseWithLength(body ? body : "", len);
	if (!root) {
		fail(e, OPS_INVALID, "body", "the body is not valid JSON");
		return NULL;
	}
	e->field_text[0] = '\0';
	if (repeated_key(root, e->field_text, sizeof(e->field_text))) {
		fail(e, OPS_INVALID, e->field_text, "the key %s appears more than once", e->field_text);
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

/* ---- open ------------------------------------------------------------------ */

static int parse_services(const cJSON *dest, struct registry_tunnel *t, struct ops_error *e)
{
	const char *field = "destinationConfig.services";
	const cJSON *services = cJSON_GetObjectItemCaseSensitive(dest, "services");
	int n = cJSON_IsArray(services) ? cJSON_GetArraySize(services) : -1;
	if (n < 1 || n > (int)TUNNEL_MAX_SERVICES)
		return fail(e, OPS_INVALID, field, "services must be an array of 1 to 3 service names");
	for (int i = 0; i < n; i++) {
		const cJSON *s = cJSON_GetArrayItem(services, i);
		if (!cJSON_IsString(s) || !tunnel_service_id_valid(s->valuestring))
			return fail(e, OPS_INVALID, field,
				    "service %d must be 1-128 characters of [A-Za-z0-9_:-]", i);
		for (int j = 0; j < i; j++)
			if (!strcmp(t->services[j], s->valuestring))
				return fail(e, OPS_INVALID, field, "service %s is listed twice",
					    s->valuestring);
		strcpy(t->services[i], s->valuestring);
	}
	t->n_services = (size_t)n;
	return 0;
}

int ops_parse_open(const cJSON *root, struct registry_tunnel *t, struct ops_error *e)
{
	if (!cJSON_IsObject(root))
		return fail(e, OPS_INVALID, "body", "the body must be a JSON object");
	const cJSON *dest = cJSON_GetObjectItemCaseSensitive(root, "destinationConfig");
	if (!cJSON_IsObject(dest))
		return fail(e, OPS_INVALID, "destinationConfig", "destinationConfig must be an object");
	const cJSON *thing = cJSON_GetObjectItemCaseSensitive(dest, "thingName");
	if (!cJSON_IsString(thing) || !ops_thing_name_valid(thing->valuestring))
		return fail(e, OPS_INVALID, "destinationConfig.thingName",
			    "thingName must be 1-128 characters of [A-Za-z0-9_:-]");
	strcpy(t->thing, thing->valuestring);
	if (parse_services(dest, t, e))
		return -1;
	t->lifetime_minutes = API_DEFAULT_LIFETIME_MINUTES;
	const cJSON *timeout = cJSON_GetObjectItemCaseSensitive(root, "timeoutConfig");
	if (timeout) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(timeout, "maxLifetimeTimeoutMinutes");
		/* Range first: converting an out-of-range double to int is undefined. */
		if (!cJSON_IsObject(timeout) || (m && !cJSON_IsNumber(m)) ||
		    (m && (m->valuedouble < 1 || m->valuedouble > API_MAX_LIFETIME_MINUTES ||
			   m->valuedouble != (double)(int)m->valuedouble)))
			return fail(e, OPS_INVALID, "timeoutConfig.maxLifetimeTimeoutMinutes",
				    "maxLifetimeTimeoutMinutes must be a whole number from 1 to %d",
				    API_MAX_LIFETIME_MINUTES);
		if (m)
			t->lifetime_minutes = m->valueint;
	}
	const cJSON *desc = cJSON_GetObjectItemCaseSensitive(root, "description");
	if (desc) {
		if (!cJSON_IsString(desc) || strlen(desc->valuestring) > REGISTRY_MAX_DESCRIPTION)
			return fail(e, OPS_INVALID, "description",
				    "description must be a string of at most %d characters",
				    REGISTRY_MAX_DESCRIPTION);
		strcpy(t->description, desc->valuestring);
	}
	return 0;
}

static size_t cap_or(size_t cap, size_t fallback)
{
	return cap ? cap : fallback;
}

/* Refuses an open that would go past a cap on open tunnels; a tunnel past
 * its expiry that the tick has not closed yet does not count. */
static int check_tunnel_caps(const struct api_env *env, const char *thing, struct ops_error *e)
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
	if (open_thing >= max_thing)
		return fail(e, OPS_TOO_MANY, NULL,
			    "thing %s already has %zu open tunnels, the most allowed "
			    "(tunnel-relay --max-tunnels-per-thing %zu): close one first",
			    thing, open_thing, max_thing);
	if (open_all >= max_all)
		return fail(e, OPS_TOO_MANY, NULL,
			    "the relay already has %zu open tunnels, the most allowed "
			    "(tunnel-relay --max-tunnels %zu): close one first", open_all, max_all);
	return 0;
}

struct registry_tunnel *ops_open(struct api_env *env, struct registry_tunnel *t, ops_tokens tokens,
				 struct ops_error *e)
{
	char err[256];
	if (check_tunnel_caps(env, t->thing, e)) {
		OPENSSL_cleanse(t, sizeof(*t));
		free(t);
		return NULL;
	}
	t->created_at = env->now;
	t->expires_at = env->now + 60 * (int64_t)t->lifetime_minutes;
	/* The id first: the tokens carry its routing key. */
	if (new_tunnel_id(t->id) || rotate_side(env, t, SIDE_SOURCE, tokens[SIDE_SOURCE]) ||
	    rotate_side(env, t, SIDE_DESTINATION, tokens[SIDE_DESTINATION]) ||
	    registry_insert(env->registry, t, err, sizeof(err))) {
		OPENSSL_cleanse(t, sizeof(*t));
		free(t);
		fail(e, OPS_INTERNAL, NULL, "cannot create the tunnel");
		return NULL;
	}
	return t;
}

/* ---- rotate / close ------------------------------------------------------ */

int ops_rotate(struct api_env *env, struct registry_tunnel *t, bool source, bool destination,
	       ops_tokens tokens, struct ops_error *e)
{
	if (t->closed_at)
		return fail(e, OPS_CONFLICT, NULL, "tunnel %s is closed", t->id);
	for (int side = 0; side < 2; side++) {
		if (!(side == SIDE_SOURCE ? source : destination))
			continue;
		if (rotate_side(env, t, (enum tunnel_side)side, tokens[side]))
			return fail(e, OPS_INTERNAL, NULL, "cannot make a token");
		/* The old token stops working: so do the connections made with it. */
		if (env->hooks.close_side)
			env->hooks.close_side(env->hooks.server, t, side, 1000, "access token rotated");
	}
	return 0;
}

bool ops_close(struct api_env *env, struct registry_tunnel *t, bool delete)
{
	bool changed = !t->closed_at || delete;
	if (!t->closed_at)
		api_close_tunnel(env, t, "tunnel closed");
	/* Connections may still point at t until they finish closing: the
	 * memory stays until the relay stops, only the APIs stop seeing it. */
	if (delete)
		t->deleted = true;
	return changed;
}

/* ---- other nodes' changes -------------------------------------------------- */

static void insert_copy(struct api_env *env, const char *id, const struct registry_tunnel *row)
{
	char err[256] = "out of memory";
	struct registry_tunnel *t = cluster_copy_row(row);
	if (!t || registry_insert(env->registry, t, err, sizeof(err))) {
		log_error("tunnel %s: cannot take it from another relay node: %s", id, err);
		if (t)
			OPENSSL_cleanse(t, sizeof(*t));
		free(t);
		return;
	}
	log_info("tunnel %s: opened on another relay node; known here now%s", id,
		 t->closed_at ? " (closed)" : "");
}

static void drop_side(struct api_env *env, struct registry_tunnel *t, int side, int code,
		      const char *reason)
{
	if (env->hooks.close_side)
		env->hooks.close_side(env->hooks.server, t, side, code, reason);
}

void ops_apply_change(struct api_env *env, const char *node_id, const char *id,
		      const struct registry_tunnel *row, const char *owner)
{
	struct registry_tunnel *t = registry_find_id(env->registry, id);
	bool connected[2] = { t && connected_here(env, t, SIDE_SOURCE),
			      t && connected_here(env, t, SIDE_DESTINATION) };
	struct cluster_plan p = cluster_plan(t, connected, row, owner, node_id);
	if (p.insert) {
		insert_copy(env, id, row);
		return;
	}
	if (!t || (!p.update && !p.forget))
		return;
	if (cluster_take_row(env->registry, t, row, &p, env->now)) {
		log_error("tunnel %s: out of memory: another relay node's change is not taken", id);
		return;
	}
	if (p.close) {
		log_info("tunnel %s: closed on another relay node", id);
		drop_side(env, t, -1, 1000, "tunnel closed");
		return;
	}
	bool letting_go = false;
	for (int s = 0; s < 2; s++) {
		const char *side = tunnel_side_name((enum tunnel_side)s);
		if (p.rotated[s] && connected[s]) {
			log_info("tunnel %s: %s access token rotated on another relay node", id, side);
			drop_side(env, t, s, 1000, "access token rotated");
		} else if (p.lost[s]) {
			log_warn("tunnel %s: another relay node admitted the %s; closing it here", id,
				 side);
			drop_side(env, t, s, CLUSTER_CLOSE_LOST, "another relay node admitted this side");
		} else if (p.let_go[s]) {
			if (!letting_go)
				log_info("tunnel %s: its owner is now node %s; letting go", id, owner);
			letting_go = true;
			drop_side(env, t, s, CLUSTER_CLOSE_LET_GO, "its owner is now another relay node");
		}
	}
}
