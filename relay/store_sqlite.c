/* The SQLite store (relay/store_sqlite.h): open (the file created 0600,
 * WAL, the schema created or migrated), close, the ops table, and the
 * loop thread's side of each operation, which checks it and queues a job.
 * The top of the store_sqlite*.c files (relay/store_sqlite_internal.h
 * lists them). */
#include "relay/store_sqlite.h"
#include "common/text.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sqlite3.h>

#include "relay/pending_notification.h"
#include "relay/store_rows.h"
#include "relay/store_sqlite_internal.h"
#include "relay/store_worker.h"
#include "relay/things.h"

/* Schema history (PRAGMA user_version):
 *   1  table tunnels, index on thing.
 *   2  column tags: the AWS API's tags as a JSON array of {"key","value"}
 *      objects ("" = none), added to existing rows as "".
 *   3  table things: each device's last presence (relay/things.h), one row
 *      per thing name; services a JSON array like tunnels.services (may
 *      be empty), times in Unix seconds (0: not said).
 *   4  table host_keys: the SSH host key fingerprint ("SHA256:…") of each
 *      thing's device that a browser terminal's user accepted
 *      (relay/host_keys.h), one row per thing name.
 *   5  columns owner (the node that last admitted a side: store_claim_side)
 *      and rev (bumped by every write of the row), as in PostgreSQL; one
 *      node here, so rev only follows the writes (nothing is conditional
 *      on it), for the two backends to load the same; and connected
 *      (bit 0 the source, bit 1 the destination: connected to their
 *      owner when last saved), which one node never answers from.
 * Table pending_notifications is created whenever it is missing, at any
 * version: a relay that knows nothing of it never reads it.
 * A later version adds a migration step from N-1 in migrate() and bumps
 * STORE_SCHEMA_VERSION; a database newer than we know is refused.
 *
 * services holds a JSON array of strings (["SSH","HTTP:8080"]): quoting is
 * never needed for [A-Za-z0-9_:-] ids, and the column stays readable with
 * SQLite's json_each() for anyone inspecting the file. */
#define STORE_SCHEMA_VERSION 5

/* Device notifications the broker has not acknowledged yet (see
 * relay/pending_notification.h): one row per tunnel, holding the
 * destination's access token in clear until it is sent or no longer
 * current, then deleted. A table of its own, created when missing on every
 * open (old databases gain it; relays that do not know it ignore it), so it
 * needs no schema version of its own. */
static const char notifications_table[] =
	"CREATE TABLE IF NOT EXISTS pending_notifications ("
	" tunnel_id TEXT PRIMARY KEY,"
	" thing TEXT NOT NULL,"
	" services TEXT NOT NULL,"
	" token TEXT NOT NULL,"
	" since INTEGER NOT NULL);";

static const char schema_v1[] =
	"CREATE TABLE IF NOT EXISTS tunnels ("
	" id TEXT PRIMARY KEY,"
	" thing TEXT NOT NULL,"
	" description TEXT NOT NULL,"
	" services TEXT NOT NULL,"
	" lifetime_minutes INTEGER NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" expires_at INTEGER NOT NULL,"
	" closed_at INTEGER NOT NULL,"
	" source_token_hash BLOB NOT NULL,"
	" source_used INTEGER NOT NULL,"
	" source_client_token TEXT,"
	" destination_token_hash BLOB NOT NULL,"
	" destination_used INTEGER NOT NULL,"
	" destination_client_token TEXT,"
	" source_changed_at INTEGER NOT NULL,"
	" destination_changed_at INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS tunnels_thing ON tunnels(thing);"
	"PRAGMA user_version = 1;";

static const char schema_v2[] =
	"ALTER TABLE tunnels ADD COLUMN tags TEXT NOT NULL DEFAULT '';"
	"PRAGMA user_version = 2;";

static const char schema_v3[] =
	"CREATE TABLE IF NOT EXISTS things ("
	" name TEXT PRIMARY KEY,"
	" state TEXT NOT NULL,"
	" since INTEGER NOT NULL,"
	" services TEXT NOT NULL,"
	" agent_version TEXT NOT NULL,"
	" boot_time INTEGER NOT NULL,"
	" max_tunnels INTEGER NOT NULL);"
	"PRAGMA user_version = 3;";

static const char schema_v4[] =
	"CREATE TABLE IF NOT EXISTS host_keys ("
	" thing TEXT PRIMARY KEY,"
	" fingerprint TEXT NOT NULL,"
	" since INTEGER NOT NULL);"
	"PRAGMA user_version = 4;";

static const char schema_v5[] =
	"ALTER TABLE tunnels ADD COLUMN owner TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE tunnels ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE tunnels ADD COLUMN connected INTEGER NOT NULL DEFAULT 0;"
	"PRAGMA user_version = 5;";

/* store_claim_side: ?1 id, ?2 client token (NULL: none), ?3 node, ?4 connected. */
#define CLAIM_SQL(side)                                                                  \
	"UPDATE tunnels SET " side "_used = 1, " side "_client_token = ?2, owner = ?3,"    \
	" connected = ?4, rev = rev + 1 WHERE id = ?1 AND closed_at = 0 AND ("              \
	side "_used = 0 OR " side "_client_token IS ?2)"

/* Saves waiting for the thread at most: each holds a copy of a tunnel. */
#define STORE_MAX_PENDING 1024

static const struct store_ops sqlite_ops;

/* ---- open ------------------------------------------------------------------ */

/* Runs a PRAGMA that returns one value and copies it as text. */
static int pragma_text(struct sqlite_store *s, const char *sql, char *out, size_t cap,
		       char *err, size_t err_cap)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		errf(err, err_cap, "%s: %s: %s", s->path, sql, sqlite3_errmsg(s->db));
		sqlite3_finalize(st);
		return -1;
	}
	const unsigned char *v = sqlite3_column_text(st, 0);
	snprintf(out, cap, "%s", v ? (const char *)v : "");
	sqlite3_finalize(st); /* a read-only pragma: nothing left to report */
	return 0;
}

static int exec(struct sqlite_store *s, const char *sql, const char *what, char *err, size_t err_cap)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		sqlite_db_err(s, what, err, err_cap);
		return -1;
	}
	return 0;
}

static int set_pragmas(struct sqlite_store *s, char *err, size_t err_cap)
{
	/* Switching to WAL takes a lock: wait for other users first. */
	if (sqlite3_busy_timeout(s->db, 5000) != SQLITE_OK) {
		sqlite_db_err(s, "cannot set the busy timeout", err, err_cap);
		return -1;
	}
	char mode[16];
	if (pragma_text(s, "PRAGMA journal_mode=WAL", mode, sizeof(mode), err, err_cap) != 0)
		return -1;
	if (strcasecmp(mode, "wal") != 0) {
		errf(err, err_cap, "%s: cannot switch to WAL mode (journal mode is '%s')",
			s->path, mode);
		return -1;
	}
	/* NORMAL is durable across a crash of the relay in WAL mode; only a
	 * power loss can roll back the last commits. */
	if (exec(s, "PRAGMA synchronous=NORMAL", "cannot set synchronous=NORMAL", err, err_cap) != 0 ||
	    exec(s, "PRAGMA foreign_keys=ON", "cannot enable foreign keys", err, err_cap) != 0)
		return -1;
	return 0;
}

/* Brings the schema to STORE_SCHEMA_VERSION. Runs inside a write
 * transaction, so two relays opening a new file cannot both create it. */
static int migrate(struct sqlite_store *s, char *err, size_t err_cap)
{
	char text[32];
	if (pragma_text(s, "PRAGMA user_version", text, sizeof(text), err, err_cap) != 0)
		return -1;
	long version = strtol(text, NULL, 10);
	if (version > STORE_SCHEMA_VERSION) {
		errf(err, err_cap,
			"%s: schema version %ld is newer than this relay knows (%d); use a newer tunnel-relay",
			s->path, version, STORE_SCHEMA_VERSION);
		return -1;
	}
	if (version < 1 && exec(s, schema_v1, "cannot create the schema", err, err_cap) != 0)
		return -1;
	if (version < 2 && exec(s, schema_v2, "cannot add the tags column", err, err_cap) != 0)
		return -1;
	if (version < 3 && exec(s, schema_v3, "cannot add the things table", err, err_cap) != 0)
		return -1;
	if (version < 4 && exec(s, schema_v4, "cannot add the host keys table", err, err_cap) != 0)
		return -1;
	if (version < 5 && exec(s, schema_v5, "cannot add the owner and rev columns", err, err_cap) != 0)
		return -1;
	return 0;
}

static int check_schema(struct sqlite_store *s, char *err, size_t err_cap)
{
	if (exec(s, "BEGIN IMMEDIATE", "cannot start a transaction", err, err_cap) != 0)
		return -1;
	if (migrate(s, err, err_cap) != 0 ||
	    exec(s, notifications_table, "cannot create the notifications table", err, err_cap) != 0) {
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL); /* closing rolls back anyway */
		return -1;
	}
	return exec(s, "COMMIT", "cannot commit the schema", err, err_cap);
}

/* The file holds client tokens: create it 0600 ourselves, since SQLite would
 * use 0644. SQLite gives the -wal and -shm files the mode of the database. */
static int create_private(const char *path, char *err, size_t err_cap)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		errf(err, err_cap, "%s: cannot open or create: %s", path, strerror(errno));
		return -1;
	}
	close(fd); /* nothing written: a failing close loses nothing */
	return 0;
}

static void sqlite_close(struct store *base);

struct store *store_sqlite_open(const char *path, char *err, size_t err_cap)
{
	if (create_private(path, err, err_cap) != 0)
		return NULL;
	size_t len = strlen(path);
	struct sqlite_store *s = calloc(1, sizeof(*s) + len + 1);
	if (s == NULL) {
		errf(err, err_cap, "%s: out of memory", path);
		return NULL;
	}
	s->base.ops = &sqlite_ops;
	memcpy(s->path, path, len + 1);
	int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		errf(err, err_cap, "%s: cannot open: %s", path,
			s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		sqlite_close(&s->base);
		return NULL;
	}
	if (set_pragmas(s, err, err_cap) != 0 || check_schema(s, err, err_cap) != 0) {
		sqlite_close(&s->base);
		return NULL;
	}
	rc = sqlite3_prepare_v2(s->db,
				"INSERT OR REPLACE INTO tunnels (" STORE_COLUMNS ", owner) VALUES "
				"(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,"
				"coalesce((SELECT owner FROM tunnels WHERE id = ?1), ''))",
				-1, &s->save, NULL);
	for (int side = 0; side < 2 && rc == SQLITE_OK; side++)
		rc = sqlite3_prepare_v2(s->db, side == SIDE_SOURCE ? CLAIM_SQL("source") :
				       CLAIM_SQL("destination"), -1, &s->claim[side], NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(s->db,
					"INSERT OR REPLACE INTO pending_notifications "
					"(tunnel_id, thing, services, token, since) VALUES (?1,?2,?3,?4,?5)",
					-1, &s->keep, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(s->db, "DELETE FROM pending_notifications WHERE tunnel_id = ?1 "
					"AND (?2 = '' OR token = ?2)",
					-1, &s->drop, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO things (" THING_COLUMNS ") "
					"VALUES (?1,?2,?3,?4,?5,?6,?7)", -1, &s->thing, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(s->db,
					"INSERT OR REPLACE INTO host_keys (thing, fingerprint, since) "
					"VALUES (?1,?2,strftime('%s','now'))", -1, &s->key_set, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(s->db, "DELETE FROM host_keys WHERE thing = ?1", -1,
					&s->key_del, NULL);
	if (rc != SQLITE_OK) {
		sqlite_db_err(s, "cannot prepare the insert", err, err_cap);
		sqlite_close(&s->base);
		return NULL;
	}
	char why[128];
	s->worker = store_worker_start(STORE_MAX_PENDING, sqlite_run_job, sqlite_free_job, s, why,
				       sizeof(why));
	if (s->worker == NULL) {
		errf(err, err_cap, "%s: %s", path, why);
		sqlite_close(&s->base);
		return NULL;
	}
	return &s->base;
}

static void sqlite_close(struct store *base)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	/* Every queued save is written (and its callback run) first. */
	store_worker_stop(s->worker);
	sqlite3_finalize(s->save);
	sqlite3_finalize(s->claim[0]);
	sqlite3_finalize(s->claim[1]);
	sqlite3_finalize(s->keep);
	sqlite3_finalize(s->drop);
	sqlite3_finalize(s->thing);
	sqlite3_finalize(s->key_set);
	sqlite3_finalize(s->key_del);
	/* sqlite3_close_v2 cannot fail for lack of finalized statements here:
	 * they are gone. It also checkpoints and removes the WAL. */
	sqlite3_close_v2(s->db);
	free(s);
}

/* ---- queueing jobs (loop thread) ------------------------------------------ */

/* Hands a job to the thread (taking it over). */
static int submit(struct sqlite_store *s, struct sqlite_job *j, store_done_fn done, void *ctx,
		  const char *what, const char *id, char *err, size_t err_cap)
{
	char why[128];
	if (store_worker_submit(s->worker, j, done, ctx, why, sizeof(why)) != 0) {
		errf(err, err_cap, "%s: cannot %s '%s': %s", s->path, what, id, why);
		return -1;
	}
	return 0;
}

static int sqlite_save(struct store *base, const struct registry_tunnel *t, store_done_fn done,
		       void *ctx, char *err, size_t err_cap)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	if (!t->from_file) { /* nothing of it is written: see run_save */
		/* The id goes into messages below, so it is checked first. */
		if (!registry_id_valid(t->id)) {
			errf(err, err_cap, "%s: cannot save a tunnel with an invalid id", s->path);
			return -1;
		}
		const char *problem = store_tunnel_problem(t);
		if (problem != NULL) {
			errf(err, err_cap, "%s: cannot save tunnel '%s': %s", s->path, t->id, problem);
			return -1;
		}
	}
	/* The thread writes a copy: the loop goes on changing t meanwhile. */
	struct sqlite_job *j = malloc(sizeof(*j));
	if (j == NULL) {
		errf(err, err_cap, "%s: cannot save tunnel '%s': out of memory", s->path, t->id);
		return -1;
	}
	j->kind = JOB_SAVE;
	memcpy(&j->u.tunnel, t, sizeof(j->u.tunnel));
	return submit(s, j, done, ctx, "save tunnel", t->id, err, err_cap);
}

static int sqlite_keep_notification(struct store *base, const struct pending_notification *pn,
				    store_done_fn done, void *ctx, char *err, size_t err_cap)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	const char *problem = pending_notification_problem(pn);
	if (problem != NULL) {
		errf(err, err_cap, "%s: cannot keep a notification: %s", s->path, problem);
		return -1;
	}
	struct sqlite_job *j = malloc(sizeof(*j));
	if (j == NULL) {
		errf(err, err_cap, "%s: cannot keep a notification: out of memory", s->path);
		return -1;
	}
	j->kind = JOB_KEEP;
	memcpy(&j->u.note, pn, sizeof(j->u.note));
	return submit(s, j, done, ctx, "keep the notification of tunnel", pn->tunnel_id, err,
		      err_cap);
}

static int sqlite_drop_notification(struct store *base, const char *tunnel_id, const char *token,
				    store_done_fn done, void *ctx, char *err, size_t err_cap)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	if (!registry_id_valid(tunnel_id) || strlen(token) > PENDING_TOKEN_MAX) {
		errf(err, err_cap, "%s: cannot delete a notification: invalid tunnel id or token",
		     s->path);
		return -1;
	}
	struct sqlite_job *j = calloc(1, sizeof(*j));
	if (j == NULL) {
		errf(err, err_cap, "%s: cannot delete a notification: out of memory", s->path);
		return -1;
	}
	j->kind = JOB_DROP;
	memcpy(j->u.note.tunnel_id, tunnel_id, strlen(tunnel_id) + 1);
	memcpy(j->u.note.token, token, strlen(token) + 1);
	return submit(s, j, done, ctx, "delete the notification of tunnel", tunnel_id, err, err_cap);
}

static int sqlite_save_thing(struct store *base, const struct thing_presence *p,
			     store_done_fn done, void *ctx, char *err, size_t err_cap)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	const char *problem = store_thing_problem(p);
	if (problem != NULL) {
		errf(err, err_cap, "%s: cannot save a thing: %s", s->path, problem);
		return -1;
	}
	struct sqlite_job *j = malloc(sizeof(*j));
	if (j == NULL) {
		errf(err, err_cap, "%s: cannot save thing '%s': out of memory", s->path, p->name);
		return -1;
	}
	j->kind = JOB_THING;
	memcpy(&j->u.thing, p, sizeof(j->u.thing));
	return submit(s, j, done, ctx, "save thing", p->name, err, err_cap);
}

static int sqlite_keep_host_key(struct store *base, const char *thing, const char *fingerprint,
				store_done_fn done, void *ctx, char *err, size_t err_cap)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	size_t tlen = strlen(thing), flen = strlen(fingerprint);
	if (!tlen || tlen > REGISTRY_MAX_THING || flen > STORE_MAX_FINGERPRINT) {
		errf(err, err_cap, "%s: cannot save a host key: thing or fingerprint too long", s->path);
		return -1;
	}
	struct sqlite_job *j = calloc(1, sizeof(*j));
	if (j == NULL) {
		errf(err, err_cap, "%s: cannot save a host key: out of memory", s->path);
		return -1;
	}
	j->kind = JOB_HOST_KEY;
	memcpy(j->u.key.thing, thing, tlen + 1);
	memcpy(j->u.key.fingerprint, fingerprint, flen + 1);
	return submit(s, j, done, ctx, "save the host key of thing", thing, err, err_cap);
}

/* ---- several nodes (one here) ---------------------------------------------- */

/* One node: nobody else writes, nothing to follow. */
static int sqlite_watch(struct store *base, const char *node_id, store_tunnel_changed_fn fn,
			void *arg)
{
	return 0;
}

static void found(void *job, void *ctx, const char *err)
{
	struct find_job *f = &((struct sqlite_job *)job)->u.find;
	f->found(ctx, f->hit ? &f->row : NULL, err);
}

static int sqlite_find_token(struct store *base, const uint8_t hash[TOKEN_HASH_LEN],
			     store_found_fn done, void *ctx, char *err, size_t err_cap)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct sqlite_job *j = calloc(1, sizeof(*j));
	if (j == NULL) {
		errf(err, err_cap, "%s: cannot look a token up: out of memory", s->path);
		return -1;
	}
	j->kind = JOB_FIND;
	memcpy(j->u.find.hash, hash, TOKEN_HASH_LEN);
	j->u.find.found = done;
	char why[128];
	if (store_worker_submit_finish(s->worker, j, found, ctx, why, sizeof(why)) != 0) {
		errf(err, err_cap, "%s: cannot look a token up: %s", s->path, why);
		return -1;
	}
	return 0;
}

static int sqlite_claim_side(struct store *base, const char *tunnel_id, enum tunnel_side side,
			     const char *client_token, const char *node_id, int connected,
			     store_done_fn done, void *ctx, char *err, size_t err_cap)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct sqlite_job *j = calloc(1, sizeof(*j));
	if (j == NULL) {
		errf(err, err_cap, "%s: cannot claim a side: out of memory", s->path);
		return -1;
	}
	j->kind = JOB_CLAIM;
	const char *problem = store_claim_take(&j->u.claim, tunnel_id, side, client_token,
					       node_id, connected);
	if (problem != NULL) {
		errf(err, err_cap, "%s: cannot claim a side: %s", s->path, problem);
		sqlite_free_job(j);
		return -1;
	}
	return submit(s, j, done, ctx, "claim a side of tunnel", tunnel_id, err, err_cap);
}

/* ---- the ops table ------------------------------------------------------- */

static void sqlite_poll(struct store *base)
{
	store_worker_poll(((struct sqlite_store *)base)->worker);
}

static void sqlite_flush(struct store *base)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	store_worker_wait_idle(s->worker);
	store_worker_poll(s->worker);
}

static void sqlite_forget(struct store *base, void *ctx)
{
	store_worker_forget(((struct sqlite_store *)base)->worker, ctx);
}

static void sqlite_set_waker(struct store *base, store_wake_fn wake, void *arg)
{
	store_worker_set_waker(((struct sqlite_store *)base)->worker, wake, arg);
}

static const struct store_ops sqlite_ops = {
	.load = sqlite_load,
	.save = sqlite_save,
	.poll = sqlite_poll,
	.flush = sqlite_flush,
	.forget = sqlite_forget,
	.set_waker = sqlite_set_waker,
	.close = sqlite_close,
	.keep_notification = sqlite_keep_notification,
	.drop_notification = sqlite_drop_notification,
	.load_notifications = sqlite_load_notifications,
	.save_thing = sqlite_save_thing,
	.load_things = sqlite_load_things,
	.keep_host_key = sqlite_keep_host_key,
	.load_host_keys = sqlite_load_host_keys,
	.watch = sqlite_watch,
	.find_token = sqlite_find_token,
	.claim_side = sqlite_claim_side,
};
