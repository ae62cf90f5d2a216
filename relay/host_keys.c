#include "relay/host_keys.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "relay/registry.h"
#include "relay/store.h"

struct host_key {
	char thing[REGISTRY_MAX_THING + 1];
	char fp[STORE_MAX_FINGERPRINT + 1];
};

/* A plain array: one look-up per terminal opened, a few thousand things at
 * most; a scan costs nothing next to spawning the helper. */
struct host_keys {
	struct store *store;
	struct host_key *keys;
	size_t n, cap;
};

struct host_keys *host_keys_new(struct store *store)
{
	struct host_keys *k = calloc(1, sizeof(*k));
	if (k)
		k->store = store;
	return k;
}

void host_keys_free(struct host_keys *k)
{
	if (!k)
		return;
	free(k->keys);
	free(k);
}

static struct host_key *find(const struct host_keys *k, const char *thing)
{
	for (size_t i = 0; i < k->n; i++)
		if (!strcmp(k->keys[i].thing, thing))
			return &k->keys[i];
	return NULL;
}

const char *host_keys_find(const struct host_keys *k, const char *thing)
{
	const struct host_key *h = find(k, thing);
	return h ? h->fp : NULL;
}

/* Sets thing's key in memory only. */
static int set(struct host_keys *k, const char *thing, const char *fp)
{
	if (strlen(thing) > REGISTRY_MAX_THING || strlen(fp) > STORE_MAX_FINGERPRINT)
		return -1;
	struct host_key *h = find(k, thing);
	if (!h) {
		if (k->n == k->cap) {
			size_t cap = k->cap ? k->cap * 2 : 16;
			struct host_key *grown = realloc(k->keys, cap * sizeof(*grown));
			if (!grown)
				return -1;
			k->keys = grown;
			k->cap = cap;
		}
		h = &k->keys[k->n++];
		strcpy(h->thing, thing);
	}
	strcpy(h->fp, fp);
	return 0;
}

static int load_one(void *arg, const char *thing, const char *fp)
{
	return set(arg, thing, fp);
}

int host_keys_load(struct host_keys *k, char *err, size_t err_cap)
{
	if (!k->store)
		return 0;
	return store_load_host_keys(k->store, load_one, k, err, err_cap);
}

int host_keys_remember(struct host_keys *k, const char *thing, const char *fp)
{
	if (set(k, thing, fp)) {
		log_error("thing %s: cannot remember its SSH host key: out of memory or too long", thing);
		return -1;
	}
	store_keep_host_key_logged(k->store, thing, fp);
	return 0;
}

int host_keys_forget(struct host_keys *k, const char *thing)
{
	struct host_key *h = find(k, thing);
	if (!h)
		return 0;
	*h = k->keys[--k->n];
	store_keep_host_key_logged(k->store, thing, "");
	return 1;
}
