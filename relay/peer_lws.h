/* The tunnel WebSockets in libwebsockets terms: lws accepts them, runs TLS
 * and the upgrade; the callback of the tunnel subprotocols then joins each
 * to the data plane (relay/peer.c) and hands its socket and TLS session
 * over to relay/tunnel_ws.c, which reads and writes it from then on. */
#ifndef RELAY_PEER_LWS_H
#define RELAY_PEER_LWS_H

#include <libwebsockets.h>

#include "relay/handshake.h"
#include "relay/peer.h"
#include "relay/tunnel_ws.h"

/* What the tunnel protocols' callback works with: set it as the protocols'
 * `user` (lws_get_protocol(wsi)->user). */
struct peer_lws {
	struct handshake *handshake;
	struct dataplane *dataplane;
	struct tunnel_ws_set *conns;
};

/* Per-connection data lws allocates (per_session_data_size). */
struct peer_lws_session {
	struct peer *peer;
	struct tunnel_ws *conn;  /* being handed over: lws has not let go yet */
};

int peer_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		      void *in, size_t len);

#endif
