/* The tunnel WebSockets in libwebsockets terms: the callback of the tunnel
 * subprotocols, which hands each connection's events to the data plane
 * (relay/peer.c), and the data plane's I/O done with lws calls. */
#ifndef RELAY_PEER_LWS_H
#define RELAY_PEER_LWS_H

#include <libwebsockets.h>

#include "relay/handshake.h"
#include "relay/peer.h"

/* The data plane's I/O on an lws connection (conn is the struct lws *). */
extern const struct peer_io peer_lws_io;

/* What the tunnel protocols' callback works with: set it as the protocols'
 * `user` (lws_get_protocol(wsi)->user). */
struct peer_lws {
	struct handshake *handshake;
	struct dataplane *dataplane;
};

/* Per-connection data lws allocates (per_session_data_size). */
struct peer_lws_session {
	struct peer *peer;
	char addr[64];   /* the peer's address, for the dead-path log line */
};

int peer_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		      void *in, size_t len);

#endif
