/* The relay server's state, shared by its I/O parts: the WebSocket data
 * plane (ws_server.c) and the HTTP management API (http_api.c). */
#ifndef RELAY_SERVER_STATE_H
#define RELAY_SERVER_STATE_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>

#include "relay/admit.h"
#include "relay/api.h"
#include "relay/metrics.h"
#include "relay/registry.h"

struct store;
struct notifier;

struct relay_server {
	struct lws_context *ctx;
	struct registry *registry;
	struct store *store;            /* NULL: tunnels are not persisted */
	struct notifier *notifier;      /* NULL: no MQTT notification */
	const char *api_key;            /* NULL: the API is off */
	size_t max_connections;
	struct relay_metrics metrics;
	lws_sorted_usec_list_t tick;    /* expiry and notifier polling, every second */
	/* The handshake admitted in HTTP_CONFIRM_UPGRADE, consumed in
	 * ESTABLISHED: lws runs both in one call chain for the same wsi. */
	struct lws *pending_wsi;
	struct admit_result pending;
	char pending_client_token[TUNNEL_MAX_CLIENT_TOKEN + 1];
	size_t pending_client_token_len;
};

/* ws_server.c: what the API needs from the data plane. */
void relay_close_side(void *server, struct registry_tunnel *t, int side, int code, const char *reason);
bool relay_side_connected(void *server, const struct registry_tunnel *t, enum tunnel_side side);
size_t relay_live_connections(void *server, const struct registry_tunnel *t);
void relay_gauges(struct relay_server *srv, struct metrics_gauges *g);
/* Fills an API environment for a call made now. */
void relay_api_env(struct relay_server *srv, struct api_env *env);

/* http_api.c: plain HTTP requests (the API and /metrics). */
int http_api_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		      void *in, size_t len);
/* Per-request state of http_api.c, allocated by lws for the "http" protocol. */
struct http_session;
size_t http_session_size(void);

#endif
