#include "relay/cluster.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

/* The same client holds both: the same client token, or none in both. */
static bool same_client(const struct registry_side *a, const struct registry_side *b)
{
	if (a->has_client_token != b->has_client_token)
		return false;
	return !a->has_client_token || !strcmp(a->client_token, b->client_token);
}

struct cluster_plan cluster_plan(const struct registry_tunnel *mine, const bool connected[2],
				 const struct registry_tunnel *row, const char *owner,
				 const char *node_id)
{
	struct cluster_plan p;
	memset(&p, 0, sizeof(p));
	bool gone = !row || row->deleted;
	if (!mine) {
		p.insert = !gone; /* closed ones too: every node lists them */
		return p;
	}
	/* A --tunnels file's tunnel is this node's alone; one deleted here
	 * stays deleted. */
	if (mine->from_file || mine->deleted)
		return p;
	if (gone) {
		p.close = !mine->closed_at;
		p.forget = true;
		return p;
	}
	p.update = true;
	p.close = !mine->closed_at && row->closed_at;
	for (int s = 0; s < 2; s++) {
		p.rotated[s] = !token_hash_equal(mine->side[s].token_hash, row->side[s].token_hash);
		if (p.close || p.rotated[s] || !connected[s])
			continue;
		/* Our own claim of the side may still be on its way: a row
		 * without the side used says nothing against us. */
		p.lost[s] = row->side[s].used && mine->side[s].used &&
			    !same_client(&row->side[s], &mine->side[s]);
		p.let_go[s] = !p.lost[s] && owner && owner[0] && strcmp(owner, node_id);
	}
	return p;
}

struct registry_tunnel *cluster_copy_row(const struct registry_tunnel *row)
{
	struct registry_tunnel *t = malloc(sizeof(*t));
	if (!t)
		return NULL;
	*t = *row;
	t->from_file = false;
	t->deleted = false;
	return t;
}

int cluster_take_row(struct registry *r, struct registry_tunnel *mine,
		     const struct registry_tunnel *row, const struct cluster_plan *plan,
		     int64_t now)
{
	if (plan->forget) {
		if (!mine->closed_at)
			mine->closed_at = now;
		mine->deleted = true;
		return 0;
	}
	if (!plan->update)
		return 0;
	for (int s = 0; s < 2; s++)
		if (plan->rotated[s] &&
		    registry_set_token_hash(r, mine, (enum tunnel_side)s, row->side[s].token_hash))
			return -1;
	struct registry_tunnel next = *row;
	/* Fixed once inserted (the indexes by id and thing hold them). */
	memcpy(next.id, mine->id, sizeof(next.id));
	memcpy(next.thing, mine->thing, sizeof(next.thing));
	for (int s = 0; s < 2; s++) {
		memcpy(next.side[s].token_hash, mine->side[s].token_hash, TOKEN_HASH_LEN);
		/* Used here, unused there (same token): our admission, its
		 * claim still on the way. */
		bool keep = mine->side[s].used && !plan->rotated[s] && !plan->lost[s] &&
			    !row->side[s].used;
		if (keep)
			next.side[s] = mine->side[s];
	}
	if (mine->closed_at && !next.closed_at)
		next.closed_at = mine->closed_at; /* never reopened */
	next.from_file = false;
	next.deleted = false;
	*mine = next;
	OPENSSL_cleanse(&next, sizeof(next));
	return 0;
}

/* ---- which node answers for a side ------------------------------------------ */

static bool owned_elsewhere(const struct registry_tunnel *t, const char *node_id)
{
	return node_id && t->owner[0] && strcmp(t->owner, node_id);
}

bool cluster_side_connected(const struct registry_tunnel *t, enum tunnel_side side, bool here,
			    const char *node_id)
{
	if (here)
		return true;
	/* A closed tunnel's ends are gone, whatever a dead owner last saved. */
	if (t->closed_at)
		return false;
	return owned_elsewhere(t, node_id) && t->connected[side];
}

bool cluster_saves_leaving(const struct registry_tunnel *t, const char *node_id)
{
	return !owned_elsewhere(t, node_id);
}

/* ---- handshake misses ------------------------------------------------------ */

void cluster_misses_init(struct cluster_misses *m, void *owner)
{
	memset(m, 0, sizeof(*m));
	m->owner = owner;
	for (size_t i = 0; i < CLUSTER_MISS_SLOTS; i++)
		m->slot[i].set = m;
}

enum cluster_miss_verdict cluster_miss_check(struct cluster_misses *m,
					     const uint8_t hash[TOKEN_HASH_LEN], int64_t now_ms,
					     struct cluster_miss **slot)
{
	uint64_t bits;
	memcpy(&bits, hash, sizeof(bits)); /* a SHA-256: already uniform */
	size_t base = (size_t)(bits % CLUSTER_MISS_SLOTS);
	struct cluster_miss *victim = NULL;
	for (size_t i = 0; i < CLUSTER_MISS_WAYS; i++) {
		struct cluster_miss *e = &m->slot[(base + i) % CLUSTER_MISS_SLOTS];
		if (e->state == CLUSTER_MISS_REMEMBERED && e->until_ms <= now_ms)
			e->state = CLUSTER_MISS_FREE;
		if (e->state != CLUSTER_MISS_FREE && token_hash_equal(e->hash, hash))
			return e->state == CLUSTER_MISS_PENDING ? CLUSTER_WAIT : CLUSTER_UNKNOWN;
		/* A free slot, else the remembered miss that ends first. */
		if (e->state == CLUSTER_MISS_FREE && (!victim || victim->state != CLUSTER_MISS_FREE))
			victim = e;
		else if (e->state == CLUSTER_MISS_REMEMBERED &&
			 (!victim || (victim->state == CLUSTER_MISS_REMEMBERED &&
				      e->until_ms < victim->until_ms)))
			victim = e;
	}
	if (!victim || m->pending >= CLUSTER_MAX_LOOKUPS)
		return CLUSTER_WAIT;
	memcpy(victim->hash, hash, TOKEN_HASH_LEN);
	victim->state = CLUSTER_MISS_PENDING;
	victim->until_ms = 0;
	m->pending++;
	*slot = victim;
	return CLUSTER_LOOK_UP;
}

void cluster_miss_done(struct cluster_miss *slot, bool remember, int64_t now_ms)
{
	if (slot->state != CLUSTER_MISS_PENDING)
		return;
	slot->set->pending--;
	slot->state = remember ? CLUSTER_MISS_REMEMBERED : CLUSTER_MISS_FREE;
	slot->until_ms = now_ms + CLUSTER_MISS_KEEP_MS;
}
