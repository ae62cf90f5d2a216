/* The PostgreSQL store's map of tunnel ids to the revs this node knows. */
#include "relay/store_pg_known.h"

#include <stdlib.h>
#include <string.h>

#include "common/text.h"

static size_t id_bucket(const char *id)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *id; id++)
		h = (h ^ (uint8_t)*id) * 16777619u;
	return h % KNOWN_BUCKETS;
}

static struct known_row **slot(struct known_rows *m, const char *id)
{
	struct known_row **p = &m->bucket[id_bucket(id)];
	while (*p && strcmp((*p)->id, id) != 0)
		p = &(*p)->next;
	return p;
}

struct known_row *known_find(struct known_rows *m, const char *id)
{
	return *slot(m, id);
}

struct known_row *known_get(struct known_rows *m, const char *id)
{
	struct known_row **p = slot(m, id);
	if (*p)
		return *p;
	struct known_row *k = calloc(1, sizeof(*k));
	if (k == NULL)
		return NULL;
	k->rev = KNOWN_REV_UNKNOWN;
	k->seen = m->reload;
	textf(k->id, sizeof(k->id), "%s", id);
	*p = k;
	return k;
}

void known_set(struct known_rows *m, const char *id, int64_t rev)
{
	struct known_row *k = known_get(m, id);
	if (k)
		k->rev = rev;
}

void known_remove(struct known_rows *m, const char *id)
{
	struct known_row **p = slot(m, id);
	struct known_row *k = *p;
	if (k) {
		*p = k->next;
		free(k);
	}
}

void known_free(struct known_rows *m)
{
	for (size_t i = 0; i < KNOWN_BUCKETS; i++)
		while (m->bucket[i]) {
			struct known_row *k = m->bucket[i];
			m->bucket[i] = k->next;
			free(k);
		}
}

unsigned known_begin_reload(struct known_rows *m)
{
	return ++m->reload;
}

void known_drop_unseen(struct known_rows *m, unsigned seen,
		       void (*gone)(void *arg, const char *id), void *arg)
{
	for (size_t i = 0; i < KNOWN_BUCKETS; i++) {
		struct known_row **p = &m->bucket[i];
		while (*p) {
			struct known_row *k = *p;
			if (k->seen == seen) {
				p = &k->next;
				continue;
			}
			*p = k->next;
			char id[REGISTRY_MAX_ID + 1];
			memcpy(id, k->id, sizeof(id));
			free(k);
			gone(arg, id);
		}
	}
}
