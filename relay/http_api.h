/* The management API under /api/v1, AWS's on POST / (http_aws.c), and
 * GET /metrics, as routes of the
 * relay's HTTP router. Everything it works with is given at construction:
 * the registry, the store, the MQTT notifier, the counters, and the data
 * plane's hooks. A call that changes a tunnel answers once the store has
 * saved it, and a call that notifies a device once MQTT has answered, or,
 * when the broker is unreachable, once the notification is kept (in the
 * outbox and the store) to be sent later; the loop never waits for any. */
#ifndef RELAY_HTTP_API_H
#define RELAY_HTTP_API_H

#include <stddef.h>

#include "relay/api.h"
#include "relay/http_router.h"
#include "relay/metrics.h"
#include "relay/registry.h"

struct aws_keys;
struct store;
struct notifier;
struct notify_outbox;
struct things;

struct audit;

struct http_api_deps {
	struct registry *registry;
	struct audit *audit;          /* tunnel calls over HTTP are audited ("who":"api-key") */
	const struct things *things;  /* devices' presence (GET /api/v1/things) */
	struct store *store;          /* NULL: tunnels are not persisted */
	struct notifier *notifier;    /* NULL: no MQTT notification */
	struct notify_outbox *outbox; /* NULL: a notification not sent at once is lost */
	const char *api_key;          /* NULL: the API is off */
	const struct aws_keys *aws_keys; /* NULL: AWS's API (POST / with SigV4) is off */
	size_t max_tunnels, max_tunnels_per_thing; /* caps on open tunnels (0: default) */
	struct relay_metrics *metrics;
	struct api_hooks plane;       /* the data plane (plane.server is its handle) */
	/* Fills g's data-plane gauges: peers, live connections, WebSockets. */
	void (*plane_gauges)(void *arg, struct metrics_gauges *g);
	void *plane_gauges_arg;
};

struct http_api;

struct http_api *http_api_new(const struct http_api_deps *deps);
/* Adds /api/ and /metrics to the router. Returns 0, or -1 (table full). */
int http_api_register(struct http_api *api, struct http_router *router);
/* A tunnel operation of /api/v1 for a caller that is not an HTTP request
 * of that API: the console, on behalf of a signed-in user whose role it has
 * checked (areq->trusted skips the API key). The call goes through the same
 * steps as one over HTTP (save, then notify the device, or keep the
 * notification); done(arg, res) is called exactly once with the outcome
 * (res->status, res->body: the JSON /api/v1 would answer, the source token
 * of an opened tunnel among it; res is wiped and freed after done returns).
 * *handle holds the call while it is in flight and is set to NULL when it
 * ends (done may run before http_api_run returns). Returns 0, or -1 when
 * out of memory (no callback then). */
struct api_call;
typedef void (*http_api_done_fn)(void *arg, const struct api_response *res);
int http_api_run(struct http_api *api, const struct api_request *areq, http_api_done_fn done,
		 void *arg, struct api_call **handle);
/* The caller goes away before done: no callback will come (*handle of the
 * call becomes NULL). NULL c does nothing. */
void http_api_cancel(struct http_api *api, struct api_call *c);

/* The notifier is stopping: no call may reach it from now on. */
void http_api_forget_notifier(struct http_api *api);
void http_api_free(struct http_api *api);

#endif
