/* The data plane's look-up from a registry tunnel to its live state: an
 * open-addressing hash table keyed by the tunnel's address, so that finding
 * a connected tunnel costs the same with 10 tunnels or 10,000, and the
 * registry stores only registry facts. Pure (no I/O); grows by doubling. */
#ifndef RELAY_LIVE_INDEX_H
#define RELAY_LIVE_INDEX_H

#include <stddef.h>

struct live_slot {
	const void *key;     /* NULL: free */
	void *value;
};

struct live_index {
	struct live_slot *slot;
	size_t cap;          /* a power of two, or 0 */
	size_t n;
};

void live_index_free(struct live_index *x);
/* The value kept for key, or NULL. */
void *live_index_get(const struct live_index *x, const void *key);
/* Keeps value for key (replacing any). Returns 0, or -1 when memory runs out
 * (the index is then unchanged). */
int live_index_put(struct live_index *x, const void *key, void *value);
/* Forgets key; nothing happens when it is not there. */
void live_index_del(struct live_index *x, const void *key);

#endif
