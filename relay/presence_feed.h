/* Presence messages from the broker into the things table and the store.
 * The notifier (relay/notify.c) hands every message on the presence filter
 * to presence_feed_message, on the loop thread. A change is kept in memory
 * at once and saved through the store (never waiting for it); a message
 * that changes nothing (a retained one delivered again) is not saved. */
#ifndef RELAY_PRESENCE_FEED_H
#define RELAY_PRESENCE_FEED_H

#include <stddef.h>
#include <stdint.h>

struct things;
struct store;

struct presence_feed {
	struct things *things;
	struct store *store;    /* NULL: presence is not persisted */
	const char *filter;     /* the subscription, e.g. tunnels/presence/+ */
};

/* One message (payload NULL: larger than the notifier reads). */
void presence_feed_message(void *feed, const char *topic, const char *payload, size_t len);

/* Loads the kept presence of every thing from the store into feed->things
 * (at start-up, blocking). Returns the number, or -1 with a reason. */
int presence_feed_load(struct presence_feed *feed, char *err, size_t err_cap);

#endif
