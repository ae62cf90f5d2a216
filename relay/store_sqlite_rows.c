/* Rows read from SQLite: each column checked and decoded into a tunnel,
 * a kept notification, a thing or a host key, and the start-up loads
 * (store_load and the others, on the loop thread, the worker idle); also
 * the "PATH: WHAT: reason" message every SQLite failure gives. The bottom
 * of the store_sqlite*.c files: it calls neither of the others. */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <sqlite3.h>

#include "common/text.h"
#include "relay/pending_notification.h"
#include "relay/presence_payload.h"
#include "relay/store_rows.h"
#include "relay/store_sqlite_internal.h"
#include "relay/store_worker.h"
#include "relay/things.h"

/* "PATH: WHAT: sqlite's reason". SQLite's messages never quote bound
 * values, so no token can end up here. */
void sqlite_db_err(const struct sqlite_store *s, const char *what, char *err, size_t err_cap)
{
	errf(err, err_cap, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

/* ---- load ------------------------------------------------------------------ */

/* Copies a TEXT column of at most cap-1 bytes without embedded NULs. */
bool sqlite_get_text(sqlite3_stmt *st, int col, char *out, size_t cap)
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
	    !sqlite_get_text(st, base + COL_SIDE_CLIENT, side->client_token,
			     sizeof(side->client_token)))
		return "client token is not text of at most 128 characters";
	if (!get_int64(st, COL_CHANGED + s, &t->side_changed_at[s]))
		return "side change time is not an integer";
	return NULL;
}

/* Fills t from the current row (id already read). What is wrong, or NULL. */
const char *sqlite_get_row(sqlite3_stmt *st, struct registry_tunnel *t)
{
	int64_t lifetime;
	if (!sqlite_get_text(st, COL_THING, t->thing, sizeof(t->thing)))
		return "thing is not text of at most 128 bytes";
	if (!sqlite_get_text(st, COL_DESCRIPTION, t->description, sizeof(t->description)))
		return "description is not text of at most 256 bytes";
	const char *problem = get_services_column(st, COL_SERVICES, t);
	if (problem != NULL)
		return problem;
	if (!get_int64(st, COL_LIFETIME, &lifetime) || lifetime < 0 || lifetime > INT_MAX)
		return "lifetime_minutes is not a non-negative int";
	t->lifetime_minutes = (int)lifetime;
	if (!sqlite_get_text(st, COL_TAGS, t->tags, sizeof(t->tags)))
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
	if (!sqlite_get_text(st, COL_ID, t->id, sizeof(t->id)) || !registry_id_valid(t->id)) {
		/* Not a usable name: point at the row instead. */
		errf(err, err_cap, "%s: row %d: tunnel id must be 1-%d characters of [A-Za-z0-9_-]",
			s->path, row, REGISTRY_MAX_ID);
		free_tunnel(t);
		return -1;
	}
	const char *problem = sqlite_get_row(st, t);
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

int sqlite_load(struct store *base, struct registry *r, char *err, size_t err_cap)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	/* The connection is the thread's while it writes. */
	store_worker_wait_idle(s->worker);
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(s->db, "SELECT " STORE_COLUMNS " FROM tunnels ORDER BY created_at, id",
			       -1, &st, NULL) != SQLITE_OK) {
		sqlite_db_err(s, "cannot read the tunnels", err, err_cap);
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
		sqlite_db_err(s, "cannot read the tunnels", err, err_cap);
		loaded = -1;
	}
	sqlite3_finalize(st);
	return loaded;
}

/* Fills pn from a row of pending_notifications. What is wrong, or NULL. */
static const char *get_notification(sqlite3_stmt *st, struct pending_notification *pn)
{
	if (!sqlite_get_text(st, 0, pn->tunnel_id, sizeof(pn->tunnel_id)) ||
	    !sqlite_get_text(st, 1, pn->thing, sizeof(pn->thing)) ||
	    !sqlite_get_text(st, 3, pn->token, sizeof(pn->token)) || !get_int64(st, 4, &pn->since))
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
		sqlite_db_err(s, failed, err, err_cap);
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
		sqlite_db_err(s, failed, err, err_cap);
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

int sqlite_load_notifications(struct store *base, store_each_notification_fn each, void *arg,
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
	if (!sqlite_get_text(st, 0, p->name, sizeof(p->name)) ||
	    !sqlite_get_text(st, 1, state, sizeof(state)) ||
	    !get_int64(st, 2, &p->since) ||
	    !sqlite_get_text(st, 4, p->agent_version, sizeof(p->agent_version)) ||
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

int sqlite_load_things(struct store *base, store_each_thing_fn each, void *arg, char *err,
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
	if (!sqlite_get_text(st, 0, thing, sizeof(thing)) ||
	    !sqlite_get_text(st, 1, fingerprint, sizeof(fingerprint)))
		return "a column has the wrong type or is too long";
	return l->each(l->arg, thing, fingerprint) ? ROW_NOT_TAKEN : NULL;
}

int sqlite_load_host_keys(struct store *base, store_each_host_key_fn each, void *arg,
			  char *err, size_t err_cap)
{
	struct host_key_loader l = { .each = each, .arg = arg };
	return load_rows((struct sqlite_store *)base,
			 "SELECT thing, fingerprint FROM host_keys ORDER BY thing", "host_keys",
			 "host keys", load_host_key, &l, err, err_cap);
}
