/* localproxy's runtime state, shared by its parts: the tunnel WebSocket
 * (tunnel_ws.c), the local TCP sockets (local_tcp.c), the connection table
 * (conn_table.c) and the per-mode protocol logic (source.c, destination.c).
 * Everything runs on one libwebsockets event loop. */
#ifndef PROXY_PROXY_H
#define PROXY_PROXY_H

#include <libwebsockets.h>
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
/* lws's read buffer for local sockets: one read fills one DATA frame. */
#define LOCAL_IO_BUFFER_SIZE (64u * 1024u)
/* Descriptors the event loop tracks: the tunnel, up to 10 local
 * connections, up to 3 listeners, lws's own wake-up pipe, and room to spare. */
#define LOCALPROXY_MAX_FDS 64
#define PING_INTERVAL_US (20 * LWS_USEC_PER_SEC)

struct proxy;

struct local_conn {
	struct proxy *proxy;
	struct lws *wsi;           /* NULL until a destination connect is issued */
	size_t service;            /* index into proxy->services */
	int32_t stream_id;
	uint32_t connection_id;
	struct bytequeue to_local; /* tunnel -> local socket */
	struct bytequeue to_tunnel; /* its DATA frames for the relay */
	bool tunnel_full;          /* to_tunnel is over CONN_QUEUE_HIGH: not read */
	bool connected;            /* the local socket is up */
	bool dialing;              /* inside local_connect's lws call */
	bool dial_failed;          /* destination dial failed */
	bool started_stream;       /* opened by STREAM_START (else CONNECTION_START) */
	bool over_high;            /* counted in proxy->n_local_over_high */
	bool ending;               /* flush to_local, then close */
	bool peer_knows;           /* the tunnel peer already knows it ended */
};

struct proxy_service {
	char id[TUNNEL_MAX_SERVICE_ID + 1];
	size_t entry;              /* its entry in proxy->mapping */
	int32_t stream_id;         /* the live stream, 0 = none */
	int32_t last_stream_id;    /* source: the last one handed out this session */
	uint32_t last_connection_id; /* source: in the live stream */
};

struct proxy {
	const struct proxy_options *opt;
	struct mapping mapping;
	struct lws_context *ctx;
	struct lws_vhost *client_vhost;
	struct lws_vhost *listeners[TUNNEL_MAX_SERVICES]; /* source, by mapping entry */
	struct ws_client *wc;      /* the tunnel WebSocket */
	bool connected;            /* wc is open */
	char ws_path[64];
	int version;               /* protocol version spoken: 1..3 */
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
	lws_sorted_usec_list_t reconnect_timer;
	lws_sorted_usec_list_t ping_timer;
	bool ping_due;
	bool exiting;
	bool destroying;           /* lws_context_destroy is running: callbacks only clean up */
	int exit_code;
};

/* tunnel_ws.c */
int tunnel_ws_init(struct proxy *p);          /* context + first connect */
void tunnel_ws_shutdown(struct proxy *p);

/* tunnel_send.c */
/* Queues a message that is about no connection in particular. */
void tunnel_send_msg(struct proxy *p, const struct tunnel_msg *m);
/* Queues DATA for a connection, split at TUNNEL_MAX_PAYLOAD. */
void tunnel_send_data(struct proxy *p, struct local_conn *c, const uint8_t *data, size_t len);
/* Queues a message about connection c (start, reset) in the negotiated
 * version's form, after any DATA c still has queued. */
void tunnel_send_conn_msg(struct proxy *p, enum tunnel_msg_type type, struct local_conn *c);
/* Tells the relay a connection ended (CONNECTION_RESET or, before V3, STREAM_RESET). */
void tunnel_send_conn_reset(struct proxy *p, struct local_conn *c);
/* The WebSocket can take a message: sends the next one. */
void tunnel_send_next(struct proxy *p);
/* Drops everything queued for the relay (the connection is gone). */
void tunnel_send_drop_all(struct proxy *p);

/* local_tcp.c */
extern const struct lws_protocols local_tcp_protocol;
int local_listen(struct proxy *p, size_t entry);   /* source listener for a mapping entry */
int local_connect(struct proxy *p, struct local_conn *c); /* destination dial */
void local_send(struct local_conn *c, const uint8_t *data, size_t len);
/* The tunnel side of c is done: write what is queued, then close. */
void local_end(struct local_conn *c);
/* Called by a local queue crossing its marks. */
void local_queue_drained(struct local_conn *c);

/* conn_table.c */
struct local_conn *conn_add(struct proxy *p, size_t service, int32_t stream_id,
			    uint32_t connection_id);
struct local_conn *conn_find(struct proxy *p, size_t service, int32_t stream_id,
			     uint32_t connection_id);
void conn_remove(struct proxy *p, struct local_conn *c);
size_t conn_count(const struct proxy *p);
/* Ends every connection of a service's stream (stream_id 0: every stream). */
void conn_end_stream(struct proxy *p, size_t service, int32_t stream_id);
void conn_end_all(struct proxy *p);
/* Handles what both modes do alike (DATA, CONNECTION_RESET, STREAM_RESET);
 * false for any other type. */
bool conn_on_message(struct proxy *p, const struct tunnel_msg *m, size_t service);
/* Service index of a message's serviceId ("" = the only service); -1 if unknown. */
int service_index(const struct proxy *p, const char *service_id);

/* source.c / destination.c */
void source_on_ready(struct proxy *p);
struct local_conn *source_on_accept(struct proxy *p, size_t entry);
void source_on_message(struct proxy *p, const struct tunnel_msg *m, size_t service);
void destination_on_message(struct proxy *p, const struct tunnel_msg *m, size_t service);
void destination_on_connect_failed(struct proxy *p, struct local_conn *c);

#endif
