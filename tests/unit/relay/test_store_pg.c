/* Unit tests for relay/store_pg.c's several-node calls against a real
 * PostgreSQL: store_watch, store_claim_side, store_find_token, the
 * rev-conditional save, store_list_notifications and store_take_notification, with two or three stores in one process playing
 * the nodes. The database comes from STORE_PG_TEST_URI (an empty one:
 * tests/e2e/test_pg_store.py makes a throwaway cluster and runs this);
 * without it every test is skipped. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "common/token.h"
#include "relay/pending_notification.h"
#include "relay/registry.h"
#include "relay/store.h"
#include "relay/store_pg.h"
#include "tests/unit/relay/tunnel_asserts.h"

#define CLIENT_A "client-token-a-0123456789abcdef0123456789abcdef"
#define CLIENT_B "client-token-b-0123456789abcdef0123456789abcdef"
#define WAIT_MS 5000

/* What a node's watch callback was told, in order. */
struct node {
	const char *name;
	struct store *store;
	struct registry reg;
	int reports;
	char id[REGISTRY_MAX_ID + 1];
	bool gone;
	struct registry_tunnel row;
	char owner[64];
};

static void on_changed(void *arg, const char *tunnel_id, const struct registry_tunnel *row,
		       const char *owner)
{
	struct node *n = arg;
	n->reports++;
	snprintf(n->id, sizeof(n->id), "%s", tunnel_id);
	n->gone = row == NULL;
	if (row)
		n->row = *row;
	snprintf(n->owner, sizeof(n->owner), "%s", owner);
}

static const char *test_uri(void)
{
	const char *uri = getenv("STORE_PG_TEST_URI");
	return uri && uri[0] ? uri : NULL;
}

/* A node's store, its registry still empty. */
static void node_start(struct node *n, const char *name)
{
	char err[512] = "";
	memset(n, 0, sizeof(*n));
	n->name = name;
	n->store = store_pg_open(test_uri(), err, sizeof(err));
	if (n->store == NULL)
		fail_msg("store_pg_open: %s", err);
	registry_init(&n->reg);
}

static void node_open(struct node *n, const char *name)
{
	char err[512] = "";
	node_start(n, name);
	assert_true(store_load(n->store, &n->reg, err, sizeof(err)) >= 0);
}

static void node_watch(struct node *n)
{
	assert_int_equal(store_watch(n->store, n->name, on_changed, n), 0);
}

static void node_close(struct node *n)
{
	store_close(n->store);
	registry_free(&n->reg);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Polls n until it has had `want` reports (or the time is up). */
static void wait_reports(struct node *n, int want)
{
	for (int waited = 0; n->reports < want && waited < WAIT_MS; waited += 10) {
		store_poll(n->store);
		sleep_ms(10);
	}
	store_poll(n->store);
	assert_int_equal(n->reports, want);
}

/* Nothing more comes for n within a while. */
static void expect_quiet(struct node *n)
{
	int before = n->reports;
	for (int i = 0; i < 30; i++) {
		store_poll(n->store);
		sleep_ms(10);
	}
	assert_int_equal(n->reports, before);
}

struct outcome {
	int calls;
	char err[512];
};

static void on_done(void *ctx, const char *err)
{
	struct outcome *o = ctx;
	o->calls++;
	snprintf(o->err, sizeof(o->err), "%s", err ? err : "");
}

/* 0 done, 1 lost (STORE_LOST_RACE); anything else fails. */
static int save_wait(struct node *n, struct registry_tunnel *t)
{
	struct outcome o = { 0, "" };
	char err[256];
	assert_int_equal(store_save(n->store, t, on_done, &o, err, sizeof(err)), 0);
	store_flush(n->store);
	assert_int_equal(o.calls, 1);
	if (o.err[0] && !store_error_lost_race(o.err))
		fail_msg("save: %s", o.err);
	return o.err[0] ? 1 : 0;
}

static int claim_wait(struct node *n, const char *id, enum tunnel_side side, const char *client)
{
	struct outcome o = { 0, "" };
	char err[256];
	assert_int_equal(store_claim_side(n->store, id, side, client, n->name, 1 << side, on_done,
					  &o, err, sizeof(err)), 0);
	store_flush(n->store);
	assert_int_equal(o.calls, 1);
	if (o.err[0] && !store_error_lost_race(o.err))
		fail_msg("claim: %s", o.err);
	return o.err[0] ? 1 : 0;
}

static struct registry_tunnel *make_tunnel(unsigned n)
{
	struct registry_tunnel *t = calloc(1, sizeof(*t));
	assert_non_null(t);
	snprintf(t->id, sizeof(t->id), "pg-tunnel-%u-%ld", n, (long)time(NULL));
	snprintf(t->thing, sizeof(t->thing), "thing-%u", n);
	t->n_services = 1;
	snprintf(t->services[0], sizeof(t->services[0]), "%s", "SSH");
	for (int s = 0; s < 2; s++) {
		for (size_t i = 0; i < TOKEN_HASH_LEN; i++)
			t->side[s].token_hash[i] = (uint8_t)(i * 5 + 3 + n);
		t->side[s].token_hash[0] = (uint8_t)s;
		t->side[s].token_hash[1] = (uint8_t)(time(NULL) & 0xff);
	}
	t->lifetime_minutes = 60;
	t->created_at = 1700000000 + n;
	t->expires_at = t->created_at + 3600;
	return t;
}

/* Two nodes: each learns the other's writes (never its own), a claim
 * goes to one node, a stale copy's save loses and brings the row back. */
static void test_two_nodes_follow_each_other(void **state)
{
	(void)state;
	if (test_uri() == NULL)
		skip();
	struct node a, b;
	node_open(&a, "node-a");
	node_open(&b, "node-b");
	node_watch(&a);
	node_watch(&b);
	struct registry_tunnel *t = make_tunnel(1);

	/* a opens it: b hears of it, a does not. */
	assert_int_equal(save_wait(&a, t), 0);
	assert_int_equal(t->rev, 1);
	wait_reports(&b, 1);
	assert_string_equal(b.id, t->id);
	assert_false(b.gone);
	assert_same_tunnel(t, &b.row);
	assert_string_equal(b.owner, "");
	expect_quiet(&a);

	/* b admits the source: a learns the owner and the new rev. */
	assert_int_equal(claim_wait(&b, t->id, SIDE_SOURCE, CLIENT_B), 0);
	wait_reports(&a, 1);
	assert_string_equal(a.owner, "node-b");
	assert_int_equal(a.row.rev, 2);
	assert_true(a.row.side[SIDE_SOURCE].used);
	assert_string_equal(a.row.side[SIDE_SOURCE].client_token, CLIENT_B);
	/* The claim says which sides the owner holds (a lost save may have
	 * written none). */
	assert_true(a.row.connected[SIDE_SOURCE]);
	assert_false(a.row.connected[SIDE_DESTINATION]);
	/* Another client for that side: lost, here and from a. */
	assert_int_equal(claim_wait(&a, t->id, SIDE_SOURCE, CLIENT_A), 1);
	assert_int_equal(claim_wait(&a, t->id, SIDE_SOURCE, ""), 1);
	/* The same client again (a reconnect through the other node): won. */
	assert_int_equal(claim_wait(&a, t->id, SIDE_SOURCE, CLIENT_B), 0);
	wait_reports(&b, 2);
	assert_string_equal(b.owner, "node-a");
	assert_int_equal(b.row.rev, 3);

	/* a's copy is stale (rev 1): its save loses and the stored row comes
	 * back to a before the answer. */
	int before = a.reports;
	snprintf(t->description, sizeof(t->description), "%s", "stale");
	assert_int_equal(save_wait(&a, t), 1);
	assert_true(a.reports > before);
	assert_int_equal(a.row.rev, 3);
	assert_string_equal(a.row.description, "");

	/* Taking the row's rev, the next save goes through. */
	t->rev = a.row.rev;
	t->side[SIDE_SOURCE] = a.row.side[SIDE_SOURCE];
	assert_int_equal(save_wait(&a, t), 0);
	assert_int_equal(t->rev, 4);

	/* b finds it by either token. */
	for (int side = 0; side < 2; side++) {
		struct found f = { 0 };
		char err[256];
		assert_int_equal(store_find_token(b.store, t->side[side].token_hash, on_found, &f, err,
						  sizeof(err)), 0);
		store_flush(b.store);
		assert_int_equal(f.calls, 1);
		assert_string_equal(f.err, "");
		assert_true(f.hit);
		assert_same_tunnel(t, &f.row);
	}

	/* b closes it with a stale copy: the close wins (any rev), a hears. */
	wait_reports(&b, 3);
	struct registry_tunnel closing = b.row;
	closing.rev = 1;
	closing.closed_at = closing.created_at + 60;
	int a_before = a.reports;
	assert_int_equal(save_wait(&b, &closing), 0);
	wait_reports(&a, a_before + 1);
	assert_int_equal(a.row.closed_at, closing.closed_at);
	/* a's open copy cannot reopen it, nor close it again. */
	assert_int_equal(save_wait(&a, t), 1);
	t->closed_at = t->created_at + 99;
	assert_int_equal(save_wait(&a, t), 1);
	assert_int_equal(claim_wait(&a, t->id, SIDE_DESTINATION, ""), 1);

	/* Deleted on b: a learns that it is gone. */
	a_before = a.reports;
	closing.deleted = true;
	assert_int_equal(save_wait(&b, &closing), 0);
	wait_reports(&a, a_before + 1);
	assert_true(a.gone);
	assert_string_equal(a.id, t->id);

	/* A tunnel the database does not hold: nothing to race for. */
	assert_int_equal(claim_wait(&a, "never-stored", SIDE_SOURCE, ""), 0);
	node_close(&a);
	node_close(&b);
	free(t);
}

/* A node that starts again holds no side: store_reset_node clears the
 * connected flags of its rows (only its own), the other nodes hear, and a
 * second reset finds nothing. */
static void test_reset_node_clears_its_connected_flags(void **state)
{
	(void)state;
	if (test_uri() == NULL)
		skip();
	struct node a, b;
	node_open(&a, "node-e");
	node_open(&b, "node-f");
	node_watch(&b);
	struct registry_tunnel *mine = make_tunnel(11), *theirs = make_tunnel(12);
	assert_int_equal(save_wait(&a, mine), 0);
	assert_int_equal(save_wait(&a, theirs), 0);
	wait_reports(&b, 2);
	assert_int_equal(claim_wait(&a, mine->id, SIDE_DESTINATION, ""), 0);
	assert_int_equal(claim_wait(&b, theirs->id, SIDE_SOURCE, ""), 0);
	wait_reports(&b, 3);
	assert_true(b.row.connected[SIDE_DESTINATION]);
	int64_t rev = b.row.rev;

	/* node-e starts again: the reset comes before its load. */
	node_close(&a);
	char err[256] = "";
	struct node a2;
	node_start(&a2, "node-e");
	assert_int_equal(store_reset_node(a2.store, "node-e", err, sizeof(err)), 1);
	wait_reports(&b, 4);
	assert_string_equal(b.id, mine->id);
	assert_string_equal(b.owner, "node-e");
	assert_false(b.row.connected[SIDE_SOURCE]);
	assert_false(b.row.connected[SIDE_DESTINATION]);
	assert_int_equal(b.row.rev, rev + 1);
	assert_int_equal(store_reset_node(a2.store, "node-e", err, sizeof(err)), 0);
	assert_int_equal(store_reset_node(a2.store, "node e", err, sizeof(err)), -1);
	/* Loaded after the reset: the cleared row at its new rev; b's row untouched. */
	assert_true(store_load(a2.store, &a2.reg, err, sizeof(err)) >= 0);
	const struct registry_tunnel *got = registry_find_id(&a2.reg, mine->id);
	assert_non_null(got);
	assert_false(got->connected[SIDE_DESTINATION]);
	assert_int_equal(got->rev, rev + 1);
	got = registry_find_id(&a2.reg, theirs->id);
	assert_non_null(got);
	assert_true(got->connected[SIDE_SOURCE]);
	expect_quiet(&b);
	node_close(&a2);
	node_close(&b);
	free(mine);
	free(theirs);
}

/* What changed before a node listened (started, or reconnected) comes as
 * one reload: rows at another rev, new rows, rows gone. */
static void test_watch_reloads(void **state)
{
	(void)state;
	if (test_uri() == NULL)
		skip();
	struct node a, c;
	node_open(&a, "node-a");
	struct registry_tunnel *kept = make_tunnel(2), *changed = make_tunnel(3),
			       *removed = make_tunnel(4), *added = make_tunnel(5);
	assert_int_equal(save_wait(&a, kept), 0);
	assert_int_equal(save_wait(&a, changed), 0);
	assert_int_equal(save_wait(&a, removed), 0);
	node_open(&c, "node-c"); /* loads the three */
	assert_int_equal(save_wait(&a, changed), 0);
	removed->deleted = true;
	assert_int_equal(save_wait(&a, removed), 0);
	assert_int_equal(save_wait(&a, added), 0);
	node_watch(&c);
	/* changed, added, removed (kept and the first test's rows: unchanged) */
	wait_reports(&c, 3);
	expect_quiet(&c);
	node_close(&a);
	node_close(&c);
	free(kept);
	free(changed);
	free(removed);
	free(added);
}

/* Ends every other connection of the test's role (the stores'), as a
 * database restart would. */
static void drop_connections(void)
{
	PGconn *conn = PQconnectdb(test_uri());
	assert_int_equal(PQstatus(conn), CONNECTION_OK);
	PGresult *res = PQexec(conn, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
				     " WHERE usename = current_user AND pid <> pg_backend_pid()");
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_true(PQntuples(res) >= 1);
	PQclear(res);
	PQfinish(conn);
}

/* Notifications sent while a node is away are lost: after reconnecting it
 * reloads, and reports what changed meanwhile, once. */
static void test_reconnect_reloads(void **state)
{
	(void)state;
	if (test_uri() == NULL)
		skip();
	struct node a, c;
	node_open(&a, "node-a");
	struct registry_tunnel *changed = make_tunnel(6), *removed = make_tunnel(7);
	assert_int_equal(save_wait(&a, changed), 0);
	assert_int_equal(save_wait(&a, removed), 0);
	node_open(&c, "node-c");
	node_watch(&c);
	expect_quiet(&c);
	drop_connections();
	/* a's jobs reconnect at once; c's worker waits its 1 s back-off. */
	assert_int_equal(save_wait(&a, changed), 0);
	removed->deleted = true;
	assert_int_equal(save_wait(&a, removed), 0);
	wait_reports(&c, 2);
	expect_quiet(&c);
	assert_true(c.gone);
	assert_string_equal(c.id, removed->id);
	node_close(&a);
	node_close(&c);
	free(changed);
	free(removed);
}

/* What a reading of the kept notifications handed over for one tunnel. */
struct listing {
	const char *id;
	int rows, done, mine;
	struct pending_notification got;
	char err[512];
};

static int on_row(void *ctx, const struct pending_notification *pn)
{
	struct listing *l = ctx;
	l->rows++;
	if (!strcmp(pn->tunnel_id, l->id)) {
		l->mine++;
		l->got = *pn;
	}
	return 0;
}

static void on_listed(void *ctx, const char *err)
{
	struct listing *l = ctx;
	l->done++;
	snprintf(l->err, sizeof(l->err), "%s", err ? err : "");
}

static void list_wait(struct node *n, struct listing *l)
{
	char err[512] = "";
	const char *id = l->id;
	memset(l, 0, sizeof(*l));
	l->id = id;
	assert_int_equal(store_list_notifications(n->store, on_row, on_listed, l, err, sizeof(err)),
			 0);
	for (int waited = 0; !l->done && waited < WAIT_MS; waited += 10) {
		store_poll(n->store);
		sleep_ms(10);
	}
	assert_int_equal(l->done, 1);
	assert_string_equal(l->err, "");
}

/* n keeps a notification of CLIENT_A for SSH into pn. */
static void keep_wait(struct node *n, struct pending_notification *pn, const char *tunnel_id,
		      const char *thing, int64_t since)
{
	memset(pn, 0, sizeof(*pn));
	snprintf(pn->tunnel_id, sizeof(pn->tunnel_id), "%s", tunnel_id);
	snprintf(pn->thing, sizeof(pn->thing), "%s", thing);
	pn->n_services = 1;
	snprintf(pn->services[0], sizeof(pn->services[0]), "%s", "SSH");
	snprintf(pn->token, sizeof(pn->token), "%s", CLIENT_A);
	pn->since = since;
	struct outcome o = { 0, "" };
	char err[512] = "";
	assert_int_equal(store_keep_notification(n->store, pn, on_done, &o, err, sizeof(err)), 0);
	store_flush(n->store);
	assert_int_equal(o.calls, 1);
	assert_string_equal(o.err, "");
}

/* One node's kept notification is read by another (token included), and
 * is gone from the reading once dropped. */
static void test_list_notifications(void **state)
{
	(void)state;
	if (test_uri() == NULL)
		skip();
	struct node a, b;
	node_open(&a, "node-a");
	node_open(&b, "node-b");
	struct pending_notification pn;
	keep_wait(&a, &pn, "kept-by-a", "nanopi-01", 1767225600);

	struct listing l = { .id = "kept-by-a" };
	list_wait(&b, &l);
	assert_int_equal(l.mine, 1);
	assert_string_equal(l.got.token, CLIENT_A);
	assert_string_equal(l.got.thing, "nanopi-01");
	assert_string_equal(l.got.services[0], "SSH");
	assert_int_equal(l.got.n_services, 1);
	assert_int_equal(l.got.since, pn.since);

	store_drop_notification_logged(a.store, &pn);
	store_flush(a.store);
	list_wait(&b, &l);
	assert_int_equal(l.mine, 0);
	pending_notification_wipe(&l.got);
	node_close(&a);
	node_close(&b);
}

/* 0 taken, 1 lost (STORE_LOST_RACE); anything else fails. */
static int take_wait(struct node *n, const struct pending_notification *pn, int64_t now)
{
	struct outcome o = { 0, "" };
	char err[256];
	assert_int_equal(store_take_notification(n->store, pn, now, on_done, &o, err, sizeof(err)),
			 0);
	store_flush(n->store);
	assert_int_equal(o.calls, 1);
	if (o.err[0] && !store_error_lost_race(o.err))
		fail_msg("take: %s", o.err);
	return o.err[0] ? 1 : 0;
}

/* The take: one node wins a row, a take with the since it saw before
 * loses, and no take wins while the tunnel's destination token is another
 * (rotated) or the tunnel is closed. */
static void test_take_notification(void **state)
{
	(void)state;
	if (test_uri() == NULL)
		skip();
	struct node a, b;
	node_open(&a, "node-a");
	node_open(&b, "node-b");
	struct registry_tunnel *t = make_tunnel(7);
	assert_int_equal(token_hash(CLIENT_A, strlen(CLIENT_A), t->side[SIDE_DESTINATION].token_hash),
			 0);
	assert_int_equal(save_wait(&a, t), 0);
	struct pending_notification pn;
	keep_wait(&a, &pn, t->id, t->thing, t->created_at + 10);

	int64_t now = pn.since + 20;
	assert_int_equal(take_wait(&b, &pn, now), 0);   /* b wins */
	assert_int_equal(take_wait(&a, &pn, now), 1);   /* a saw the old since: lost */
	struct listing l = { .id = t->id };
	list_wait(&a, &l);
	assert_int_equal(l.mine, 1);
	assert_int_equal(l.got.since, now);             /* the lease: young again */
	struct pending_notification wrong = pn;
	wrong.since = now;
	snprintf(wrong.token, sizeof(wrong.token), "%s", CLIENT_B);
	assert_int_equal(take_wait(&a, &wrong, now + 1), 1); /* another token than the row's */

	/* Rotated (the stored tunnel's destination hash is another): never taken. */
	pn.since = now;
	uint8_t kept[TOKEN_HASH_LEN];
	memcpy(kept, t->side[SIDE_DESTINATION].token_hash, TOKEN_HASH_LEN);
	assert_int_equal(token_hash(CLIENT_B, strlen(CLIENT_B), t->side[SIDE_DESTINATION].token_hash),
			 0);
	assert_int_equal(save_wait(&a, t), 0);
	assert_int_equal(take_wait(&b, &pn, now + 1), 1);
	memcpy(t->side[SIDE_DESTINATION].token_hash, kept, TOKEN_HASH_LEN);
	assert_int_equal(save_wait(&a, t), 0);
	assert_int_equal(take_wait(&b, &pn, now + 2), 0); /* current again: the take works */

	/* Closed: never taken. */
	pn.since = now + 2;
	t->closed_at = now + 3;
	assert_int_equal(save_wait(&a, t), 0);
	assert_int_equal(take_wait(&b, &pn, now + 4), 1);

	store_drop_notification_logged(a.store, &pn);
	store_flush(a.store);
	pending_notification_wipe(&pn);
	pending_notification_wipe(&wrong);
	pending_notification_wipe(&l.got);
	free(t);
	node_close(&a);
	node_close(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_nodes_follow_each_other),
		cmocka_unit_test(test_reset_node_clears_its_connected_flags),
		cmocka_unit_test(test_watch_reloads),
		cmocka_unit_test(test_reconnect_reloads),
		cmocka_unit_test(test_list_notifications),
		cmocka_unit_test(test_take_notification),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
