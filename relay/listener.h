/* The relay's own TLS port when it runs behind a load balancer that speaks
 * the PROXY protocol (--proxy-protocol). lws 4.1 cannot read a PROXY header,
 * so the relay listens itself (on the relay's libev loop), reads exactly the
 * header of each new connection (peeked, never a byte past it: the TLS
 * ClientHello stays in the socket), then hands the descriptor to the lws
 * vhost, which does TLS and HTTP as if it had accepted it.
 *
 * The client address the header named rides on the adopted wsi (lws's
 * opaque user data, a malloc'd string): listener_client_address reads it,
 * listener_forget frees it when lws destroys the wsi. A LOCAL / UNKNOWN
 * header (health checks) carries the socket's own peer instead.
 *
 * A connection without a valid header within LISTENER_HEADER_TIMEOUT_MS,
 * or with a malformed one, is closed, counted (relay_metrics) and logged
 * (at most one line a second). Connections waiting for their header are at
 * most LISTENER_MAX_PENDING, and count against the relay's descriptor
 * budget like lws's own; when the relay is full, or accept() runs out of
 * descriptors, new connections are closed on arrival or accepting pauses
 * until the next tick, so the listening socket never spins the loop. */
#ifndef RELAY_LISTENER_H
#define RELAY_LISTENER_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LISTENER_HEADER_TIMEOUT_MS 5000
#define LISTENER_MAX_PENDING 256

struct relay_loop;
struct relay_metrics;

struct listener_config {
	const char *bind;             /* NULL: every interface (IPv6 and IPv4) */
	int port;
	struct relay_loop *loop;
	struct lws_vhost *vhost;      /* made with CONTEXT_PORT_NO_LISTEN_SERVER */
	struct relay_metrics *metrics;
	/* The server's descriptor gate: full() says new connections must be
	 * closed on arrival; counted() reports a waiting connection opened or
	 * gone (an adopted one is counted by lws's WSI_CREATE instead). */
	bool (*full)(void *arg);
	void (*counted)(void *arg, bool opened);
	void *arg;
};

struct listener;

/* Binds and listens (--bind/--port as lws would). NULL with err filled. */
struct listener *listener_start(const struct listener_config *cfg, char *err, size_t cap);
/* Once a second: closes connections past their deadline, resumes
 * accepting after a shortage of descriptors. */
void listener_tick(struct listener *l, int64_t now_ms);
/* Closes the listening socket and every waiting connection. NULL: nothing. */
void listener_free(struct listener *l);

/* The client address of a connection the listener handed to lws, or NULL
 * (not adopted: lws accepted it, or the PROXY header named none). */
const char *listener_client_address(struct lws *wsi);
/* lws is destroying wsi (LWS_CALLBACK_WSI_DESTROY): frees its address. */
void listener_forget(struct lws *wsi);

#endif
