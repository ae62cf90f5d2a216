/* localproxy's runtime state and its data plane, from the bottom up:
 * the connection table (conn_table.c), the send scheduler (tunnel_send.c),
 * a connection's life common to both modes (conn_life.c), the modes
 * (source.c, destination.c) and the dispatch of received messages
 * (dispatch.c). None of them does I/O: they reach sockets through the
 * struct proxy_io they are given (proxy/io_sockets.c on the event loop,
 * fakes in the unit tests), and the sockets' events come back up through
 * the functions marked "event" below. */
#ifndef PROXY_PROXY_H
#define PROXY_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/bytequeue.h"
#include "proto/frame.h"
#include "proto/message.h"
#include "proxy/backoff.h"
#include "proxy/mapping.h"
#include "proxy/options.h"
#include "proxy/ws_client.h"

/* Bounded buffering (see docs/operations.md, "Memory"):
 * - DATA frames of one local connection waiting for the WebSocket (the
 *   relay's socket was full): above CONN_QUEUE_HIGH that socket stops being
 *   read until its queue is below CONN_QUEUE_LOW (tunnel_send.c). As one
 *   read is up to 64 KiB, a connection holds at most about one read;
 * - bytes waiting for one local socket: above LOCAL_QUEUE_HIGH the
 *   WebSocket stops being read until every such queue is below
 *   LOCAL_QUEUE_LOW. */
#define CONN_QUEUE_HIGH (16u * 1024u)
#define CONN_QUEUE_LOW (16u * 1024u)
#define LOCAL_QUEUE_HIGH (32u * 1024u)
#define LOCAL_QUEUE_LOW (16u * 1024u)
/* One read from a local socket fills at most one DATA frame. */
#define LOCAL_READ_SIZE TUNNEL_MAX_PAYLOAD
/* The largest WebSocket message we send: one whole frame of the biggest
 * kind (the relay takes up to TUNNEL_MAX_WS_MESSAGE). Smaller than that
 * limit to keep the send buffer, which every message passes through, small. */
#define SEND_MESSAGE_MAX TUNNEL_MAX_FRAME
#define PING_INTERVAL_US (20u * 1000000u)

struct proxy;
struct local_conn;

/* The I/O the data plane asks for. Every call names a connection or the
 * relay; user is the implementation's. */
struct proxy_io {
	void *user;
	/* the relay's WebSocket (see ws_client.h) */
	void (*relay_want_write)(void *user);
	size_t (*relay_sendv)(void *user, const struct ws_piece *pieces, size_t n);
	void (*relay_pause_rx)(void *user, bool pause);
	/* Source: listens for a mapping entry. 0, or -1 (logged). */
	int (*listen)(void *user, size_t entry);
	/* Destination: dials c's target and sets c->sock. 0 (then
	 * destination_on_connected or destination_on_connect_failed follows),
	 * or -1 when it failed at once (why filled). */
	int (*dial)(void *user, struct local_conn *c, char *why, size_t why_cap);
	/* Bytes for c's socket. -1 when they cannot be queued. */
	int (*send)(void *user, struct local_conn *c, const uint8_t *data, size_t len);
	void (*pause_read)(void *user, struct local_conn *c, bool pause);
	/* Writes what c still has queued, then closes; conn_on_local_closed follows. */
	void (*end)(void *user, struct local_conn *c);
	/* p->exiting was set: stop the event loop. */
	void (*stop)(void *user);
	/* Source: len unpredictable bytes (a session's first stream id). 0, or -1. */
	int (*random)(void *user, uint8_t *buf, size_t len);
};

struct local_conn {
	struct proxy *proxy;
	void *sock;                /* the I/O side's socket; NULL when there is none */
	size_t service;            /* index into proxy->services */
	int32_t stream_id;
	uint32_t connection_id;
	struct bytequeue to_tunnel; /* its DATA frames for the relay */
	bool tunnel_full;          /* to_tunnel is over CONN_QUEUE_HIGH: not read */
	bool started_stream;       /* opened by STREAM_START (else CONNECTION_START) */
	bool over_high;            /* its socket's queue is over LOCAL_QUEUE_HIGH */
	bool ending;               /* flush what its socket has queued, then close */
	bool peer_knows;           /* the tunnel peer already knows it ended */
};

struct proxy_service {
	char id[TUNNEL_MAX_SERVICE_ID + 1];
	size_t entry;              /* its entry in proxy->mapping */
	int32_t stream_id;         /* the live stream, 0 = none */
	int32_t last_stream_id;    /* source: the last one handed out this session, 0 = none yet */
	uint32_t last_connection_id; /* source: in the live stream */
};

struct proxy {
	const struct proxy_options *opt;
	struct mapping mapping;
	const struct proxy_io *io;
	bool connected;            /* the relay's WebSocket is open */
	int version;               /* protocol version negotiated: 1..3 */
	int format;                /* the version our messages are shaped for: version,
				    * or lower for a source's -y V1/V2 (opt->destination_type) */
	bool ready;                /* services known; connections may start */
	struct frame_decoder decoder;
	struct bytequeue to_tunnel; /* every other message for the relay */
	size_t next_turn;          /* the connection served first in the next message */
	size_t n_local_over_high;
	bool ws_rx_paused;
	struct proxy_service services[TUNNEL_MAX_SERVICES];
	size_t n_services;
	struct local_conn *conns[TUNNEL_DEFAULT_MAX_CONNECTIONS];
	size_t max_conns;
	struct backoff backoff;
	bool exiting;
	int exit_code;
};

/* Sets up the data plane's state (no I/O yet). */
void proxy_init(struct proxy *p, const struct proxy_options *opt, const struct proxy_io *io);
/* Frees every connection (their sockets must be gone) and the queues. */
void proxy_free(struct proxy *p);
/* Ends the program with exit_code (logged by the caller). */
void proxy_exit(struct proxy *p, int exit_code);

/* conn_table.c: stores the connections, keyed by (service, stream, connection). */
struct local_conn *conn_add(struct proxy *p, size_t service, int32_t stream_id,
			    uint32_t connection_id);
/* A live connection (not ending) with this key; connection 0 = 1. */
struct local_conn *conn_find(struct proxy *p, size_t service, int32_t stream_id,
			     uint32_t connection_id);
void conn_remove(struct proxy *p, struct local_conn *c);
size_t conn_count(const struct proxy *p);
/* The connection in slot i (0..max_conns-1), or NULL. */
struct local_conn *conn_at(const struct proxy *p, size_t i);

/* tunnel_send.c */
/* Queues a message that is about no connection in particular. */
void tunnel_send_msg(struct proxy *p, const struct tunnel_msg *m);
/* Queues DATA for a connection, split at TUNNEL_MAX_PAYLOAD. -1 when memory
 * runs out (end the connection). */
int tunnel_send_data(struct proxy *p, struct local_conn *c, const uint8_t *data, size_t len);
/* Queues a message about connection c (start, reset) in the shape of
 * p->format, after any DATA c still has queued. */
void tunnel_send_conn_msg(struct proxy *p, enum tunnel_msg_type type, struct local_conn *c);
/* Tells the relay a connection ended (CONNECTION_RESET or, before V3, STREAM_RESET). */
void tunnel_send_conn_reset(struct proxy *p, struct local_conn *c);
/* event: the WebSocket can take a message: sends the next one. */
void tunnel_send_next(struct proxy *p);
/* Drops everything queued for the relay (the connection is gone). */
void tunnel_send_drop_all(struct proxy *p);

/* conn_life.c: what both modes do with a connection */
/* The tunnel side of c is done: its socket writes what it has, then closes. */
void conn_end(struct local_conn *c);
/* Bytes from the tunnel for c's socket. */
void conn_deliver(struct local_conn *c, const uint8_t *data, size_t len);
/* Ends every connection of a service's stream (stream_id 0: every stream). */
void conn_end_stream(struct proxy *p, size_t service, int32_t stream_id);
void conn_end_all(struct proxy *p);
/* event: bytes read from c's socket. */
void conn_on_local_data(struct local_conn *c, const uint8_t *data, size_t len);
/* event: c's socket queue went over LOCAL_QUEUE_HIGH, or back under LOCAL_QUEUE_LOW. */
void conn_on_local_mark(struct local_conn *c, bool over);
/* event: c's socket closed; c is removed. */
void conn_on_local_closed(struct local_conn *c);

/* source.c */
void source_on_ready(struct proxy *p);
/* event: a local client connected to the listener of a mapping entry: its
 * new connection, or NULL to refuse (close) it. */
struct local_conn *source_on_accept(struct proxy *p, size_t entry);

/* destination.c */
void destination_on_start(struct proxy *p, const struct tunnel_msg *m, size_t service);
/* event: c's dial succeeded / failed (why: for the log). */
void destination_on_connected(struct local_conn *c);
void destination_on_connect_failed(struct local_conn *c, const char *why);

/* dispatch.c: received tunnel messages to the modes */
/* event: a piece of a WebSocket message from the relay (first: it starts a
 * message). -1 when it is not acceptable (reconnect). */
int dispatch_receive(struct proxy *p, const uint8_t *in, size_t len, bool first);
void dispatch_message(struct proxy *p, const struct tunnel_msg *m);
/* event: the WebSocket opened (a new session). */
void dispatch_session_open(struct proxy *p);
/* V1 has no SERVICE_IDS: once open, the tunnel has one unnamed service. */
void dispatch_ready_v1(struct proxy *p);
/* event: the WebSocket is gone: drops what was queued, ends every connection. */
void dispatch_session_closed(struct proxy *p);

#endif
