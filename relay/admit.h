/* The relay's WebSocket handshake decision, as a pure function of the
 * request and the registry: which tunnel and side a connection joins, or
 * which HTTP status refuses it and why. */
#ifndef RELAY_ADMIT_H
#define RELAY_ADMIT_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/wire.h"
#include "relay/registry.h"

struct admit_request {
	const char *path;           /* URI path, query excluded */
	const char *mode;           /* local-proxy-mode query value; NULL if absent */
	const char *subprotocols;   /* Sec-WebSocket-Protocol value (comma list); NULL if absent */
	const char *access_token;   /* NULL if absent */
	size_t access_token_len;
	const char *client_token;   /* NULL if absent */
	size_t client_token_len;
};

struct admit_result {
	int http_status;            /* 0: admitted; else 400/401/403 */
	const char *reason;         /* static text for the log line and response body */
	const char *label;          /* short static name of the reason, for metrics */
	/* Filled in as far as the checks got, also on refusal (for the log
	 * line): tunnel is non-NULL once the token is known, side and version
	 * once mode and subprotocol were accepted. Act on them only when
	 * http_status is 0. */
	struct registry_tunnel *tunnel;
	enum tunnel_side side;
	int version;                /* 1, 2 or 3: the highest requested subprotocol we speak */
	const char *subprotocol;    /* the chosen subprotocol's name (static) */
	bool reconnect;             /* same access token + same client token as before */
};

/* Decides without changing anything. Checks, in order: path is /tunnel
 * (400), mode is source|destination (400), a supported subprotocol (400),
 * access token present and well-formed (401), client token well-formed if
 * present (400), token known (401), token's side matches mode (403),
 * token unused or a reconnect with the same client token (403). */
struct admit_result admit_decide(struct registry *r, const struct admit_request *req);

/* Records a successful handshake: marks the token used and remembers the
 * client token (if any) so a later reconnect with it is accepted. Only the
 * first use stores a client token; a reconnect keeps it. Does nothing for a
 * refused result. */
void admit_commit(const struct admit_result *res, const struct admit_request *req);

/* Version number of a subprotocol name; 0 if not one of ours. */
int subprotocol_version(const char *name, size_t len);

#endif
