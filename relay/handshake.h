/* The WebSocket handshake on the relay's listener, in libwebsockets terms:
 * reads the upgrade request's headers, asks admit_decide, and either
 * refuses it (the one place that writes a refusal: status line, body, log
 * line, metric) or keeps the admission until the connection is
 * established, when it is committed (the token marked used). */
#ifndef RELAY_HANDSHAKE_H
#define RELAY_HANDSHAKE_H

#include <libwebsockets.h>
#include <stddef.h>

#include "relay/admit.h"
#include "relay/cluster.h"
#include "relay/metrics.h"
#include "relay/refusal_log.h"
#include "relay/registry.h"
#include "relay/store.h"

/* The channel-id response header: 128 random bits in hex. */
#define CHANNEL_ID_LEN 32

struct handshake {
	struct registry *registry;
	struct relay_metrics *metrics;
	/* The handshake admitted in HTTP_CONFIRM_UPGRADE, consumed in
	 * ESTABLISHED: lws runs both in one call chain for the same wsi. */
	struct lws *pending_wsi;
	struct admit_result pending;
	char pending_client_token[TUNNEL_MAX_CLIENT_TOKEN + 1];
	size_t pending_client_token_len;
	char pending_channel_id[CHANNEL_ID_LEN + 1];
	struct refusal_log refusals;
	/* Several nodes on a shared store: a token unknown in memory is looked
	 * up there (NULL store: refused at once, one node). found takes a row
	 * found into the registry (the server's, as for other nodes' changes). */
	struct store *store;
	store_tunnel_changed_fn found;
	void *found_arg;
	struct cluster_misses misses;
};

void handshake_init(struct handshake *h, struct registry *r, struct relay_metrics *m);
/* A shared store: an unknown token is answered 503 "not known on this node
 * yet" while store_find_token looks for it, and 401 once it missed
 * (remembered CLUSTER_MISS_KEEP_MS). */
void handshake_share(struct handshake *h, struct store *s, store_tunnel_changed_fn found,
		     void *found_arg);

/* LWS_CALLBACK_HTTP_CONFIRM_UPGRADE (upgrade: the Upgrade header's value).
 * Returns what the callback returns: 0 to go on with the upgrade, 1 when
 * a refusal was written, -1 to drop the connection. */
int handshake_confirm(struct handshake *h, struct lws *wsi, const char *upgrade);

/* LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION on the "http" protocol: a client
 * that lists "http" as its WebSocket subprotocol. Returns -1 (refused). */
/* Refuses an upgrade with an HTTP/1.1 status and one line of text that
 * every WebSocket client can read (the browser terminal's upgrade too).
 * Returns 1: lws ends the transaction. */
int handshake_write_refusal(struct lws *wsi, int status, const char *reason);
int handshake_refuse_http_subprotocol(struct handshake *h, struct lws *wsi);

/* LWS_CALLBACK_ADD_HEADERS of an admitted upgrade: adds its channel-id
 * header between *p and end. Returns 0, or -1 when there is no room. */
int handshake_add_headers(struct handshake *h, struct lws *wsi, unsigned char **p,
			  unsigned char *end);

/* LWS_CALLBACK_ESTABLISHED: commits the admission kept for wsi (marks the
 * token used, remembers the client token) into *res, and gives its channel
 * id. Returns 0, or -1 (logged) when none was kept for wsi. */
int handshake_take(struct handshake *h, struct lws *wsi, struct admit_result *res,
		   char channel_id[CHANNEL_ID_LEN + 1]);

#endif
