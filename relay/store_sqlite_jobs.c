/* What the SQLite store's worker thread runs: each job (save or delete a
 * tunnel, keep or drop a notification, save a thing or a host key, claim
 * a side, find a token) as one statement, its values bound without
 * copies; and freeing a job (wiped: it holds tokens). Calls
 * store_sqlite_rows.c (a found row is decoded there). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <sqlite3.h>

#include "common/text.h"
#include "relay/pending_notification.h"
#include "relay/store_rows.h"
#include "relay/store_sqlite_internal.h"
#include "relay/things.h"

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
		sqlite_db_err(s, what, err, err_cap);
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
		sqlite_db_err(s, what, err, err_cap);
		ret = -1;
	}
	/* Drop the pointers into t and services; the step's error is already
	 * reported, so reset's copy of it is not needed. */
	sqlite3_reset(s->save);
	sqlite3_clear_bindings(s->save);
	free(services);
	return ret;
}

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
		sqlite_db_err(s, what, err, err_cap);
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
		sqlite_db_err(s, what, err, err_cap);
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
		sqlite_db_err(s, what, err, err_cap);
		ret = -1;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return ret;
}

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
		rc = sqlite3_bind_int(st, 4, c->connected);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	int ret = 0;
	if (rc != SQLITE_DONE) {
		char what[REGISTRY_MAX_ID + 48];
		textf(what, sizeof(what), "cannot claim a side of tunnel '%s'", c->id);
		sqlite_db_err(s, what, err, err_cap);
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
			sqlite_db_err(s, "cannot read a claimed tunnel", err, err_cap);
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
		if (!sqlite_get_text(st, COL_ID, f->row.id, sizeof(f->row.id)) ||
		    !registry_id_valid(f->row.id))
			problem = "tunnel id must be 1-64 characters of [A-Za-z0-9_-]";
		else
			problem = sqlite_get_row(st, &f->row);
		if (problem != NULL) {
			errf(err, err_cap, "%s: a tunnel found by its token: %s", s->path, problem);
			ret = -1;
		}
		f->hit = problem == NULL;
	} else if (rc != SQLITE_DONE) {
		sqlite_db_err(s, "cannot look a token up", err, err_cap);
		ret = -1;
	}
	sqlite3_finalize(st);
	return ret;
}

int sqlite_run_job(void *backend, void *job, char *err, size_t err_cap)
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

void sqlite_free_job(void *job)
{
	struct sqlite_job *j = job;
	if (j != NULL)
		OPENSSL_cleanse(j, sizeof(*j)); /* client tokens, notification tokens */
	free(j);
}
