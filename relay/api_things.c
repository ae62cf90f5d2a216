#include "relay/api_things.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "relay/notify_payload.h"

cJSON *api_thing_object(const struct thing_presence *p, size_t open_tunnels)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "thingName", p->name);
	cJSON_AddStringToObject(o, "state", thing_state_name(p->state));
	api_add_time(o, "since", p->since);
	cJSON *services = cJSON_AddArrayToObject(o, "services");
	for (size_t i = 0; services && i < p->n_services; i++)
		cJSON_AddItemToArray(services, cJSON_CreateString(p->services[i]));
	if (p->agent_version[0])
		cJSON_AddStringToObject(o, "agentVersion", p->agent_version);
	else
		cJSON_AddNullToObject(o, "agentVersion");
	api_add_time(o, "bootTime", p->boot_time);
	if (p->max_tunnels > 0)
		cJSON_AddNumberToObject(o, "maxTunnels", p->max_tunnels);
	else
		cJSON_AddNullToObject(o, "maxTunnels");
	cJSON_AddNumberToObject(o, "openTunnels", (double)open_tunnels);
	return o;
}

/* The listing: every thing with presence, then every other thing that
 * has tunnels (once each), sorted by name. */
struct listing {
	const struct thing_presence **rows;
	size_t n, cap;
	bool failed;
};

static void add_row(void *arg, const struct thing_presence *p)
{
	struct listing *l = arg;
	if (l->failed)
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		const struct thing_presence **rows = realloc(l->rows, cap * sizeof(*rows));
		if (!rows) {
			l->failed = true;
			return;
		}
		l->rows = rows;
		l->cap = cap;
	}
	l->rows[l->n++] = p;
}

static int by_name(const void *a, const void *b)
{
	const struct thing_presence *const *x = a, *const *y = b;
	return strcmp((*x)->name, (*y)->name);
}

/* Things with tunnels and no presence, each once (a hash, not a scan per
 * tunnel), into unknown. */
static bool collect_unknown(const struct api_env *env, struct things *unknown)
{
	struct thing_presence u;
	memset(&u, 0, sizeof(u));
	for (size_t i = 0; i < env->registry->n; i++) {
		const struct registry_tunnel *t = env->registry->tunnels[i];
		if (t->deleted || !t->thing[0] || things_find(env->things, t->thing) ||
		    things_find(unknown, t->thing))
			continue;
		memcpy(u.name, t->thing, sizeof(u.name));
		if (!things_put(unknown, &u))
			return false;
	}
	return true;
}

static void list_things(struct api_env *env, struct api_response *res)
{
	struct listing l = {0};
	struct things *unknown = things_new();
	cJSON *out = cJSON_CreateObject();
	cJSON *list = out ? cJSON_AddArrayToObject(out, "things") : NULL;
	bool ok = unknown && list && collect_unknown(env, unknown);
	if (ok) {
		things_each(env->things, add_row, &l);
		things_each(unknown, add_row, &l);
		ok = !l.failed;
	}
	if (ok && l.n) /* no rows: l.rows is NULL, which qsort may not take */
		qsort(l.rows, l.n, sizeof(l.rows[0]), by_name);
	for (size_t i = 0; ok && i < l.n; i++) {
		size_t open = registry_open_for_thing(env->registry, l.rows[i]->name, env->now, NULL);
		cJSON *o = api_thing_object(l.rows[i], open);
		ok = o && cJSON_AddItemToArray(list, o);
		if (!ok)
			cJSON_Delete(o);
	}
	free(l.rows);
	things_free(unknown);
	if (!ok) {
		cJSON_Delete(out);
		api_set_error(res, 500, "InternalError", NULL, "out of memory");
		return;
	}
	api_set_json(res, 200, out,
		     "{\"error\":{\"code\":\"InternalError\",\"message\":\"out of memory\"}}");
}

static void describe_thing(struct api_env *env, const char *name, struct api_response *res)
{
	if (!notify_thing_valid(name)) {
		api_set_error(res, 400, "BadRequest", "thingName",
			      "a thing name is 1-128 characters of [A-Za-z0-9_:-]");
		return;
	}
	size_t listed = 0;
	size_t open = registry_open_for_thing(env->registry, name, env->now, &listed);
	const struct thing_presence *p = things_find(env->things, name);
	struct thing_presence u;
	if (!p) {
		if (!listed) {
			api_set_error(res, 404, "NotFound", NULL,
				      "no thing named %s: no presence message and no tunnel", name);
			return;
		}
		memset(&u, 0, sizeof(u));
		strcpy(u.name, name);
		p = &u;
	}
	cJSON *o = api_thing_object(p, open);
	if (!o) {
		api_set_error(res, 500, "InternalError", NULL, "out of memory");
		return;
	}
	api_set_json(res, 200, o,
		     "{\"error\":{\"code\":\"InternalError\",\"message\":\"out of memory\"}}");
}

void api_things_handle(struct api_env *env, const char *method, const char *rest,
		       struct api_response *res)
{
	if (strcmp(method, "GET")) {
		api_set_error(res, 405, "MethodNotAllowed", NULL, "%s is not allowed here (GET only)",
			      method);
		return;
	}
	if (!*rest || !strcmp(rest, "/")) {
		list_things(env, res);
		return;
	}
	char name[REGISTRY_MAX_THING + 2];
	size_t len = strlen(rest + 1);
	if (len > REGISTRY_MAX_THING || strchr(rest + 1, '/')) {
		api_set_error(res, 404, "NotFound", NULL, "no such API path");
		return;
	}
	memcpy(name, rest + 1, len + 1);
	describe_thing(env, name, res);
}
