/* The management API (JSON over HTTPS), as a function from a request to a
 * response. It validates, changes the registry, and says what the server
 * must do before answering: save a tunnel (the store answers later), notify
 * a device. It asks the data plane (through hooks) to close connections.
 * The HTTP, store and MQTT I/O stay in the server. */
#ifndef RELAY_API_H
#define RELAY_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay/registry.h"

/* Largest request body the API reads. */
#define API_MAX_BODY (16u * 1024u)
#define API_DEFAULT_LIFETIME_MINUTES 720
#define API_MAX_LIFETIME_MINUTES 720
/* Caps on open tunnels, so that a script holding the API key cannot fill
 * the relay by accident: in all, and per thing (a device serves a handful
 * of tunnels at a time). Beyond either, opening answers 429 TooManyTunnels. */
#define API_DEFAULT_MAX_TUNNELS 10000
#define API_DEFAULT_MAX_TUNNELS_PER_THING 64
/* Fresh access tokens: 256 random bits as 43 base64url characters. */
#define API_TOKEN_LEN 43

struct api_hooks {
	void *server;
	/* Closes the connected peers of a tunnel side (side -1: both) with a
	 * WebSocket close frame. */
	void (*close_side)(void *server, struct registry_tunnel *t, int side, int code,
			   const char *reason);
	bool (*side_connected)(void *server, const struct registry_tunnel *t, enum tunnel_side side);
	size_t (*live_connections)(void *server, const struct registry_tunnel *t);
};

/* A device notification the relay still keeps for a tunnel. */
struct api_notice_state {
	bool failed;               /* the broker refused it; else pending */
	int64_t since;             /* Unix seconds */
	char detail[200];
};

struct api_env {
	struct registry *registry;
	const char *api_key;       /* NULL or "": the API is off */
	int64_t now;               /* Unix seconds */
	struct api_hooks hooks;
	size_t max_tunnels;        /* 0: API_DEFAULT_MAX_TUNNELS */
	size_t max_tunnels_per_thing; /* 0: API_DEFAULT_MAX_TUNNELS_PER_THING */
	/* Optional: what is kept of a tunnel's notification, shown by GET. */
	void *notices;
	bool (*notice_state)(void *notices, const char *tunnel_id, struct api_notice_state *out);
};

struct api_request {
	const char *method;        /* "GET", "POST", "DELETE" */
	const char *path;          /* without the query */
	const char *query;         /* after '?', or NULL */
	const char *authorization; /* the Authorization header, or NULL */
	const char *body;
	size_t body_len;
};

/* What a failed save turns a response into (see api_saved). */
enum api_save_failure { API_SAVE_OPEN = 1, API_SAVE_ROTATE, API_SAVE_CLOSE };

struct api_response {
	int status;
	char *body;                /* malloc'd JSON text */
	/* When set, the response may go out only once this tunnel is saved:
	 * the server saves it (if it persists tunnels at all), then calls
	 * api_saved with the outcome, before notifying. */
	struct registry_tunnel *save;
	enum api_save_failure save_failure;
	int64_t now;               /* the env's time of the call */
	/* When set, the server publishes the device notification for
	 * notify_tunnel with notify_token, then calls api_add_notification. */
	bool notify;
	struct registry_tunnel *notify_tunnel;
	char notify_token[API_TOKEN_LEN + 1];
	char log_line[400];        /* what to log about this call ("" = nothing) */
};

void api_handle(struct api_env *env, const struct api_request *req, struct api_response *res);
/* The save asked for by res->save is over: err is NULL when it succeeded,
 * else the store's reason, and the response becomes a 500 (no
 * notification; a tunnel that failed to save when opened is left closed,
 * since nobody got its tokens). */
void api_saved(struct api_response *res, const char *err);
/* Adds "notification":{"delivered":…,"detail":…} to the response body. */
int api_add_notification(struct api_response *res, bool delivered, const char *detail);
/* Adds "notification":{"delivered":false,"pending":true,"detail":…}: the
 * notification is kept and will be sent when the broker is back. */
int api_add_pending_notification(struct api_response *res, const char *detail);
/* Frees the body and wipes the token. */
void api_response_free(struct api_response *res);

/* Marks a tunnel closed (now) and closes its peers with code 1000 and the
 * reason. Used by DELETE and by expiry; the caller saves it. */
void api_close_tunnel(struct api_env *env, struct registry_tunnel *t, const char *reason);

/* Writes ISO 8601 UTC ("2026-11-22T03:50:00Z") of a Unix time. */
void api_format_time(int64_t t, char out[32]);

#endif
