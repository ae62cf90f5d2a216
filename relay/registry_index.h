/* An open-addressing hash table of (tunnel, slot number) pairs, keyed by
 * 64 bits the caller derives from the real key: the registry keeps one
 * for token hashes (the first 8 bytes of the SHA-256, already uniform)
 * and one for tunnel ids. Several entries may share key bits: the caller
 * walks the candidates and compares its full key. Pure, no I/O. */
#ifndef RELAY_REGISTRY_INDEX_H
#define RELAY_REGISTRY_INDEX_H

#include <stddef.h>
#include <stdint.h>

struct registry_tunnel;

struct index_slot {
	uint64_t bits;
	struct registry_tunnel *tunnel; /* NULL: the slot is free */
	int which;                      /* the caller's: the side, or 0 */
};

struct registry_index {
	struct index_slot *slots;
	size_t cap;                     /* 0 or a power of two */
	size_t n;
};

void registry_index_init(struct registry_index *ix);
void registry_index_free(struct registry_index *ix);
/* Returns 0, or -1 when memory runs out (the index is then unchanged). */
int registry_index_add(struct registry_index *ix, uint64_t bits, struct registry_tunnel *t,
		       int which);
/* Removes the entry (bits, t, which) if present. */
void registry_index_remove(struct registry_index *ix, uint64_t bits,
			   const struct registry_tunnel *t, int which);
/* Candidates for bits: start with *cursor = 0, call until NULL. */
const struct index_slot *registry_index_next(const struct registry_index *ix, uint64_t bits,
					     size_t *cursor);

#endif
