#include "relay/http_api.h"

#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "relay/notify.h"
#include "relay/store.h"

struct http_api {
	struct http_api_deps deps;
};

enum call_phase { CALL_SAVING, CALL_NOTIFYING, CALL_ANSWERING };

/* One API request between its handling and its answer. */
struct api_call {
	struct http_api *api;
	struct http_request *req;
	enum call_phase phase;
	struct api_response res;
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
	c->req->handler_ctx = NULL;
	api_response_free(&c->res);
	free(c);
}

/* Answers the request and ends the call. */
static void answer(struct api_call *c)
{
	struct http_request *req = c->req;
	if (c->res.log_line[0])
		log_info("%s", c->res.log_line);
	log_debug("API %s %s -> %d", req->method, req->path, c->res.status);
	c->phase = CALL_ANSWERING;
	http_respond(req, c->res.status, "application/json", c->res.body);
	call_free(c);
}

static void on_notified(void *arg, bool delivered, const char *detail)
{
	struct api_call *c = arg;
	if (api_add_notification(&c->res, delivered, detail))
		log_error("cannot add the notification result to the response");
	if (!delivered)
		log_warn("tunnel %s: device %s not notified: %s", c->res.notify_tunnel->id,
			 c->res.notify_tunnel->thing, detail);
	else
		log_info("tunnel %s: notified device %s over MQTT", c->res.notify_tunnel->id,
			 c->res.notify_tunnel->thing);
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
	const char *services[TUNNEL_MAX_SERVICES];
	for (size_t i = 0; i < t->n_services; i++)
		services[i] = t->services[i];
	if (!n) {
		on_notified(c, false, "MQTT notification is not configured (tunnel-relay --mqtt-uri)");
		return;
	}
	c->phase = CALL_NOTIFYING;
	int rc = notifier_publish(n, t->thing, t->id, c->res.notify_token, services, t->n_services,
				  on_notified, c);
	OPENSSL_cleanse(c->res.notify_token, sizeof(c->res.notify_token));
	if (rc)
		on_notified(c, false, "could not queue the MQTT notification");
}

static void on_saved(void *ctx, const char *err)
{
	struct api_call *c = ctx;
	api_saved(&c->res, err);
	notify_or_answer(c);
}

static void handle_api(void *arg, struct http_request *req)
{
	struct http_api *api = arg;
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
	struct api_env env = {
		.registry = api->deps.registry,
		.api_key = api->deps.api_key,
		.now = time(NULL),
		.hooks = api->deps.plane,
		.max_tunnels = api->deps.max_tunnels,
		.max_tunnels_per_thing = api->deps.max_tunnels_per_thing,
	};
	struct api_request areq = {
		.method = req->method,
		.path = req->path,
		.query = req->query[0] ? req->query : NULL,
		.authorization = auth[0] ? auth : NULL,
		.body = req->body,
		.body_len = req->body_too_big ? API_MAX_BODY + 1 : req->body_len,
	};
	api_handle(&env, &areq, &c->res);
	OPENSSL_cleanse(auth, sizeof(auth));
	api->deps.metrics->api_requests++;
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

/* The connection closed before the answer: nothing may call back for it. */
static void abort_api(void *arg, struct http_request *req)
{
	struct http_api *api = arg;
	struct api_call *c = req->handler_ctx;
	if (!c)
		return;
	if (c->phase == CALL_SAVING)
		store_forget(api->deps.store, c);
	if (c->phase == CALL_NOTIFYING && api->deps.notifier)
		notifier_forget(api->deps.notifier, c);
	call_free(c);
}

static void handle_metrics(void *arg, struct http_request *req)
{
	struct http_api *api = arg;
	struct metrics_gauges g;
	memset(&g, 0, sizeof(g));
	const struct registry *r = api->deps.registry;
	for (size_t i = 0; i < r->n; i++) {
		if (r->tunnels[i]->closed_at)
			g.tunnels_closed++;
		else
			g.tunnels_open++;
	}
	api->deps.plane_totals(api->deps.plane.server, &g.peers_connected, &g.live_connections);
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
	return http_router_add(router, &metrics) || http_router_add(router, &calls) ? -1 : 0;
}
