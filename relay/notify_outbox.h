/* Device notifications waiting for the MQTT broker. A notification that
 * could not be published (no broker, no acknowledgement) is kept here and
 * in the store, and published again once the broker is connected (checked
 * every tick, so also at start-up with what the store kept); it goes when
 * the broker acknowledges it, or as soon as it is no longer current (its
 * tunnel closed or expired, or its destination token rotated again),
 * checked at every tick and again just before publishing. A notification
 * the broker refuses (its ACL) is not retried: it is logged (WARN), its
 * token wiped and its row deleted, and it shows as failed until its tunnel
 * closes or gets another notification.
 *
 * Several relay nodes sharing one database (PostgreSQL) share the table of
 * kept notifications too: so that one kept by a node that died is still
 * sent, every node reads the whole table on the store's thread every
 * NOTIFY_OUTBOX_READ_S and right after its broker connection comes (back),
 * and adopts the rows it holds nothing for that were kept at least
 * PENDING_ADOPT_AFTER_S ago (pending_notification_adopt); an adopted one is
 * then sent or dropped like its own. Before publishing one another node may
 * hold too (adopted, or its own kept PENDING_TAKE_AFTER_S ago), the outbox
 * takes it (store_take_notification: one node wins, only while its token is
 * current); one whose take is lost is forgotten, its row left alone. With a
 * store no other node shares (SQLite) nothing is read or taken.
 *
 * Loop thread only. */
#ifndef RELAY_NOTIFY_OUTBOX_H
#define RELAY_NOTIFY_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay/pending_notification.h"
#include "relay/registry.h"
#include "relay/store.h"

/* How often the shared table is read (seconds). */
#define NOTIFY_OUTBOX_READ_S 30

struct notifier;
struct notify_outbox;

struct notify_outbox *notify_outbox_new(struct registry *registry, struct store *store);
/* Publishes through n from now on (NULL: stops publishing, before the
 * notifier goes away; in-flight ones wait again). */
void notify_outbox_set_notifier(struct notify_outbox *ob, struct notifier *n);
/* Wipes every token and frees ob. NULL does nothing. */
void notify_outbox_free(struct notify_outbox *ob);

/* Takes pn as loaded from the store (not written again). 0, or -1 when
 * memory runs out. Matches store_each_notification_fn. */
int notify_outbox_adopt(void *ob, const struct pending_notification *pn);

/* Keeps pn, replacing (and wiping) what was kept for its tunnel, and keeps
 * it in the store: returns 0 with done(ctx, err) to come once it is written,
 * 1 when there is no store (kept in memory only, no callback), or -1 with a
 * reason in err (nothing kept). */
int notify_outbox_keep(struct notify_outbox *ob, const struct pending_notification *pn,
		       store_done_fn done, void *ctx, char *err, size_t err_cap);
/* A newer notification for the tunnel reached the broker, or the broker
 * refused one (failed: detail says why, kept for display without token),
 * or it is no longer wanted (failed false, detail NULL): what was kept
 * for it goes. */
void notify_outbox_settle(struct notify_outbox *ob, const char *tunnel_id, bool failed,
			  const char *detail);

/* Drops what is no longer current and publishes what waits when the broker
 * is connected; reads other nodes' when due. Call about once a second. */
void notify_outbox_tick(struct notify_outbox *ob, int64_t now);

/* What is kept for a tunnel, for GET /api/v1/tunnels/ID. */
struct notify_outbox_state {
	bool failed;            /* refused by the broker; else pending */
	bool sending;           /* a publish is waiting for the broker */
	int64_t since;
	char detail[200];
};
/* False when nothing is kept for tunnel_id. */
bool notify_outbox_state(const struct notify_outbox *ob, const char *tunnel_id,
			 struct notify_outbox_state *out);

#endif
