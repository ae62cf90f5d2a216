/* Unit tests for relay/cluster.c (what a node does about other nodes'
 * changes, the handshake's memory of misses) and tunnel_ops.c's
 * ops_apply_change, which acts on its verdicts through mock hooks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/cluster.h"
#include "relay/store_rows.h"
#include "relay/tunnel_ops.h"

#define SRC "source-access-token-aaaaaaaaaaaaaaaa"
#define DST "destination-access-token-bbbbbbbbbb"
#define SRC2 "source-access-token-rotated-cccccccc"
#define CT1 "client-token-0123456789abcdef0123456789"
#define CT2 "client-token-0123456789abcdef012345678X"

static const bool none[2] = { false, false };
static const bool dest_up[2] = { false, true };
static const bool both_up[2] = { true, true };

/* A registry with tunnel "tun" as the API would have made it. */
static struct registry_tunnel *setup_tunnel(struct registry *r)
{
	const char *services[] = { "SSH" };
	char err[256];
	registry_init(r);
	assert_int_equal(registry_add(r, "tun", services, 1, SRC, DST, err, sizeof(err)), 0);
	struct registry_tunnel *t = registry_find_id(r, "tun");
	t->from_file = false;
	strcpy(t->thing, "");
	t->created_at = 100;
	t->expires_at = 100 + 3600;
	t->lifetime_minutes = 60;
	return t;
}

static void use_side(struct registry_tunnel *t, enum tunnel_side side, const char *client)
{
	t->side[side].used = true;
	t->side[side].has_client_token = client != NULL;
	strcpy(t->side[side].client_token, client ? client : "");
}

static void set_hash(struct registry_tunnel *t, enum tunnel_side side, const char *token)
{
	assert_int_equal(token_hash(token, strlen(token), t->side[side].token_hash), 0);
}

/* --node-id's syntax (relay/store_rows.c: it goes into notifications). */
static void test_node_id(void **state)
{
	(void)state;
	assert_true(store_node_id_valid("relay-a"));
	assert_true(store_node_id_valid("node_1.example.org"));
	char longest[STORE_MAX_NODE_ID + 2];
	memset(longest, 'n', sizeof(longest));
	longest[STORE_MAX_NODE_ID] = '\0';
	assert_true(store_node_id_valid(longest));
	longest[STORE_MAX_NODE_ID] = 'n';
	longest[STORE_MAX_NODE_ID + 1] = '\0';
	assert_false(store_node_id_valid(longest));
	assert_false(store_node_id_valid(""));
	assert_false(store_node_id_valid("relay a"));
	assert_false(store_node_id_valid("relay/a"));
	assert_false(store_node_id_valid("rel\xc3\xa4"));
}

static void test_plan_unknown_tunnel(void **state)
{
	(void)state;
	struct registry r;
	struct registry_tunnel row = *setup_tunnel(&r);
	struct cluster_plan p = cluster_plan(NULL, none, &row, "b", "a");
	assert_true(p.insert);
	assert_false(p.update || p.close);
	row.closed_at = 200; /* listed on every node, closed too */
	assert_true(cluster_plan(NULL, none, &row, "b", "a").insert);
	row.deleted = true;
	assert_false(cluster_plan(NULL, none, &row, "b", "a").insert);
	assert_false(cluster_plan(NULL, none, NULL, "", "a").insert);
	registry_free(&r);
}

static void test_plan_gone_or_closed(void **state)
{
	(void)state;
	struct registry r;
	struct registry_tunnel *t = setup_tunnel(&r);
	struct registry_tunnel row = *t;
	struct cluster_plan p = cluster_plan(t, both_up, NULL, "", "a");
	assert_true(p.close && p.forget);
	assert_false(p.update || p.let_go[0] || p.let_go[1]);
	row.closed_at = 300;
	p = cluster_plan(t, both_up, &row, "b", "a");
	assert_true(p.close && p.update);
	/* Closing drops every side: no letting go on top. */
	assert_false(p.let_go[0] || p.let_go[1] || p.forget);
	t->closed_at = 250; /* closed here already: nothing to drop */
	p = cluster_plan(t, none, &row, "b", "a");
	assert_false(p.close);
	assert_true(cluster_plan(t, none, NULL, "", "a").forget);
	assert_false(cluster_plan(t, none, NULL, "", "a").close);
	/* A --tunnels file's tunnel is never another node's business. */
	t->from_file = true;
	p = cluster_plan(t, both_up, NULL, "b", "a");
	assert_false(p.close || p.forget || p.update);
	registry_free(&r);
}

static void test_plan_rotated(void **state)
{
	(void)state;
	struct registry r;
	struct registry_tunnel *t = setup_tunnel(&r);
	use_side(t, SIDE_SOURCE, CT1);
	struct registry_tunnel row = *t;
	set_hash(&row, SIDE_SOURCE, SRC2);
	row.side[SIDE_SOURCE].used = false;
	struct cluster_plan p = cluster_plan(t, both_up, &row, "a", "a");
	assert_true(p.update && p.rotated[SIDE_SOURCE]);
	assert_false(p.rotated[SIDE_DESTINATION] || p.lost[0] || p.let_go[0] || p.close);
	registry_free(&r);
}

static void test_plan_owner(void **state)
{
	(void)state;
	struct registry r;
	struct registry_tunnel *t = setup_tunnel(&r);
	use_side(t, SIDE_DESTINATION, CT1);
	struct registry_tunnel row = *t;
	use_side(&row, SIDE_SOURCE, CT2); /* the source was admitted on b */
	struct cluster_plan p = cluster_plan(t, dest_up, &row, "b", "a");
	assert_true(p.let_go[SIDE_DESTINATION]);
	assert_false(p.let_go[SIDE_SOURCE] || p.lost[SIDE_DESTINATION] || p.close);
	/* Owned here, by nobody, or not known (a look-up's row): stay. */
	assert_false(cluster_plan(t, dest_up, &row, "a", "a").let_go[SIDE_DESTINATION]);
	assert_false(cluster_plan(t, dest_up, &row, "", "a").let_go[SIDE_DESTINATION]);
	assert_false(cluster_plan(t, dest_up, &row, NULL, "a").let_go[SIDE_DESTINATION]);
	/* Nothing connected here: nothing to let go of. */
	p = cluster_plan(t, none, &row, "b", "a");
	assert_true(p.update);
	assert_false(p.let_go[0] || p.let_go[1]);
	registry_free(&r);
}

static void test_plan_lost(void **state)
{
	(void)state;
	struct registry r;
	struct registry_tunnel *t = setup_tunnel(&r);
	use_side(t, SIDE_SOURCE, CT1);
	struct registry_tunnel row = *t;
	use_side(&row, SIDE_SOURCE, CT2); /* b admitted the same token with another client */
	struct cluster_plan p = cluster_plan(t, both_up, &row, "b", "a");
	assert_true(p.lost[SIDE_SOURCE]);
	assert_false(p.let_go[SIDE_SOURCE]);
	/* Without a client token on one of them: another client all the same. */
	use_side(&row, SIDE_SOURCE, NULL);
	assert_true(cluster_plan(t, both_up, &row, "b", "a").lost[SIDE_SOURCE]);
	/* The row from before our claim (side unused there): not lost. */
	row.side[SIDE_SOURCE].used = false;
	p = cluster_plan(t, both_up, &row, "a", "a");
	assert_false(p.lost[SIDE_SOURCE] || p.let_go[SIDE_SOURCE]);
	registry_free(&r);
}

static void test_take_row(void **state)
{
	(void)state;
	struct registry r;
	struct registry_tunnel *t = setup_tunnel(&r);
	use_side(t, SIDE_DESTINATION, CT1);
	struct registry_tunnel row = *t;
	set_hash(&row, SIDE_SOURCE, SRC2);
	strcpy(row.description, "changed elsewhere");
	row.side_changed_at[SIDE_SOURCE] = 400;
	row.side[SIDE_DESTINATION].used = false; /* our claim not there yet */
	struct cluster_plan p = cluster_plan(t, dest_up, &row, "a", "a");
	assert_int_equal(cluster_take_row(&r, t, &row, &p, 500), 0);
	enum tunnel_side side = SIDE_DESTINATION;
	assert_ptr_equal(registry_find_token(&r, SRC2, strlen(SRC2), &side), t);
	assert_int_equal(side, SIDE_SOURCE);
	assert_null(registry_find_token(&r, SRC, strlen(SRC), NULL));
	assert_ptr_equal(registry_find_token(&r, DST, strlen(DST), NULL), t);
	assert_string_equal(t->description, "changed elsewhere");
	assert_int_equal(t->side_changed_at[SIDE_SOURCE], 400);
	assert_true(t->side[SIDE_DESTINATION].used); /* ours, kept */
	assert_string_equal(t->side[SIDE_DESTINATION].client_token, CT1);
	assert_false(t->from_file);

	/* Another client's use there replaces ours. */
	row = *t;
	use_side(&row, SIDE_DESTINATION, CT2);
	p = cluster_plan(t, dest_up, &row, "b", "a");
	assert_int_equal(cluster_take_row(&r, t, &row, &p, 500), 0);
	assert_string_equal(t->side[SIDE_DESTINATION].client_token, CT2);

	/* Closed here stays closed, whatever a stale row says. */
	t->closed_at = 450;
	row = *t;
	row.closed_at = 0;
	p = cluster_plan(t, none, &row, "b", "a");
	assert_int_equal(cluster_take_row(&r, t, &row, &p, 500), 0);
	assert_int_equal(t->closed_at, 450);

	/* Gone there: closed (when open) and hidden here. */
	t->closed_at = 0;
	p = cluster_plan(t, none, NULL, "", "a");
	assert_int_equal(cluster_take_row(&r, t, NULL, &p, 600), 0);
	assert_true(t->deleted);
	assert_int_equal(t->closed_at, 600);
	registry_free(&r);
}

static void test_copy_row(void **state)
{
	(void)state;
	struct registry r;
	struct registry_tunnel row = *setup_tunnel(&r);
	registry_free(&r);
	row.from_file = true;
	struct registry_tunnel *t = cluster_copy_row(&row);
	assert_non_null(t);
	assert_false(t->from_file);
	assert_string_equal(t->id, "tun");
	assert_memory_equal(t->side[0].token_hash, row.side[0].token_hash, TOKEN_HASH_LEN);
	registry_init(&r);
	char err[256];
	assert_int_equal(registry_insert(&r, t, err, sizeof(err)), 0);
	assert_ptr_equal(registry_find_token(&r, SRC, strlen(SRC), NULL), t);
	registry_free(&r);
}

/* ---- misses ---------------------------------------------------------------- */

static void hash_of(int n, uint8_t hash[TOKEN_HASH_LEN])
{
	char token[32];
	snprintf(token, sizeof(token), "bad-token-%d", n);
	assert_int_equal(token_hash(token, strlen(token), hash), 0);
}

static void test_misses(void **state)
{
	(void)state;
	static struct cluster_misses m;
	int owner;
	cluster_misses_init(&m, &owner);
	uint8_t h[TOKEN_HASH_LEN];
	hash_of(1, h);
	struct cluster_miss *slot = NULL;
	assert_int_equal(cluster_miss_check(&m, h, 1000, &slot), CLUSTER_LOOK_UP);
	assert_non_null(slot);
	assert_ptr_equal(slot->set->owner, &owner);
	struct cluster_miss *again = NULL;
	/* Asked again while the look-up runs: wait, no second query. */
	assert_int_equal(cluster_miss_check(&m, h, 1100, &again), CLUSTER_WAIT);
	assert_null(again);
	cluster_miss_done(slot, true, 1200);
	assert_int_equal(m.pending, 0);
	/* Missed: unknown for CLUSTER_MISS_KEEP_MS, then asked again. */
	assert_int_equal(cluster_miss_check(&m, h, 1200 + CLUSTER_MISS_KEEP_MS - 1, &slot),
			 CLUSTER_UNKNOWN);
	assert_int_equal(cluster_miss_check(&m, h, 1200 + CLUSTER_MISS_KEEP_MS, &slot),
			 CLUSTER_LOOK_UP);
	/* Found (or the database away): nothing remembered. */
	cluster_miss_done(slot, false, 7000);
	assert_int_equal(cluster_miss_check(&m, h, 7001, &slot), CLUSTER_LOOK_UP);
	cluster_miss_done(slot, false, 7002);
	cluster_miss_done(slot, false, 7003); /* twice: no harm */
	assert_int_equal(m.pending, 0);
}

static void test_misses_bounded(void **state)
{
	(void)state;
	static struct cluster_misses m;
	cluster_misses_init(&m, NULL);
	uint8_t h[TOKEN_HASH_LEN];
	struct cluster_miss *slots[CLUSTER_MAX_LOOKUPS];
	size_t started = 0;
	int n = 0;
	while (started < CLUSTER_MAX_LOOKUPS) {
		hash_of(n++, h);
		if (cluster_miss_check(&m, h, 0, &slots[started]) == CLUSTER_LOOK_UP)
			started++;
	}
	/* At most CLUSTER_MAX_LOOKUPS queries at once: a flood waits. */
	hash_of(n++, h);
	struct cluster_miss *slot = NULL;
	assert_int_equal(cluster_miss_check(&m, h, 0, &slot), CLUSTER_WAIT);
	cluster_miss_done(slots[0], true, 0);
	assert_int_equal(cluster_miss_check(&m, h, 0, &slot), CLUSTER_LOOK_UP);
	for (size_t i = 1; i < CLUSTER_MAX_LOOKUPS; i++)
		cluster_miss_done(slots[i], true, 0);
	cluster_miss_done(slot, true, 0);
	/* Many more misses than slots: each remembered one evicts the one
	 * ending first, never a look-up in flight. */
	for (int i = 0; i < 4 * CLUSTER_MISS_SLOTS; i++) {
		hash_of(n++, h);
		enum cluster_miss_verdict v = cluster_miss_check(&m, h, i, &slot);
		assert_int_equal(v, CLUSTER_LOOK_UP);
		cluster_miss_done(slot, true, i);
	}
	assert_int_equal(m.pending, 0);
}

/* ---- ops_apply_change through mock hooks ---------------------------------- */

struct closed_side {
	int side, code;
	char reason[96];
};

struct mock_plane {
	bool connected[2];
	struct closed_side closed[4];
	int n_closed;
};

static void mock_close(void *server, struct registry_tunnel *t, int side, int code,
		       const char *reason)
{
	struct mock_plane *m = server;
	assert_true(m->n_closed < 4);
	struct closed_side *c = &m->closed[m->n_closed++];
	c->side = side;
	c->code = code;
	snprintf(c->reason, sizeof(c->reason), "%s", reason);
}

static bool mock_connected(void *server, const struct registry_tunnel *t, enum tunnel_side side)
{
	return ((struct mock_plane *)server)->connected[side];
}

static struct api_env mock_env(struct registry *r, struct mock_plane *m)
{
	struct api_env env = {
		.registry = r,
		.now = 1000,
		.hooks = { .server = m, .close_side = mock_close, .side_connected = mock_connected },
	};
	return env;
}

static void test_apply_insert_and_close(void **state)
{
	(void)state;
	struct registry other, r;
	struct registry_tunnel row = *setup_tunnel(&other);
	registry_free(&other);
	registry_init(&r);
	struct mock_plane m = { .connected = { false, false } };
	struct api_env env = mock_env(&r, &m);
	ops_apply_change(&env, "a", "tun", &row, "b");
	struct registry_tunnel *t = registry_find_id(&r, "tun");
	assert_non_null(t);
	assert_ptr_equal(registry_find_token(&r, DST, strlen(DST), NULL), t);
	assert_int_equal(m.n_closed, 0);

	m.connected[SIDE_SOURCE] = m.connected[SIDE_DESTINATION] = true;
	row.closed_at = 900;
	ops_apply_change(&env, "a", "tun", &row, "b");
	assert_int_equal(t->closed_at, 900);
	assert_int_equal(m.n_closed, 1);
	assert_int_equal(m.closed[0].side, -1);
	assert_int_equal(m.closed[0].code, 1000);
	assert_string_equal(m.closed[0].reason, "tunnel closed");

	ops_apply_change(&env, "a", "tun", NULL, "");
	assert_true(t->deleted);
	assert_int_equal(m.n_closed, 1); /* closed already */
	registry_free(&r);
}

static void test_apply_rotate_lost_let_go(void **state)
{
	(void)state;
	struct registry r;
	struct registry_tunnel *t = setup_tunnel(&r);
	use_side(t, SIDE_SOURCE, CT1);
	use_side(t, SIDE_DESTINATION, CT1);
	struct mock_plane m = { .connected = { true, true } };
	struct api_env env = mock_env(&r, &m);

	struct registry_tunnel row = *t;
	set_hash(&row, SIDE_SOURCE, SRC2);
	row.side[SIDE_SOURCE].used = false;
	ops_apply_change(&env, "a", "tun", &row, "a");
	assert_int_equal(m.n_closed, 1);
	assert_int_equal(m.closed[0].side, SIDE_SOURCE);
	assert_int_equal(m.closed[0].code, 1000);
	assert_string_equal(m.closed[0].reason, "access token rotated");
	assert_ptr_equal(registry_find_token(&r, SRC2, strlen(SRC2), NULL), t);

	/* The destination taken by another client on node b: 1008. */
	m.n_closed = 0;
	m.connected[SIDE_SOURCE] = false;
	row = *t;
	use_side(&row, SIDE_DESTINATION, CT2);
	ops_apply_change(&env, "a", "tun", &row, "b");
	assert_int_equal(m.n_closed, 1);
	assert_int_equal(m.closed[0].side, SIDE_DESTINATION);
	assert_int_equal(m.closed[0].code, CLUSTER_CLOSE_LOST);

	/* The same client's destination, but node b admitted the source: let go. */
	m.n_closed = 0;
	row = *t; /* now with CT2 on the destination, as taken */
	use_side(&row, SIDE_SOURCE, CT1);
	ops_apply_change(&env, "a", "tun", &row, "b");
	assert_int_equal(m.n_closed, 1);
	assert_int_equal(m.closed[0].side, SIDE_DESTINATION);
	assert_int_equal(m.closed[0].code, 1012);
	assert_string_equal(m.closed[0].reason, "its owner is now another relay node");
	registry_free(&r);
}

/* Which answer the APIs give for a side: here wins; else the owner's saved
 * flag, only when the owner is another node; one node: here alone. */
static void test_side_connected_answer(void **state)
{
	(void)state;
	struct registry_tunnel t;
	memset(&t, 0, sizeof(t));
	t.connected[SIDE_SOURCE] = true;
	/* one node (no node id): the stored flag is never the answer */
	assert_false(cluster_side_connected(&t, SIDE_SOURCE, false, NULL));
	assert_true(cluster_side_connected(&t, SIDE_DESTINATION, true, NULL));
	/* no owner known, or this node owns it: here alone (a restarted
	 * owner's stale flags say nothing) */
	assert_false(cluster_side_connected(&t, SIDE_SOURCE, false, "a"));
	snprintf(t.owner, sizeof(t.owner), "a");
	assert_false(cluster_side_connected(&t, SIDE_SOURCE, false, "a"));
	assert_true(cluster_side_connected(&t, SIDE_SOURCE, true, "a"));
	/* another node owns it: its flags */
	snprintf(t.owner, sizeof(t.owner), "b");
	assert_true(cluster_side_connected(&t, SIDE_SOURCE, false, "a"));
	assert_false(cluster_side_connected(&t, SIDE_DESTINATION, false, "a"));
	assert_true(cluster_side_connected(&t, SIDE_DESTINATION, true, "a"));
	assert_false(cluster_side_connected(&t, SIDE_SOURCE, false, NULL));
	/* closed: its ends are gone, whatever the (dead) owner saved */
	t.closed_at = 1700000000;
	assert_false(cluster_side_connected(&t, SIDE_SOURCE, false, "a"));
}

/* A side leaving saves only on the owner (or one node, or no owner yet). */
static void test_saves_leaving(void **state)
{
	(void)state;
	struct registry_tunnel t;
	memset(&t, 0, sizeof(t));
	assert_true(cluster_saves_leaving(&t, NULL));
	assert_true(cluster_saves_leaving(&t, "a"));
	snprintf(t.owner, sizeof(t.owner), "a");
	assert_true(cluster_saves_leaving(&t, "a"));
	assert_true(cluster_saves_leaving(&t, NULL));
	snprintf(t.owner, sizeof(t.owner), "b"); /* let go: b's row stands */
	assert_false(cluster_saves_leaving(&t, "a"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_node_id),
		cmocka_unit_test(test_plan_unknown_tunnel),
		cmocka_unit_test(test_plan_gone_or_closed),
		cmocka_unit_test(test_plan_rotated),
		cmocka_unit_test(test_plan_owner),
		cmocka_unit_test(test_plan_lost),
		cmocka_unit_test(test_take_row),
		cmocka_unit_test(test_copy_row),
		cmocka_unit_test(test_misses),
		cmocka_unit_test(test_misses_bounded),
		cmocka_unit_test(test_apply_insert_and_close),
		cmocka_unit_test(test_apply_rotate_lost_let_go),
		cmocka_unit_test(test_side_connected_answer),
		cmocka_unit_test(test_saves_leaving),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
