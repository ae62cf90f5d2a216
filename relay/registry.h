/* The tunnels the relay knows and the state of their access tokens.
 * Tokens are kept only as SHA-256 hashes. Pure apart from
 * registry_load_file, which reads a JSON file. */
#ifndef RELAY_REGISTRY_H
#define RELAY_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/token.h"
#include "proto/wire.h"
#include "relay/registry_index.h"

#define REGISTRY_MAX_ID 64
/* a relay node's name (--node-id), as store_rows.h checks it */
#define REGISTRY_MAX_NODE 63

enum tunnel_side { SIDE_SOURCE = 0, SIDE_DESTINATION = 1 };

struct registry_side {
	uint8_t token_hash[TOKEN_HASH_LEN];
	bool used;               /* a handshake has succeeded with this token */
	bool has_client_token;   /* that handshake carried a client token */
	char client_token[TUNNEL_MAX_CLIENT_TOKEN + 1];
};

#define REGISTRY_MAX_THING 128
#define REGISTRY_MAX_DESCRIPTION 256
/* Tags of the AWS API as compact JSON ([{"key":…,"value":…},…]); "" = none. */
#define REGISTRY_MAX_TAGS 4096
#define REGISTRY_MAX_TAGS_TEXT "4096"

struct registry_tunnel {
	char id[REGISTRY_MAX_ID + 1];
	char thing[REGISTRY_MAX_THING + 1];             /* "" for tunnels from a file */
	char description[REGISTRY_MAX_DESCRIPTION + 1];
	size_t n_services;
	char services[TUNNEL_MAX_SERVICES][TUNNEL_MAX_SERVICE_ID + 1];
	struct registry_side side[2];   /* indexed by enum tunnel_side */
	int lifetime_minutes;           /* 0 for tunnels from a file: no expiry */
	int64_t created_at;             /* Unix seconds */
	int64_t expires_at;             /* 0 = never */
	int64_t closed_at;              /* 0 = open */
	int64_t side_changed_at[2];     /* last connect/disconnect of each side, 0 = never */
	bool connected[2];              /* each side connected to its owner, as last saved
					 * (other nodes answer the APIs from it:
					 * cluster_side_connected); a dead node leaves it true */
	char owner[REGISTRY_MAX_NODE + 1]; /* the node that last admitted a side, as this
					    * node last heard ("" none or unknown) */
	char tags[REGISTRY_MAX_TAGS + 1];
	int64_t rev;                    /* the stored row's revision: bumped by each
					 * write, so that a stale copy cannot overwrite
					 * a newer row (relay/store.h) */
	bool from_file;                 /* loaded from a --tunnels file: never stored */
	bool deleted;                   /* closed and deleted: hidden from the APIs; saving it
					 * removes its row from the store */
};

/* Each tunnel is its own allocation, so a pointer to one stays valid while
 * others are added (the server keeps such pointers in its connections). */
struct registry {
	struct registry_tunnel **tunnels;
	size_t n;
	size_t cap;
	/* Constant-time look-ups (issue 13: a scan of every tunnel per handshake
	 * was a third of the relay's admission CPU at 5000 tunnels). */
	struct registry_index by_token; /* token hash's first 8 bytes -> (tunnel, side) */
	struct registry_index by_id;    /* FNV-1a of the id -> tunnel */
	struct registry_index by_thing; /* FNV-1a of the thing name -> its tunnels */
	/* Called after each insert (the server schedules the tunnel's expiry). */
	void (*inserted)(void *arg, struct registry_tunnel *t);
	void *inserted_arg;
};

void registry_init(struct registry *r);
/* Frees the array (wiping hashes and client tokens). */
void registry_free(struct registry *r);

/* Adds a tunnel. id: 1..64 of [A-Za-z0-9_-], not already present; 1..3
 * valid, distinct service ids; two distinct valid access tokens, neither
 * used by any side of another tunnel. Returns 0, or -1 with a reason in err
 * (which never contains a token) and the registry unchanged. */
int registry_add(struct registry *r, const char *id, const char *const *services,
		 size_t n_services, const char *source_token,
		 const char *destination_token, char *err, size_t err_cap);

/* The largest --tunnels file: 64 MiB is about 300,000 tunnels, past what
 * one relay serves (two descriptors each); cJSON holds the whole tree, a
 * few times the file's size, while it loads. */
#define REGISTRY_FILE_MAX (64u * 1024u * 1024u)
#define REGISTRY_FILE_MAX_TEXT "64 MiB"

/* Loads {"tunnels":[{"id":…,"services":[…],"sourceAccessToken":…,
 * "destinationAccessToken":…}, …]} (cJSON; at most 64 MiB; unknown keys are
 * ignored) and appends its tunnels. All or nothing: returns the number of
 * tunnels added, or -1 with a reason naming the file and the entry
 * ("FILE: tunnels[2].services: …") and the registry unchanged. */
int registry_load_file(struct registry *r, const char *path, char *err, size_t err_cap);

/* Finds the tunnel and side whose token hash matches token: hashes it once,
 * then compares the full hash (CRYPTO_memcmp) with the few stored hashes
 * that share its first 8 bytes. The time taken depends only on the hash of
 * the token presented, never on how much of a stored token it matches.
 * NULL when none does (*side is then left alone); side may be NULL. */
struct registry_tunnel *registry_find_token(struct registry *r, const char *token,
					    size_t len, enum tunnel_side *side);

struct registry_tunnel *registry_find_id(struct registry *r, const char *id);

/* Open tunnels of thing (not closed, not deleted, not past their expiry at
 * now): walks that thing's tunnels only, through the by_thing index.
 * listed (may be NULL) gets the number not deleted, closed ones included. */
size_t registry_open_for_thing(const struct registry *r, const char *thing, int64_t now,
			       size_t *listed);

/* Takes ownership of t (malloc'd, fully filled in: id unique, hashes set).
 * Returns 0, or -1 when memory runs out or the id or a token hash is
 * already taken (t is then not taken). */
int registry_insert(struct registry *r, struct registry_tunnel *t, char *err, size_t err_cap);

/* Gives side of t a new token hash, keeping the index in step (t may be a
 * tunnel not inserted yet). Returns 0, or -1 when memory runs out (t is
 * then unchanged). */
int registry_set_token_hash(struct registry *r, struct registry_tunnel *t, enum tunnel_side side,
			    const uint8_t hash[TOKEN_HASH_LEN]);

/* Takes t out of the registry (order of the others kept) and frees it,
 * wiping its hashes. */
void registry_remove(struct registry *r, struct registry_tunnel *t);

/* A tunnel id: 1..64 of [A-Za-z0-9_-]. */
bool registry_id_valid(const char *id);

/* True when another side of any tunnel already has this hash. */
bool registry_hash_in_use(const struct registry *r, const uint8_t hash[TOKEN_HASH_LEN]);

const char *tunnel_side_name(enum tunnel_side side); /* "source" / "destination" */

#endif
