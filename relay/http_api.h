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

struct http_api_deps {
	struct registry *registry;
	const struct things *things;  /* devices' presence (GET /api/v1/things) */
	struct store *store;          /* NULL: tunnels are not persisted */
	struct notifier *notifier;    /* NULL: no MQTT notification */
	struct notify_outbox *outbox; /* NULL: a notification not sent at once is lost */
	const char *api_key;          /* NULL: the API is off */
	const struct aws_keys *aws_keys; /* NULL: AWS's API (POST / with SigV4) is off */
	size_t max_tunnels, max_tunnels_per_thing; /* caps on open tunnels (0: default) */
	struct relay_metrics *metrics;
	struct api_hooks plane;       /* the data plane (plane.server is its handle) */
	/* Connected peers and live connections over every tunnel. */
	void (*plane_totals)(void *plane, size_t *peers, size_t *live_connections);
};

struct http_api;

struct http_api *http_api_new(const struct http_api_deps *deps);
/* Adds /api/ and /metrics to the router. Returns 0, or -1 (table full). */
int http_api_register(struct http_api *api, struct http_router *router);
/* The notifier is stopping: no call may reach it from now on. */
void http_api_forget_notifier(struct http_api *api);
void http_api_free(struct http_api *api);

#endif
