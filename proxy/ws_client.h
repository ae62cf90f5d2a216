/* A WebSocket client over TLS, optionally through an HTTP CONNECT proxy,
 * on our event loop (common/ev.h).
 *
 * Why not lws's own client: lws 4.1 parses received frames one byte per
 * call and masks sent frames byte by byte, which was three quarters of
 * localproxy's CPU under load (docs/benchmarks.md). Here TLS runs over an
 * OpenSSL BIO pair, so we choose the syscalls (one recv or send per up to
 * 32 KiB), frames are parsed in bulk (proto/ws_codec.c) and masked a word
 * at a time. */
#ifndef PROXY_WS_CLIENT_H
#define PROXY_WS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/ev.h"

struct ws_client_config {
	const char *host;          /* the server: TLS name (SNI, verification) and Host */
	int port;
	const char *path;          /* request path with query */
	const char *subprotocol;   /* the one we ask for, and require */
	const char *access_token;  /* sent as the access-token header; never logged */
	const char *client_token;  /* "" = none */
	const char *ca_path;       /* CA file or directory; "" = the system's CAs */
	bool no_verify;            /* skip certificate and name checks (-k) */
	const char *proxy_host;    /* HTTP CONNECT proxy; "" = connect directly */
	int proxy_port;
	size_t max_message;        /* the most one ws_client_send may take */
};

/* What the client reports. Every callback runs on the event loop. */
struct ws_client_handler {
	void *user;
	/* The upgrade succeeded. */
	void (*on_open)(void *user);
	/* A piece of a received message (first: it starts a message). Return
	 * nonzero when the content is unacceptable: the client then closes
	 * with 1002 (protocol error). */
	int (*on_data)(void *user, const uint8_t *data, size_t len, bool first, bool binary);
	/* There is room to send: call ws_client_send, and ws_client_want_write
	 * again if more is waiting. */
	void (*on_writeable)(void *user);
	/* The server sent a close frame (code 1005 when it had none). The
	 * client answers it and the connection then ends. */
	void (*on_close_frame)(void *user, int code, const char *reason, size_t reason_len);
	/* The connection is over. opened: on_open was called. http_status: the
	 * status of a refused upgrade, else 0. why: what happened, for a log. */
	void (*on_ended)(void *user, bool opened, int http_status, const char *why);
};

struct ws_client;

/* Sets up TLS (CA, verification). NULL on error, logged. The config's
 * strings must outlive the client. */
struct ws_client *ws_client_new(struct ev_loop *loop, const struct ws_client_config *cfg,
				const struct ws_client_handler *handler);
/* Starts a connection; on_open or on_ended follows. 0, or -1 when it could
 * not even start (logged; nothing follows). */
int ws_client_connect(struct ws_client *wc);
/* Asks for an on_writeable call soon. */
void ws_client_want_write(struct ws_client *wc);
struct ws_piece {
	const uint8_t *data;
	size_t len;
};

/* From on_writeable: sends the pieces, in order, as one binary message.
 * Returns the bytes taken: all of them, or 0 when they exceed max_message
 * or the previous message is still going out (on_writeable comes again
 * when it is gone). */
size_t ws_client_sendv(struct ws_client *wc, const struct ws_piece *pieces, size_t n);
/* Sends a ping with this payload (at most 125 bytes) after the current message. */
void ws_client_ping(struct ws_client *wc, const uint8_t *payload, size_t len);
/* Ends the connection when its path is dead (common/tcp_liveness.h); call
 * every few seconds. */
void ws_client_check_path(struct ws_client *wc);
/* Stops or resumes delivering received data (backpressure). */
void ws_client_pause_rx(struct ws_client *wc, bool pause);
/* Sends a close frame and ends the connection once it is out. */
void ws_client_close(struct ws_client *wc, int code);
/* Closes any connection at once, without callbacks, and frees. */
void ws_client_free(struct ws_client *wc);

#endif
