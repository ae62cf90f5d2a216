/* The tunnel operations both management APIs share: the relay's own
 * /api/v1 (api.c) and AWS's IoT Secure Tunneling API (aws_api.c). Each
 * validates, changes the registry, and asks the data plane (through hooks)
 * to close connections; each front-end turns JSON into these calls, the
 * results back into its own JSON, and asks the server to save the tunnel
 * (api_save_later) before answering. */
#ifndef RELAY_TUNNEL_OPS_H
#define RELAY_TUNNEL_OPS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/token.h"
#include "relay/registry.h"

#define API_DEFAULT_LIFETIME_MINUTES 720
#define API_MAX_LIFETIME_MINUTES 720
/* Fresh access tokens, the longest: "RK." (the tunnel's routing key,
 * common/token.h) then 256 random bits as 43 base64url characters. */
#define API_TOKEN_LEN ACCESS_TOKEN_KEYED_MAX
/* Caps on open tunnels, so that a script holding the API key cannot fill
 * the relay by accident: in all, and per thing (a device serves a handful
 * of tunnels at a time). Beyond either, opening is refused (OPS_TOO_MANY). */
#define API_DEFAULT_MAX_TUNNELS 10000
#define API_DEFAULT_MAX_TUNNELS_PER_THING 64

struct api_hooks {
	void *server;
	/* Closes the connected peers of a tunnel side (side -1: both) with a
	 * WebSocket close frame. */
	void (*close_side)(void *server, struct registry_tunnel *t, int side, int code,
			   const char *reason);
	bool (*side_connected)(void *server, const struct registry_tunnel *t, enum tunnel_side side);
	size_t (*live_connections)(void *server, const struct registry_tunnel *t);
	/* This node's name when it shares its store with other nodes, else
	 * NULL: then side_connected alone answers (cluster_side_connected). */
	const char *node_id;
};

/* A device notification the relay still keeps for a tunnel. */
struct api_notice_state {
	bool failed;               /* the broker refused it; else pending */
	int64_t since;             /* Unix seconds */
	char detail[200];
};

struct things;

struct api_env {
	struct registry *registry;
	const struct things *things; /* devices' presence; NULL: none known */
	const char *api_key;       /* NULL or "": the /api/v1 API is off */
	int64_t now;               /* Unix seconds */
	struct api_hooks hooks;
	size_t max_tunnels;        /* 0: API_DEFAULT_MAX_TUNNELS */
	size_t max_tunnels_per_thing; /* 0: API_DEFAULT_MAX_TUNNELS_PER_THING */
	/* Optional: what is kept of a tunnel's notification, shown by GET. */
	void *notices;
	bool (*notice_state)(void *notices, const char *tunnel_id, struct api_notice_state *out);
};

/* Why an operation failed, for the front-end to word in its own dialect. */
enum ops_failure {
	OPS_INVALID = 400,
	OPS_NOT_FOUND = 404,
	OPS_CONFLICT = 409,
	OPS_TOO_MANY = 429,        /* a cap on open tunnels */
	OPS_INTERNAL = 500,
};

struct ops_error {
	enum ops_failure failure;
	const char *field;         /* the request field at fault, or NULL */
	char message[256];
	char field_text[128];      /* where field points when it is made up (a JSON path) */
};

typedef char ops_tokens[2][API_TOKEN_LEN + 1]; /* indexed by enum tunnel_side */

/* Parses a request body, refusing NULs (cJSON would cut a string at one)
 * and repeated keys (cJSON keeps both; a reader that takes the last would
 * disagree with ours). NULL with e filled when it is not JSON. */
cJSON *ops_parse_json(const char *body, size_t len, struct ops_error *e);

/* Reads {"description", "destinationConfig":{"thingName","services"},
 * "timeoutConfig":{"maxLifetimeTimeoutMinutes"}} (the same in both APIs)
 * into t. Returns 0, or -1 with e filled. */
/* 1-128 characters of [A-Za-z0-9_:-], as AWS names things. */
bool ops_thing_name_valid(const char *s);

int ops_parse_open(const cJSON *root, struct registry_tunnel *t, struct ops_error *e);

/* Gives t (calloc'd, filled by ops_parse_open) an id and fresh tokens and
 * inserts it, unless that would pass a cap on open tunnels (OPS_TOO_MANY).
 * Returns t, now owned by the registry, or NULL with e filled (t is then
 * freed). tokens are wiped by the caller. */
struct registry_tunnel *ops_open(struct api_env *env, struct registry_tunnel *t, ops_tokens tokens,
				 struct ops_error *e);

/* Replaces the tokens of the chosen sides and closes the connections made
 * with the old ones. Returns 0, or -1 with e filled. */
int ops_rotate(struct api_env *env, struct registry_tunnel *t, bool source, bool destination,
	       ops_tokens tokens, struct ops_error *e);

/* Closes t (if open); with delete, also forgets it: hidden from both APIs,
 * and saving it removes it from the store. True when t changed (needs a
 * save). */
bool ops_close(struct api_env *env, struct registry_tunnel *t, bool delete);

/* The tunnel with this id, unless it was deleted; NULL otherwise. */
struct registry_tunnel *ops_find(struct api_env *env, const char *id);

bool ops_side_connected(const struct api_env *env, const struct registry_tunnel *t,
			enum tunnel_side side);
size_t ops_live_connections(const struct api_env *env, const struct registry_tunnel *t);

/* Another relay node changed tunnel id (row NULL: its row is gone; owner:
 * the node that last admitted a side, "" none, NULL unknown): the registry
 * takes the row and the sides connected here are dropped as cluster_plan
 * says: closed (1000), rotated (1000), admitted elsewhere (1008), owned
 * elsewhere (1012: "letting go", so that the proxies reconnect to where
 * the other end is). */
void ops_apply_change(struct api_env *env, const char *node_id, const char *id,
		      const struct registry_tunnel *row, const char *owner);

/* Marks a tunnel closed (now) and closes its peers with code 1000 and the
 * reason. Used by the APIs and by expiry; the caller saves it. */
void api_close_tunnel(struct api_env *env, struct registry_tunnel *t, const char *reason);

#endif
