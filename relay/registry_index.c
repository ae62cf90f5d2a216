#include "relay/registry_index.h"

#include <stdbool.h>
#include <stdlib.h>

/* Grow at half full: linear probing stays short, and the table of N
 * tunnels' 2N tokens is 24 bytes x 4N at worst. */
#define INDEX_MIN_CAP 16

void registry_index_init(struct registry_index *ix)
{
	ix->slots = NULL;
	ix->cap = 0;
	ix->n = 0;
}

void registry_index_free(struct registry_index *ix)
{
	free(ix->slots);
	registry_index_init(ix);
}

static size_t home(const struct registry_index *ix, uint64_t bits)
{
	return (size_t)(bits & (ix->cap - 1));
}

static void place(struct index_slot *slots, size_t cap, struct index_slot e)
{
	size_t i = (size_t)(e.bits & (cap - 1));
	while (slots[i].tunnel)
		i = (i + 1) & (cap - 1);
	slots[i] = e;
}

static int grow(struct registry_index *ix)
{
	size_t cap = ix->cap ? ix->cap * 2 : INDEX_MIN_CAP;
	if (cap < ix->cap)
		return -1;
	struct index_slot *slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -1;
	for (size_t i = 0; i < ix->cap; i++)
		if (ix->slots[i].tunnel)
			place(slots, cap, ix->slots[i]);
	free(ix->slots);
	ix->slots = slots;
	ix->cap = cap;
	return 0;
}

int registry_index_add(struct registry_index *ix, uint64_t bits, struct registry_tunnel *t,
		       int which)
{
	if (2 * (ix->n + 1) > ix->cap && grow(ix))
		return -1;
	struct index_slot e = { .bits = bits, .tunnel = t, .which = which };
	place(ix->slots, ix->cap, e);
	ix->n++;
	return 0;
}

/* Is slot j's home cyclically in (i, j]? Then it may not move to i. */
static bool home_between(size_t i, size_t home_j, size_t j)
{
	return i <= j ? (i < home_j && home_j <= j) : (i < home_j || home_j <= j);
}

void registry_index_remove(struct registry_index *ix, uint64_t bits,
			   const struct registry_tunnel *t, int which)
{
	if (!ix->cap)
		return;
	size_t mask = ix->cap - 1, i = home(ix, bits);
	while (ix->slots[i].tunnel &&
	       !(ix->slots[i].tunnel == t && ix->slots[i].which == which && ix->slots[i].bits == bits))
		i = (i + 1) & mask;
	if (!ix->slots[i].tunnel)
		return;
	/* Backward shift: pull later entries of the run into the hole, so
	 * no tombstones pile up across rotations. */
	for (size_t j = (i + 1) & mask; ix->slots[j].tunnel; j = (j + 1) & mask) {
		if (home_between(i, home(ix, ix->slots[j].bits), j))
			continue;
		ix->slots[i] = ix->slots[j];
		i = j;
	}
	ix->slots[i].tunnel = NULL;
	ix->n--;
}

const struct index_slot *registry_index_next(const struct registry_index *ix, uint64_t bits,
					     size_t *cursor)
{
	if (!ix->cap)
		return NULL;
	size_t mask = ix->cap - 1;
	/* The cursor counts probes from the home slot; a run never wraps
	 * the whole table (it is at most half full). */
	for (size_t k = *cursor; k < ix->cap; k++) {
		const struct index_slot *s = &ix->slots[(home(ix, bits) + k) & mask];
		if (!s->tunnel)
			return NULL;
		if (s->bits == bits) {
			*cursor = k + 1;
			return s;
		}
	}
	return NULL;
}
