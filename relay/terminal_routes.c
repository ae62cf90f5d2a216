#include "relay/terminal_routes.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "proto/message.h"
#include "relay/audit.h"
#include "relay/console_auth.h"
#include "relay/host_keys.h"
#include "relay/http_router.h"
#include "relay/terminal.h"
#include "relay/terminals.h"
#include "relay/things.h"
#include "relay/tunnel_ops.h"

#define TERMINALS_PATH "/console/api/terminals"
#define THINGS_PATH "/console/api/things/"
#define FORGET_SUFFIX "/hostkey/forget"

/* The signed-in user of req (with its CSRF token); false after refusing. */
static bool signed_in(struct terminals *ts, struct http_request *req, struct console_identity *who)
{
	const char *why = NULL;
	int status = console_authenticate(terminals_deps(ts)->console, req->wsi, true, who, &why);
	if (!status)
		return true;
	console_respond_error(req, status, why ? why : "not signed in");
	return false;
}

static size_t open_tunnels_of(const struct registry *r, const char *thing)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n; i++) {
		const struct registry_tunnel *t = r->tunnels[i];
		n += !t->closed_at && !t->deleted && !strcmp(t->thing, thing);
	}
	return n;
}

/* POST /console/api/terminals {"thing","service"} */
static void handle_open(void *arg, struct http_request *req)
{
	struct terminals *ts = arg;
	struct console_identity who;
	if (!signed_in(ts, req, &who))
		return;
	cJSON *root = req->body && !req->body_too_big ? cJSON_Parse(req->body) : NULL;
	const cJSON *thing = cJSON_GetObjectItemCaseSensitive(root, "thing");
	const cJSON *service = cJSON_GetObjectItemCaseSensitive(root, "service");
	if (!cJSON_IsString(thing) || !ops_thing_name_valid(thing->valuestring) ||
	    !cJSON_IsString(service) || !tunnel_service_id_valid(service->valuestring)) {
		cJSON_Delete(root);
		console_respond_error(req, 400, "want {\"thing\":NAME,\"service\":NAME}");
		return;
	}
	const struct terminals_deps *d = terminals_deps(ts);
	const struct thing_presence *p = d->things ? things_find(d->things, thing->valuestring) : NULL;
	char why[300];
	int status = terminal_admit(p, thing->valuestring, service->valuestring,
				   open_tunnels_of(d->registry, thing->valuestring), why, sizeof(why));
	if (status)
		console_respond_error(req, status, why);
	else
		terminals_open(ts, &who, thing->valuestring, service->valuestring, req);
	cJSON_Delete(root);
}

static void open_gone(void *arg, struct http_request *req)
{
	terminals_request_gone(arg, req);
}

/* POST /console/api/terminals/ID/close */
static void handle_close(void *arg, struct http_request *req)
{
	struct terminals *ts = arg;
	struct console_identity who;
	if (!signed_in(ts, req, &who))
		return;
	const char *rest = req->path + sizeof(TERMINALS_PATH); /* past the '/' */
	char id[TERMINAL_ID_LEN + 1];
	static const char suffix[] = "/close";
	size_t idlen = strcspn(rest, "/");
	if (strcmp(rest + idlen, suffix) || idlen != TERMINAL_ID_LEN) {
		console_respond_error(req, 404, "no such terminal call");
		return;
	}
	memcpy(id, rest, idlen);
	id[idlen] = '\0';
	if (terminals_close(ts, &who, id)) {
		console_respond_error(req, 404, "no such terminal of yours");
		return;
	}
	console_respond_json(req, 200, "{}");
}

/* POST /console/api/things/NAME/hostkey/forget (admin): a device that was
 * legitimately re-installed shows a new host key, which is refused until
 * the old one is forgotten. */
static void handle_forget(void *arg, struct http_request *req)
{
	struct terminals *ts = arg;
	struct console_identity who;
	if (!signed_in(ts, req, &who))
		return;
	const char *rest = req->path + sizeof(THINGS_PATH) - 1;
	size_t n = strlen(rest), sl = sizeof(FORGET_SUFFIX) - 1;
	char thing[REGISTRY_MAX_THING + 1];
	if (n <= sl || n - sl > REGISTRY_MAX_THING || strcmp(rest + n - sl, FORGET_SUFFIX)) {
		console_respond_error(req, 404, "no such console call");
		return;
	}
	memcpy(thing, rest, n - sl);
	thing[n - sl] = '\0';
	if (!ops_thing_name_valid(thing)) {
		console_respond_error(req, 404, "no such thing");
		return;
	}
	if (who.role != CONSOLE_ADMIN) {
		console_respond_error(req, 403, "only an admin may forget a device's host key");
		return;
	}
	const struct terminals_deps *d = terminals_deps(ts);
	bool known = host_keys_forget(d->host_keys, thing) > 0;
	struct audit_event ev = {
		.who = who.user,
		.role = console_role_name(who.role),
		.from = who.from,
		.action = "hostkey.forget",
		.thing = thing,
		.detail = known ? "forgotten" : "none was remembered",
	};
	audit_record(console_audit(d->console), &ev);
	console_respond_json(req, 200, known ? "{\"forgotten\":true}" : "{\"forgotten\":false}");
}

int terminal_routes_register(struct terminals *ts, struct http_router *router)
{
	const struct http_route open = {
		.path = TERMINALS_PATH, .method = "POST", .max_body = 1024, .handle = handle_open,
		.abort = open_gone, .arg = ts,
	};
	const struct http_route close = {
		.path = TERMINALS_PATH "/", .method = "POST", .handle = handle_close, .arg = ts,
	};
	const struct http_route forget = {
		.path = THINGS_PATH, .method = "POST", .handle = handle_forget, .arg = ts,
	};
	return http_router_add(router, &open) || http_router_add(router, &close) ||
	       http_router_add(router, &forget) ? -1 : 0;
}
