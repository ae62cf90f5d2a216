/* The console's devices and tunnels: the things list (/api/v1/things's
 * answer, with each thing's open tunnels and their connected sides), and
 * the tunnel operations of admins. Both go through the API's own code
 * (http_api_run, trusted: the console checked the role), so that caps,
 * saves, notifications and logs are those of /api/v1; the console audits
 * its operations with the user's name. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/text.h"
#include "relay/audit.h"
#include "relay/cluster.h"
#include "relay/console_state.h"
#include "relay/http_api.h"
#include "relay/registry.h"

/* ---- the things list ------------------------------------------------------ */

/* The answer of a GET of /api/v1 made for the console: it comes at once
 * (nothing to save or notify). */
struct got {
	int status;
	cJSON *json;
};

static void on_got(void *arg, const struct api_response *res)
{
	struct got *g = arg;
	g->status = res->status;
	g->json = res->body ? cJSON_Parse(res->body) : NULL;
}

static int by_thing_name(const void *a, const void *b)
{
	const cJSON *const *x = a, *const *y = b;
	const cJSON *nx = cJSON_GetObjectItemCaseSensitive(*x, "thingName");
	const cJSON *ny = cJSON_GetObjectItemCaseSensitive(*y, "thingName");
	return strcmp(cJSON_IsString(nx) ? nx->valuestring : "", cJSON_IsString(ny) ? ny->valuestring : "");
}

/* Who opened a tunnel, from the description the console gives its own
 * (CONSOLE_TUNNEL_DESCRIPTION, CONSOLE_TERMINAL_DESCRIPTION); "api" for
 * the others. */
static const char *opened_by(const struct registry_tunnel *t, bool *terminal)
{
	size_t a = strlen(CONSOLE_TUNNEL_DESCRIPTION), b = strlen(CONSOLE_TERMINAL_DESCRIPTION);
	*terminal = !strncmp(t->description, CONSOLE_TERMINAL_DESCRIPTION, b);
	if (*terminal)
		return t->description + b;
	if (!strncmp(t->description, CONSOLE_TUNNEL_DESCRIPTION, a))
		return t->description + a;
	return "api";
}

/* As describe answers it: on this node, or the owner's saved flag when
 * another node holds the side (cluster.c). */
static bool side_connected(const struct console *c, const struct registry_tunnel *t,
			   enum tunnel_side side)
{
	const struct api_hooks *h = &c->cfg.plane;
	return cluster_side_connected(t, side, h->side_connected(h->server, t, side), h->node_id);
}

static cJSON *tunnel_object(const struct console *c, const struct registry_tunnel *t)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "tunnelId", t->id);
	cJSON_AddStringToObject(o, "status", "OPEN");
	cJSON *services = cJSON_AddArrayToObject(o, "services");
	for (size_t i = 0; services && i < t->n_services; i++)
		cJSON_AddItemToArray(services, cJSON_CreateString(t->services[i]));
	cJSON_AddBoolToObject(o, "sourceConnected", side_connected(c, t, SIDE_SOURCE));
	cJSON_AddBoolToObject(o, "destinationConnected", side_connected(c, t, SIDE_DESTINATION));
	api_add_time(o, "createdAt", t->created_at);
	api_add_time(o, "expiresAt", t->expires_at);
	bool terminal;
	cJSON_AddStringToObject(o, "openedBy", opened_by(t, &terminal));
	cJSON_AddBoolToObject(o, "terminal", terminal);
	return o;
}

/* Adds "tunnels":[…] to each thing of list (sorted by name), one pass over
 * the registry. */
static bool add_tunnels(const struct console *c, cJSON *list)
{
	size_t n = (size_t)cJSON_GetArraySize(list);
	cJSON **rows = calloc(n ? n : 1, sizeof(*rows));
	if (!rows)
		return false;
	size_t i = 0;
	for (cJSON *e = list->child; e && i < n; e = e->next) {
		rows[i++] = e;
		if (!cJSON_AddArrayToObject(e, "tunnels")) {
			free(rows);
			return false;
		}
	}
	qsort(rows, n, sizeof(*rows), by_thing_name);
	bool ok = true;
	const struct registry *r = c->cfg.registry;
	for (size_t k = 0; ok && k < r->n; k++) {
		const struct registry_tunnel *t = r->tunnels[k];
		if (t->deleted || t->closed_at || !t->thing[0])
			continue;
		cJSON *probe = cJSON_CreateObject();
		if (!probe || !cJSON_AddStringToObject(probe, "thingName", t->thing)) {
			cJSON_Delete(probe);
			ok = false;
			break;
		}
		cJSON **hit = bsearch(&probe, rows, n, sizeof(*rows), by_thing_name);
		cJSON_Delete(probe);
		if (!hit)
			continue; /* listed by the API since it has tunnels: cannot happen */
		cJSON *o = tunnel_object(c, t);
		ok = o && cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(*hit, "tunnels"), o);
	}
	free(rows);
	return ok;
}

void console_things(struct console *c, struct http_request *req, const struct console_identity *id)
{
	struct api_request areq = { .method = "GET", .path = "/api/v1/things", .trusted = true };
	struct got g = { 0 };
	struct api_call *handle = NULL;
	if (http_api_run(c->cfg.api, &areq, on_got, &g, &handle) || handle) {
		/* A GET never waits; if one ever did, it must not outlive g. */
		http_api_cancel(c->cfg.api, handle);
		console_respond_error(req, 500, "cannot list the devices");
		return;
	}
	cJSON *list = cJSON_GetObjectItemCaseSensitive(g.json, "things");
	if (g.status != 200 || !cJSON_IsArray(list) || !add_tunnels(c, list)) {
		cJSON_Delete(g.json);
		console_respond_error(req, 500, "cannot list the devices");
		return;
	}
	console_respond_tree(req, 200, g.json);
}

/* ---- tunnel operations ------------------------------------------------------ */

enum op_kind { OP_OPEN, OP_ROTATE, OP_CLOSE };

/* An operation waiting for the API's answer (a save, a notification). It
 * is freed only once the API has let go of it (handle NULL): the API clears
 * the handle after the callback returns. */
struct console_op {
	struct console *c;
	struct http_request *req;      /* NULL once answered or gone */
	struct console_op *next;
	struct api_call *handle;
	enum op_kind kind;
	bool finished;
	struct console_identity who;
	char thing[REGISTRY_MAX_THING + 1];
	char tunnel_id[REGISTRY_MAX_ID + 1];
	char detail[128];
};

static const char *const op_action[] = { "tunnel.open", "tunnel.rotate", "tunnel.close" };

static void op_unlink(struct console *c, struct console_op *op)
{
	for (struct console_op **p = &c->ops; *p; p = &(*p)->next)
		if (*p == op) {
			*p = op->next;
			return;
		}
}

/* Frees the operations the API is done with. */
static void op_sweep(struct console *c)
{
	struct console_op **p = &c->ops;
	while (*p) {
		struct console_op *op = *p;
		if (op->finished && !op->handle) {
			*p = op->next;
			free(op);
		} else {
			p = &op->next;
		}
	}
}

/* The console's answer from /api/v1's: the error's message, or the body
 * without what the console never hands out (the destination token). */
static void relay_answer(struct console_op *op, const struct api_response *res)
{
	cJSON *json = res->body ? cJSON_Parse(res->body) : NULL;
	if (res->status >= 300) {
		const cJSON *err = cJSON_GetObjectItemCaseSensitive(json, "error");
		const cJSON *msg = cJSON_GetObjectItemCaseSensitive(err, "message");
		console_respond_error(op->req, res->status,
				      cJSON_IsString(msg) ? msg->valuestring : "the operation failed");
		api_delete_wiped(json);
		return;
	}
	if (!json) {
		console_respond_error(op->req, 500, "out of memory");
		return;
	}
	cJSON *dst = cJSON_DetachItemFromObjectCaseSensitive(json, "destinationAccessToken");
	api_delete_wiped(dst);
	cJSON_DeleteItemFromObjectCaseSensitive(json, "expiresAt");
	console_respond_tree(op->req, 200, json);
}

/* The tunnel an operation touched (an open's id comes in the answer), for
 * the audit line. */
static void note_tunnel(struct console_op *op, const struct api_response *res)
{
	if (op->kind == OP_OPEN) {
		cJSON *json = res->body ? cJSON_Parse(res->body) : NULL;
		const cJSON *tid = cJSON_GetObjectItemCaseSensitive(json, "tunnelId");
		if (cJSON_IsString(tid))
			textf(op->tunnel_id, sizeof(op->tunnel_id), "%s", tid->valuestring);
		api_delete_wiped(json); /* it holds the tokens */
	}
	const struct registry_tunnel *t = op->tunnel_id[0] ?
		registry_find_id(op->c->cfg.registry, op->tunnel_id) : NULL;
	if (t)
		textf(op->thing, sizeof(op->thing), "%s", t->thing);
}

static void on_done(void *arg, const struct api_response *res)
{
	struct console_op *op = arg;
	op->finished = true;
	if (res->status < 300)
		note_tunnel(op, res);
	if (op->req) {
		op->req->handler_ctx = NULL;
		relay_answer(op, res);
		op->req = NULL;
	}
	if (res->status < 300) {
		struct audit_event ev = {
			.who = op->who.user, .role = console_role_name(op->who.role), .from = op->who.from,
			.action = op_action[op->kind], .thing = op->thing, .tunnel_id = op->tunnel_id,
			.detail = op->detail,
		};
		audit_record(op->c->cfg.audit, &ev);
	}
}

/* The /api/v1 body of an open: {"destinationConfig":{"thingName","services"},
 * "timeoutConfig":{"maxLifetimeTimeoutMinutes"},"description"}; NULL after
 * answering 400. */
static char *open_body(struct console_op *op, struct http_request *req)
{
	cJSON *in = console_json_body(req);
	if (!in)
		return NULL;
	const cJSON *thing = cJSON_GetObjectItemCaseSensitive(in, "thing");
	const cJSON *services = cJSON_GetObjectItemCaseSensitive(in, "services");
	const cJSON *minutes = cJSON_GetObjectItemCaseSensitive(in, "lifetimeMinutes");
	if (!cJSON_IsString(thing) || !cJSON_IsArray(services) || (minutes && !cJSON_IsNumber(minutes))) {
		cJSON_Delete(in);
		console_respond_error(req, 400, "want {\"thing\":…,\"services\":[…],\"lifetimeMinutes\":N}");
		return NULL;
	}
	textf(op->thing, sizeof(op->thing), "%s", thing->valuestring);
	char description[REGISTRY_MAX_DESCRIPTION + 1];
	textf(description, sizeof(description), CONSOLE_TUNNEL_DESCRIPTION "%s", op->who.user);
	cJSON *out = cJSON_CreateObject();
	cJSON *dest = cJSON_AddObjectToObject(out, "destinationConfig");
	cJSON_AddStringToObject(dest, "thingName", thing->valuestring);
	cJSON_AddItemToObject(dest, "services", cJSON_Duplicate(services, true));
	if (minutes) {
		cJSON *timeout = cJSON_AddObjectToObject(out, "timeoutConfig");
		cJSON_AddItemToObject(timeout, "maxLifetimeTimeoutMinutes", cJSON_Duplicate(minutes, false));
	}
	cJSON_AddStringToObject(out, "description", description);
	/* The services, for the audit line. */
	size_t len = 0;
	for (const cJSON *s = services->child; s; s = s->next)
		if (cJSON_IsString(s) && len < sizeof(op->detail))
			len += (size_t)snprintf(op->detail + len, sizeof(op->detail) - len, "%s%s",
						len ? "," : "", s->valuestring);
	char *text = cJSON_PrintUnformatted(out);
	cJSON_Delete(out);
	cJSON_Delete(in);
	if (!text)
		console_respond_error(req, 500, "out of memory");
	return text;
}

/* POST /console/api/tunnels, /tunnels/ID/rotate, /tunnels/ID/close (admins). */
void console_tunnel_op(struct console *c, struct http_request *req, const struct console_identity *id)
{
	op_sweep(c);
	if (id->role != CONSOLE_ADMIN) {
		console_respond_error(req, 403, "only an admin may open, rotate or close tunnels");
		return;
	}
	struct console_op *op = calloc(1, sizeof(*op));
	if (!op) {
		console_respond_error(req, 500, "out of memory");
		return;
	}
	op->c = c;
	op->req = req;
	op->who = *id;
	char path[REGISTRY_MAX_ID + 32], *body = NULL;
	struct api_request areq = { .method = "POST", .path = path, .trusted = true };
	const char *rest = req->path + strlen("/console/api/tunnels");
	char tid[REGISTRY_MAX_ID + 2] = "";
	const char *action = NULL;
	if (rest[0] == '/') {
		size_t n = strcspn(rest + 1, "/");
		if (n < sizeof(tid))
			memcpy(tid, rest + 1, n);
		action = rest + 1 + n;
	}
	if (!rest[0]) {
		op->kind = OP_OPEN;
		textf(path, sizeof(path), "/api/v1/tunnels");
		body = open_body(op, req);
		if (!body) {
			free(op);
			return;
		}
	} else if (registry_id_valid(tid) && action && !strcmp(action, "/rotate")) {
		op->kind = OP_ROTATE;
		textf(path, sizeof(path), "/api/v1/tunnels/%s/rotate", tid);
		body = strdup("{\"clientMode\":\"SOURCE\"}");
		textf(op->detail, sizeof(op->detail), "source token");
	} else if (registry_id_valid(tid) && action && !strcmp(action, "/close")) {
		op->kind = OP_CLOSE;
		textf(path, sizeof(path), "/api/v1/tunnels/%s", tid);
		areq.method = "DELETE";
	} else {
		free(op);
		console_respond_error(req, 404, "no such tunnel operation");
		return;
	}
	textf(op->tunnel_id, sizeof(op->tunnel_id), "%s", tid);
	areq.body = body;
	areq.body_len = body ? strlen(body) : 0;
	req->handler_ctx = op;
	op->next = c->ops;
	c->ops = op;
	if (http_api_run(c->cfg.api, &areq, on_done, op, &op->handle)) {
		op_unlink(c, op);
		free(op);
		req->handler_ctx = NULL;
		console_respond_error(req, 500, "out of memory");
	}
	free(body);
	op_sweep(c);
}

void console_tunnel_abort(struct console *c, struct http_request *req)
{
	for (struct console_op *op = c->ops; op; op = op->next)
		if (op->req == req) {
			/* The call goes on without an answer to give: the tunnel
			 * may still be opened (as when an /api/v1 client goes). */
			op->req = NULL;
			return;
		}
}

void console_ops_free(struct console *c)
{
	while (c->ops) {
		struct console_op *op = c->ops;
		c->ops = op->next;
		http_api_cancel(c->cfg.api, op->handle);
		free(op);
	}
}
