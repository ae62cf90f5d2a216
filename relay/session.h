/* The data-plane rules of one tunnel, as pure decisions: given a message
 * from one side, forward it, drop it, answer the sender with a reset, or
 * call it a protocol error. Tracks live connections to enforce the limit. */
#ifndef RELAY_SESSION_H
#define RELAY_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/message.h"
#include "relay/registry.h"

struct session_conn {
	uint8_t service;       /* index into the tunnel's services */
	int32_t stream_id;
	uint32_t connection_id; /* absent on the wire (0) is stored as 1 */
};

/* How a side writes its messages, learned from what it sends: AWS's
 * localproxy negotiates V3 but writes V1- or V2-style messages when told
 * its peer is a V1/V2 client (-y), and answers must match its style. */
struct session_style {
	bool omits_service_id;    /* V1 style: no serviceId */
	bool omits_connection_id; /* V1/V2 style: no connectionId */
};

struct session {
	size_t n_services;
	const char (*services)[TUNNEL_MAX_SERVICE_ID + 1]; /* the registry's array */
	int version[2];         /* per side: 0 not connected, else 1..3 */
	struct session_style style[2];
	int32_t active_stream[TUNNEL_MAX_SERVICES]; /* 0 = none */
	/* A source whose destination left keeps its stream (its connections
	 * were reset one by one, so that it keeps reading): its next
	 * CONNECTION_START on that stream starts the stream anew for the new
	 * destination. 0 = none. */
	int32_t dormant_stream[TUNNEL_MAX_SERVICES];
	struct session_conn *live;
	size_t n_live;
	size_t max_live;
};

enum session_verdict {
	SV_FORWARD,        /* send the frame unchanged to the other side */
	SV_DROP,           /* discard; `reason` says why (debug log) */
	SV_FORWARD_AS,     /* send `reply` to the other side instead of the frame */
	SV_REPLY,          /* send `reply` back to the sender, forward nothing */
	SV_PROTOCOL_ERROR, /* close the sender (1002); `reason` says why */
};

struct session_action {
	enum session_verdict verdict;
	const char *reason;          /* static text; NULL for plain forwards */
	struct tunnel_msg reply;     /* SV_REPLY: STREAM_RESET or CONNECTION_RESET;
				      * SV_FORWARD_AS: the message to forward */
	bool limit_reached;          /* SV_REPLY because of max_live */
};

/* max_live: most concurrent connections (the 11th is refused). The session
 * points at t's service names: t must outlive it (see struct registry).
 * Both sides start disconnected. Returns 0, or -1 if memory runs out. */
int session_init(struct session *s, const struct registry_tunnel *t, size_t max_live);
void session_free(struct session *s);

void session_peer_joined(struct session *s, enum tunnel_side side, int version);

/* Receives each message the survivor of a departure must be sent. */
typedef void (*session_tell_fn)(void *ctx, const struct tunnel_msg *m);

/* A side left (or is being replaced by a reconnect): every live connection
 * ends and no stream stays active. The survivor, if connected, is told in
 * the way AWS's localproxy recovers from on its own (docs/protocol.md, "When
 * a peer leaves"), never with SESSION_RESET, which it stops reading after:
 * - a surviving destination gets STREAM_RESET for each active stream, and
 *   goes back to waiting for a STREAM_START;
 * - a surviving V3 source gets CONNECTION_RESET for each live connection
 *   (a STREAM_RESET would make AWS's source stop reading until its next
 *   local client); its stream stays dormant, and the next CONNECTION_START
 *   on it reaches the new destination as a STREAM_START;
 * - a surviving V1/V2 source gets STREAM_RESET for each active stream.
 * Messages name the service through the registry's strings and follow the
 * survivor's style. */
void session_peer_left(struct session *s, enum tunnel_side side, session_tell_fn tell,
		       void *ctx);

/* Decides what to do with m (which passed tunnel_msg_parse) from side
 * `from`, and updates the live table. Replies name the service through the
 * registry's string, never through m's storage. */
struct session_action session_on_message(struct session *s, enum tunnel_side from,
					 const struct tunnel_msg *m);

size_t session_live_count(const struct session *s);

#endif
