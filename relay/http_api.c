#include "relay/http_api.h"

#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/text.h"
#include "relay/audit.h"
#include "relay/http_aws.h"
#include "relay/notify.h"
#include "relay/notify_outbox.h"
#include "relay/pending_notification.h"
#include "relay/store.h"

struct http_api {
	struct http_api_deps deps;
};

enum call_phase { CALL_SAVING, CALL_NOTIFYING, CALL_KEEPING, CALL_ANSWERING };

/* One API call between its handling and its answer. */
struct api_call {
	struct http_api *api;
	/* Who gets the answer: an HTTP request of /api/v1 or AWS's API, or
	 * a caller of http_api_run (the console). */
	struct http_request *req;  /* NULL for http_api_run */
	http_api_done_fn done;
	void *done_arg;
	struct api_call **handle;  /* the caller's pointer to this call, cleared at its end */
	enum call_phase phase;
	struct api_response res;
	struct pending_notification note; /* what to send, kept if it cannot be yet */
	char why_kept[160];
	/* A tunnel call over HTTP, for the audit log: what, by which key, from where. */
	const char *audit_action;     /* NULL: not one to audit */
	const char *audit_who;
	char audit_thing[REGISTRY_MAX_THING + 1];
	char audit_tunnel[REGISTRY_MAX_ID + 1];
	char audit_from[64];
};

struct http_api *http_api_new(const struct http_api_deps *deps)
{
	struct http_api *api = calloc(1, sizeof(*api));
	if (api)
		api->deps = *deps;
	return api;
}

void http_api_free(struct http_api *api)
{
	free(api);
}

void http_api_forget_notifier(struct http_api *api)
{
	api->deps.notifier = NULL;
}

static void call_free(struct api_call *c)
{
	if (c->req)
		c->req->handler_ctx = NULL;
	if (c->handle)
		*c->handle = NULL;
	api_response_free(&c->res);
	pending_notification_wipe(&c->note);
	free(c);
}

/* Records a tunnel change made with the API key (or AWS's keys). The
 * console audits its own calls, with the user's name. */
static void audit_call(const struct api_call *c)
{
	if (!c->audit_action || c->res.status >= 300)
		return;
	struct audit_event ev = {
		.who = c->audit_who, .from = c->audit_from, .action = c->audit_action,
		.thing = c->audit_thing, .tunnel_id = c->audit_tunnel,
	};
	audit_record(c->api->deps.audit, &ev);
}

/* What a call did, for audit_call (nothing when it changes no tunnel). */
static void note_for_audit(struct api_call *c, struct lws *wsi, bool aws)
{
	static const char *const action[] = {
		[API_SAVE_OPEN] = "tunnel.open", [API_SAVE_ROTATE] = "tunnel.rotate",
		[API_SAVE_CLOSE] = "tunnel.close",
	};
	const struct registry_tunnel *t = c->res.save;
	if (!t || c->res.save_failure < API_SAVE_OPEN || c->res.save_failure > API_SAVE_CLOSE)
		return;
	c->audit_action = action[c->res.save_failure];
	c->audit_who = aws ? "aws-api" : "api-key";
	textf(c->audit_thing, sizeof(c->audit_thing), "%s", t->thing);
	textf(c->audit_tunnel, sizeof(c->audit_tunnel), "%s", t->id);
	http_client_address(wsi, c->audit_from, sizeof(c->audit_from));
}

/* Answers the request and ends the call. */
static void answer(struct api_call *c)
{
	if (c->res.log_line[0])
		log_info("%s", c->res.log_line);
	audit_call(c);
	c->phase = CALL_ANSWERING;
	if (c->done) {
		c->done(c->done_arg, &c->res);
	} else {
		struct http_request *req = c->req;
		log_debug("API %s %s -> %d", req->method, req->path, c->res.status);
		http_respond(req, c->res.status,
			     c->res.content_type ? c->res.content_type : "application/json", c->res.body);
	}
	call_free(c);
}

static void add_result(struct api_call *c, bool delivered, const char *detail)
{
	if (api_add_notification(&c->res, delivered, detail))
		log_error("cannot add the notification result to the response");
}

/* The notification is written down (err NULL) or could not be. */
static void on_kept(void *arg, const char *err)
{
	struct api_call *c = arg;
	const char *id = c->note.tunnel_id, *thing = c->note.thing;
	pending_notification_wipe_token(&c->note);
	if (err) {
		char detail[400];
		snprintf(detail, sizeof(detail), "%s; and it cannot be kept for later: %s", c->why_kept,
			 err);
		log_error("tunnel %s: device %s not notified: %s", id, thing, detail);
		add_result(c, false, detail);
	} else {
		log_warn("tunnel %s: device %s not notified yet (%s); kept, to be sent when the broker "
			 "is back", id, thing, c->why_kept);
		if (api_add_pending_notification(&c->res, "broker unreachable; will be sent when it is back"))
			log_error("cannot add the notification result to the response");
	}
	answer(c);
}

/* False once a later call rotated the destination again (or the tunnel
 * closed) while this one waited for the broker: its outcome must not
 * replace or settle what that call left. */
static bool still_current(const struct api_call *c)
{
	return pending_notification_check(&c->note, c->api->deps.registry, time(NULL)) ==
	       PENDING_CURRENT;
}

/* The broker cannot take the notification now: keep it for later. */
static void keep_for_later(struct api_call *c, const char *why)
{
	snprintf(c->why_kept, sizeof(c->why_kept), "%s", why);
	if (!still_current(c)) {
		pending_notification_wipe_token(&c->note);
		char detail[300];
		snprintf(detail, sizeof(detail), "%s; not kept: no longer current", why);
		add_result(c, false, detail);
		answer(c);
		return;
	}
	struct notify_outbox *ob = c->api->deps.outbox;
	if (!ob) {
		on_kept(c, "nowhere to keep it");
		return;
	}
	char err[256];
	c->phase = CALL_KEEPING;
	int rc = notify_outbox_keep(ob, &c->note, on_kept, c, err, sizeof(err));
	if (rc != 0)
		on_kept(c, rc < 0 ? err : NULL);
}

static void on_notified(void *arg, enum notify_outcome outcome, const char *detail)
{
	struct api_call *c = arg;
	const char *id = c->note.tunnel_id;
	struct notify_outbox *ob = c->api->deps.outbox;
	switch (outcome) {
	case NOTIFY_RETRY:
		keep_for_later(c, detail);
		return;
	case NOTIFY_DELIVERED:
		log_info("tunnel %s: notified device %s over MQTT", id, c->note.thing);
		if (ob && still_current(c))
			notify_outbox_settle(ob, id, false, NULL); /* an older one is moot */
		break;
	case NOTIFY_REFUSED:
		log_warn("tunnel %s: device %s not notified: %s", id, c->note.thing, detail);
		if (ob && still_current(c))
			notify_outbox_settle(ob, id, true, detail);
		break;
	}
	pending_notification_wipe_token(&c->note);
	add_result(c, outcome == NOTIFY_DELIVERED, detail);
	answer(c);
}

/* After the save (if any): notify the device if the call asks for it. */
static void notify_or_answer(struct api_call *c)
{
	if (!c->res.notify) {
		answer(c);
		return;
	}
	struct notifier *n = c->api->deps.notifier;
	const struct registry_tunnel *t = c->res.notify_tunnel;
	int made = pending_notification_make(&c->note, t, c->res.notify_token, c->res.now);
	OPENSSL_cleanse(c->res.notify_token, sizeof(c->res.notify_token));
	if (!n) {
		add_result(c, false, "MQTT notification is not configured (tunnel-relay --mqtt-uri)");
		answer(c);
		return;
	}
	if (made) {
		add_result(c, false, "cannot make the notification");
		answer(c);
		return;
	}
	if (!notifier_connected(n)) {
		keep_for_later(c, NOTIFY_NOT_CONNECTED);
		return;
	}
	const char *services[TUNNEL_MAX_SERVICES];
	for (size_t i = 0; i < c->note.n_services; i++)
		services[i] = c->note.services[i];
	c->phase = CALL_NOTIFYING;
	if (notifier_publish(n, c->note.thing, c->note.tunnel_id, c->note.token, services,
			     c->note.n_services, on_notified, c))
		on_notified(c, NOTIFY_REFUSED, "could not queue the MQTT notification");
}

static void on_saved(void *ctx, const char *err)
{
	struct api_call *c = ctx;
	api_saved(&c->res, err);
	notify_or_answer(c);
}

static bool notice_state(void *outbox, const char *tunnel_id, struct api_notice_state *out)
{
	struct notify_outbox_state st;
	if (!notify_outbox_state(outbox, tunnel_id, &st))
		return false;
	out->failed = st.failed;
	out->since = st.since;
	snprintf(out->detail, sizeof(out->detail), "%s", st.detail);
	return true;
}

static struct api_env call_env(const struct http_api *api)
{
	struct api_env env = {
		.registry = api->deps.registry,
		.things = api->deps.things,
		.api_key = api->deps.api_key,
		.now = time(NULL),
		.hooks = api->deps.plane,
		.max_tunnels = api->deps.max_tunnels,
		.max_tunnels_per_thing = api->deps.max_tunnels_per_thing,
		.notices = api->deps.outbox,
		.notice_state = api->deps.outbox ? notice_state : NULL,
	};
	return env;
}

/* After the front-end decided (c->res): save, then notify, then answer. */
static void carry_out(struct api_call *c)
{
	struct http_api *api = c->api;
	api->deps.metrics->api_requests++;
	/* A closed tunnel's waiting notification goes at once, with its token. */
	if (c->res.save && c->res.save_failure == API_SAVE_CLOSE && api->deps.outbox)
		notify_outbox_settle(api->deps.outbox, c->res.save->id, false, NULL);
	struct store *store = api->deps.store;
	if (!c->res.save || !store) {
		notify_or_answer(c);
		return;
	}
	/* The answer waits for the store's, which comes from the loop. */
	char err[256];
	c->phase = CALL_SAVING;
	if (store_save(store, c->res.save, on_saved, c, err, sizeof(err)))
		on_saved(c, err);
}

/* /api/v1 (aws false) or AWS's API (aws true). */
static void handle_call(struct http_api *api, struct http_request *req, bool aws)
{
	struct api_call *c = calloc(1, sizeof(*c));
	if (!c) {
		http_respond(req, 500, "text/plain", "out of memory\n");
		return;
	}
	c->api = api;
	c->req = req;
	req->handler_ctx = c;
	char auth[512] = "";
	if (lws_hdr_copy(req->wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION) < 0)
		auth[0] = '\0';
	struct api_env env = call_env(api);
	struct api_request areq = {
		.method = req->method,
		.path = req->path,
		.query = req->query[0] ? req->query : NULL,
		.authorization = auth[0] ? auth : NULL,
		.body = req->body,
		.body_len = req->body_too_big ? API_MAX_BODY + 1 : req->body_len,
	};
	if (aws)
		http_aws_handle(api->deps.aws_keys, req, &env, &c->res);
	else
		api_handle(&env, &areq, &c->res);
	OPENSSL_cleanse(auth, sizeof(auth));
	note_for_audit(c, req->wsi, aws);
	carry_out(c);
}

int http_api_run(struct http_api *api, const struct api_request *areq, http_api_done_fn done,
		 void *arg, struct api_call **handle)
{
	struct api_call *c = calloc(1, sizeof(*c));
	if (!c)
		return -1;
	c->api = api;
	c->done = done;
	c->done_arg = arg;
	c->handle = handle;
	*handle = c;
	struct api_env env = call_env(api);
	api_handle(&env, areq, &c->res);
	carry_out(c); /* may end the call at once: *handle is NULL then */
	return 0;
}

static void handle_api(void *arg, struct http_request *req)
{
	handle_call(arg, req, false);
}

/* POST / routes every POST no other route took: only AWS calls are ours. */
static void handle_aws(void *arg, struct http_request *req)
{
	if (!http_aws_wants(req)) {
		log_warn("rejected HTTP %s %s: not an API path (WebSocket clients use /tunnel)",
			 req->method, req->path);
		http_respond(req, 400, "text/plain", "this server speaks WebSocket on /tunnel and JSON on /api/v1\n");
		return;
	}
	handle_call(arg, req, true);
}

/* Nothing may call back for c any more; frees it. */
static void cancel_call(struct http_api *api, struct api_call *c)
{
	if (c->phase == CALL_SAVING)
		store_forget(api->deps.store, c);
	if (c->phase == CALL_NOTIFYING && api->deps.notifier)
		notifier_forget(api->deps.notifier, c);
	if (c->phase == CALL_KEEPING)
		store_forget(api->deps.store, c); /* the notification stays kept */
	call_free(c);
}

/* The connection closed before the answer. */
static void abort_api(void *arg, struct http_request *req)
{
	struct api_call *c = req->handler_ctx;
	if (c)
		cancel_call(arg, c);
}

static void handle_metrics(void *arg, struct http_request *req)
{
	struct http_api *api = arg;
	struct metrics_gauges g;
	memset(&g, 0, sizeof(g));
	const struct registry *r = api->deps.registry;
	for (size_t i = 0; i < r->n; i++) {
		if (r->tunnels[i]->deleted)
			continue; /* gone for the APIs, and after a restart */
		if (r->tunnels[i]->closed_at)
			g.tunnels_closed++;
		else
			g.tunnels_open++;
	}
	api->deps.plane_gauges(api->deps.plane_gauges_arg, &g);
	char *text = metrics_render(api->deps.metrics, &g);
	http_respond(req, text ? 200 : 500, "text/plain; version=0.0.4", text ? text : "out of memory\n");
	free(text);
}

int http_api_register(struct http_api *api, struct http_router *router)
{
	const struct http_route metrics = {
		.path = "/metrics", .method = "GET", .handle = handle_metrics, .arg = api,
	};
	const struct http_route calls = {
		.path = "/api/", .max_body = API_MAX_BODY, .handle = handle_api, .abort = abort_api,
		.arg = api,
	};
	const struct http_route aws_calls = {
		.path = "/", .method = "POST", .max_body = API_MAX_BODY, .handle = handle_aws,
		.abort = abort_api, .arg = api,
	};
	return http_router_add(router, &metrics) || http_router_add(router, &calls) ||
	       http_router_add(router, &aws_calls) ? -1 : 0;
}

void http_api_cancel(struct http_api *api, struct api_call *c)
{
	if (c)
		cancel_call(api, c);
}
