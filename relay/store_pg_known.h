/* The PostgreSQL store's memory of each tunnel row: the rev this node
 * last wrote, read or reported, and whether this node won its close. Pure
 * (a hash map of tunnel ids); the store's worker thread owns it, under the
 * store's lock. After a reconnection the store compares every row with it,
 * so that what other nodes changed meanwhile is reported (notifications
 * sent while away are lost). */
#ifndef RELAY_STORE_PG_KNOWN_H
#define RELAY_STORE_PG_KNOWN_H

#include <stdbool.h>
#include <stdint.h>

#include "relay/registry.h"

#define KNOWN_BUCKETS 1024
/* A row whose last write here failed: whatever is stored differs from
 * this node's copy. */
#define KNOWN_REV_UNKNOWN (-1)

struct known_row {
	struct known_row *next;
	int64_t rev;
	bool closed_here;   /* this node won its close: its later saves may write the
			     * closed row again */
	unsigned seen;      /* the reload that last found it */
	char id[REGISTRY_MAX_ID + 1];
};

struct known_rows {
	struct known_row *bucket[KNOWN_BUCKETS];
	unsigned reload;    /* reloads begun */
};

/* id's entry, or NULL. */
struct known_row *known_find(struct known_rows *m, const char *id);
/* id's entry, added (rev KNOWN_REV_UNKNOWN, seen by the current reload)
 * when missing; NULL when memory runs out. */
struct known_row *known_get(struct known_rows *m, const char *id);
/* Out of memory: the row is just not compared after a reconnection. */
void known_set(struct known_rows *m, const char *id, int64_t rev);
void known_remove(struct known_rows *m, const char *id);
void known_free(struct known_rows *m);

/* Starts a reload: returns its mark, for the entries it finds (->seen). */
unsigned known_begin_reload(struct known_rows *m);
/* Removes each entry the reload `seen` did not find, then calls
 * gone(arg, its id). */
void known_drop_unseen(struct known_rows *m, unsigned seen,
		       void (*gone)(void *arg, const char *id), void *arg);

#endif
