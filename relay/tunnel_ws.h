/* A tunnel WebSocket once it is open: the relay's own data plane.
 *
 * libwebsockets accepts the connection, runs the TLS handshake and the
 * upgrade (the HTTP API and the console share the port), then hands the
 * socket and its OpenSSL session over (relay/peer_lws.c). From then on this
 * file reads, parses and writes the connection itself on the relay's libev
 * loop (relay/event_loop.h):
 *   - one SSL_read takes every record the socket holds (read-ahead, safe
 *     now that lws no longer peeks at the socket), the frames are parsed in
 *     bulk and unmasked in place (proto/ws_codec.h);
 *   - a message for the other side is written at once when its socket can
 *     take it, at the end of the callback that produced it, not in another
 *     pass of the loop;
 *   - a ping is answered with one write, where lws asked for a writable
 *     callback and polled again;
 *   - an idle connection holds its OpenSSL session (its buffers released)
 *     and this struct: no receive buffer, no lws wsi (docs/benchmarks.md).
 * The tunnel logic stays in relay/peer.c, which reaches a connection only
 * through struct peer_io (tunnel_ws_io). */
#ifndef RELAY_TUNNEL_WS_H
#define RELAY_TUNNEL_WS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "relay/peer.h"

struct relay_loop;
struct tunnel_ws;
struct tunnel_ws_set;

/* Bytes the data plane keeps free before a queued message: its WebSocket
 * header (at most 10 bytes from a server) goes there. */
#define TUNNEL_WS_HEADROOM 16u

/* The data plane's I/O on a tunnel_ws (conn is the struct tunnel_ws *). */
extern const struct peer_io tunnel_ws_io;

struct tunnel_ws_hooks {
	/* A connection now counts against the descriptor limit (opened) or no
	 * longer does. */
	void (*counted)(void *arg, bool opened);
	void *arg;
};

/* All of a relay's tunnel connections. NULL when out of memory. */
struct tunnel_ws_set *tunnel_ws_set_new(struct relay_loop *loop,
					const struct tunnel_ws_hooks *hooks);
/* Closes every connection (without close frames: the relay is stopping),
 * telling their peers, and frees the set. NULL does nothing. */
void tunnel_ws_set_free(struct tunnel_ws_set *set);
/* How often the server sweeps every connection (tunnel_ws_sweep): a third
 * of TCP_LIVENESS_SECONDS at most, so a dead path is dropped 45-50 s after
 * its last ACK. One sweep from the server's tick, not a timer per
 * connection. */
#define TUNNEL_WS_SWEEP_S 5

/* Every TUNNEL_WS_SWEEP_S: ends connections whose path is dead or whose
 * close is overdue. */
void tunnel_ws_sweep(struct tunnel_ws_set *set);
size_t tunnel_ws_count(const struct tunnel_ws_set *set);

/* A connection lws is about to let go of (its upgrade just finished): ssl
 * is taken with a reference of its own, fd is not read or written until
 * tunnel_ws_start. who names it in the log. NULL when out of memory. */
struct tunnel_ws *tunnel_ws_new(struct tunnel_ws_set *set, int fd, SSL *ssl, const char *who);
/* The peer the data plane made for it (peer_join with this conn). */
void tunnel_ws_bind(struct tunnel_ws *c, struct peer *peer);
/* lws has closed its side (only its descriptor for a throwaway file):
 * reading and writing start, on the loop's next round. */
void tunnel_ws_start(struct tunnel_ws *c);
/* The hand-over failed before tunnel_ws_start: lws keeps the socket and
 * closes it itself; this drops the session reference, tells the peer and
 * frees c. */
void tunnel_ws_abandon(struct tunnel_ws *c);

#endif
