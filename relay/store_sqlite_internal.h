/* What the SQLite store's files share (relay/store_sqlite.c and the
 * store_sqlite_*.c files below it): the store, its columns and its jobs,
 * and the functions one of them calls in another. Private: included by
 * those files only (relay/store_sqlite.h is the public one). Files, top to
 * bottom: store_sqlite.c (open, the schema, close, the ops table, queueing
 * jobs), store_sqlite_jobs.c (what the worker thread runs),
 * store_sqlite_rows.c (rows decoded, the start-up loads). */
#ifndef RELAY_STORE_SQLITE_INTERNAL_H
#define RELAY_STORE_SQLITE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "relay/pending_notification.h"
#include "relay/store.h"
#include "relay/store_rows.h"
#include "relay/things.h"

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

#define THING_COLUMNS "name, state, since, services, agent_version, boot_time, max_tunnels"

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

/* ---- store_sqlite_rows.c: rows read, the start-up loads ---- */

void sqlite_db_err(const struct sqlite_store *s, const char *what, char *err, size_t err_cap);
bool sqlite_get_text(sqlite3_stmt *st, int col, char *out, size_t cap);
const char *sqlite_get_row(sqlite3_stmt *st, struct registry_tunnel *t);
int sqlite_load(struct store *base, struct registry *r, char *err, size_t err_cap);
int sqlite_load_notifications(struct store *base, store_each_notification_fn each, void *arg,
			      char *err, size_t err_cap);
int sqlite_load_things(struct store *base, store_each_thing_fn each, void *arg, char *err,
		       size_t err_cap);
int sqlite_load_host_keys(struct store *base, store_each_host_key_fn each, void *arg, char *err,
			  size_t err_cap);

/* ---- store_sqlite_jobs.c: the worker thread's jobs ---- */

int sqlite_run_job(void *backend, void *job, char *err, size_t err_cap);
void sqlite_free_job(void *job);

#endif
