#include "relay/things.h"

#include <stdlib.h>
#include <string.h>

/* Entries live in an array in insertion order (things_each walks it); an
 * open-addressing table of indexes into it finds them by name. Things are
 * never removed, so no tombstones. */
struct things {
	struct thing_presence **entries;
	size_t n, cap;
	size_t *slots;      /* index + 1; 0: free */
	size_t n_slots;     /* 0 or a power of two, kept at least twice n */
};

/* FNV-1a: names are checked thing names; a device can only publish under
 * its own (the broker's ACL), so nobody picks colliding names at will. */
static uint64_t name_bits(const char *name)
{
	uint64_t h = 0xcbf29ce484222325u;
	for (; *name; name++)
		h = (h ^ (uint8_t)*name) * 0x100000001b3u;
	return h;
}

struct things *things_new(void)
{
	return calloc(1, sizeof(struct things));
}

void things_free(struct things *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		free(t->entries[i]);
	free(t->entries);
	free(t->slots);
	free(t);
}

/* The slot holding name, or the free slot where it would go. */
static size_t probe(const struct things *t, const char *name)
{
	size_t mask = t->n_slots - 1, i = (size_t)(name_bits(name) & mask);
	while (t->slots[i] && strcmp(t->entries[t->slots[i] - 1]->name, name))
		i = (i + 1) & mask;
	return i;
}

const struct thing_presence *things_find(const struct things *t, const char *name)
{
	if (!t || !t->n_slots)
		return NULL;
	size_t i = probe(t, name);
	return t->slots[i] ? t->entries[t->slots[i] - 1] : NULL;
}

static int grow_slots(struct things *t)
{
	size_t n_slots = t->n_slots ? t->n_slots * 2 : 64;
	size_t *slots = calloc(n_slots, sizeof(*slots));
	if (!slots)
		return -1;
	free(t->slots);
	t->slots = slots;
	t->n_slots = n_slots;
	for (size_t k = 0; k < t->n; k++)
		t->slots[probe(t, t->entries[k]->name)] = k + 1;
	return 0;
}

const struct thing_presence *things_put(struct things *t, const struct thing_presence *p)
{
	if (t->n_slots) {
		size_t i = probe(t, p->name);
		if (t->slots[i]) {
			struct thing_presence *e = t->entries[t->slots[i] - 1];
			memcpy(e, p, sizeof(*e));
			return e;
		}
	}
	if (t->n >= THINGS_MAX)
		return NULL;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct thing_presence **entries = realloc(t->entries, cap * sizeof(*entries));
		if (!entries)
			return NULL;
		t->entries = entries;
		t->cap = cap;
	}
	if (2 * (t->n + 1) > t->n_slots && grow_slots(t))
		return NULL;
	struct thing_presence *e = malloc(sizeof(*e));
	if (!e)
		return NULL;
	memcpy(e, p, sizeof(*e));
	t->entries[t->n] = e;
	t->slots[probe(t, p->name)] = ++t->n;
	return e;
}

void things_each(const struct things *t, void (*fn)(void *arg, const struct thing_presence *),
		 void *arg)
{
	for (size_t i = 0; t && i < t->n; i++)
		fn(arg, t->entries[i]);
}

size_t things_count(const struct things *t)
{
	return t ? t->n : 0;
}

const char *thing_state_name(enum thing_state s)
{
	return s == THING_ONLINE ? "online" : s == THING_OFFLINE ? "offline" : "unknown";
}
