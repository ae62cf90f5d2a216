/* What the PostgreSQL store's worker thread runs: each job (save a
 * tunnel with its conditional close, claim a side, find a token, keep or
 * drop or take a notification, save a thing or a host key, list the kept
 * notifications) under the lock, with one reconnection and a second go
 * when the connection broke. Calls store_pg_watch.c (rows lost to another
 * node are reported), store_pg_rows.c and store_pg_conn.c. */
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "common/log.h"
#include "common/text.h"
#include "common/token.h"
#include "relay/pending_notification.h"
#include "relay/store_pg_internal.h"
#include "relay/store_pg_known.h"
#include "relay/store_pg_sql.h"
#include "relay/store_rows.h"
#include "relay/things.h"

/* ---- jobs (worker thread) ------------------------------------------------ */

/* The conditional close: returns 1 when this node closed t (now or by an
 * earlier save), 0 when another node had, -1 on failure. *rev: the row's
 * rev after a close won now, else unchanged. */
static int claim_close(struct pg_store *s, const struct registry_tunnel *t,
		       const struct pg_tunnel_params *p, int64_t *rev, char *err, size_t err_cap)
{
	struct known_row *k = known_find(&s->known, t->id);
	if (k && k->closed_here)
		return 1;
	const char *close_values[] = { t->id, p->closed, s->node };
	long n = pg_run_rev(s, pg_close_sql, 3, close_values, rev, "cannot close a tunnel", err,
			    err_cap);
	if (n == 0) { /* no open row: closed elsewhere, or never stored */
		const char *insert_values[PG_N_COLUMNS + 2];
		memcpy(insert_values, p->v, sizeof(insert_values));
		insert_values[PG_N_COLUMNS + 1] = s->node; /* $20 */
		n = pg_run_rev(s, pg_insert_closed_sql, PG_N_COLUMNS + 2, insert_values, rev,
			       "cannot store a closed tunnel", err, err_cap);
	}
	if (n <= 0)
		return n < 0 ? -1 : 0;
	k = known_get(&s->known, t->id);
	if (k == NULL) {
		errf(err, err_cap, "PostgreSQL %s: tunnel '%s': out of memory", s->shown, t->id);
		return -1;
	}
	k->closed_here = true;
	k->rev = *rev;
	return 1;
}

/* Writes a row whose save found it at another rev or closed: reports the
 * row as stored, and says so. */
static int lost(struct pg_store *s, const char *id, const char *why, char *err, size_t err_cap)
{
	pg_report_row(s, id);
	errf(err, err_cap, STORE_LOST_RACE ": tunnel '%s' %s", id, why);
	return -1;
}

static int run_save(struct pg_store *s, const struct registry_tunnel *t, char *err, size_t err_cap)
{
	if (t->from_file)
		return 0; /* --tunnels file entries are configuration, not state */
	if (t->deleted) {
		const char *values[] = { t->id, s->node };
		known_remove(&s->known, t->id); /* the relay forgot it too: gone either way */
		return pg_run(s, pg_delete_sql, 2, values, "cannot delete a tunnel", err, err_cap) < 0
			       ? -1 : 0;
	}
	struct pg_tunnel_params p;
	memset(&p, 0, sizeof(p));
	if (pg_tunnel_params_fill(&p, t, s->node) != 0) {
		errf(err, err_cap, "PostgreSQL %s: cannot save tunnel '%s': out of memory", s->shown,
		     t->id);
		return -1;
	}
	int64_t rev = t->rev + 1;
	long n = 1;
	if (t->closed_at != 0) {
		int64_t closed_rev = KNOWN_REV_UNKNOWN; /* stays so when closed by an earlier save */
		n = claim_close(s, t, &p, &closed_rev, err, err_cap);
		if (n > 0 && closed_rev != KNOWN_REV_UNKNOWN && closed_rev != rev) {
			/* Closed here, but this copy was stale: the rest of the
			 * row is the other node's, which the relay now learns. */
			pg_tunnel_params_free(&p);
			pg_report_row(s, t->id);
			return 0;
		}
		if (closed_rev == rev) /* closed by this save: the rest of the row, same rev */
			pg_tunnel_params_revs(&p, rev, rev);
	}
	if (n > 0)
		n = pg_run(s, pg_save_sql, PG_N_COLUMNS + 3, p.v, "cannot save a tunnel", err, err_cap);
	pg_tunnel_params_free(&p);
	if (n < 0) {
		known_set(&s->known, t->id, KNOWN_REV_UNKNOWN);
		return -1;
	}
	if (n == 0)
		return lost(s, t->id,
			    t->closed_at ? "was already closed there" : "was changed there first", err,
			    err_cap);
	known_set(&s->known, t->id, rev);
	return 0;
}

static int run_claim(struct pg_store *s, const struct store_claim *c, char *err, size_t err_cap)
{
	char connected[4];
	textf(connected, sizeof(connected), "%d", c->connected);
	const char *values[] = { c->id, c->client_token[0] ? c->client_token : NULL, c->node,
				 connected };
	int64_t rev = 0;
	long n = pg_run_rev(s, pg_claim_sql[c->side], 4, values, &rev, "cannot claim a side", err,
			    err_cap);
	if (n < 0) {
		known_set(&s->known, c->id, KNOWN_REV_UNKNOWN);
		return -1;
	}
	if (n > 0) {
		known_set(&s->known, c->id, rev);
		return 0;
	}
	struct pg_job *j = calloc(1, sizeof(*j));
	if (j == NULL) {
		errf(err, err_cap, "PostgreSQL %s: cannot claim a side: out of memory", s->shown);
		return -1;
	}
	if (pg_read_row(s, c->id, &j->u.row, err, err_cap) != 0) {
		pg_free_job(j);
		return -1;
	}
	if (!j->u.row.hit) {
		pg_free_job(j);
		return 0; /* no row (a --tunnels file's tunnel): nothing to race for */
	}
	if (s->watching)
		pg_report(s, j);
	else
		pg_free_job(j);
	errf(err, err_cap, STORE_LOST_RACE ": tunnel '%s': its %s is closed or taken there", c->id,
	     tunnel_side_name(c->side));
	return -1;
}

static int run_find(struct pg_store *s, struct pg_row *r, char *err, size_t err_cap)
{
	char hash[2 * TOKEN_HASH_LEN + 1];
	pg_hex(r->hash, TOKEN_HASH_LEN, hash);
	if (pg_select_row(s, pg_find_token_sql, hash, "cannot look a token up",
			  "a tunnel found by its token", r, err, err_cap) != 0)
		return -1;
	if (r->hit)
		known_set(&s->known, r->tunnel.id, r->tunnel.rev);
	return 0;
}

static int run_keep(struct pg_store *s, const struct pending_notification *pn, char *err,
		    size_t err_cap)
{
	char *services = store_services_json(pn->services, pn->n_services);
	if (services == NULL) {
		errf(err, err_cap, "PostgreSQL %s: cannot keep a notification: out of memory", s->shown);
		return -1;
	}
	char since[24];
	snprintf(since, sizeof(since), "%" PRId64, pn->since);
	const char *values[] = { pn->tunnel_id, pn->thing, services, pn->token, since };
	long n = pg_run(s, pg_keep_sql, 5, values, "cannot keep a notification", err, err_cap);
	free(services);
	return n < 0 ? -1 : 0;
}

static int run_thing(struct pg_store *s, const struct thing_presence *p, char *err, size_t err_cap)
{
	char *services = store_services_json(p->services, p->n_services);
	if (services == NULL) {
		errf(err, err_cap, "PostgreSQL %s: cannot save a thing: out of memory", s->shown);
		return -1;
	}
	char since[24], boot[24], max[16];
	snprintf(since, sizeof(since), "%" PRId64, p->since);
	snprintf(boot, sizeof(boot), "%" PRId64, p->boot_time);
	snprintf(max, sizeof(max), "%d", p->max_tunnels);
	const char *values[] = { p->name, thing_state_name(p->state), since, services,
				 p->agent_version, boot, max };
	long n = pg_run(s, pg_thing_sql, 7, values, "cannot save a thing", err, err_cap);
	free(services);
	return n < 0 ? -1 : 0;
}

static int run_host_key(struct pg_store *s, const struct pg_host_key *k, char *err, size_t err_cap)
{
	bool forget = !k->fingerprint[0];
	const char *values[] = { k->thing, k->fingerprint };
	long n = pg_run(s, forget ? pg_key_del_sql : pg_key_set_sql, forget ? 1 : 2, values,
			"cannot save a host key", err, err_cap);
	return n < 0 ? -1 : 0;
}

/* store_take_notification: won when the one statement changed the row. */
static int run_take(struct pg_store *s, const struct pg_take *t, char *err, size_t err_cap)
{
	uint8_t hash[TOKEN_HASH_LEN];
	if (token_hash(t->note.token, strlen(t->note.token), hash) != 0) {
		errf(err, err_cap, "PostgreSQL %s: cannot take a notification: cannot hash its token",
		     s->shown);
		return -1;
	}
	char hex[2 * TOKEN_HASH_LEN + 1], since[24], now[24];
	pg_hex(hash, TOKEN_HASH_LEN, hex);
	snprintf(since, sizeof(since), "%" PRId64, t->note.since);
	snprintf(now, sizeof(now), "%" PRId64, t->now);
	const char *values[] = { t->note.tunnel_id, t->note.token, since, hex, now };
	long n = pg_run(s, pg_take_sql, 5, values, "cannot take a notification", err, err_cap);
	if (n < 0)
		return -1;
	if (n == 0) {
		errf(err, err_cap, STORE_LOST_RACE ": tunnel '%s': its notification was taken there, "
		     "or its token is no longer current", t->note.tunnel_id);
		return -1;
	}
	return 0;
}

/* ---- every node's kept notifications (store_list_notifications) ---------- */

/* A reading takes at most 1000 rows (oldest first, PG_SELECT_NOTIFICATIONS
 * " LIMIT 1000" below): the next one, 30 s later, takes the rest. */

/* Worker thread, under the lock, connected: reads the rows into l. A row
 * that does not parse is skipped with a warning (the others still count). */
static int run_list(struct pg_store *s, struct pg_list *l, char *err, size_t err_cap)
{
	PGresult *res = PQexec(s->conn, PG_SELECT_NOTIFICATIONS " LIMIT 1000");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		pg_statement_failed(s, res, "cannot read the kept notifications", err, err_cap);
		PQclear(res);
		return -1;
	}
	pg_free_rows(l); /* a second go after a reconnection */
	int n = PQntuples(res);
	l->rows = n > 0 ? calloc((size_t)n, sizeof(*l->rows)) : NULL;
	if (n > 0 && l->rows == NULL) {
		errf(err, err_cap, "PostgreSQL %s: cannot read the kept notifications: out of memory",
		     s->shown);
		PQclear(res);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		const char *problem = pg_get_notification(res, i, &l->rows[l->n]);
		if (problem != NULL) {
			pending_notification_wipe(&l->rows[l->n]);
			log_warn("PostgreSQL %s: pending_notifications row %d skipped: %s", s->shown,
				 i + 1, problem);
			continue;
		}
		l->n++;
	}
	PQclear(res);
	return 0;
}

/* ---- each job ------------------------------------------------------------ */

static int run_once(struct pg_store *s, struct pg_job *j, char *err, size_t err_cap)
{
	switch (j->kind) {
	case PG_SAVE:
		return run_save(s, &j->u.tunnel, err, err_cap);
	case PG_KEEP:
		return run_keep(s, &j->u.note, err, err_cap);
	case PG_DROP: {
		const char *values[] = { j->u.note.tunnel_id, j->u.note.token };
		return pg_run(s, pg_drop_sql, 2, values, "cannot delete a notification", err,
			      err_cap) < 0 ? -1 : 0;
	}
	case PG_THING:
		return run_thing(s, &j->u.thing, err, err_cap);
	case PG_HOST_KEY:
		return run_host_key(s, &j->u.key, err, err_cap);
	case PG_CLAIM:
		return run_claim(s, &j->u.claim, err, err_cap);
	case PG_FIND:
		return run_find(s, &j->u.row, err, err_cap);
	case PG_LIST:
		return run_list(s, &j->u.list, err, err_cap);
	case PG_TAKE:
		return run_take(s, &j->u.take, err, err_cap);
	case PG_REPORT:
		break; /* never submitted */
	}
	return -1;
}

/* A job that never ran (the database away) still changed the relay's copy. */
static void job_not_run(struct pg_store *s, const struct pg_job *j)
{
	if (j->kind == PG_SAVE && !j->u.tunnel.from_file && !j->u.tunnel.deleted)
		known_set(&s->known, j->u.tunnel.id, KNOWN_REV_UNKNOWN);
	else if (j->kind == PG_CLAIM)
		known_set(&s->known, j->u.claim.id, KNOWN_REV_UNKNOWN);
}

/* On the worker thread. A job that finds the connection broken (the
 * server restarted since the last one) gets one immediate reconnection
 * and a second go; while the database stays away, jobs fail at once. */
int pg_run_job(void *backend, void *job, char *err, size_t err_cap)
{
	struct pg_store *s = backend;
	pthread_mutex_lock(&s->lock);
	int rc = -1;
	if (!pg_reconnect_if_due(s, false)) {
		errf(err, err_cap, STORE_UNAVAILABLE ": PostgreSQL %s: reconnecting", s->shown);
		job_not_run(s, job);
	} else {
		rc = run_once(s, job, err, err_cap);
		if (rc != 0 && store_error_unavailable(err) && pg_reconnect_if_due(s, true))
			rc = run_once(s, job, err, err_cap);
		pg_follow(s);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}
