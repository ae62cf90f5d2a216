/* Several relay nodes on one shared database (PostgreSQL): the decisions,
 * without I/O. What to do when another node changed a tunnel (a verdict the
 * caller acts on: insert it, close it, take new tokens and drop the sides
 * that used the old ones, let go of sides now owned elsewhere), how to take
 * such a row into the registry, and which handshake misses to look up in
 * the database (a short memory of misses, so that a client retrying a bad
 * token, or many of them, does not cost a query each time).
 * docs/architecture.md, "Several nodes"; a node's name: store_rows.h. */
#ifndef RELAY_CLUSTER_H
#define RELAY_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/token.h"
#include "proto/ws_codec.h"
#include "relay/registry.h"

/* WebSocket close codes of the cluster (RFC 6455 §7.4.1, IANA registry). */
#define CLUSTER_CLOSE_LOST 1008      /* policy violation: the side is another node's */
#define CLUSTER_CLOSE_LET_GO WS_CLOSE_SERVICE_RESTART /* 1012: reconnect (to the owner) */

/* What to do about another node's change to a tunnel (or a row found by a
 * handshake's look-up). */
struct cluster_plan {
	bool insert;          /* unknown here: insert a copy of the row */
	bool update;          /* known here: take the row (cluster_take_row) */
	bool close;           /* open here, closed or gone there: drop its sides here */
	bool forget;          /* gone there (deleted or purged): hide it from the APIs */
	bool rotated[2];      /* the side's token changed: drop it here (as a local rotate) */
	bool lost[2];         /* connected here, but another client holds the side there */
	bool let_go[2];       /* connected here while another node owns the tunnel */
};

/* mine: the tunnel as this node has it (NULL: unknown); connected: its sides
 * connected here; row: the stored row (NULL: gone); owner: the node that
 * last admitted a side ("" none, NULL unknown: a look-up's row). */
struct cluster_plan cluster_plan(const struct registry_tunnel *mine, const bool connected[2],
				 const struct registry_tunnel *row, const char *owner,
				 const char *node_id);

/* A copy of row to insert (malloc'd; NULL when memory runs out). */
struct registry_tunnel *cluster_copy_row(const struct registry_tunnel *row);

/* Makes mine what row says, as plan decided (plan->update or ->forget):
 * new token hashes through the registry's index, a side's own use kept
 * while the row does not have it used yet (our claim on its way), a closed
 * tunnel never reopened. Returns 0, or -1 when memory runs out for the
 * index (the source's new hash may be in place then; nothing else is). */
int cluster_take_row(struct registry *r, struct registry_tunnel *mine,
		     const struct registry_tunnel *row, const struct cluster_plan *plan,
		     int64_t now);

/* ---- which node answers for a side ------------------------------------------ */

/* Whether side of t is connected, as any node answers the APIs: here (the
 * side is connected to this node) says yes; else, when another node owns
 * the tunnel (t->owner as last heard), that node's saved flag (a dead node
 * leaves it true until the ends reconnect elsewhere and the new owner
 * saves). node_id NULL (a store of its own) or owner "" or this node: here
 * alone, as a single node always answered. */
bool cluster_side_connected(const struct registry_tunnel *t, enum tunnel_side side, bool here,
			    const char *node_id);

/* Whether a side leaving this node may save the tunnel. Not when another
 * node owns it now: this node let go (or lost the side), has just taken
 * the owner's row and so would win the rev check, and its "disconnected"
 * would overwrite the owner's "connected" for ends that moved there. The
 * owner saves what its ends do; the side_changed_at this node would have
 * written is the owner's to write too. */
bool cluster_saves_leaving(const struct registry_tunnel *t, const char *node_id);

/* ---- handshake misses ------------------------------------------------------ */

#define CLUSTER_MISS_SLOTS 1024
#define CLUSTER_MISS_WAYS 4          /* slots a hash may sit in */
#define CLUSTER_MISS_KEEP_MS 5000    /* a miss is remembered this long */
#define CLUSTER_MAX_LOOKUPS 64       /* look-ups in flight at once */

enum cluster_miss_state { CLUSTER_MISS_FREE, CLUSTER_MISS_PENDING, CLUSTER_MISS_REMEMBERED };

struct cluster_misses;

struct cluster_miss {
	uint8_t hash[TOKEN_HASH_LEN];
	enum cluster_miss_state state;
	int64_t until_ms;             /* REMEMBERED: until when */
	struct cluster_misses *set;   /* a look-up's callback gets the slot: its set */
};

struct cluster_misses {
	struct cluster_miss slot[CLUSTER_MISS_SLOTS];
	size_t pending;
	void *owner;                  /* the caller's (the handshake) */
};

void cluster_misses_init(struct cluster_misses *m, void *owner);

enum cluster_miss_verdict {
	CLUSTER_LOOK_UP,    /* *slot is reserved: look the hash up with it, then cluster_miss_done */
	CLUSTER_WAIT,       /* a look-up of it is in flight, or too many are: retry later (503) */
	CLUSTER_UNKNOWN,    /* looked up and missed a moment ago: unknown (401) */
};

/* A handshake's token hash unknown in memory at now_ms. */
enum cluster_miss_verdict cluster_miss_check(struct cluster_misses *m,
					     const uint8_t hash[TOKEN_HASH_LEN], int64_t now_ms,
					     struct cluster_miss **slot);
/* The look-up of slot is over: remember a miss (found == false and the
 * database answered) for CLUSTER_MISS_KEEP_MS, else free the slot. */
void cluster_miss_done(struct cluster_miss *slot, bool remember, int64_t now_ms);

#endif
