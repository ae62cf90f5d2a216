/* Rows read from PostgreSQL: each column checked and decoded into a
 * tunnel, a kept notification, a thing or a host key; the memory of jobs
 * and lists that hold them (wiped when freed: they hold tokens); and the
 * start-up loads (store_load and the others, on the loop thread). Called
 * by store_pg_watch.c and store_pg_jobs.c; calls store_pg_conn.c. */
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "common/text.h"
#include "relay/pending_notification.h"
#include "relay/store_pg_internal.h"
#include "relay/store_pg_known.h"
#include "relay/store_pg_sql.h"
#include "relay/store_rows.h"
#include "relay/store_worker.h"
#include "relay/things.h"

/* ---- load (loop thread, at start-up) -------------------------------------- */

/* Copies a text column of at most cap-1 bytes without embedded NULs. */
static bool get_text(const PGresult *res, int row, int col, char *out, size_t cap)
{
	if (PQgetisnull(res, row, col))
		return false;
	int n = PQgetlength(res, row, col);
	const char *v = PQgetvalue(res, row, col);
	if (n < 0 || (size_t)n >= cap || strlen(v) != (size_t)n)
		return false;
	memcpy(out, v, (size_t)n + 1);
	return true;
}

static bool get_int64(const PGresult *res, int row, int col, int64_t *out)
{
	char text[24], *end;
	if (!get_text(res, row, col, text, sizeof(text)) || !text[0])
		return false;
	long long v = strtoll(text, &end, 10);
	if (*end != '\0')
		return false;
	*out = v;
	return true;
}

static bool get_hash(const PGresult *res, int row, int col, uint8_t out[TOKEN_HASH_LEN])
{
	char text[2 * TOKEN_HASH_LEN + 1];
	if (!get_text(res, row, col, text, sizeof(text)) || strlen(text) != 2 * TOKEN_HASH_LEN)
		return false;
	for (size_t i = 0; i < TOKEN_HASH_LEN; i++) {
		unsigned v;
		if (sscanf(text + 2 * i, "%2x", &v) != 1)
			return false;
		out[i] = (uint8_t)v;
	}
	return true;
}

static const char *get_services(const PGresult *res, int row, int col,
				char (*out)[TUNNEL_MAX_SERVICE_ID + 1], size_t min, size_t max,
				size_t *n_out)
{
	if (PQgetisnull(res, row, col))
		return "services is null";
	return store_parse_services(PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col),
				    out, min, max, n_out);
}

/* Fills t from row (the load's columns). What is wrong, or NULL. */
static const char *get_tunnel(const PGresult *res, int row, struct registry_tunnel *t)
{
	int64_t lifetime, used;
	if (!get_text(res, row, 0, t->id, sizeof(t->id)) || !registry_id_valid(t->id))
		return "tunnel id must be 1-64 characters of [A-Za-z0-9_-]";
	if (!get_text(res, row, 1, t->thing, sizeof(t->thing)) ||
	    !get_text(res, row, 2, t->description, sizeof(t->description)))
		return "thing or description is too long";
	const char *problem = get_services(res, row, 3, t->services, 1, TUNNEL_MAX_SERVICES,
					   &t->n_services);
	if (problem != NULL)
		return problem;
	if (!get_int64(res, row, 4, &lifetime) || lifetime < 0 || lifetime > INT_MAX)
		return "lifetime_minutes is not a non-negative int";
	t->lifetime_minutes = (int)lifetime;
	if (!get_int64(res, row, 5, &t->created_at) || !get_int64(res, row, 6, &t->expires_at) ||
	    !get_int64(res, row, 7, &t->closed_at))
		return "a time column is not an integer";
	for (int s = 0; s < 2; s++) {
		struct registry_side *side = &t->side[s];
		if (!get_hash(res, row, 8 + 3 * s, side->token_hash))
			return "token hash must be 32 bytes";
		if (!get_int64(res, row, 9 + 3 * s, &used) || (used != 0 && used != 1))
			return "used flag must be 0 or 1";
		side->used = used == 1;
		side->has_client_token = !PQgetisnull(res, row, 10 + 3 * s);
		if (side->has_client_token &&
		    !get_text(res, row, 10 + 3 * s, side->client_token, sizeof(side->client_token)))
			return "client token is longer than 128 characters";
		if (!get_int64(res, row, 14 + s, &t->side_changed_at[s]))
			return "side change time is not an integer";
	}
	if (!get_text(res, row, 16, t->tags, sizeof(t->tags)))
		return "tags is longer than " REGISTRY_MAX_TAGS_TEXT " bytes";
	if (!get_text(res, row, PG_COL_OWNER, t->owner, sizeof(t->owner)))
		return "owner is longer than a node id";
	int64_t connected = 0;
	if (!get_int64(res, row, PG_COL_CONNECTED, &connected) ||
	    store_connected_from_bits(t, connected))
		return "connected is not 0 to 3";
	if (!get_int64(res, row, PG_COL_REV, &t->rev) || t->rev < 0)
		return "rev is not a non-negative integer";
	return store_tunnel_problem(t);
}

/* A row of PG_SELECT_COLUMNS into t and owner. What is wrong, or NULL. */
const char *pg_get_row(const PGresult *res, int row, struct registry_tunnel *t, char *owner,
		       size_t owner_cap)
{
	const char *problem = get_tunnel(res, row, t);
	if (problem == NULL)
		snprintf(owner, owner_cap, "%s", t->owner);
	return problem;
}

/* Runs sql (one parameter, at most one row) and decodes its row into r
 * (r->hit false: none). failed says what could not be done, label names
 * the row in a decoding error. Returns 0, or -1 with err. */
int pg_select_row(struct pg_store *s, const char *sql, const char *value, const char *failed,
		  const char *label, struct pg_row *r, char *err, size_t err_cap)
{
	const char *values[] = { value };
	PGresult *res = PQexecParams(s->conn, sql, 1, NULL, values, NULL, NULL, 0);
	int rc = 0;
	r->hit = false;
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		pg_statement_failed(s, res, failed, err, err_cap);
		rc = -1;
	} else if (PQntuples(res) == 1) {
		const char *problem = pg_get_row(res, 0, &r->tunnel, r->owner, sizeof(r->owner));
		if (problem != NULL) {
			errf(err, err_cap, "PostgreSQL %s: %s: %s", s->shown, label, problem);
			rc = -1;
		}
		r->hit = problem == NULL;
	}
	PQclear(res);
	return rc;
}

/* Runs a SELECT on the loop thread (start-up: the worker is idle).
 * Returns the result, or NULL with err. The caller clears it. */
static PGresult *select_rows(struct pg_store *s, const char *sql, const char *what, char *err,
			     size_t err_cap)
{
	store_worker_wait_idle(s->worker);
	pthread_mutex_lock(&s->lock);
	PGresult *res = NULL;
	if (!pg_reconnect_if_due(s, true)) {
		errf(err, err_cap, STORE_UNAVAILABLE ": PostgreSQL %s: cannot read the %s", s->shown,
		     what);
	} else {
		res = PQexec(s->conn, sql);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			char doing[64];
			textf(doing, sizeof(doing), "cannot read the %s", what);
			pg_statement_failed(s, res, doing, err, err_cap);
			PQclear(res);
			res = NULL;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return res;
}

static void free_tunnel(struct registry_tunnel *t)
{
	OPENSSL_cleanse(t, sizeof(*t)); /* client tokens are secrets */
	free(t);
}

int pg_load(struct store *base, struct registry *r, char *err, size_t err_cap)
{
	struct pg_store *s = (struct pg_store *)base;
	PGresult *res = select_rows(s, pg_select_all_sql, "tunnels", err, err_cap);
	if (res == NULL)
		return -1;
	int n = PQntuples(res), loaded = 0;
	for (; loaded < n; loaded++) {
		struct registry_tunnel *t = calloc(1, sizeof(*t));
		if (t == NULL) {
			errf(err, err_cap, "PostgreSQL %s: out of memory", s->shown);
			break;
		}
		const char *problem = get_tunnel(res, loaded, t);
		char why[256];
		if (problem != NULL) {
			errf(err, err_cap, "PostgreSQL %s: tunnels row %d: %s", s->shown, loaded + 1,
			     problem);
			free_tunnel(t);
			break;
		}
		if (registry_insert(r, t, why, sizeof(why)) != 0) {
			errf(err, err_cap, "PostgreSQL %s: %s", s->shown, why);
			free_tunnel(t);
			break;
		}
		pthread_mutex_lock(&s->lock); /* the worker's map; t is the registry's now */
		known_set(&s->known, t->id, t->rev);
		pthread_mutex_unlock(&s->lock);
	}
	PQclear(res);
	return loaded == n ? loaded : -1;
}

/* A row of PG_SELECT_NOTIFICATIONS into pn. What is wrong, or NULL (never
 * quoting the token). */
const char *pg_get_notification(const PGresult *res, int row, struct pending_notification *pn)
{
	memset(pn, 0, sizeof(*pn));
	if (!get_text(res, row, 0, pn->tunnel_id, sizeof(pn->tunnel_id)) ||
	    !get_text(res, row, 1, pn->thing, sizeof(pn->thing)) ||
	    !get_text(res, row, 3, pn->token, sizeof(pn->token)) ||
	    !get_int64(res, row, 4, &pn->since))
		return "a column has the wrong type or is too long";
	const char *problem = get_services(res, row, 2, pn->services, 1, TUNNEL_MAX_SERVICES,
					   &pn->n_services);
	return problem ? problem : pending_notification_problem(pn);
}

int pg_load_notifications(struct store *base, store_each_notification_fn each, void *arg,
			  char *err, size_t err_cap)
{
	struct pg_store *s = (struct pg_store *)base;
	PGresult *res = select_rows(s, PG_SELECT_NOTIFICATIONS, "kept notifications", err, err_cap);
	if (res == NULL)
		return -1;
	int n = PQntuples(res), i = 0;
	struct pending_notification pn;
	memset(&pn, 0, sizeof(pn));
	for (; i < n; i++) {
		const char *problem = pg_get_notification(res, i, &pn);
		if (problem != NULL) {
			errf(err, err_cap, "PostgreSQL %s: pending_notifications row %d: %s", s->shown,
			     i + 1, problem);
			break;
		}
		if (each(arg, &pn) != 0) {
			errf(err, err_cap, "PostgreSQL %s: cannot take the kept notifications", s->shown);
			break;
		}
	}
	pending_notification_wipe(&pn);
	PQclear(res);
	return i == n ? n : -1;
}

int pg_load_things(struct store *base, store_each_thing_fn each, void *arg, char *err,
		   size_t err_cap)
{
	struct pg_store *s = (struct pg_store *)base;
	PGresult *res = select_rows(s, "SELECT " PG_THING_COLUMNS " FROM things ORDER BY name",
				    "things", err, err_cap);
	if (res == NULL)
		return -1;
	int n = PQntuples(res), i = 0;
	for (; i < n; i++) {
		struct thing_presence p;
		memset(&p, 0, sizeof(p)); /* whole: the relay compares entries bytewise */
		char state[16] = "";
		int64_t max_tunnels = 0;
		const char *problem = NULL;
		if (!get_text(res, i, 0, p.name, sizeof(p.name)) ||
		    !get_text(res, i, 1, state, sizeof(state)) || !get_int64(res, i, 2, &p.since) ||
		    !get_text(res, i, 4, p.agent_version, sizeof(p.agent_version)) ||
		    !get_int64(res, i, 5, &p.boot_time) || !get_int64(res, i, 6, &max_tunnels) ||
		    max_tunnels < 0 || max_tunnels > INT_MAX)
			problem = "a column has the wrong type or is too long";
		else
			problem = get_services(res, i, 3, p.services, 0, THING_MAX_SERVICES,
					       &p.n_services);
		p.state = !strcmp(state, "online") ? THING_ONLINE :
			  !strcmp(state, "offline") ? THING_OFFLINE : THING_UNKNOWN;
		p.max_tunnels = (int)max_tunnels;
		if (problem == NULL)
			problem = store_thing_problem(&p);
		if (problem != NULL) {
			errf(err, err_cap, "PostgreSQL %s: things row %d: %s", s->shown, i + 1, problem);
			break;
		}
		if (each(arg, &p) != 0) {
			errf(err, err_cap, "PostgreSQL %s: cannot take the things", s->shown);
			break;
		}
	}
	PQclear(res);
	return i == n ? n : -1;
}

int pg_load_host_keys(struct store *base, store_each_host_key_fn each, void *arg,
		      char *err, size_t err_cap)
{
	struct pg_store *s = (struct pg_store *)base;
	PGresult *res = select_rows(s, "SELECT thing, fingerprint FROM host_keys ORDER BY thing",
				    "host keys", err, err_cap);
	if (res == NULL)
		return -1;
	int n = PQntuples(res), i = 0;
	for (; i < n; i++) {
		char thing[REGISTRY_MAX_THING + 1], fingerprint[STORE_MAX_FINGERPRINT + 1];
		if (!get_text(res, i, 0, thing, sizeof(thing)) ||
		    !get_text(res, i, 1, fingerprint, sizeof(fingerprint))) {
			errf(err, err_cap, "PostgreSQL %s: host_keys row %d: a column is too long",
			     s->shown, i + 1);
			break;
		}
		if (each(arg, thing, fingerprint) != 0) {
			errf(err, err_cap, "PostgreSQL %s: cannot take the host keys", s->shown);
			break;
		}
	}
	PQclear(res);
	return i == n ? n : -1;
}

/* ---- the memory of jobs and lists ---------------------------------------- */

void pg_free_rows(struct pg_list *l)
{
	if (l->rows != NULL)
		OPENSSL_cleanse(l->rows, l->n * sizeof(*l->rows)); /* tokens */
	free(l->rows);
	l->rows = NULL;
	l->n = 0;
}

void pg_free_job(void *job)
{
	if (job != NULL && ((struct pg_job *)job)->kind == PG_LIST)
		pg_free_rows(&((struct pg_job *)job)->u.list);
	if (job != NULL)
		OPENSSL_cleanse(job, sizeof(struct pg_job)); /* client and notification tokens */
	free(job);
}
