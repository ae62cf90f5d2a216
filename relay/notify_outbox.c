#include "relay/notify_outbox.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "relay/notify.h"

/* WAITING -> (TAKING ->) SENDING -> gone; TAKING: store_take_notification
 * is on the store's thread (at most one per entry). */
enum entry_state { ENTRY_WAITING, ENTRY_TAKING, ENTRY_SENDING, ENTRY_FAILED };

struct entry {
	struct entry *next;
	struct notify_outbox *ob;
	enum entry_state state;
	bool adopted;               /* not kept by this node: taken before it is sent */
	int64_t taking_at;          /* the since a take under way sets */
	struct pending_notification pn; /* token wiped once failed */
	char detail[200];
};

struct notify_outbox {
	struct registry *registry;
	struct store *store;        /* NULL: nothing persisted */
	struct notifier *notifier;  /* NULL: nothing published */
	struct entry *head;
	/* Reading the shared table (see notify_outbox.h). */
	bool unshared;              /* the store said no other node shares it */
	bool reading;               /* a reading is on the store's thread */
	bool stale_reading;         /* an entry went meanwhile: its row may be in it */
	bool was_connected;         /* the broker, at the last tick */
	int64_t next_read;          /* when to read again */
	int64_t now;                /* the last tick's time, for the rows read */
};

struct notify_outbox *notify_outbox_new(struct registry *registry, struct store *store)
{
	struct notify_outbox *ob = calloc(1, sizeof(*ob));
	if (ob) {
		ob->registry = registry;
		ob->store = store;
	}
	return ob;
}

static void entry_free(struct entry *e)
{
	pending_notification_wipe(&e->pn);
	free(e);
}

/* No callback will come for e's take or publish under way. */
static void cancel_in_flight(struct notify_outbox *ob, struct entry *e)
{
	if (e->state == ENTRY_SENDING && ob->notifier)
		notifier_forget(ob->notifier, e);
	if (e->state == ENTRY_TAKING)
		store_forget(ob->store, e);
}

/* Unlinks and frees e, cancelling its publish and deleting its row. */
static void remove_entry(struct notify_outbox *ob, struct entry *e, bool delete_row)
{
	for (struct entry **p = &ob->head; *p; p = &(*p)->next) {
		if (*p == e) {
			*p = e->next;
			break;
		}
	}
	cancel_in_flight(ob, e);
	/* A reading under way may hold the row deleted now (or replaced):
	 * taking it back would send it twice. */
	if (ob->reading)
		ob->stale_reading = true;
	if (delete_row)
		store_drop_notification_logged(ob->store, &e->pn);
	entry_free(e);
}

static struct entry *find(const struct notify_outbox *ob, const char *tunnel_id)
{
	for (struct entry *e = ob->head; e; e = e->next)
		if (!strcmp(e->pn.tunnel_id, tunnel_id))
			return e;
	return NULL;
}

void notify_outbox_set_notifier(struct notify_outbox *ob, struct notifier *n)
{
	for (struct entry *e = ob->head; e; e = e->next) {
		if (e->state == ENTRY_SENDING) {
			if (ob->notifier)
				notifier_forget(ob->notifier, e);
			e->state = ENTRY_WAITING;
		}
	}
	ob->notifier = n;
}

void notify_outbox_free(struct notify_outbox *ob)
{
	if (!ob)
		return;
	if (ob->reading)
		store_forget(ob->store, ob);
	while (ob->head)
		remove_entry(ob, ob->head, false);
	free(ob);
}

/* Puts a copy of pn in, replacing what was kept for its tunnel. */
static struct entry *put(struct notify_outbox *ob, const struct pending_notification *pn)
{
	struct entry *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	struct entry *old = find(ob, pn->tunnel_id);
	if (old)
		remove_entry(ob, old, false); /* its row is replaced, not deleted */
	e->ob = ob;
	e->pn = *pn;
	e->state = ENTRY_WAITING;
	snprintf(e->detail, sizeof(e->detail), "%s", "broker unreachable; will be sent when it is back");
	e->next = ob->head;
	ob->head = e;
	return e;
}

int notify_outbox_adopt(void *arg, const struct pending_notification *pn)
{
	struct entry *e = put(arg, pn);
	if (e)
		e->adopted = true; /* kept before a restart, maybe by another node */
	return e ? 0 : -1;
}

int notify_outbox_keep(struct notify_outbox *ob, const struct pending_notification *pn,
		       store_done_fn done, void *ctx, char *err, size_t err_cap)
{
	if (ob->store && store_keep_notification(ob->store, pn, done, ctx, err, err_cap))
		return -1;
	if (!put(ob, pn)) {
		/* The row is written but nothing here would send it: take it back. */
		store_drop_notification_logged(ob->store, pn);
		if (ob->store)
			store_forget(ob->store, ctx);
		snprintf(err, err_cap, "%s", "out of memory");
		return -1;
	}
	return ob->store ? 0 : 1;
}

void notify_outbox_settle(struct notify_outbox *ob, const char *tunnel_id, bool failed,
			  const char *detail)
{
	struct entry *e = find(ob, tunnel_id);
	if (!failed) {
		if (e)
			remove_entry(ob, e, true);
		return;
	}
	if (!e) {
		/* Only the tunnel's id and thing matter for display. */
		const struct registry_tunnel *t = registry_find_id(ob->registry, tunnel_id);
		e = calloc(1, sizeof(*e));
		if (!e || !t) {
			free(e);
			return;
		}
		e->ob = ob;
		snprintf(e->pn.tunnel_id, sizeof(e->pn.tunnel_id), "%s", t->id);
		snprintf(e->pn.thing, sizeof(e->pn.thing), "%s", t->thing);
		e->next = ob->head;
		ob->head = e;
	} else {
		cancel_in_flight(ob, e);
		store_drop_notification_logged(ob->store, &e->pn);
	}
	/* Refused: never sent again, so the token has no reason to stay. */
	pending_notification_wipe_token(&e->pn);
	e->state = ENTRY_FAILED;
	snprintf(e->detail, sizeof(e->detail), "%s", detail ? detail : "refused");
}

static void on_published(void *arg, enum notify_outcome outcome, const char *detail)
{
	struct entry *e = arg;
	struct notify_outbox *ob = e->ob;
	switch (outcome) {
	case NOTIFY_DELIVERED:
		log_info("tunnel %s: notified device %s over MQTT (it had waited for the broker)",
			 e->pn.tunnel_id, e->pn.thing);
		remove_entry(ob, e, true);
		return;
	case NOTIFY_RETRY:
		e->state = ENTRY_WAITING;
		log_debug("tunnel %s: notification still waiting: %s", e->pn.tunnel_id, detail);
		return;
	case NOTIFY_REFUSED:
		log_warn("tunnel %s: giving up notifying device %s: %s", e->pn.tunnel_id, e->pn.thing,
			 detail);
		notify_outbox_settle(ob, e->pn.tunnel_id, true, detail);
		return;
	}
}

static void send_or_drop(struct notify_outbox *ob, struct entry *e, int64_t now);

/* The take's outcome (store_take_notification), on the loop thread. */
static void on_taken(void *arg, const char *err)
{
	struct entry *e = arg;
	struct notify_outbox *ob = e->ob;
	e->state = ENTRY_WAITING;
	if (err && store_error_lost_race(err)) {
		/* Another node holds the row (or sent it), or the token is stale
		 * in the database: either way not this node's to send. The row
		 * stays: it is the other node's, or goes with its tunnel. */
		enum pending_verdict v = pending_notification_check(&e->pn, ob->registry, ob->now);
		log_info("tunnel %s: leaving its waiting notification: %s", e->pn.tunnel_id,
			 v == PENDING_CURRENT ? "another node took it over (or sent it)"
					      : "its token is no longer current");
		remove_entry(ob, e, false);
		return;
	}
	if (err) {
		if (store_error_unavailable(err))
			log_debug("tunnel %s: cannot take its waiting notification yet: %s",
				  e->pn.tunnel_id, err);
		else
			log_warn("tunnel %s: cannot take its waiting notification: %s",
				 e->pn.tunnel_id, err);
		return; /* a later tick tries again */
	}
	/* The row is this node's now, young again: sent directly (the
	 * conditional delete matches on the token, which is unchanged). */
	log_info("tunnel %s: took its waiting notification in the database; sending it",
		 e->pn.tunnel_id);
	e->pn.since = e->taking_at;
	e->adopted = false;
	send_or_drop(ob, e, ob->now);
}

/* Starts the take of e: true when it is under way (or e is gone). */
static bool take_first(struct notify_outbox *ob, struct entry *e, int64_t now)
{
	if (!ob->store || ob->unshared || !pending_notification_take_first(&e->pn, e->adopted, now))
		return false;
	const struct registry_tunnel *t = registry_find_id(ob->registry, e->pn.tunnel_id);
	if (t && t->from_file)
		return false; /* configuration, in no node's table of tunnels: nothing to take */
	char err[256];
	int rc = store_take_notification(ob->store, &e->pn, now, on_taken, e, err, sizeof(err));
	if (rc == 1) {
		ob->unshared = true;
		return false;
	}
	if (rc != 0) {
		log_warn("tunnel %s: cannot take its waiting notification: %s", e->pn.tunnel_id, err);
		return true; /* a later tick tries again */
	}
	e->state = ENTRY_TAKING;
	e->taking_at = now;
	return true;
}

/* Publishes e if it is still current (taking it first when another node
 * may hold it too); drops it if not. */
static void send_or_drop(struct notify_outbox *ob, struct entry *e, int64_t now)
{
	enum pending_verdict v = pending_notification_check(&e->pn, ob->registry, now);
	if (v != PENDING_CURRENT) {
		log_info("tunnel %s: dropping its waiting notification: %s", e->pn.tunnel_id,
			 pending_verdict_text(v));
		remove_entry(ob, e, true);
		return;
	}
	if (e->state != ENTRY_WAITING || !ob->notifier || !notifier_connected(ob->notifier))
		return;
	if (take_first(ob, e, now))
		return;
	const char *services[TUNNEL_MAX_SERVICES];
	for (size_t i = 0; i < e->pn.n_services; i++)
		services[i] = e->pn.services[i];
	if (notifier_publish(ob->notifier, e->pn.thing, e->pn.tunnel_id, e->pn.token, services,
			     e->pn.n_services, on_published, e) == 0)
		e->state = ENTRY_SENDING;
}

static void read_shared(struct notify_outbox *ob, int64_t now);

void notify_outbox_tick(struct notify_outbox *ob, int64_t now)
{
	ob->now = now;
	read_shared(ob, now);
	struct entry *e = ob->head;
	while (e) {
		struct entry *next = e->next;
		if (e->state == ENTRY_FAILED) {
			enum pending_verdict v = pending_notification_check(&e->pn, ob->registry, now);
			if (v != PENDING_CURRENT && v != PENDING_TOKEN_ROTATED)
				remove_entry(ob, e, false);
		} else {
			send_or_drop(ob, e, now);
		}
		e = next;
	}
}

bool notify_outbox_state(const struct notify_outbox *ob, const char *tunnel_id,
			 struct notify_outbox_state *out)
{
	const struct entry *e = ob ? find(ob, tunnel_id) : NULL;
	if (!e)
		return false;
	out->failed = e->state == ENTRY_FAILED;
	out->sending = e->state == ENTRY_SENDING;
	out->since = e->pn.since;
	snprintf(out->detail, sizeof(out->detail), "%s", e->detail);
	return true;
}

/* ---- other nodes' kept notifications ------------------------------------- */

/* A row of the shared table: adopted by the rule of pending_notification.h. */
static int consider_row(void *arg, const struct pending_notification *row)
{
	struct notify_outbox *ob = arg;
	if (ob->stale_reading)
		return 1; /* the next reading will do */
	bool known = registry_find_id(ob->registry, row->tunnel_id) != NULL;
	if (pending_notification_adopt(row, find(ob, row->tunnel_id) != NULL, known, ob->now) !=
	    PENDING_ADOPT)
		return 0;
	struct entry *e = put(ob, row);
	if (!e) {
		log_warn("tunnel %s: cannot take over its waiting notification: out of memory",
			 row->tunnel_id);
		return 0;
	}
	e->adopted = true;
	log_info("tunnel %s: took over the notification kept for device %s %" PRId64
		 " s ago (by another node, or before a restart)",
		 row->tunnel_id, row->thing, ob->now - row->since);
	return 0;
}

static void read_done(void *arg, const char *err)
{
	struct notify_outbox *ob = arg;
	ob->reading = false;
	if (err && store_error_unavailable(err))
		log_debug("cannot read the other nodes' kept notifications: %s", err);
	else if (err)
		log_warn("cannot read the other nodes' kept notifications: %s", err);
}

/* Starts reading the table every NOTIFY_OUTBOX_READ_S, and as soon as the
 * broker is connected again (what waited during the outage goes first). */
static void read_shared(struct notify_outbox *ob, int64_t now)
{
	/* A node without a broker could take rows over but never send them. */
	if (!ob->store || ob->unshared || !ob->notifier)
		return;
	/* While a reading runs, a reconnection is left for when it is done
	 * (was_connected not updated), not lost until the next period. */
	if (ob->reading)
		return;
	bool connected = notifier_connected(ob->notifier);
	bool reconnected = connected && !ob->was_connected;
	ob->was_connected = connected;
	if (now < ob->next_read && !reconnected)
		return;
	ob->next_read = now + NOTIFY_OUTBOX_READ_S;
	char err[256];
	int rc = store_list_notifications(ob->store, consider_row, read_done, ob, err, sizeof(err));
	if (rc == 1)
		ob->unshared = true;
	else if (rc == 0) {
		ob->reading = true;
		ob->stale_reading = false;
	}
	else
		read_done(ob, err);
}
