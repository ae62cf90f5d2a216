#include "relay/store_sqlite.h"
#include "common/text.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

#include "proto/message.h"
#include "relay/notify_payload.h"
#include "relay/pending_notification.h"
#include "relay/presence_payload.h"
#include "relay/things.h"
#include "relay/store_rows.h"
#include "relay/store_worker.h"

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

/* Column order shared by the INSERT and the SELECT: bind index = col + 1.
 * The side columns come in blocks of three so side s starts at
 * COL_SIDE + 3 * s. */
enum store_col {
	COL_ID,
	COL_THING,
	COL_DESCRIPTION,
	COL_SERVICES,
	COL_LIFETIME,
	COL_CREATED,
	COL_EXPIRES,
	COL_CLOSED,
	COL_SIDE,                   /* source_token_hash */
	COL_CHANGED = COL_SIDE + 6, /* source_changed_at, then destination_changed_at */
	COL_TAGS = COL_CHANGED + 2,
	COL_CONNECTED,
	COL_REV,
};

/* Offsets inside a side block. */
enum { COL_SIDE_HASH, COL_SIDE_USED, COL_SIDE_CLIENT };

#define STORE_COLUMNS                                                              \
	"id, thing, description, services, lifetime_minutes, created_at, expires_at, " \
	"closed_at, source_token_hash, source_used, source_client_token, "             \
	"destination_token_hash, destination_used, destination_client_token, "         \
	"source_changed_at, destination_changed_at, tags, connected, rev"

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

/* store_claim_side: ?1 id, ?2 client token (NULL: none), ?3 node. */
#define CLAIM_SQL(side)                                                                  \
	"UPDATE tunnels SET " side "_used = 1, " side "_client_token = ?2, owner = ?3,"    \
	" rev = rev + 1 WHERE id = ?1 AND closed_at = 0 AND (" side "_used = 0 OR "          \
	side "_client_token IS ?2)"

#define THING_COLUMNS "name, state, since, services, agent_version, boot_time, max_tunnels"

/* Saves waiting for the thread at most: each holds a copy of a tunnel. */
#define STORE_MAX_PENDING 1024

/* The connection is used by the loop thread while loading (before any
 * save) and by the worker thread afterwards, never by both at once. */
struct sqlite_store {
	struct store base;
	sqlite3 *db;
	sqlite3_stmt *save;     /* the INSERT OR REPLACE, prepared once */
	sqlite3_stmt *claim[2]; /* store_claim_side's UPDATE, per side */
	sqlite3_stmt *keep;     /* INSERT OR REPLACE INTO pending_notifications */
	sqlite3_stmt *drop;     /* DELETE FROM pending_notifications */
	sqlite3_stmt *thing;    /* INSERT OR REPLACE INTO things */
	sqlite3_stmt *key_set;  /* INSERT OR REPLACE INTO host_keys */
	sqlite3_stmt *key_del;  /* DELETE FROM host_keys */
	struct store_worker *worker;
	char path[];            /* for error messages */
};

static const struct store_ops sqlite_ops;


/* "PATH: WHAT: sqlite's reason". SQLite's messages never quote bound
 * values, so no token can end up here. */
static void db_err(const struct sqlite_store *s, const char *what, char *err, size_t err_cap)
{
	errf(err, err_cap, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

/* ---- validation shared by save and load ---------------------------------- */



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
		db_err(s, what, err, err_cap);
		return -1;
	}
	return 0;
}

static int set_pragmas(struct sqlite_store *s, char *err, size_t err_cap)
{
	/* Switching to WAL takes a lock: wait for other users first. */
	if (sqlite3_busy_timeout(s->db, 5000) != SQLITE_OK) {
		db_err(s, "cannot set the busy timeout", err, err_cap);
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
static int run_job(void *backend, void *job, char *err, size_t err_cap);
static void free_job(void *job);

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
		db_err(s, "cannot prepare the insert", err, err_cap);
		sqlite_close(&s->base);
		return NULL;
	}
	char why[128];
	s->worker = store_worker_start(STORE_MAX_PENDING, run_job, free_job, s, why, sizeof(why));
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

/* ---- save ------------------------------------------------------------------ */


static char *services_json(const struct registry_tunnel *t)
{
	return store_services_json(t->services, t->n_services);
}

/* Binds every column. Values are bound SQLITE_STATIC (no copies of the
 * client tokens outside SQLite): t must outlive the step. */
static int bind_tunnel(sqlite3_stmt *st, const struct registry_tunnel *t, const char *services)
{
	int rc = SQLITE_OK;
#define B(call) do { if (rc == SQLITE_OK) rc = (call); } while (0)
	B(sqlite3_bind_text(st, COL_ID + 1, t->id, -1, SQLITE_STATIC));
	B(sqlite3_bind_text(st, COL_THING + 1, t->thing, -1, SQLITE_STATIC));
	B(sqlite3_bind_text(st, COL_DESCRIPTION + 1, t->description, -1, SQLITE_STATIC));
	B(sqlite3_bind_text(st, COL_SERVICES + 1, services, -1, SQLITE_STATIC));
	B(sqlite3_bind_int(st, COL_LIFETIME + 1, t->lifetime_minutes));
	B(sqlite3_bind_int64(st, COL_CREATED + 1, t->created_at));
	B(sqlite3_bind_int64(st, COL_EXPIRES + 1, t->expires_at));
	B(sqlite3_bind_int64(st, COL_CLOSED + 1, t->closed_at));
	for (int s = 0; s < 2; s++) {
		const struct registry_side *side = &t->side[s];
		int base = COL_SIDE + 3 * s + 1;
		B(sqlite3_bind_blob(st, base + COL_SIDE_HASH, side->token_hash, TOKEN_HASH_LEN,
				    SQLITE_STATIC));
		B(sqlite3_bind_int(st, base + COL_SIDE_USED, side->used ? 1 : 0));
		if (side->has_client_token)
			B(sqlite3_bind_text(st, base + COL_SIDE_CLIENT, side->client_token, -1,
					    SQLITE_STATIC));
		else
			B(sqlite3_bind_null(st, base + COL_SIDE_CLIENT));
		B(sqlite3_bind_int64(st, COL_CHANGED + s + 1, t->side_changed_at[s]));
	}
	B(sqlite3_bind_text(st, COL_TAGS + 1, t->tags, -1, SQLITE_STATIC));
	B(sqlite3_bind_int(st, COL_CONNECTED + 1, store_connected_bits(t)));
	B(sqlite3_bind_int64(st, COL_REV + 1, t->rev + 1)); /* the copy holds the rev it replaces */
#undef B
	return rc;
}

/* On the worker thread: a deleted tunnel (CloseTunnel with delete) leaves
 * no row, so it stays gone after a restart. */
static int delete_row(struct sqlite_store *s, const struct registry_tunnel *t, char *err, size_t err_cap)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, "DELETE FROM tunnels WHERE id = ?1", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 1, t->id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	int ret = 0;
	if (rc != SQLITE_DONE) {
		char what[REGISTRY_MAX_ID + 32];
		snprintf(what, sizeof(what), "cannot delete tunnel '%s'", t->id);
		db_err(s, what, err, err_cap);
		ret = -1;
	}
	sqlite3_finalize(st);
	return ret;
}

/* On the worker thread: writes the row of a snapshot checked by sqlite_save. */
static int run_save(void *backend, void *job, char *err, size_t err_cap)
{
	struct sqlite_store *s = backend;
	const struct registry_tunnel *t = job;
	if (t->from_file)
		return 0; /* --tunnels file entries are configuration, not state */
	if (t->deleted)
		return delete_row(s, t, err, err_cap);
	char *services = services_json(t);
	if (services == NULL) {
		errf(err, err_cap, "%s: cannot save tunnel '%s': out of memory", s->path, t->id);
		return -1;
	}
	int ret = 0;
	int rc = bind_tunnel(s->save, t, services);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s->save);
	if (rc != SQLITE_DONE) {
		char what[REGISTRY_MAX_ID + 32];
		textf(what, sizeof(what), "cannot save tunnel '%s'", t->id);
		db_err(s, what, err, err_cap);
		ret = -1;
	}
	/* Drop the pointers into t and services; the step's error is already
	 * reported, so reset's copy of it is not needed. */
	sqlite3_reset(s->save);
	sqlite3_clear_bindings(s->save);
	free(services);
	return ret;
}

/* What the worker thread is given: a tunnel to save, a notification to
 * keep, a tunnel whose kept notification goes, a thing's presence, or a
 * thing's host key. */
enum job_kind { JOB_SAVE, JOB_KEEP, JOB_DROP, JOB_THING, JOB_HOST_KEY, JOB_CLAIM, JOB_FIND };

/* store_find_token's question and answer. */
struct find_job {
	uint8_t hash[TOKEN_HASH_LEN];
	store_found_fn found;
	bool hit;
	char problem[128];      /* a row found but unreadable */
	struct registry_tunnel row;
};

/* A thing's host key to remember ("" fingerprint: to forget). */
struct host_key_job {
	char thing[REGISTRY_MAX_THING + 1];
	char fingerprint[STORE_MAX_FINGERPRINT + 1];
};

struct sqlite_job {
	enum job_kind kind;
	union {
		struct registry_tunnel tunnel;
		struct pending_notification note;
		struct thing_presence thing;
		struct host_key_job key;
		struct store_claim claim;
		struct find_job find;
	} u;
};

/* Runs st once its binding went as rc says, reports a failure ("cannot
 * VERB the notification of tunnel 'ID'"), and clears it for the next job
 * (dropping its pointers into the job, token included). */
static int step_notification(struct sqlite_store *s, sqlite3_stmt *st, int rc, const char *verb,
			     const char *tunnel_id, char *err, size_t err_cap)
{
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	int ret = 0;
	if (rc != SQLITE_DONE) {
		char what[REGISTRY_MAX_ID + 48];
		textf(what, sizeof(what), "cannot %s the notification of tunnel '%s'", verb,
			 tunnel_id);
		db_err(s, what, err, err_cap);
		ret = -1;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return ret;
}

static int run_keep(struct sqlite_store *s, const struct pending_notification *pn, char *err,
		    size_t err_cap)
{
	char *services = store_services_json(pn->services, pn->n_services);
	if (services == NULL) {
		errf(err, err_cap, "%s: cannot keep the notification of tunnel '%s': out of memory",
		     s->path, pn->tunnel_id);
		return -1;
	}
	int rc = sqlite3_bind_text(s->keep, 1, pn->tunnel_id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(s->keep, 2, pn->thing, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(s->keep, 3, services, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(s->keep, 4, pn->token, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s->keep, 5, pn->since);
	int ret = step_notification(s, s->keep, rc, "keep", pn->tunnel_id, err, err_cap);
	free(services);
	return ret;
}

static int run_drop(struct sqlite_store *s, const struct pending_notification *pn, char *err,
		    size_t err_cap)
{
	int rc = sqlite3_bind_text(s->drop, 1, pn->tunnel_id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(s->drop, 2, pn->token, -1, SQLITE_STATIC);
	return step_notification(s, s->drop, rc, "delete", pn->tunnel_id, err, err_cap);
}

static int run_thing(struct sqlite_store *s, const struct thing_presence *p, char *err,
		     size_t err_cap)
{
	char *services = store_services_json(p->services, p->n_services);
	if (services == NULL) {
		errf(err, err_cap, "%s: cannot save thing '%s': out of memory", s->path, p->name);
		return -1;
	}
	sqlite3_stmt *st = s->thing;
	int rc = sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 2, thing_state_name(p->state), -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 3, p->since);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 4, services, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 5, p->agent_version, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 6, p->boot_time);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 7, p->max_tunnels);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	int ret = 0;
	if (rc != SQLITE_DONE) {
		char what[REGISTRY_MAX_THING + 32];
		snprintf(what, sizeof(what), "cannot save thing '%s'", p->name);
		db_err(s, what, err, err_cap);
		ret = -1;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	free(services);
	return ret;
}

static int run_host_key(struct sqlite_store *s, const struct host_key_job *k, char *err,
			size_t err_cap)
{
	bool forget = !k->fingerprint[0];
	sqlite3_stmt *st = forget ? s->key_del : s->key_set;
	int rc = sqlite3_bind_text(st, 1, k->thing, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK && !forget)
		rc = sqlite3_bind_text(st, 2, k->fingerprint, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	int ret = 0;
	if (rc != SQLITE_DONE) {
		char what[REGISTRY_MAX_THING + 48];
		snprintf(what, sizeof(what), "cannot %s the host key of thing '%s'",
			 forget ? "forget" : "save", k->thing);
		db_err(s, what, err, err_cap);
		ret = -1;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return ret;
}

static const char *get_row(sqlite3_stmt *st, struct registry_tunnel *t);
static bool get_text(sqlite3_stmt *st, int col, char *out, size_t cap);

/* One conditional UPDATE; no row changed and no row at all: nothing to race for. */
static int run_claim(struct sqlite_store *s, const struct store_claim *c, char *err, size_t err_cap)
{
	sqlite3_stmt *st = s->claim[c->side];
	int rc = sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = c->client_token[0] ? sqlite3_bind_text(st, 2, c->client_token, -1, SQLITE_STATIC)
					: sqlite3_bind_null(st, 2);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 3, c->node, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	int ret = 0;
	if (rc != SQLITE_DONE) {
		char what[REGISTRY_MAX_ID + 48];
		textf(what, sizeof(what), "cannot claim a side of tunnel '%s'", c->id);
		db_err(s, what, err, err_cap);
		ret = -1;
	} else if (sqlite3_changes(s->db) == 0) {
		sqlite3_stmt *q = NULL;
		rc = sqlite3_prepare_v2(s->db, "SELECT 1 FROM tunnels WHERE id = ?1", -1, &q, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_text(q, 1, c->id, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(q);
		if (rc == SQLITE_ROW) {
			errf(err, err_cap, STORE_LOST_RACE ": tunnel '%s': the %s is closed or taken",
			     c->id, tunnel_side_name(c->side));
			ret = -1;
		} else if (rc != SQLITE_DONE) {
			db_err(s, "cannot read a claimed tunnel", err, err_cap);
			ret = -1;
		}
		sqlite3_finalize(q);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return ret;
}

static int run_find(struct sqlite_store *s, struct find_job *f, char *err, size_t err_cap)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, "SELECT " STORE_COLUMNS " FROM tunnels WHERE"
				    " source_token_hash = ?1 OR destination_token_hash = ?1 LIMIT 1",
				    -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_blob(st, 1, f->hash, TOKEN_HASH_LEN, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	int ret = 0;
	if (rc == SQLITE_ROW) {
		const char *problem = NULL;
		if (!get_text(st, COL_ID, f->row.id, sizeof(f->row.id)) ||
		    !registry_id_valid(f->row.id))
			problem = "tunnel id must be 1-64 characters of [A-Za-z0-9_-]";
		else
			problem = get_row(st, &f->row);
		if (problem != NULL) {
			errf(err, err_cap, "%s: a tunnel found by its token: %s", s->path, problem);
			ret = -1;
		}
		f->hit = problem == NULL;
	} else if (rc != SQLITE_DONE) {
		db_err(s, "cannot look a token up", err, err_cap);
		ret = -1;
	}
	sqlite3_finalize(st);
	return ret;
}

static int run_job(void *backend, void *job, char *err, size_t err_cap)
{
	struct sqlite_job *j = job;
	switch (j->kind) {
	case JOB_SAVE:
		return run_save(backend, &j->u.tunnel, err, err_cap);
	case JOB_KEEP:
		return run_keep(backend, &j->u.note, err, err_cap);
	case JOB_DROP:
		return run_drop(backend, &j->u.note, err, err_cap);
	case JOB_THING:
		return run_thing(backend, &j->u.thing, err, err_cap);
	case JOB_HOST_KEY:
		return run_host_key(backend, &j->u.key, err, err_cap);
	case JOB_CLAIM:
		return run_claim(backend, &j->u.claim, err, err_cap);
	case JOB_FIND:
		return run_find(backend, &j->u.find, err, err_cap);
	}
	return -1;
}

static void free_job(void *job)
{
	struct sqlite_job *j = job;
	if (j != NULL)
		OPENSSL_cleanse(j, sizeof(*j)); /* client tokens, notification tokens */
	free(j);
}

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
			     const char *client_token, const char *node_id, store_done_fn done,
			     void *ctx, char *err, size_t err_cap)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct sqlite_job *j = calloc(1, sizeof(*j));
	if (j == NULL) {
		errf(err, err_cap, "%s: cannot claim a side: out of memory", s->path);
		return -1;
	}
	j->kind = JOB_CLAIM;
	const char *problem = store_claim_take(&j->u.claim, tunnel_id, side, client_token,
					       node_id);
	if (problem != NULL) {
		errf(err, err_cap, "%s: cannot claim a side: %s", s->path, problem);
		free_job(j);
		return -1;
	}
	return submit(s, j, done, ctx, "claim a side of tunnel", tunnel_id, err, err_cap);
}

/* ---- load ------------------------------------------------------------------ */

/* Copies a TEXT column of at most cap-1 bytes without embedded NULs. */
static bool get_text(sqlite3_stmt *st, int col, char *out, size_t cap)
{
	if (sqlite3_column_type(st, col) != SQLITE_TEXT)
		return false;
	const unsigned char *v = sqlite3_column_text(st, col);
	int n = sqlite3_column_bytes(st, col);
	if (v == NULL || n < 0 || (size_t)n >= cap || strlen((const char *)v) != (size_t)n)
		return false;
	memcpy(out, v, (size_t)n + 1);
	return true;
}

static bool get_int64(sqlite3_stmt *st, int col, int64_t *out)
{
	if (sqlite3_column_type(st, col) != SQLITE_INTEGER)
		return false;
	*out = sqlite3_column_int64(st, col);
	return true;
}

static bool get_bool(sqlite3_stmt *st, int col, bool *out)
{
	int64_t v;
	if (!get_int64(st, col, &v) || (v != 0 && v != 1))
		return false;
	*out = v == 1;
	return true;
}


/* A JSON array of min..max service ids into out. */
static const char *get_service_list(sqlite3_stmt *st, int col,
				    char (*out)[TUNNEL_MAX_SERVICE_ID + 1], size_t min, size_t max,
				    size_t *n_out)
{
	if (sqlite3_column_type(st, col) != SQLITE_TEXT)
		return "services is not text";
	const char *text = (const char *)sqlite3_column_text(st, col);
	int len = sqlite3_column_bytes(st, col);
	if (text == NULL || len < 0)
		return "services is not text";
	return store_parse_services(text, (size_t)len, out, min, max, n_out);
}

static const char *get_services_column(sqlite3_stmt *st, int col, struct registry_tunnel *t)
{
	return get_service_list(st, col, t->services, 1, TUNNEL_MAX_SERVICES, &t->n_services);
}

static const char *get_side(sqlite3_stmt *st, int s, struct registry_tunnel *t)
{
	struct registry_side *side = &t->side[s];
	int base = COL_SIDE + 3 * s;
	if (sqlite3_column_type(st, base + COL_SIDE_HASH) != SQLITE_BLOB ||
	    sqlite3_column_bytes(st, base + COL_SIDE_HASH) != TOKEN_HASH_LEN)
		return "token hash must be a 32-byte blob";
	memcpy(side->token_hash, sqlite3_column_blob(st, base + COL_SIDE_HASH), TOKEN_HASH_LEN);
	if (!get_bool(st, base + COL_SIDE_USED, &side->used))
		return "used flag must be 0 or 1";
	side->has_client_token = sqlite3_column_type(st, base + COL_SIDE_CLIENT) != SQLITE_NULL;
	if (side->has_client_token &&
	    !get_text(st, base + COL_SIDE_CLIENT, side->client_token, sizeof(side->client_token)))
		return "client token is not text of at most 128 characters";
	if (!get_int64(st, COL_CHANGED + s, &t->side_changed_at[s]))
		return "side change time is not an integer";
	return NULL;
}

/* Fills t from the current row (id already read). What is wrong, or NULL. */
static const char *get_row(sqlite3_stmt *st, struct registry_tunnel *t)
{
	int64_t lifetime;
	if (!get_text(st, COL_THING, t->thing, sizeof(t->thing)))
		return "thing is not text of at most 128 bytes";
	if (!get_text(st, COL_DESCRIPTION, t->description, sizeof(t->description)))
		return "description is not text of at most 256 bytes";
	const char *problem = get_services_column(st, COL_SERVICES, t);
	if (problem != NULL)
		return problem;
	if (!get_int64(st, COL_LIFETIME, &lifetime) || lifetime < 0 || lifetime > INT_MAX)
		return "lifetime_minutes is not a non-negative int";
	t->lifetime_minutes = (int)lifetime;
	if (!get_text(st, COL_TAGS, t->tags, sizeof(t->tags)))
		return "tags is not text of at most " REGISTRY_MAX_TAGS_TEXT " bytes";
	int64_t connected = 0;
	if (!get_int64(st, COL_CONNECTED, &connected) || store_connected_from_bits(t, connected))
		return "connected is not 0 to 3";
	if (!get_int64(st, COL_REV, &t->rev) || t->rev < 0)
		return "rev is not a non-negative integer";
	if (!get_int64(st, COL_CREATED, &t->created_at) ||
	    !get_int64(st, COL_EXPIRES, &t->expires_at) ||
	    !get_int64(st, COL_CLOSED, &t->closed_at))
		return "a time column is not an integer";
	for (int s = 0; s < 2; s++) {
		problem = get_side(st, s, t);
		if (problem != NULL)
			return problem;
	}
	return store_tunnel_problem(t);
}

static void free_tunnel(struct registry_tunnel *t)
{
	OPENSSL_cleanse(t, sizeof(*t)); /* client tokens are secrets */
	free(t);
}

/* Reads the current row into a new tunnel and hands it to r. */
static int load_row(struct sqlite_store *s, sqlite3_stmt *st, struct registry *r, int row,
		    char *err, size_t err_cap)
{
	struct registry_tunnel *t = calloc(1, sizeof(*t));
	if (t == NULL) {
		errf(err, err_cap, "%s: out of memory", s->path);
		return -1;
	}
	if (!get_text(st, COL_ID, t->id, sizeof(t->id)) || !registry_id_valid(t->id)) {
		/* Not a usable name: point at the row instead. */
		errf(err, err_cap, "%s: row %d: tunnel id must be 1-%d characters of [A-Za-z0-9_-]",
			s->path, row, REGISTRY_MAX_ID);
		free_tunnel(t);
		return -1;
	}
	const char *problem = get_row(st, t);
	if (problem != NULL) {
		errf(err, err_cap, "%s: tunnel '%s': %s", s->path, t->id, problem);
		free_tunnel(t);
		return -1;
	}
	char why[256];
	if (registry_insert(r, t, why, sizeof(why)) != 0) {
		errf(err, err_cap, "%s: %s", s->path, why);
		free_tunnel(t);
		return -1;
	}
	return 0;
}

static int sqlite_load(struct store *base, struct registry *r, char *err, size_t err_cap)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	/* The connection is the thread's while it writes. */
	store_worker_wait_idle(s->worker);
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(s->db, "SELECT " STORE_COLUMNS " FROM tunnels ORDER BY created_at, id",
			       -1, &st, NULL) != SQLITE_OK) {
		db_err(s, "cannot read the tunnels", err, err_cap);
		return -1;
	}
	int loaded = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (load_row(s, st, r, loaded + 1, err, err_cap) != 0) {
			sqlite3_finalize(st);
			return -1;
		}
		loaded++;
	}
	if (rc != SQLITE_DONE) {
		db_err(s, "cannot read the tunnels", err, err_cap);
		loaded = -1;
	}
	sqlite3_finalize(st);
	return loaded;
}

/* Fills pn from a row of pending_notifications. What is wrong, or NULL. */
static const char *get_notification(sqlite3_stmt *st, struct pending_notification *pn)
{
	if (!get_text(st, 0, pn->tunnel_id, sizeof(pn->tunnel_id)) ||
	    !get_text(st, 1, pn->thing, sizeof(pn->thing)) ||
	    !get_text(st, 3, pn->token, sizeof(pn->token)) || !get_int64(st, 4, &pn->since))
		return "a column has the wrong type or is too long";
	/* The services column has the tunnels table's form. */
	const char *problem = get_service_list(st, 2, pn->services, 1, TUNNEL_MAX_SERVICES,
					       &pn->n_services);
	return problem ? problem : pending_notification_problem(pn);
}

/* Reads one row of a table being loaded and hands it on. Returns NULL,
 * what is wrong with the row, or ROW_NOT_TAKEN when the taker refused it. */
typedef const char *(*load_row_fn)(sqlite3_stmt *st, void *ctx);
static const char ROW_NOT_TAKEN[] = "not taken";

/* Runs sql (a SELECT over table) and row() for each row, after the
 * worker's queue is written (loading happens once, at start-up). Returns
 * the number of rows, or -1 with err ("PATH: TABLE row N: problem"). */
static int load_rows(struct sqlite_store *s, const char *sql, const char *table, const char *what,
		     load_row_fn row, void *ctx, char *err, size_t err_cap)
{
	store_worker_wait_idle(s->worker);
	char failed[96];
	snprintf(failed, sizeof(failed), "cannot read the %s", what);
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
		db_err(s, failed, err, err_cap);
		return -1;
	}
	int loaded = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *problem = row(st, ctx);
		if (problem == ROW_NOT_TAKEN) {
			errf(err, err_cap, "%s: cannot take the %s: out of memory", s->path, what);
			loaded = -1;
			break;
		}
		if (problem != NULL) {
			errf(err, err_cap, "%s: %s row %d: %s", s->path, table, loaded + 1, problem);
			loaded = -1;
			break;
		}
		loaded++;
	}
	if (loaded >= 0 && rc != SQLITE_DONE) {
		db_err(s, failed, err, err_cap);
		loaded = -1;
	}
	sqlite3_finalize(st);
	return loaded;
}

struct notification_loader {
	store_each_notification_fn each;
	void *arg;
	struct pending_notification pn;
};

static const char *load_notification(sqlite3_stmt *st, void *ctx)
{
	struct notification_loader *l = ctx;
	memset(&l->pn, 0, sizeof(l->pn));
	const char *problem = get_notification(st, &l->pn);
	if (problem == NULL && l->each(l->arg, &l->pn) != 0)
		problem = ROW_NOT_TAKEN;
	return problem;
}

static int sqlite_load_notifications(struct store *base, store_each_notification_fn each, void *arg,
				     char *err, size_t err_cap)
{
	struct notification_loader l = { .each = each, .arg = arg };
	int n = load_rows((struct sqlite_store *)base,
			  "SELECT tunnel_id, thing, services, token, since "
			  "FROM pending_notifications ORDER BY since, tunnel_id",
			  "pending_notifications", "kept notifications", load_notification, &l, err,
			  err_cap);
	pending_notification_wipe(&l.pn);
	return n;
}

/* Fills p from a row of things. What is wrong, or NULL. */
static const char *get_thing(sqlite3_stmt *st, struct thing_presence *p)
{
	char state[16];
	int64_t max_tunnels;
	if (!get_text(st, 0, p->name, sizeof(p->name)) || !get_text(st, 1, state, sizeof(state)) ||
	    !get_int64(st, 2, &p->since) ||
	    !get_text(st, 4, p->agent_version, sizeof(p->agent_version)) ||
	    !get_int64(st, 5, &p->boot_time) || !get_int64(st, 6, &max_tunnels))
		return "a column has the wrong type or is too long";
	p->state = !strcmp(state, "online") ? THING_ONLINE :
		   !strcmp(state, "offline") ? THING_OFFLINE : THING_UNKNOWN;
	if (max_tunnels < 0 || max_tunnels > PRESENCE_MAX_TUNNELS)
		return "max_tunnels is out of range";
	p->max_tunnels = (int)max_tunnels;
	const char *problem = get_service_list(st, 3, p->services, 0, THING_MAX_SERVICES,
					       &p->n_services);
	return problem ? problem : store_thing_problem(p);
}

struct thing_loader {
	store_each_thing_fn each;
	void *arg;
	struct thing_presence p;
};

static const char *load_thing(sqlite3_stmt *st, void *ctx)
{
	struct thing_loader *l = ctx;
	memset(&l->p, 0, sizeof(l->p)); /* whole: the relay compares entries bytewise */
	const char *problem = get_thing(st, &l->p);
	if (problem == NULL && l->each(l->arg, &l->p) != 0)
		problem = ROW_NOT_TAKEN;
	return problem;
}

static int sqlite_load_things(struct store *base, store_each_thing_fn each, void *arg, char *err,
			      size_t err_cap)
{
	struct thing_loader l = { .each = each, .arg = arg };
	return load_rows((struct sqlite_store *)base,
			 "SELECT " THING_COLUMNS " FROM things ORDER BY name", "things", "things",
			 load_thing, &l, err, err_cap);
}

struct host_key_loader {
	store_each_host_key_fn each;
	void *arg;
};

static const char *load_host_key(sqlite3_stmt *st, void *ctx)
{
	struct host_key_loader *l = ctx;
	char thing[REGISTRY_MAX_THING + 1], fingerprint[STORE_MAX_FINGERPRINT + 1];
	if (!get_text(st, 0, thing, sizeof(thing)) ||
	    !get_text(st, 1, fingerprint, sizeof(fingerprint)))
		return "a column has the wrong type or is too long";
	return l->each(l->arg, thing, fingerprint) ? ROW_NOT_TAKEN : NULL;
}

static int sqlite_load_host_keys(struct store *base, store_each_host_key_fn each, void *arg,
				 char *err, size_t err_cap)
{
	struct host_key_loader l = { .each = each, .arg = arg };
	return load_rows((struct sqlite_store *)base,
			 "SELECT thing, fingerprint FROM host_keys ORDER BY thing", "host_keys",
			 "host keys", load_host_key, &l, err, err_cap);
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
