/* Unit tests for relay/store.c: the SQLite tunnel store. Each test uses its
 * own database file in a temporary directory removed at the end. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "relay/pending_notification.h"
#include "relay/registry.h"
#include "relay/store.h"
#include "relay/store_sqlite.h"
#include "relay/things.h"
#include "tests/unit/relay/tunnel_asserts.h"

#define CLIENT_SRC "client-token-source-0123456789abcdef0123456789abcdef"
#define CLIENT_DST "client-token-destination-0123456789abcdef0123456789"

static char tmpdir[64];

static int group_setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s", "/tmp/test_store.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

/* Removes the databases with their -wal and -shm files, then the dir. */
static int group_teardown(void **state)
{
	DIR *d = opendir(tmpdir);
	if (d == NULL)
		return -1;
	struct dirent *e;
	char path[512];
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name);
		unlink(path);
	}
	closedir(d);
	return rmdir(tmpdir);
}

static void db_path(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", tmpdir, name);
}

/* ---- direct SQLite access, to inspect and corrupt the file ---------------- */

static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
					 NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* The first column of the first row of sql, as text. */
static void raw_text(const char *path, const char *sql, char *out, size_t cap)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	const unsigned char *v = sqlite3_column_text(st, 0);
	snprintf(out, cap, "%s", v ? (const char *)v : "");
	assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* What a database older than version 5 lacks (for the migration tests). */
#define BEFORE_V5                                                                  \
	"ALTER TABLE tunnels DROP COLUMN owner; ALTER TABLE tunnels DROP COLUMN rev; " \
	"ALTER TABLE tunnels DROP COLUMN connected; "

/* ---- tunnels ---------------------------------------------------------------- */

/* A tunnel with distinct hashes derived from n; calloc'd like the store's. */
static struct registry_tunnel *make_tunnel(unsigned n, size_t n_services)
{
	static const char *const svc[] = { "SSH", "HTTP:8080", "rdp_1-x" };
	struct registry_tunnel *t = calloc(1, sizeof(*t));
	assert_non_null(t);
	snprintf(t->id, sizeof(t->id), "tunnel-%u", n);
	snprintf(t->thing, sizeof(t->thing), "thing-%u", n % 7);
	snprintf(t->description, sizeof(t->description), "tunnel number %u, 'quoted' \"too\"", n);
	t->n_services = n_services;
	for (size_t i = 0; i < n_services; i++)
		snprintf(t->services[i], sizeof(t->services[i]), "%s", svc[i]);
	for (int s = 0; s < 2; s++) {
		for (size_t i = 0; i < TOKEN_HASH_LEN; i++)
			t->side[s].token_hash[i] = (uint8_t)(i * 7 + 1);
		t->side[s].token_hash[0] = (uint8_t)s;
		memcpy(&t->side[s].token_hash[1], &n, sizeof(n));
		t->side_changed_at[s] = 1700000000 + n + s;
		t->connected[s] = ((n + s) & 1) != 0; /* both values round-trip */
	}
	t->lifetime_minutes = 720;
	t->created_at = 1700000000 + n;
	t->expires_at = t->created_at + 720 * 60;
	return t;
}

static void set_client_tokens(struct registry_tunnel *t)
{
	t->side[SIDE_SOURCE].used = true;
	t->side[SIDE_SOURCE].has_client_token = true;
	snprintf(t->side[SIDE_SOURCE].client_token, sizeof(t->side[0].client_token), "%s",
		 CLIENT_SRC);
	t->side[SIDE_DESTINATION].used = true;
	t->side[SIDE_DESTINATION].has_client_token = true;
	snprintf(t->side[SIDE_DESTINATION].client_token, sizeof(t->side[1].client_token), "%s",
		 CLIENT_DST);
}

static void assert_tunnel_equal(const struct registry_tunnel *a, const struct registry_tunnel *b)
{
	assert_same_tunnel(a, b);
}

static struct store *open_ok(const char *path)
{
	char err[512] = "";
	struct store *s = store_sqlite_open(path, err, sizeof(err));
	if (s == NULL)
		fail_msg("store_sqlite_open: %s", err);
	return s;
}

struct outcome {
	int calls;
	char err[512];
};

static void on_saved(void *ctx, const char *err)
{
	struct outcome *o = ctx;
	o->calls++;
	snprintf(o->err, sizeof(o->err), "%s", err ? err : "");
}

/* Saves t and waits for the outcome: 0, or -1 with the reason in err. */
static int save_wait(struct store *s, struct registry_tunnel *t, char *err, size_t cap)
{
	struct outcome o = { 0, "" };
	if (store_save(s, t, on_saved, &o, err, cap) != 0) {
		store_flush(s);
		assert_int_equal(o.calls, 0); /* refused at once: no callback */
		return -1;
	}
	store_flush(s);
	assert_int_equal(o.calls, 1);
	snprintf(err, cap, "%s", o.err);
	return o.err[0] ? -1 : 0;
}

static void save_ok(struct store *s, struct registry_tunnel *t)
{
	char err[512] = "";
	if (save_wait(s, t, err, sizeof(err)) != 0)
		fail_msg("store_save: %s", err);
}

/* Opens path, saves t, closes. */
static void save_one(const char *path, struct registry_tunnel *t)
{
	struct store *s = open_ok(path);
	save_ok(s, t);
	store_close(s);
}

/* Loads path into a fresh registry and expects a failure naming want. */
static void assert_load_fails(const char *path, const char *want)
{
	struct store *s = open_ok(path);
	struct registry r;
	char err[512] = "";
	registry_init(&r);
	assert_int_equal(store_load(s, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, want));
	assert_null(strstr(err, CLIENT_SRC));
	assert_null(strstr(err, CLIENT_DST));
	registry_free(&r);
	store_close(s);
}

/* ---- open ------------------------------------------------------------------- */

static void test_open_creates_wal(void **state)
{
	char path[256], text[32];
	db_path(path, sizeof(path), "wal.db");
	struct store *s = open_ok(path);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600); /* it holds client tokens */
	/* A second connection sees the persistent WAL mode and the schema. */
	raw_text(path, "PRAGMA journal_mode", text, sizeof(text));
	assert_string_equal(text, "wal");
	raw_text(path, "PRAGMA user_version", text, sizeof(text));
	assert_string_equal(text, "5");
	raw_text(path, "SELECT count(*) FROM sqlite_master WHERE name = 'tunnels_thing'",
		 text, sizeof(text));
	assert_string_equal(text, "1");
	store_close(s);
	store_close(NULL);
}

static void test_open_newer_version_fails(void **state)
{
	char path[256], err[512] = "";
	db_path(path, sizeof(path), "future.db");
	raw_exec(path, "PRAGMA user_version = 99");
	assert_null(store_sqlite_open(path, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "schema version 99"));
}

static void test_open_missing_dir_fails(void **state)
{
	char path[256], err[512] = "";
	db_path(path, sizeof(path), "no-such-dir/tunnels.db");
	assert_null(store_sqlite_open(path, err, sizeof(err)));
	assert_non_null(strstr(err, path));
}

static void test_open_not_a_database_fails(void **state)
{
	char path[256], err[512] = "";
	db_path(path, sizeof(path), "garbage.db");
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < 200; i++)
		fputs("this is not an SQLite database. ", f);
	assert_int_equal(fclose(f), 0);
	assert_null(store_sqlite_open(path, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "not a database"));
}

/* ---- save / load -------------------------------------------------------- */

static void test_round_trip(void **state)
{
	char path[256], err[512] = "";
	db_path(path, sizeof(path), "round.db");
	struct registry_tunnel *open_t = make_tunnel(1, 3);
	set_client_tokens(open_t);
	snprintf(open_t->tags, sizeof(open_t->tags), "[{\"key\":\"team\",\"value\":\"o'neil\"}]");
	struct registry_tunnel *closed_t = make_tunnel(2, 1);
	closed_t->side[SIDE_SOURCE].used = true; /* used, but without a client token */
	closed_t->closed_at = closed_t->created_at + 99;
	closed_t->lifetime_minutes = 0;
	closed_t->expires_at = 0;
	closed_t->thing[0] = '\0';

	struct store *s = open_ok(path);
	save_ok(s, open_t);
	save_ok(s, closed_t);
	struct registry r;
	registry_init(&r);
	assert_int_equal(store_load(s, &r, err, sizeof(err)), 2);
	assert_int_equal(r.n, 2);
	assert_tunnel_equal(open_t, registry_find_id(&r, "tunnel-1"));
	assert_tunnel_equal(closed_t, registry_find_id(&r, "tunnel-2"));
	registry_free(&r);
	store_close(s);
	free(open_t);
	free(closed_t);
}

static void test_save_twice_replaces(void **state)
{
	char path[256], text[32], err[512] = "";
	db_path(path, sizeof(path), "replace.db");
	struct registry_tunnel *t = make_tunnel(3, 2);
	struct store *s = open_ok(path);
	save_ok(s, t);
	set_client_tokens(t);
	t->closed_at = t->created_at + 5;
	save_ok(s, t);
	raw_text(path, "SELECT count(*) FROM tunnels", text, sizeof(text));
	assert_string_equal(text, "1");
	struct registry r;
	registry_init(&r);
	assert_int_equal(store_load(s, &r, err, sizeof(err)), 1);
	assert_tunnel_equal(t, r.tunnels[0]);
	registry_free(&r);
	store_close(s);
	free(t);
}

static void test_reopen_keeps_data(void **state)
{
	char path[256], err[512] = "";
	db_path(path, sizeof(path), "durable.db");
	struct registry_tunnel *t = make_tunnel(4, 1);
	set_client_tokens(t);
	save_one(path, t);
	struct store *s = open_ok(path);
	struct registry r;
	registry_init(&r);
	assert_int_equal(store_load(s, &r, err, sizeof(err)), 1);
	assert_tunnel_equal(t, r.tunnels[0]);
	registry_free(&r);
	store_close(s);
	free(t);
}

/* A version 1 database (before tags) gains the column; its rows get "". */
static void test_migrate_v1_adds_tags(void **state)
{
	char path[256], text[32], err[512] = "";
	db_path(path, sizeof(path), "v1.db");
	struct registry_tunnel *t = make_tunnel(5, 1);
	save_one(path, t);
	raw_exec(path, "ALTER TABLE tunnels DROP COLUMN tags; " BEFORE_V5 "PRAGMA user_version = 1;");
	struct store *s = open_ok(path);
	raw_text(path, "PRAGMA user_version", text, sizeof(text));
	assert_string_equal(text, "5");
	struct registry r;
	registry_init(&r);
	assert_int_equal(store_load(s, &r, err, sizeof(err)), 1);
	t->rev = 0; /* rows of older versions start at rev 0 */
	t->connected[SIDE_SOURCE] = t->connected[SIDE_DESTINATION] = false; /* and none connected */
	assert_tunnel_equal(t, r.tunnels[0]);
	assert_string_equal(r.tunnels[0]->tags, "");
	registry_free(&r);
	store_close(s);
	free(t);
}

/* Saving a deleted tunnel removes its row (CloseTunnel with delete). */
static void test_save_deleted_removes_row(void **state)
{
	char path[256], err[512] = "";
	db_path(path, sizeof(path), "delete.db");
	struct registry_tunnel *a = make_tunnel(6, 1), *b = make_tunnel(7, 1);
	struct store *s = open_ok(path);
	save_ok(s, a);
	save_ok(s, b);
	a->closed_at = a->created_at + 1;
	a->deleted = true;
	save_ok(s, a);
	save_ok(s, a); /* deleting what is gone is no error */
	struct registry r;
	registry_init(&r);
	assert_int_equal(store_load(s, &r, err, sizeof(err)), 1);
	assert_tunnel_equal(b, r.tunnels[0]);
	registry_free(&r);
	store_close(s);
	free(a);
	free(b);
}

static void test_load_empty(void **state)
{
	char path[256], err[512] = "";
	db_path(path, sizeof(path), "empty.db");
	struct store *s = open_ok(path);
	struct registry r;
	registry_init(&r);
	assert_int_equal(store_load(s, &r, err, sizeof(err)), 0);
	assert_int_equal(r.n, 0);
	store_close(s);
}

static void test_save_rejects_invalid(void **state)
{
	char path[256], text[32], err[512] = "";
	db_path(path, sizeof(path), "invalid.db");
	struct registry_tunnel *t = make_tunnel(5, 1);
	struct store *s = open_ok(path);
	snprintf(t->services[0], sizeof(t->services[0]), "%s", "bad service");
	assert_int_equal(save_wait(s, t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "tunnel-5"));
	snprintf(t->services[0], sizeof(t->services[0]), "%s", "SSH");
	set_client_tokens(t);
	t->side[SIDE_SOURCE].client_token[3] = ' '; /* no longer a valid client token */
	assert_int_equal(save_wait(s, t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "client token"));
	assert_null(strstr(err, "token-source")); /* the (broken) token itself is not shown */
	t->id[0] = '\0';
	assert_int_equal(save_wait(s, t, err, sizeof(err)), -1);
	raw_text(path, "SELECT count(*) FROM tunnels", text, sizeof(text));
	assert_string_equal(text, "0");
	store_close(s);
	free(t);
}

/* ---- bad rows ---------------------------------------------------------- */

static void test_load_bad_service(void **state)
{
	char path[256];
	db_path(path, sizeof(path), "bad-service.db");
	struct registry_tunnel *t = make_tunnel(6, 2);
	set_client_tokens(t);
	save_one(path, t);
	raw_exec(path, "UPDATE tunnels SET services = '[\"SSH\",\"bad service\"]'");
	assert_load_fails(path, "tunnel-6");
	raw_exec(path, "UPDATE tunnels SET services = 'SSH,HTTP'");
	assert_load_fails(path, "tunnel-6");
	raw_exec(path, "UPDATE tunnels SET services = '[\"SSH\",\"SSH\"]'");
	assert_load_fails(path, "tunnel-6");
	raw_exec(path, "UPDATE tunnels SET services = '[]'");
	assert_load_fails(path, "tunnel-6");
	free(t);
}

static void test_load_short_hash(void **state)
{
	char path[256];
	db_path(path, sizeof(path), "short-hash.db");
	struct registry_tunnel *t = make_tunnel(7, 1);
	set_client_tokens(t);
	save_one(path, t);
	raw_exec(path, "UPDATE tunnels SET destination_token_hash = zeroblob(31)");
	assert_load_fails(path, "tunnel-7");
	free(t);
}

static void test_load_bad_fields(void **state)
{
	static const char *const updates[] = {
		"UPDATE tunnels SET source_used = 2",
		"UPDATE tunnels SET created_at = 'yesterday'",
		"UPDATE tunnels SET lifetime_minutes = -1",
		"UPDATE tunnels SET source_client_token = 'short'",
		"UPDATE tunnels SET thing = printf('%.200c', 'x')",
		"UPDATE tunnels SET source_token_hash = CAST(zeroblob(32) AS TEXT)",
	};
	char path[256];
	db_path(path, sizeof(path), "bad-fields.db");
	struct registry_tunnel *t = make_tunnel(8, 1);
	for (size_t i = 0; i < sizeof(updates) / sizeof(updates[0]); i++) {
		save_one(path, t);
		raw_exec(path, updates[i]);
		assert_load_fails(path, "tunnel-8");
	}
	/* A bad id cannot be quoted: the message points at the row instead. */
	save_one(path, t);
	raw_exec(path, "UPDATE tunnels SET id = 'bad id'");
	assert_load_fails(path, "row 1");
	free(t);
}

/* Two rows with one token hash: registry_insert refuses the second. */
static void test_load_duplicate_hash(void **state)
{
	char path[256];
	db_path(path, sizeof(path), "dup-hash.db");
	struct registry_tunnel *a = make_tunnel(9, 1);
	struct registry_tunnel *b = make_tunnel(10, 1);
	memcpy(b->side[SIDE_DESTINATION].token_hash, a->side[SIDE_SOURCE].token_hash,
	       TOKEN_HASH_LEN);
	struct store *s = open_ok(path);
	save_ok(s, a);
	save_ok(s, b);
	store_close(s);
	assert_load_fails(path, "tunnel-10");
	free(a);
	free(b);
}

static void test_many_tunnels(void **state)
{
	enum { N = 1000 };
	char path[256], err[512] = "";
	db_path(path, sizeof(path), "many.db");
	struct store *s = open_ok(path);
	for (unsigned i = 0; i < N; i++) {
		struct registry_tunnel *t = make_tunnel(i, 1 + i % 3);
		if (i % 2)
			set_client_tokens(t);
		save_ok(s, t);
		free(t);
	}
	store_close(s);

	s = open_ok(path);
	struct registry r;
	registry_init(&r);
	assert_int_equal(store_load(s, &r, err, sizeof(err)), N);
	for (unsigned i = 0; i < N; i++) {
		struct registry_tunnel *t = make_tunnel(i, 1 + i % 3);
		if (i % 2)
			set_client_tokens(t);
		t->rev = 1; /* saved once */
		char id[32];
		snprintf(id, sizeof(id), "tunnel-%u", i);
		const struct registry_tunnel *got = registry_find_id(&r, id);
		assert_non_null(got);
		assert_tunnel_equal(t, got);
		free(t);
	}
	registry_free(&r);
	store_close(s);
}

/* ---- the asynchronous seam ---------------------------------------------- */

static int wakes;

static void count_wake(void *arg)
{
	__atomic_add_fetch((int *)arg, 1, __ATOMIC_SEQ_CST);
}

/* The outcome comes from poll or flush on the caller's thread, never from
 * inside store_save; the thread wakes the loop for it. */
static void test_callback_comes_later(void **state)
{
	char path[256], err[512] = "", text[32];
	db_path(path, sizeof(path), "later.db");
	struct registry_tunnel *t = make_tunnel(11, 1);
	struct store *s = open_ok(path);
	store_set_waker(s, count_wake, &wakes);
	struct outcome o = { 0, "" };
	assert_int_equal(store_save(s, t, on_saved, &o, err, sizeof(err)), 0);
	assert_int_equal(o.calls, 0);
	store_flush(s);
	assert_int_equal(o.calls, 1);
	assert_string_equal(o.err, "");
	assert_true(__atomic_load_n(&wakes, __ATOMIC_SEQ_CST) >= 1);
	store_poll(s); /* nothing left: no second call */
	assert_int_equal(o.calls, 1);
	raw_text(path, "SELECT count(*) FROM tunnels", text, sizeof(text));
	assert_string_equal(text, "1");
	store_set_waker(s, NULL, NULL);
	store_close(s);
	free(t);
}

/* A forgotten save is still written; only its callback is dropped. */
static void test_forget_keeps_the_save(void **state)
{
	char path[256], err[512] = "", text[32];
	db_path(path, sizeof(path), "forget.db");
	struct registry_tunnel *t = make_tunnel(12, 1);
	struct store *s = open_ok(path);
	struct outcome o = { 0, "" }, other = { 0, "" };
	assert_int_equal(store_save(s, t, on_saved, &o, err, sizeof(err)), 0);
	t->closed_at = t->created_at + 1;
	assert_int_equal(store_save(s, t, on_saved, &other, err, sizeof(err)), 0);
	store_forget(s, &o);
	store_flush(s);
	assert_int_equal(o.calls, 0);
	assert_int_equal(other.calls, 1);
	/* In order: the later save is the one that stays. */
	raw_text(path, "SELECT closed_at - created_at FROM tunnels", text, sizeof(text));
	assert_string_equal(text, "1");
	store_close(s);
	free(t);
}

/* Closing writes what is still queued and runs its callbacks. */
static void test_close_drains(void **state)
{
	char path[256], err[512] = "";
	db_path(path, sizeof(path), "drain.db");
	struct store *s = open_ok(path);
	enum { N = 50 };
	struct outcome o[N];
	struct registry_tunnel *t[N];
	for (int i = 0; i < N; i++) {
		o[i].calls = 0;
		t[i] = make_tunnel(100 + (unsigned)i, 1);
		assert_int_equal(store_save(s, t[i], on_saved, &o[i], err, sizeof(err)), 0);
	}
	store_close(s);
	for (int i = 0; i < N; i++) {
		assert_int_equal(o[i].calls, 1);
		assert_string_equal(o[i].err, "");
	}
	s = open_ok(path);
	struct registry r;
	registry_init(&r);
	assert_int_equal(store_load(s, &r, err, sizeof(err)), N);
	for (int i = 0; i < N; i++) {
		assert_tunnel_equal(t[i], registry_find_id(&r, t[i]->id));
		free(t[i]);
	}
	registry_free(&r);
	store_close(s);
}

/* A --tunnels file entry is configuration: saving it succeeds and writes
 * nothing. */
static void test_from_file_not_written(void **state)
{
	char path[256], text[32];
	db_path(path, sizeof(path), "from-file.db");
	struct registry_tunnel *t = make_tunnel(13, 1);
	t->from_file = true;
	struct store *s = open_ok(path);
	save_ok(s, t);
	raw_text(path, "SELECT count(*) FROM tunnels", text, sizeof(text));
	assert_string_equal(text, "0");
	store_close(s);
	free(t);
}

/* ---- kept notifications ------------------------------------------------------ */

#define NOTE_TOKEN "Abcdefghijklmnopqrstuvwxyz0123456789_-ABCDE"

struct loaded_notes {
	int n;
	struct pending_notification pn[4];
};

static int take_note(void *arg, const struct pending_notification *pn)
{
	struct loaded_notes *l = arg;
	if (l->n >= 4)
		return -1;
	l->pn[l->n++] = *pn;
	return 0;
}

static void make_note(struct pending_notification *pn, unsigned n, const char *token)
{
	struct registry_tunnel *t = make_tunnel(n, 2);
	assert_int_equal(pending_notification_make(pn, t, token, 1700000100 + n), 0);
	free(t);
}

static void keep_ok(struct store *s, const struct pending_notification *pn)
{
	struct outcome o = { 0, "" };
	char err[512] = "";
	if (store_keep_notification(s, pn, on_saved, &o, err, sizeof(err)))
		fail_msg("store_keep_notification: %s", err);
	assert_int_equal(o.calls, 0); /* the answer comes later, from the loop */
	store_flush(s);
	assert_int_equal(o.calls, 1);
	assert_string_equal(o.err, "");
}

static int load_notes(const char *path, struct loaded_notes *l)
{
	struct store *s = open_ok(path);
	char err[512] = "";
	memset(l, 0, sizeof(*l));
	int n = store_load_notifications(s, take_note, l, err, sizeof(err));
	store_close(s);
	return n;
}

static void test_notifications_keep_replace_drop(void **state)
{
	char path[128];
	db_path(path, sizeof(path), "notes.db");
	struct store *s = open_ok(path);
	struct pending_notification a, b, a2;
	make_note(&a, 1, NOTE_TOKEN);
	make_note(&b, 2, "second-token-0123456789");
	make_note(&a2, 1, "rotated-token-0123456789");
	keep_ok(s, &a);
	keep_ok(s, &b);
	keep_ok(s, &a2); /* the same tunnel again: replaces */
	store_close(s);

	struct loaded_notes l;
	assert_int_equal(load_notes(path, &l), 2);
	const struct pending_notification *la = !strcmp(l.pn[0].tunnel_id, "tunnel-1") ? &l.pn[0] : &l.pn[1];
	assert_string_equal(la->tunnel_id, "tunnel-1");
	assert_string_equal(la->token, "rotated-token-0123456789");
	assert_string_equal(la->thing, a.thing);
	assert_int_equal(la->n_services, 2);
	assert_string_equal(la->services[1], "HTTP:8080");
	assert_int_equal(la->since, a2.since);

	/* Nobody else shares the file: no reading of the others' rows. */
	s = open_ok(path);
	char list_err[64] = "";
	assert_int_equal(store_list_notifications(s, take_note, on_saved, NULL, list_err,
						  sizeof(list_err)), 1);
	/* Nor any take before sending: go ahead, no callback. */
	assert_int_equal(store_take_notification(s, &a, a.since + 60, on_saved, NULL, list_err,
						 sizeof(list_err)), 1);
	store_close(s);

	/* Dropping the notification before the rotation leaves the newer one. */
	s = open_ok(path);
	store_drop_notification_logged(s, &a);
	store_close(s);
	assert_int_equal(load_notes(path, &l), 2);

	/* Dropping the one kept deletes the row and its token. */
	s = open_ok(path);
	store_drop_notification_logged(s, &a2);
	struct pending_notification none = a2;
	snprintf(none.tunnel_id, sizeof(none.tunnel_id), "%s", "tunnel-9");
	store_drop_notification_logged(s, &none); /* nothing kept: fine */
	store_close(s);
	assert_int_equal(load_notes(path, &l), 1);
	assert_string_equal(l.pn[0].tunnel_id, "tunnel-2");
	char count[16];
	raw_text(path, "SELECT count(*) FROM pending_notifications WHERE token LIKE 'rotated%'", count,
		 sizeof(count));
	assert_string_equal(count, "0");

	/* Refused at once: a notification that could not be loaded back. */
	s = open_ok(path);
	struct pending_notification bad = a;
	bad.token[0] = '\0';
	struct outcome o = { 0, "" };
	char err[512] = "";
	assert_int_equal(store_keep_notification(s, &bad, on_saved, &o, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "token is empty"));
	store_flush(s);
	assert_int_equal(o.calls, 0);
	store_close(s);
}

/* A database made before the table existed gains it when opened. */
static void test_notifications_table_added_to_old_database(void **state)
{
	char path[128];
	db_path(path, sizeof(path), "old.db");
	struct registry_tunnel *t = make_tunnel(3, 1);
	save_one(path, t);
	raw_exec(path, "DROP TABLE pending_notifications");
	struct loaded_notes l;
	assert_int_equal(load_notes(path, &l), 0);
	struct store *s = open_ok(path);
	struct pending_notification pn;
	make_note(&pn, 3, NOTE_TOKEN);
	keep_ok(s, &pn);
	struct registry r;
	registry_init(&r);
	char err[512] = "";
	assert_int_equal(store_load(s, &r, err, sizeof(err)), 1); /* the tunnels are still there */
	registry_free(&r);
	store_close(s);
	assert_int_equal(load_notes(path, &l), 1);
	char version[16];
	raw_text(path, "PRAGMA user_version", version, sizeof(version));
	assert_string_equal(version, "5"); /* the current version: this table needs none */
	free(t);
}

static void test_notifications_bad_row(void **state)
{
	char path[128];
	db_path(path, sizeof(path), "badnote.db");
	struct store *s = open_ok(path);
	store_close(s);
	raw_exec(path, "INSERT INTO pending_notifications VALUES ('t-1','thing','[\"SSH\"]',X'3132',5)");
	struct loaded_notes l;
	assert_int_equal(load_notes(path, &l), -1);
	raw_exec(path, "UPDATE pending_notifications SET token = 'tok', services = '[\"a b\"]'");
	assert_int_equal(load_notes(path, &l), -1);
	raw_exec(path, "UPDATE pending_notifications SET services = '[\"SSH\"]'");
	assert_int_equal(load_notes(path, &l), 1);
}

/* ---- things (presence) ---------------------------------------------------- */

struct loaded_things {
	struct thing_presence p[4];
	int n;
};

static int take_thing(void *arg, const struct thing_presence *p)
{
	struct loaded_things *l = arg;
	if (l->n >= 4)
		return -1;
	l->p[l->n++] = *p;
	return 0;
}

static int load_things(const char *path, struct loaded_things *l)
{
	struct store *s = open_ok(path);
	char err[512] = "";
	memset(l, 0, sizeof(*l));
	int n = store_load_things(s, take_thing, l, err, sizeof(err));
	store_close(s);
	return n;
}

static struct thing_presence make_thing(const char *name, enum thing_state state, int64_t since)
{
	struct thing_presence p;
	memset(&p, 0, sizeof(p));
	snprintf(p.name, sizeof(p.name), "%s", name);
	p.state = state;
	p.since = since;
	return p;
}

static void test_things_save_replace_load(void **state)
{
	char path[128];
	db_path(path, sizeof(path), "things.db");
	struct store *s = open_ok(path);
	struct thing_presence a = make_thing("nanopi-01", THING_ONLINE, 1795708800);
	strcpy(a.services[0], "SSH");
	strcpy(a.services[1], "HTTP:8080");
	a.n_services = 2;
	strcpy(a.agent_version, "0.3.0");
	a.boot_time = 1795687200;
	a.max_tunnels = 4;
	struct thing_presence b = make_thing("gw:2", THING_ONLINE, 100);
	store_save_thing_logged(s, &a);
	store_save_thing_logged(s, &b);
	struct thing_presence b2 = make_thing("gw:2", THING_OFFLINE, 200); /* replaces */
	store_save_thing_logged(s, &b2);
	store_close(s);
	struct loaded_things l;
	assert_int_equal(load_things(path, &l), 2);
	/* Ordered by name; every byte as saved (the relay compares them so). */
	assert_memory_equal(&l.p[0], &b2, sizeof(b2));
	assert_memory_equal(&l.p[1], &a, sizeof(a));
}

static void test_things_save_rejects_invalid(void **state)
{
	char path[128], err[512] = "";
	db_path(path, sizeof(path), "things-bad.db");
	struct store *s = open_ok(path);
	struct outcome o = { 0, "" };
	struct thing_presence p = make_thing("a b", THING_ONLINE, 1);
	assert_int_equal(s->ops->save_thing(s, &p, on_saved, &o, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "name must be"));
	p = make_thing("ok", THING_UNKNOWN, 1);
	assert_int_equal(s->ops->save_thing(s, &p, on_saved, &o, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "state must be"));
	p = make_thing("ok", THING_ONLINE, 1);
	strcpy(p.services[0], "bad id");
	p.n_services = 1;
	assert_int_equal(s->ops->save_thing(s, &p, on_saved, &o, err, sizeof(err)), -1);
	store_flush(s);
	assert_int_equal(o.calls, 0);
	store_close(s);
}

/* A version 2 database (before presence) gains the things table; its
 * tunnels stay. */
static void test_migrate_v2_adds_things(void **state)
{
	char path[256], text[32], err[512] = "";
	db_path(path, sizeof(path), "v2.db");
	struct registry_tunnel *t = make_tunnel(6, 2);
	save_one(path, t);
	raw_exec(path, "DROP TABLE things; " BEFORE_V5 "PRAGMA user_version = 2;");
	struct loaded_things l;
	assert_int_equal(load_things(path, &l), 0);
	raw_text(path, "PRAGMA user_version", text, sizeof(text));
	assert_string_equal(text, "5");
	struct store *s = open_ok(path);
	struct registry r;
	registry_init(&r);
	assert_int_equal(store_load(s, &r, err, sizeof(err)), 1);
	t->rev = 0; /* rows of older versions start at rev 0 */
	t->connected[SIDE_SOURCE] = t->connected[SIDE_DESTINATION] = false; /* and none connected */
	assert_tunnel_equal(t, r.tunnels[0]);
	registry_free(&r);
	struct thing_presence p = make_thing("dev", THING_OFFLINE, 5);
	store_save_thing_logged(s, &p);
	store_close(s);
	assert_int_equal(load_things(path, &l), 1);
	assert_string_equal(l.p[0].name, "dev");
	free(t);
}

static void test_things_bad_row(void **state)
{
	char path[128];
	db_path(path, sizeof(path), "badthing.db");
	store_close(open_ok(path));
	raw_exec(path, "INSERT INTO things VALUES ('dev','online',5,'[\"SSH\"]','0.3.0',0,4)");
	struct loaded_things l;
	assert_int_equal(load_things(path, &l), 1);
	assert_int_equal(l.p[0].state, THING_ONLINE);
	raw_exec(path, "UPDATE things SET state = 'away'");
	assert_int_equal(load_things(path, &l), -1);
	raw_exec(path, "UPDATE things SET state = 'offline', services = '[\"a b\"]'");
	assert_int_equal(load_things(path, &l), -1);
	raw_exec(path, "UPDATE things SET services = '[]', max_tunnels = -1");
	assert_int_equal(load_things(path, &l), -1);
	raw_exec(path, "UPDATE things SET max_tunnels = 0, name = 'a/b'");
	assert_int_equal(load_things(path, &l), -1);
	raw_exec(path, "UPDATE things SET name = 'dev'");
	assert_int_equal(load_things(path, &l), 1);
	assert_int_equal(l.p[0].n_services, 0);
}

/* ---- host keys (browser terminals) ------------------------------------------ */

struct loaded_keys {
	char thing[4][REGISTRY_MAX_THING + 1];
	char fp[4][STORE_MAX_FINGERPRINT + 1];
	int n;
};

static int take_key(void *arg, const char *thing, const char *fp)
{
	struct loaded_keys *l = arg;
	if (l->n >= 4)
		return -1;
	snprintf(l->thing[l->n], sizeof(l->thing[0]), "%s", thing);
	snprintf(l->fp[l->n], sizeof(l->fp[0]), "%s", fp);
	l->n++;
	return 0;
}

static int load_keys(const char *path, struct loaded_keys *l)
{
	struct store *s = open_ok(path);
	char err[512] = "";
	memset(l, 0, sizeof(*l));
	int n = store_load_host_keys(s, take_key, l, err, sizeof(err));
	store_close(s);
	return n;
}

static void test_host_keys_keep_replace_forget(void **state)
{
	char path[128];
	db_path(path, sizeof(path), "keys.db");
	struct store *s = open_ok(path);
	store_keep_host_key_logged(s, "nanopi-01", "SHA256:old");
	store_keep_host_key_logged(s, "gw:2", "SHA256:gw");
	store_keep_host_key_logged(s, "nanopi-01", "SHA256:new"); /* replaces */
	store_keep_host_key_logged(s, "dev-3", "SHA256:x");
	store_keep_host_key_logged(s, "dev-3", ""); /* forgets */
	store_close(s);
	struct loaded_keys l;
	assert_int_equal(load_keys(path, &l), 2);
	assert_string_equal(l.thing[0], "gw:2");
	assert_string_equal(l.fp[0], "SHA256:gw");
	assert_string_equal(l.thing[1], "nanopi-01");
	assert_string_equal(l.fp[1], "SHA256:new");
}

static void test_host_keys_reject_too_long(void **state)
{
	char path[128], err[512] = "", fp[STORE_MAX_FINGERPRINT + 2];
	db_path(path, sizeof(path), "keys-bad.db");
	struct store *s = open_ok(path);
	memset(fp, 'A', sizeof(fp) - 1);
	fp[sizeof(fp) - 1] = '\0';
	struct outcome o = { 0, "" };
	assert_int_equal(s->ops->keep_host_key(s, "dev", fp, on_saved, &o, err, sizeof(err)), -1);
	assert_int_equal(s->ops->keep_host_key(s, "", "SHA256:a", on_saved, &o, err, sizeof(err)),
			 -1);
	store_flush(s);
	assert_int_equal(o.calls, 0);
	store_close(s);
}

/* A version 3 database (before browser terminals) gains the host_keys table. */
static void test_migrate_v3_adds_host_keys(void **state)
{
	char path[128], text[32];
	db_path(path, sizeof(path), "v3.db");
	store_close(open_ok(path));
	raw_exec(path, "DROP TABLE host_keys; " BEFORE_V5 "PRAGMA user_version = 3;");
	struct loaded_keys l;
	assert_int_equal(load_keys(path, &l), 0);
	raw_text(path, "PRAGMA user_version", text, sizeof(text));
	assert_string_equal(text, "5");
}

/* ---- several nodes (one with SQLite) ------------------------------------------ */

/* A version 4 database gains owner and rev; its rows start at rev 0 and
 * each save adds one. */
static void test_migrate_v4_adds_owner_and_rev(void **state)
{
	char path[128], text[32], err[512] = "";
	db_path(path, sizeof(path), "v4.db");
	struct registry_tunnel *t = make_tunnel(40, 1);
	save_one(path, t);
	raw_exec(path, BEFORE_V5 "PRAGMA user_version = 4;");
	struct store *s = open_ok(path);
	raw_text(path, "PRAGMA user_version", text, sizeof(text));
	assert_string_equal(text, "5");
	raw_text(path, "SELECT owner || '|' || rev || '|' || connected FROM tunnels", text,
		 sizeof(text));
	assert_string_equal(text, "|0|0");
	struct registry r;
	registry_init(&r);
	assert_int_equal(store_load(s, &r, err, sizeof(err)), 1);
	t->rev = 0;
	t->connected[SIDE_SOURCE] = t->connected[SIDE_DESTINATION] = false;
	assert_tunnel_equal(t, r.tunnels[0]);
	save_ok(s, r.tunnels[0]);
	save_ok(s, r.tunnels[0]); /* back to back: the copies chain */
	assert_int_equal(r.tunnels[0]->rev, 2);
	raw_text(path, "SELECT rev FROM tunnels", text, sizeof(text));
	assert_string_equal(text, "2");
	registry_free(&r);
	store_close(s);
	free(t);
}

/* Claims and waits: 0 won, 1 lost (STORE_LOST_RACE), -1 refused at once. */
static int claim_wait(struct store *s, const char *id, enum tunnel_side side, const char *client,
		      const char *node)
{
	struct outcome o = { 0, "" };
	char err[256];
	if (store_claim_side(s, id, side, client, node, 1 << side, on_saved, &o, err, sizeof(err)) != 0) {
		store_flush(s);
		assert_int_equal(o.calls, 0);
		return -1;
	}
	store_flush(s);
	assert_int_equal(o.calls, 1);
	if (o.err[0])
		assert_true(store_error_lost_race(o.err));
	return o.err[0] ? 1 : 0;
}

static void test_claim_side(void **state)
{
	char path[128], text[128];
	db_path(path, sizeof(path), "claim.db");
	struct registry_tunnel *t = make_tunnel(41, 1);
	struct store *s = open_ok(path);
	save_ok(s, t); /* rev 1 */
	/* The source without a client token, then again (a reconnect). */
	assert_int_equal(claim_wait(s, t->id, SIDE_SOURCE, "", "node-a"), 0);
	raw_text(path, "SELECT owner || '|' || rev || '|' || source_used ||"
		 " '|' || coalesce(source_client_token, 'null') FROM tunnels", text, sizeof(text));
	assert_string_equal(text, "node-a|2|1|null");
	assert_int_equal(claim_wait(s, t->id, SIDE_SOURCE, "", "node-b"), 0);
	/* The destination with a client token: only that client again. */
	assert_int_equal(claim_wait(s, t->id, SIDE_DESTINATION, CLIENT_DST, "node-a"), 0);
	assert_int_equal(claim_wait(s, t->id, SIDE_DESTINATION, CLIENT_SRC, "node-b"), 1);
	assert_int_equal(claim_wait(s, t->id, SIDE_DESTINATION, "", "node-b"), 1);
	assert_int_equal(claim_wait(s, t->id, SIDE_DESTINATION, CLIENT_DST, "node-a"), 0);
	raw_text(path, "SELECT owner || '|' || rev FROM tunnels", text, sizeof(text));
	assert_string_equal(text, "node-a|5");
	/* Closed: nobody. Not stored (a --tunnels file's): nothing to race for. */
	t->rev = 5;
	t->closed_at = t->created_at + 1;
	save_ok(s, t);
	assert_int_equal(claim_wait(s, t->id, SIDE_DESTINATION, CLIENT_DST, "node-a"), 1);
	assert_int_equal(claim_wait(s, "not-stored", SIDE_SOURCE, "", "node-a"), 0);
	/* Bad arguments: refused at once, without a callback. */
	assert_int_equal(claim_wait(s, "bad id", SIDE_SOURCE, "", "node-a"), -1);
	assert_int_equal(claim_wait(s, t->id, SIDE_SOURCE, "short", "node-a"), -1);
	assert_int_equal(claim_wait(s, t->id, SIDE_SOURCE, "", "node a"), -1);
	assert_int_equal(claim_wait(s, t->id, SIDE_SOURCE, "", ""), -1);
	assert_int_equal(store_watch(s, "node-a", NULL, NULL), 0); /* one node: nothing to follow */
	store_close(s);
	free(t);
}

static void test_find_token(void **state)
{
	char path[128], err[256];
	db_path(path, sizeof(path), "find.db");
	struct registry_tunnel *t = make_tunnel(42, 2);
	set_client_tokens(t);
	struct store *s = open_ok(path);
	save_ok(s, t);
	for (int side = 0; side < 2; side++) {
		struct found f = { 0 };
		assert_int_equal(store_find_token(s, t->side[side].token_hash, on_found, &f, err,
						  sizeof(err)), 0);
		assert_int_equal(f.calls, 0); /* later, from a poll */
		store_flush(s);
		assert_int_equal(f.calls, 1);
		assert_true(f.hit);
		assert_string_equal(f.err, "");
		assert_tunnel_equal(t, &f.row);
	}
	uint8_t other[TOKEN_HASH_LEN] = { 9 };
	struct found f = { 0 };
	assert_int_equal(store_find_token(s, other, on_found, &f, err, sizeof(err)), 0);
	store_flush(s);
	assert_int_equal(f.calls, 1);
	assert_false(f.hit);
	assert_string_equal(f.err, "");
	store_close(s);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_creates_wal),
		cmocka_unit_test(test_open_newer_version_fails),
		cmocka_unit_test(test_open_missing_dir_fails),
		cmocka_unit_test(test_open_not_a_database_fails),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_save_twice_replaces),
		cmocka_unit_test(test_reopen_keeps_data),
		cmocka_unit_test(test_migrate_v1_adds_tags),
		cmocka_unit_test(test_things_save_replace_load),
		cmocka_unit_test(test_things_save_rejects_invalid),
		cmocka_unit_test(test_migrate_v2_adds_things),
		cmocka_unit_test(test_things_bad_row),
		cmocka_unit_test(test_save_deleted_removes_row),
		cmocka_unit_test(test_load_empty),
		cmocka_unit_test(test_save_rejects_invalid),
		cmocka_unit_test(test_load_bad_service),
		cmocka_unit_test(test_load_short_hash),
		cmocka_unit_test(test_load_bad_fields),
		cmocka_unit_test(test_load_duplicate_hash),
		cmocka_unit_test(test_many_tunnels),
		cmocka_unit_test(test_callback_comes_later),
		cmocka_unit_test(test_forget_keeps_the_save),
		cmocka_unit_test(test_close_drains),
		cmocka_unit_test(test_from_file_not_written),
		cmocka_unit_test(test_notifications_keep_replace_drop),
		cmocka_unit_test(test_notifications_table_added_to_old_database),
		cmocka_unit_test(test_notifications_bad_row),
		cmocka_unit_test(test_host_keys_keep_replace_forget),
		cmocka_unit_test(test_host_keys_reject_too_long),
		cmocka_unit_test(test_migrate_v3_adds_host_keys),
		cmocka_unit_test(test_migrate_v4_adds_owner_and_rev),
		cmocka_unit_test(test_claim_side),
		cmocka_unit_test(test_find_token),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
