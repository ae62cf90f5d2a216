/* Following other nodes (store_watch): LISTEN on the connection, the
 * reload that covers the time before it, the notifications of other
 * nodes' writes, and each changed row read and reported to the watch
 * callback on the loop thread; also the worker's idle turn that
 * reconnects and follows. Calls store_pg_rows.c and store_pg_conn.c;
 * store_pg_jobs.c reports the rows its races lost through it. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "common/log.h"
#include "common/text.h"
#include "relay/store_pg_internal.h"
#include "relay/store_pg_known.h"
#include "relay/store_pg_sql.h"
#include "relay/store_worker.h"

/* On the worker thread while idle: the background reconnection. */
void pg_idle(void *backend)
{
	struct pg_store *s = backend;
	pthread_mutex_lock(&s->lock);
	if (pg_reconnect_if_due(s, false))
		pg_follow(s);
	pthread_mutex_unlock(&s->lock);
}

/* The worker waits on the connection's socket while listening, so that a
 * notification wakes it. */
int pg_idle_fd(void *backend)
{
	struct pg_store *s = backend;
	pthread_mutex_lock(&s->lock);
	int fd = s->conn != NULL && s->listening ? PQsocket(s->conn) : -1;
	pthread_mutex_unlock(&s->lock);
	return fd;
}

/* Reads the row of id into r (r->hit false: there is none). Returns 0, or
 * -1 with err. */
int pg_read_row(struct pg_store *s, const char *id, struct pg_row *r, char *err, size_t err_cap)
{
	textf(r->id, sizeof(r->id), "%s", id);
	char label[sizeof(r->id) + 16];
	textf(label, sizeof(label), "tunnel '%s'", id);
	return pg_select_row(s, pg_select_one_sql, id, "cannot read a tunnel", label, r, err,
			     err_cap);
}

/* On the loop thread: a report reaches the watch callback. */
static void deliver_report(void *job, void *ctx, const char *err)
{
	struct pg_row *r = &((struct pg_job *)job)->u.row;
	if (r->s->watch_fn)
		r->s->watch_fn(r->s->watch_arg, r->id, r->hit ? &r->tunnel : NULL,
			       r->hit ? r->owner : "");
}

/* Queues j (kind PG_REPORT, its row read) for the watch callback and
 * remembers the row's rev. */
void pg_report(struct pg_store *s, struct pg_job *j)
{
	j->kind = PG_REPORT;
	j->u.row.s = s;
	if (j->u.row.hit)
		known_set(&s->known, j->u.row.id, j->u.row.tunnel.rev);
	else
		known_remove(&s->known, j->u.row.id);
	store_worker_report(s->worker, j, deliver_report);
}

/* Reads the row of id and reports it, when watching: another node wrote
 * it, or won a race against this one. Without a watch, or when it cannot
 * be read, its rev here becomes unknown (the next reload reports it). */
void pg_report_row(struct pg_store *s, const char *id)
{
	char err[256];
	struct pg_job *j = s->watching ? calloc(1, sizeof(*j)) : NULL;
	if (j == NULL || pg_read_row(s, id, &j->u.row, err, sizeof(err)) != 0) {
		if (j != NULL)
			log_warn("tunnel %s: cannot read its row after another node's change: %s", id,
				 err);
		pg_free_job(j);
		known_set(&s->known, id, KNOWN_REV_UNKNOWN);
		return;
	}
	pg_report(s, j);
}

/* ---- following other nodes (under the lock, connected) ---------------------- */

/* A row this node knew is gone (the reload did not find it). */
static void report_gone(void *arg, const char *id)
{
	struct pg_job *j = calloc(1, sizeof(*j));
	if (j) {
		textf(j->u.row.id, sizeof(j->u.row.id), "%s", id);
		pg_report(arg, j); /* hit false: gone */
	}
}

/* Reports every row whose rev differs from what this node knows, and the
 * rows it knows that are gone: what changed while it was not listening. */
static void reload(struct pg_store *s)
{
	PGresult *res = PQexec(s->conn, pg_select_all_sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		char err[256];
		pg_statement_failed(s, res, "cannot reload the tunnels", err, sizeof(err));
		log_warn("%s", err);
		PQclear(res);
		s->listening = false; /* again at the next turn */
		return;
	}
	unsigned seen = known_begin_reload(&s->known);
	int n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		struct pg_job *j = calloc(1, sizeof(*j));
		if (j == NULL)
			break;
		struct pg_row *r = &j->u.row;
		const char *problem = pg_get_row(res, i, &r->tunnel, r->owner, sizeof(r->owner));
		struct known_row *k = problem ? NULL : known_get(&s->known, r->tunnel.id);
		if (k == NULL || k->rev == r->tunnel.rev) {
			if (k)
				k->seen = seen;
			else if (problem)
				log_warn("PostgreSQL %s: tunnels row %d: %s", s->shown, i + 1, problem);
			pg_free_job(j);
			continue;
		}
		k->seen = seen;
		r->hit = true;
		textf(r->id, sizeof(r->id), "%s", r->tunnel.id);
		pg_report(s, j);
	}
	PQclear(res);
	known_drop_unseen(&s->known, seen, report_gone, s);
}

/* LISTEN on a new connection, then the reload that covers the time
 * before it. */
void pg_start_listening(struct pg_store *s)
{
	if (!s->watching || s->listening || s->conn == NULL)
		return;
	char err[256];
	PGresult *res = PQexec(s->conn, "LISTEN " PG_CHANNEL);
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok) {
		pg_statement_failed(s, res, "cannot listen for other nodes' changes", err, sizeof(err));
		log_warn("%s", err);
	}
	PQclear(res);
	if (ok) {
		s->listening = true;
		reload(s);
	}
}

/* Handles the notifications libpq has read: other nodes' changes. */
static void take_notifications(struct pg_store *s)
{
	if (!s->listening)
		return;
	if (!PQconsumeInput(s->conn)) {
		char err[256];
		pg_statement_failed(s, NULL, "lost while listening", err, sizeof(err));
		return;
	}
	PGnotify *note;
	while (s->conn && (note = PQnotifies(s->conn)) != NULL) {
		/* "NODE ID": this node's own writes were reported by their jobs. */
		const char *space = strchr(note->extra, ' ');
		size_t node_len = space ? (size_t)(space - note->extra) : 0;
		bool own = space && node_len == strlen(s->node) &&
			   memcmp(note->extra, s->node, node_len) == 0;
		if (space && !own && strcmp(note->relname, PG_CHANNEL) == 0 &&
		    registry_id_valid(space + 1))
			pg_report_row(s, space + 1);
		PQfreemem(note);
	}
}

/* After each job and each idle turn. */
void pg_follow(struct pg_store *s)
{
	pg_start_listening(s);
	if (s->conn != NULL)
		take_notifications(s);
}
