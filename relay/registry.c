#include "relay/registry.h"
#include "common/text.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "proto/message.h"



void registry_init(struct registry *r)
{
	r->tunnels = NULL;
	r->n = 0;
	r->cap = 0;
	registry_index_init(&r->by_token);
	registry_index_init(&r->by_id);
	registry_index_init(&r->by_thing);
	r->inserted = NULL;
	r->inserted_arg = NULL;
}

/* A SHA-256 is already uniform: its first 8 bytes are the index bits. */
static uint64_t token_bits(const uint8_t hash[TOKEN_HASH_LEN])
{
	uint64_t bits;
	memcpy(&bits, hash, sizeof(bits));
	return bits;
}

/* FNV-1a: ids and thing names come from the operator or from us, not from
 * clients, so a plain hash suffices (no one can choose ids that collide). */
static uint64_t id_bits(const char *id)
{
	uint64_t h = 0xcbf29ce484222325u;
	for (; *id; id++)
		h = (h ^ (uint8_t)*id) * 0x100000001b3u;
	return h;
}

/* Client tokens are secrets of the clients: wipe them with the hashes. */
static void free_tunnel(struct registry_tunnel *t)
{
	OPENSSL_cleanse(t, sizeof(*t));
	free(t);
}

void registry_free(struct registry *r)
{
	for (size_t i = 0; i < r->n; i++)
		free_tunnel(r->tunnels[i]);
	free(r->tunnels);
	registry_index_free(&r->by_token);
	registry_index_free(&r->by_id);
	registry_index_free(&r->by_thing);
	registry_init(r);
}

bool registry_id_valid(const char *id)
{
	return text_is_name(id, REGISTRY_MAX_ID, "_-");
}

static int check_services(const char *id, const char *const *services, size_t n,
			  char *err, size_t err_cap)
{
	if (n == 0 || n > TUNNEL_MAX_SERVICES) {
		errf(err, err_cap, "tunnel '%s': needs 1 to %u services, got %zu", id,
			TUNNEL_MAX_SERVICES, n);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (services[i] == NULL || !tunnel_service_id_valid(services[i])) {
			errf(err, err_cap,
				"tunnel '%s': service %zu must match [A-Za-z0-9_:-]{1,128}", id, i);
			return -1;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(services[i], services[j]) == 0) {
				errf(err, err_cap, "tunnel '%s': service '%s' is listed twice",
					id, services[i]);
				return -1;
			}
		}
	}
	return 0;
}

/* The entry whose full hash matches, or NULL. */
static const struct index_slot *find_hash(const struct registry *r,
					  const uint8_t hash[TOKEN_HASH_LEN])
{
	size_t cursor = 0;
	const struct index_slot *e, *found = NULL;
	while ((e = registry_index_next(&r->by_token, token_bits(hash), &cursor)))
		if (token_hash_equal(e->tunnel->side[e->which].token_hash, hash) && !found)
			found = e;
	return found;
}

bool registry_hash_in_use(const struct registry *r, const uint8_t hash[TOKEN_HASH_LEN])
{
	return find_hash(r, hash) != NULL;
}

/* Validates and hashes both tokens of a new tunnel. */
static int hash_tokens(const struct registry *r, const char *id, const char *const tok[2],
		       uint8_t hash[2][TOKEN_HASH_LEN], char *err, size_t err_cap)
{
	for (int s = 0; s < 2; s++) {
		const char *side = tunnel_side_name((enum tunnel_side)s);
		size_t len = tok[s] ? strnlen(tok[s], TUNNEL_MAX_ACCESS_TOKEN + 1) : 0;
		if (tok[s] == NULL || !access_token_valid(tok[s], len)) {
			errf(err, err_cap,
				"tunnel '%s': %s access token must be 1-%u printable characters without spaces",
				id, side, TUNNEL_MAX_ACCESS_TOKEN);
			return -1;
		}
		if (token_hash(tok[s], len, hash[s]) != 0) {
			errf(err, err_cap, "tunnel '%s': cannot hash the %s access token", id, side);
			return -1;
		}
		if (registry_hash_in_use(r, hash[s])) {
			errf(err, err_cap,
				"tunnel '%s': %s access token is already used by another tunnel", id, side);
			return -1;
		}
	}
	if (token_hash_equal(hash[0], hash[1])) {
		errf(err, err_cap, "tunnel '%s': source and destination access tokens must differ",
			id);
		return -1;
	}
	return 0;
}

static int grow(struct registry *r, char *err, size_t err_cap)
{
	if (r->n < r->cap)
		return 0;
	size_t cap = r->cap ? r->cap * 2 : 8;
	struct registry_tunnel **t = realloc(r->tunnels, cap * sizeof(*t));
	if (t == NULL) {
		errf(err, err_cap, "out of memory");
		return -1;
	}
	r->tunnels = t;
	r->cap = cap;
	return 0;
}

int registry_insert(struct registry *r, struct registry_tunnel *t, char *err, size_t err_cap)
{
	if (registry_find_id(r, t->id) != NULL) {
		errf(err, err_cap, "tunnel '%s' is defined twice", t->id);
		return -1;
	}
	for (int s = 0; s < 2; s++) {
		if (registry_hash_in_use(r, t->side[s].token_hash)) {
			errf(err, err_cap, "tunnel '%s': %s access token is already used by another tunnel",
				t->id, tunnel_side_name((enum tunnel_side)s));
			return -1;
		}
	}
	if (grow(r, err, err_cap) != 0)
		return -1;
	const uint8_t *h0 = t->side[0].token_hash, *h1 = t->side[1].token_hash;
	if (registry_index_add(&r->by_id, id_bits(t->id), t, 0))
		goto no_memory;
	if (registry_index_add(&r->by_token, token_bits(h0), t, SIDE_SOURCE)) {
		registry_index_remove(&r->by_id, id_bits(t->id), t, 0);
		goto no_memory;
	}
	if (registry_index_add(&r->by_token, token_bits(h1), t, SIDE_DESTINATION)) {
		registry_index_remove(&r->by_token, token_bits(h0), t, SIDE_SOURCE);
		registry_index_remove(&r->by_id, id_bits(t->id), t, 0);
		goto no_memory;
	}
	/* The thing never changes once inserted; "" (a --tunnels file's) has none. */
	if (t->thing[0] && registry_index_add(&r->by_thing, id_bits(t->thing), t, 0)) {
		registry_index_remove(&r->by_token, token_bits(h1), t, SIDE_DESTINATION);
		registry_index_remove(&r->by_token, token_bits(h0), t, SIDE_SOURCE);
		registry_index_remove(&r->by_id, id_bits(t->id), t, 0);
		goto no_memory;
	}
	r->tunnels[r->n++] = t;
	if (r->inserted)
		r->inserted(r->inserted_arg, t);
	return 0;
no_memory:
	errf(err, err_cap, "out of memory");
	return -1;
}

int registry_set_token_hash(struct registry *r, struct registry_tunnel *t, enum tunnel_side side,
			    const uint8_t hash[TOKEN_HASH_LEN])
{
	if (registry_find_id(r, t->id) != t) { /* not inserted: no index to keep */
		memcpy(t->side[side].token_hash, hash, TOKEN_HASH_LEN);
		return 0;
	}
	if (registry_index_add(&r->by_token, token_bits(hash), t, (int)side))
		return -1;
	/* Added first, so that running out of memory changes nothing; the
	 * old entry is told apart by its bits (a new hash sharing them is
	 * 2^-64, and then either entry may go: both point at t, side). */
	registry_index_remove(&r->by_token, token_bits(t->side[side].token_hash), t, (int)side);
	memcpy(t->side[side].token_hash, hash, TOKEN_HASH_LEN);
	return 0;
}

void registry_remove(struct registry *r, struct registry_tunnel *t)
{
	size_t i = 0;
	while (i < r->n && r->tunnels[i] != t)
		i++;
	if (i == r->n)
		return;
	registry_index_remove(&r->by_id, id_bits(t->id), t, 0);
	if (t->thing[0])
		registry_index_remove(&r->by_thing, id_bits(t->thing), t, 0);
	for (int s = 0; s < 2; s++)
		registry_index_remove(&r->by_token, token_bits(t->side[s].token_hash), t, s);
	memmove(&r->tunnels[i], &r->tunnels[i + 1], (r->n - i - 1) * sizeof(r->tunnels[0]));
	r->n--;
	free_tunnel(t);
}

int registry_add(struct registry *r, const char *id, const char *const *services,
		 size_t n_services, const char *source_token,
		 const char *destination_token, char *err, size_t err_cap)
{
	if (id == NULL || !registry_id_valid(id)) {
		errf(err, err_cap, "tunnel id must be 1-%u characters of [A-Za-z0-9_-]",
			REGISTRY_MAX_ID);
		return -1;
	}
	if (registry_find_id(r, id) != NULL) {
		errf(err, err_cap, "tunnel '%s' is defined twice", id);
		return -1;
	}
	if (check_services(id, services, n_services, err, err_cap) != 0)
		return -1;
	const char *const tok[2] = { source_token, destination_token };
	uint8_t hash[2][TOKEN_HASH_LEN];
	if (hash_tokens(r, id, tok, hash, err, err_cap) != 0)
		return -1;
	struct registry_tunnel *t = calloc(1, sizeof(*t));
	if (t == NULL) {
		errf(err, err_cap, "out of memory");
		return -1;
	}
	memcpy(t->id, id, strlen(id) + 1);
	t->n_services = n_services;
	for (size_t i = 0; i < n_services; i++)
		memcpy(t->services[i], services[i], strlen(services[i]) + 1);
	for (int s = 0; s < 2; s++)
		memcpy(t->side[s].token_hash, hash[s], TOKEN_HASH_LEN);
	t->from_file = true;
	OPENSSL_cleanse(hash, sizeof(hash));
	if (registry_insert(r, t, err, err_cap) != 0) {
		free_tunnel(t);
		return -1;
	}
	return 0;
}

/* ---- JSON file ------------------------------------------------------------ */

/* Reads at most REGISTRY_FILE_MAX bytes, NUL-terminated. */
static char *read_file(const char *path, size_t *len, char *err, size_t err_cap)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		errf(err, err_cap, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	char *buf = malloc(REGISTRY_FILE_MAX + 2);
	if (buf == NULL) {
		errf(err, err_cap, "%s: out of memory", path);
		fclose(f);
		return NULL;
	}
	/* One byte more than the cap tells "too big" from "exactly the cap". */
	errno = 0;
	size_t n = fread(buf, 1, REGISTRY_FILE_MAX + 1, f);
	int read_errno = ferror(f) ? (errno ? errno : EIO) : 0;
	fclose(f); /* read-only: nothing to lose if closing fails */
	if (read_errno != 0 || n > REGISTRY_FILE_MAX) {
		if (read_errno != 0)
			errf(err, err_cap, "%s: cannot read: %s", path, strerror(read_errno));
		else
			errf(err, err_cap, "%s: larger than " REGISTRY_FILE_MAX_TEXT " (%u bytes), the most "
			     "a --tunnels file may hold (about 300,000 tunnels); use --db for more",
			     path, REGISTRY_FILE_MAX);
		OPENSSL_cleanse(buf, n);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* The tree holds the tokens in clear: wipe every string before freeing. */
static void wipe_json(cJSON *item)
{
	for (; item != NULL; item = item->next) {
		if (item->valuestring != NULL)
			OPENSSL_cleanse(item->valuestring, strlen(item->valuestring));
		wipe_json(item->child);
	}
}

static const char *json_string(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int load_entry(struct registry *r, const char *path, size_t idx,
		      const cJSON *e, char *err, size_t err_cap)
{
	static const char *const keys[] = { "id", "sourceAccessToken",
					     "destinationAccessToken" };
	const char *val[3];
	if (!cJSON_IsObject(e)) {
		errf(err, err_cap, "%s: tunnels[%zu]: must be an object", path, idx);
		return -1;
	}
	for (size_t k = 0; k < 3; k++) {
		val[k] = json_string(e, keys[k]);
		if (val[k] == NULL) {
			errf(err, err_cap, "%s: tunnels[%zu].%s: missing or not a string",
				path, idx, keys[k]);
			return -1;
		}
	}
	const cJSON *svc = cJSON_GetObjectItemCaseSensitive(e, "services");
	int n = cJSON_GetArraySize(svc);
	if (!cJSON_IsArray(svc) || n < 1 || n > (int)TUNNEL_MAX_SERVICES) {
		errf(err, err_cap, "%s: tunnels[%zu].services: must be an array of 1 to %u strings",
			path, idx, TUNNEL_MAX_SERVICES);
		return -1;
	}
	const char *services[TUNNEL_MAX_SERVICES];
	for (int i = 0; i < n; i++) {
		const cJSON *s = cJSON_GetArrayItem(svc, i);
		if (!cJSON_IsString(s)) {
			errf(err, err_cap, "%s: tunnels[%zu].services[%d]: must be a string",
				path, idx, i);
			return -1;
		}
		services[i] = s->valuestring;
	}
	char why[256];
	if (registry_add(r, val[0], services, (size_t)n, val[1], val[2], why, sizeof(why)) != 0) {
		errf(err, err_cap, "%s: tunnels[%zu]: %s", path, idx, why);
		return -1;
	}
	return 0;
}

static int load_tree(struct registry *r, const char *path, const cJSON *root,
		     char *err, size_t err_cap)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "tunnels");
	if (!cJSON_IsObject(root) || !cJSON_IsArray(list)) {
		errf(err, err_cap, "%s: want an object with a \"tunnels\" array", path);
		return -1;
	}
	size_t idx = 0;
	for (const cJSON *e = list->child; e != NULL; e = e->next, idx++)
		if (load_entry(r, path, idx, e, err, err_cap) != 0)
			return -1;
	return (int)idx;
}

/* All or nothing: on any error the tunnels added so far are taken back. */
int registry_load_file(struct registry *r, const char *path, char *err, size_t err_cap)
{
	size_t len = 0;
	char *buf = read_file(path, &len, err, err_cap);
	if (buf == NULL)
		return -1;
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, false);
	int added = -1;
	if (root == NULL) {
		size_t at = (end != NULL && end >= buf && end <= buf + len) ? (size_t)(end - buf) : 0;
		errf(err, err_cap, "%s: not valid JSON (near byte %zu)", path, at);
	} else {
		size_t before = r->n;
		added = load_tree(r, path, root, err, err_cap);
		while (added < 0 && r->n > before)
			registry_remove(r, r->tunnels[r->n - 1]);
		wipe_json(root);
		cJSON_Delete(root);
	}
	OPENSSL_cleanse(buf, len);
	free(buf);
	return added;
}

/* ---- look-ups ---------------------------------------------------------- */

struct registry_tunnel *registry_find_token(struct registry *r, const char *token,
					    size_t len, enum tunnel_side *side)
{
	uint8_t hash[TOKEN_HASH_LEN];
	if (token == NULL || token_hash(token, len, hash) != 0)
		return NULL;
	const struct index_slot *e = find_hash(r, hash);
	OPENSSL_cleanse(hash, sizeof(hash));
	if (e == NULL)
		return NULL;
	if (side != NULL)
		*side = (enum tunnel_side)e->which;
	return e->tunnel;
}

struct registry_tunnel *registry_find_id(struct registry *r, const char *id)
{
	if (id == NULL)
		return NULL;
	size_t cursor = 0;
	const struct index_slot *e;
	uint64_t bits = id_bits(id);
	while ((e = registry_index_next(&r->by_id, bits, &cursor)))
		if (strcmp(e->tunnel->id, id) == 0)
			return e->tunnel;
	return NULL;
}

size_t registry_open_for_thing(const struct registry *r, const char *thing, int64_t now,
			       size_t *listed)
{
	size_t cursor = 0, open = 0, kept = 0;
	const struct index_slot *e;
	uint64_t bits = id_bits(thing);
	while ((e = registry_index_next(&r->by_thing, bits, &cursor))) {
		const struct registry_tunnel *t = e->tunnel;
		if (strcmp(t->thing, thing) || t->deleted)
			continue;
		kept++;
		if (!t->closed_at && !(t->expires_at && t->expires_at <= now))
			open++;
	}
	if (listed)
		*listed = kept;
	return open;
}

const char *tunnel_side_name(enum tunnel_side side)
{
	switch (side) {
	case SIDE_SOURCE:
		return "source";
	case SIDE_DESTINATION:
		return "destination";
	}
	return "unknown";
}
