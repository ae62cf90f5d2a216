/* A device notification the broker has not acknowledged yet, kept until it
 * can be sent (relay/notify_outbox.c keeps them; the store persists them).
 * It holds the destination's access token in clear, which the relay keeps
 * nowhere else: wipe it (pending_notification_wipe) whenever one is
 * dropped. Pure: the verdict on whether one is still worth sending. */
#ifndef RELAY_PENDING_NOTIFICATION_H
#define RELAY_PENDING_NOTIFICATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay/registry.h"

/* Room for an access token (the relay mints 52 characters: RK.RANDOM, see
 * common/token.h; a --tunnels file's may differ). */
#define PENDING_TOKEN_MAX 64

struct pending_notification {
	char tunnel_id[REGISTRY_MAX_ID + 1];
	char thing[REGISTRY_MAX_THING + 1];
	size_t n_services;
	char services[TUNNEL_MAX_SERVICES][TUNNEL_MAX_SERVICE_ID + 1];
	char token[PENDING_TOKEN_MAX + 1];
	int64_t since;              /* Unix seconds: when it was first kept */
};

/* Why a kept notification is (not) to be sent. */
enum pending_verdict {
	PENDING_CURRENT,        /* send it */
	PENDING_NO_TUNNEL,      /* the tunnel is gone */
	PENDING_CLOSED,
	PENDING_EXPIRED,
	PENDING_TOKEN_ROTATED,  /* the destination has another token now */
};

/* Fills pn for tunnel t and the destination's token; -1 when the token
 * does not fit or t has no thing or services (pn is then wiped). */
int pending_notification_make(struct pending_notification *pn, const struct registry_tunnel *t,
			      const char *token, int64_t now);
/* Whether pn is still worth sending: its tunnel open, not expired, and its
 * destination token still the one in pn (compared by hash). */
enum pending_verdict pending_notification_check(const struct pending_notification *pn,
						struct registry *r, int64_t now);
/* A few words for logs: "the tunnel is closed". */
const char *pending_verdict_text(enum pending_verdict v);
/* What is wrong with pn (a row loaded from a store), or NULL. */
const char *pending_notification_problem(const struct pending_notification *pn);
void pending_notification_wipe(struct pending_notification *pn);

/* Another node's kept notifications (several relay nodes on one database):
 * every node reads the shared table now and then and adopts the rows kept
 * at least this long ago. The node that kept a row retries it every
 * second while its broker is connected, so a row that old means that node
 * is gone or cannot reach the broker either; a younger one is left to it.
 * Which node sends it is settled by the take (PENDING_TAKE_AFTER_S). */
#define PENDING_ADOPT_AFTER_S 15

/* Whether a row read from the shared table is to be adopted. */
enum pending_adopt {
	PENDING_ADOPT,          /* take a copy; the outbox's tick sends it or drops it */
	PENDING_ADOPT_HELD,     /* this node holds one for the tunnel already */
	PENDING_ADOPT_YOUNG,    /* kept too recently: its node is probably sending it */
	PENDING_ADOPT_UNKNOWN,  /* the tunnel is not (yet) known here */
};
/* The rule for a row: held says whether this node's outbox holds anything
 * for its tunnel (pending or refused: either way that copy decides, and a
 * row read before this node's newer keep must not replace it); known
 * whether the registry holds the tunnel (unknown: store_watch has not
 * brought it yet, and dropping the row as "no tunnel" would lose it). A
 * stale row (closed, expired, rotated) is adopted all the same: the tick
 * then drops it, deleting the row only if it still holds that token. */
enum pending_adopt pending_notification_adopt(const struct pending_notification *row, bool held,
					      bool known, int64_t now);
/* Before publishing, a notification another node may also hold is taken
 * (store_take_notification: one node wins the row, and only while its
 * token is current): one adopted from the shared table (or loaded at
 * start-up: kept by any node before), and this node's own once it was kept
 * this long ago. That is before others may adopt it (PENDING_ADOPT_AFTER_S),
 * with room for clocks some seconds apart, so that the keeper's direct
 * publish and another node's take never overlap. A fresher own one is
 * published directly: no extra round trip on the normal path. */
#define PENDING_TAKE_AFTER_S 10
/* Whether pn (adopted: not kept by this node) is to be taken first. */
bool pending_notification_take_first(const struct pending_notification *pn, bool adopted,
				     int64_t now);

/* Wipes the token alone (a notification that will never be sent). */
void pending_notification_wipe_token(struct pending_notification *pn);

#endif
