#include "relay/live_index.h"

#include <stdint.h>
#include <stdlib.h>

static size_t home(const struct live_index *x, const void *key)
{
	/* Allocations are aligned: drop the low bits, then spread the rest. */
	uint64_t h = ((uint64_t)(uintptr_t)key >> 4) * 0x9E3779B97F4A7C15ull;
	return (size_t)(h >> 32) & (x->cap - 1);
}

void live_index_free(struct live_index *x)
{
	free(x->slot);
	x->slot = NULL;
	x->cap = x->n = 0;
}

void *live_index_get(const struct live_index *x, const void *key)
{
	if (!x->cap || !key)
		return NULL;
	for (size_t i = home(x, key);; i = (i + 1) & (x->cap - 1)) {
		if (x->slot[i].key == key)
			return x->slot[i].value;
		if (!x->slot[i].key)
			return NULL;
	}
}

static void place(struct live_index *x, const void *key, void *value)
{
	size_t i = home(x, key);
	while (x->slot[i].key && x->slot[i].key != key)
		i = (i + 1) & (x->cap - 1);
	if (!x->slot[i].key)
		x->n++;
	x->slot[i].key = key;
	x->slot[i].value = value;
}

static int grow(struct live_index *x)
{
	size_t cap = x->cap ? 2 * x->cap : 64;
	struct live_slot *slot = calloc(cap, sizeof(*slot));
	if (!slot)
		return -1;
	struct live_index bigger = { slot, cap, 0 };
	for (size_t i = 0; i < x->cap; i++)
		if (x->slot[i].key)
			place(&bigger, x->slot[i].key, x->slot[i].value);
	free(x->slot);
	*x = bigger;
	return 0;
}

int live_index_put(struct live_index *x, const void *key, void *value)
{
	if (!key)
		return -1;
	/* At most half full: probe runs stay short. */
	if (2 * (x->n + 1) > x->cap && grow(x))
		return -1;
	place(x, key, value);
	return 0;
}

void live_index_del(struct live_index *x, const void *key)
{
	if (!x->cap || !key)
		return;
	size_t i = home(x, key);
	while (x->slot[i].key != key) {
		if (!x->slot[i].key)
			return;
		i = (i + 1) & (x->cap - 1);
	}
	/* Backward-shift deletion: move later entries of the run into the hole
	 * when their home allows it, so that no tombstones are needed. */
	size_t hole = i;
	for (size_t j = (hole + 1) & (x->cap - 1); x->slot[j].key; j = (j + 1) & (x->cap - 1)) {
		size_t h = home(x, x->slot[j].key);
		/* j may move to hole unless h lies cyclically in (hole, j]. */
		int stays = hole <= j ? (h > hole && h <= j) : (h > hole || h <= j);
		if (!stays) {
			x->slot[hole] = x->slot[j];
			hole = j;
		}
	}
	x->slot[hole].key = NULL;
	x->slot[hole].value = NULL;
	x->n--;
}
