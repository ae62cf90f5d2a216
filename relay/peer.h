/* The relay's data plane: the connected peers of each tunnel, what waits to
 * be sent to each, forwarding between the two sides, backpressure and
 * leaving. It keeps its own per-tunnel live state (the session rules and
 * the two peers), looked up by tunnel; the registry holds only registry
 * facts. It reaches sockets only through struct peer_io, which the server
 * implements with libwebsockets (relay/peer_lws.c) and tests with a mock. */
#ifndef RELAY_PEER_H
#define RELAY_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/bytequeue.h"
#include "relay/admit.h"
#include "relay/metrics.h"
#include "relay/registry.h"

struct store;

/* A peer's outgoing queue above HIGH pauses reading from the other side of
 * its tunnel; below LOW reading resumes. With one WebSocket message
 * (<= TUNNEL_MAX_WS_MESSAGE bytes) in flight when the pause lands, a queue never holds more
 * than HIGH + TUNNEL_MAX_WS_MESSAGE bytes. */
#define PEER_QUEUE_HIGH (256u * 1024u)
#define PEER_QUEUE_LOW (64u * 1024u)
/* How long a peer told to close may take to take its close frame. */
#define PEER_CLOSE_TIMEOUT_S 5

/* What the data plane asks of a connection (conn: the server's handle). */
struct peer_io {
	/* Call peer_writeable for this connection when it can take a message. */
	void (*want_write)(void *conn);
	/* Stop (true) or resume (false) reading from the connection. */
	void (*pause_reading)(void *conn, bool pause);
	/* Drop the connection if it is not closed within secs. */
	void (*close_within)(void *conn, unsigned secs);
	/* Send the whole frames at the head of q as one binary message and
	 * consume them. q has the headroom given to dataplane_new. Returns 0,
	 * or -1 when the connection failed. */
	int (*send)(void *conn, struct bytequeue *q);
	/* Send a close frame with code and reason (the connection ends when
	 * peer_writeable then returns -1). */
	void (*close)(void *conn, int code, const char *reason);
};

struct dataplane_config {
	const struct peer_io *io;
	size_t queue_headroom;        /* bytes io->send needs before a message (LWS_PRE) */
	struct store *store;          /* NULL: tunnels are not persisted */
	/* This node's name when the store is shared by several (NULL: one
	 * node): each admitted side is claimed there (store_claim_side), and
	 * closed with 1008 when another node had it first. */
	const char *node_id;
	struct relay_metrics *metrics;
	size_t max_connections;       /* per tunnel */
};

struct dataplane;
struct peer;

struct dataplane *dataplane_new(const struct dataplane_config *cfg);
/* Call once every peer is closed (peer_closed). NULL does nothing. */
void dataplane_free(struct dataplane *dp);

/* A WebSocket was admitted (res from admit_decide, already committed):
 * joins it to its tunnel (replacing the side's old peer on a reconnect),
 * saves the tunnel (and claims the side, with a node_id) and sends
 * SERVICE_IDS to a V2+ peer. Returns the peer,
 * or NULL when memory runs out (logged: close the connection). */
struct peer *peer_join(struct dataplane *dp, void *conn, const struct admit_result *res,
		       int version, const char *addr);
/* A piece of a received WebSocket message. */
void peer_receive(struct peer *p, const uint8_t *in, size_t len, bool binary, bool first_fragment);
/* The connection can take a message. Returns -1 when it must end now. */
int peer_writeable(struct peer *p);
/* The connection is gone: leaves the tunnel (resetting the other side) and
 * frees p. NULL does nothing. */
void peer_closed(struct peer *p);

/* For the API (struct api_hooks; server is the dataplane). */
void dataplane_close_side(void *dp, struct registry_tunnel *t, int side, int code,
			  const char *reason);
/* The node id the data plane was given (NULL: a store of its own). */
const char *dataplane_node_id(const struct dataplane *dp);
bool dataplane_side_connected(void *dp, const struct registry_tunnel *t, enum tunnel_side side);
size_t dataplane_live_connections(void *dp, const struct registry_tunnel *t);
/* Gives back the buffers of peers with nothing in flight (an empty send
 * queue, no partial frame): call every few seconds, so that an idle
 * connection holds none while a busy one keeps them between messages.
 * Returns the bytes freed. */
size_t dataplane_release_idle(struct dataplane *dp);
/* Connected peers and live connections over every tunnel (for /metrics). */
void dataplane_totals(const struct dataplane *dp, size_t *peers, size_t *live_connections);

#endif
