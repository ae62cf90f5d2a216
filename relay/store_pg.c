#include "relay/store_pg.h"

#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "common/log.h"
#include "common/text.h"
#include "relay/pending_notification.h"
#include "relay/store_pg_known.h"
#include "relay/store_pg_sql.h"
#include "relay/store_rows.h"
#include "relay/store_uri.h"
#include "relay/store_worker.h"
#include "relay/things.h"

/* Saves waiting for the thread at most: each holds a copy of a tunnel. */
#define PG_MAX_PENDING 1024
#define PG_BACKOFF_MIN_S 1
#define PG_BACKOFF_MAX_S 30
/* The connection is shared by the loop thread (loading, at start-up) and
 * the worker thread (jobs, reconnecting): `lock` guards it and everything
 * below it. */
struct pg_store {
	struct store base;
	struct store_worker *worker;
	pthread_mutex_t lock;
	PGconn *conn;               /* NULL or bad: lost, reconnecting */
	bool lost;                  /* in an outage episode (warned once) */
	time_t next_try;            /* when to reconnect next */
	int backoff_s;
	struct known_rows known;    /* the worker's: each row's rev as this node knows it */
	bool watching;              /* store_watch was called */
	bool listening;             /* LISTEN done on this connection */
	char node[STORE_MAX_NODE_ID + 1]; /* "" until store_watch: in payloads */
	/* The loop thread's: the watch callback. */
	store_tunnel_changed_fn watch_fn;
	void *watch_arg;
	char shown[256];            /* the URI with its password masked, for messages */
	char uri[];
};

static const struct store_ops pg_ops;

/* ---- the connection ------------------------------------------------------ */

/* PostgreSQL's notices ("relation already exists, skipping") are not ours
 * to print. */
static void quiet_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* libpq's last message on one line (it ends with a newline). */
static void conn_reason(PGconn *conn, char *out, size_t cap)
{
	textf(out, cap, "%s", conn ? PQerrorMessage(conn) : "out of memory");
	out[strcspn(out, "\r\n")] = '\0';
}

/* Opens a new connection into s->conn. Returns 0, or -1 with libpq's
 * reason in why (which never holds the password). */
static int pg_connect(struct pg_store *s, char *why, size_t why_cap)
{
	/* dbname is expanded from the URI; connect_timeout first, so that a
	 * URI's own wins. */
	const char *keys[] = { "connect_timeout", "dbname", NULL };
	const char *values[] = { "5", s->uri, NULL };
	PGconn *conn = PQconnectdbParams(keys, values, 1);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
		conn_reason(conn, why, why_cap);
		PQfinish(conn);
		return -1;
	}
	PQsetNoticeProcessor(conn, quiet_notice, NULL);
	s->conn = conn;
	s->listening = false; /* LISTEN is per connection: again, with a reload */
	return 0;
}

/* Under the lock: the connection is gone. One WARN per episode. */
static void mark_lost(struct pg_store *s, const char *why)
{
	PQfinish(s->conn);
	s->conn = NULL;
	s->listening = false;
	if (!s->lost) {
		log_warn("PostgreSQL %s: connection lost (%s); the relay goes on and reconnects "
			 "in the background", s->shown, why);
		s->lost = true;
		s->backoff_s = PG_BACKOFF_MIN_S;
	}
	s->next_try = time(NULL) + s->backoff_s;
}

/* Under the lock: connects again if it is time. Returns true when connected. */
static bool reconnect_if_due(struct pg_store *s, bool now)
{
	if (s->conn != NULL)
		return true;
	if (!now && time(NULL) < s->next_try)
		return false;
	char why[256];
	if (pg_connect(s, why, sizeof(why)) != 0) {
		s->backoff_s = s->backoff_s * 2 > PG_BACKOFF_MAX_S ? PG_BACKOFF_MAX_S : s->backoff_s * 2;
		s->next_try = time(NULL) + s->backoff_s;
		log_debug("PostgreSQL %s: cannot reconnect yet: %s", s->shown, why);
		return false;
	}
	if (s->lost)
		log_info("PostgreSQL %s: connected again", s->shown);
	s->lost = false;
	return true;
}

/* On the worker thread while idle: the background reconnection. */
static void follow(struct pg_store *s);

static void pg_idle(void *backend)
{
	struct pg_store *s = backend;
	pthread_mutex_lock(&s->lock);
	if (reconnect_if_due(s, false))
		follow(s);
	pthread_mutex_unlock(&s->lock);
}

/* The worker waits on the connection's socket while listening, so that a
 * notification wakes it. */
static int pg_idle_fd(void *backend)
{
	struct pg_store *s = backend;
	pthread_mutex_lock(&s->lock);
	int fd = s->conn != NULL && s->listening ? PQsocket(s->conn) : -1;
	pthread_mutex_unlock(&s->lock);
	return fd;
}

/* What a failed statement means: lost (err starts with STORE_UNAVAILABLE,
 * the connection is dropped) or a real failure. */
static void statement_failed(struct pg_store *s, const PGresult *res, const char *what, char *err,
			     size_t err_cap)
{
	char why[256];
	if (res != NULL && PQresultErrorMessage(res)[0])
		textf(why, sizeof(why), "%s", PQresultErrorMessage(res));
	else
		conn_reason(s->conn, why, sizeof(why));
	why[strcspn(why, "\r\n")] = '\0';
	if (s->conn == NULL || PQstatus(s->conn) == CONNECTION_BAD) {
		errf(err, err_cap, STORE_UNAVAILABLE ": PostgreSQL %s: %s: %s", s->shown, what, why);
		mark_lost(s, why);
		return;
	}
	errf(err, err_cap, "PostgreSQL %s: %s: %s", s->shown, what, why);
}

/* Runs sql with n text parameters. Returns the number of rows it changed
 * (or returned), or -1 with err. Under the lock, connected. PostgreSQL's
 * messages may quote a value, so statements holding a token (kept
 * notifications) never pass it where a constraint could fail on it. */
static long run_rev(struct pg_store *s, const char *sql, int n, const char *const *values,
		    int64_t *rev, const char *what, char *err, size_t err_cap)
{
	PGresult *res = PQexecParams(s->conn, sql, n, NULL, values, NULL, NULL, 0);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	long changed = -1;
	if (st == PGRES_COMMAND_OK)
		changed = strtol(PQcmdTuples(res), NULL, 10);
	else if (st == PGRES_TUPLES_OK)
		changed = PQntuples(res);
	else
		statement_failed(s, res, what, err, err_cap);
	if (rev != NULL && changed > 0)
		*rev = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return changed;
}

/* run_rev without the rev: the number of rows changed, or -1. */
static long run(struct pg_store *s, const char *sql, int n, const char *const *values,
		const char *what, char *err, size_t err_cap)
{
	return run_rev(s, sql, n, values, NULL, what, err, err_cap);
}

/* ---- jobs (worker thread) ------------------------------------------------ */

enum pg_job_kind { PG_SAVE, PG_KEEP, PG_DROP, PG_THING, PG_HOST_KEY, PG_CLAIM, PG_FIND, PG_REPORT,
		   PG_LIST };

struct pg_host_key {
	char thing[REGISTRY_MAX_THING + 1];
	char fingerprint[STORE_MAX_FINGERPRINT + 1];
};

/* A row read on the worker thread for the loop thread: store_find_token's
 * answer, or a change reported to the watch callback. */
struct pg_row {
	struct pg_store *s;
	store_found_fn found;   /* store_find_token's done */
	uint8_t hash[TOKEN_HASH_LEN];
	bool hit;               /* found; a report without it: the row is gone */
	char id[REGISTRY_MAX_ID + 1];
	char owner[STORE_MAX_NODE_ID + 1];
	struct registry_tunnel tunnel;
};

/* store_list_notifications' answer: the rows read (wiped when freed). */
struct pg_list {
	store_each_notification_fn each;
	store_done_fn done;
	struct pending_notification *rows;
	size_t n;
};

struct pg_job {
	enum pg_job_kind kind;
	union {
		struct registry_tunnel tunnel;
		struct pending_notification note;
		struct thing_presence thing;
		struct pg_host_key key;
		struct store_claim claim;
		struct pg_row row;
		struct pg_list list;
	} u;
};

static const char *get_row(const PGresult *res, int row, struct registry_tunnel *t, char *owner,
			   size_t owner_cap);
static void free_job(void *job);
static int run_list(struct pg_store *s, struct pg_list *l, char *err, size_t err_cap);

/* Reads the row of id into r (r->hit false: there is none). Returns 0, or
 * -1 with err. */
static int read_row(struct pg_store *s, const char *id, struct pg_row *r, char *err, size_t err_cap)
{
	const char *values[] = { id };
	PGresult *res = PQexecParams(s->conn, pg_select_one_sql, 1, NULL, values, NULL, NULL, 0);
	int rc = 0;
	textf(r->id, sizeof(r->id), "%s", id);
	r->hit = false;
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		statement_failed(s, res, "cannot read a tunnel", err, err_cap);
		rc = -1;
	} else if (PQntuples(res) == 1) {
		const char *problem = get_row(res, 0, &r->tunnel, r->owner, sizeof(r->owner));
		if (problem != NULL) {
			errf(err, err_cap, "PostgreSQL %s: tunnel '%s': %s", s->shown, id, problem);
			rc = -1;
		}
		r->hit = problem == NULL;
	}
	PQclear(res);
	return rc;
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
static void report(struct pg_store *s, struct pg_job *j)
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
static void report_row(struct pg_store *s, const char *id)
{
	char err[256];
	struct pg_job *j = s->watching ? calloc(1, sizeof(*j)) : NULL;
	if (j == NULL || read_row(s, id, &j->u.row, err, sizeof(err)) != 0) {
		if (j != NULL)
			log_warn("tunnel %s: cannot read its row after another node's change: %s", id,
				 err);
		free_job(j);
		known_set(&s->known, id, KNOWN_REV_UNKNOWN);
		return;
	}
	report(s, j);
}

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
	long n = run_rev(s, pg_close_sql, 3, close_values, rev, "cannot close a tunnel", err,
			 err_cap);
	if (n == 0) { /* no open row: closed elsewhere, or never stored */
		const char *insert_values[PG_N_COLUMNS + 2];
		memcpy(insert_values, p->v, sizeof(insert_values));
		insert_values[PG_N_COLUMNS + 1] = s->node; /* $20 */
		n = run_rev(s, pg_insert_closed_sql, PG_N_COLUMNS + 2, insert_values, rev,
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
	report_row(s, id);
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
		return run(s, pg_delete_sql, 2, values, "cannot delete a tunnel", err, err_cap) < 0
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
			report_row(s, t->id);
			return 0;
		}
		if (closed_rev == rev) /* closed by this save: the rest of the row, same rev */
			pg_tunnel_params_revs(&p, rev, rev);
	}
	if (n > 0)
		n = run(s, pg_save_sql, PG_N_COLUMNS + 3, p.v, "cannot save a tunnel", err, err_cap);
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
	const char *values[] = { c->id, c->client_token[0] ? c->client_token : NULL, c->node };
	int64_t rev = 0;
	long n = run_rev(s, pg_claim_sql[c->side], 3, values, &rev, "cannot claim a side", err,
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
	if (read_row(s, c->id, &j->u.row, err, err_cap) != 0) {
		free_job(j);
		return -1;
	}
	if (!j->u.row.hit) {
		free_job(j);
		return 0; /* no row (a --tunnels file's tunnel): nothing to race for */
	}
	if (s->watching)
		report(s, j);
	else
		free_job(j);
	errf(err, err_cap, STORE_LOST_RACE ": tunnel '%s': its %s is closed or taken there", c->id,
	     tunnel_side_name(c->side));
	return -1;
}

static int run_find(struct pg_store *s, struct pg_row *r, char *err, size_t err_cap)
{
	char hash[2 * TOKEN_HASH_LEN + 1];
	pg_hex(r->hash, TOKEN_HASH_LEN, hash);
	const char *values[] = { hash };
	PGresult *res = PQexecParams(s->conn, pg_find_token_sql, 1, NULL, values, NULL, NULL, 0);
	int rc = 0;
	r->hit = false;
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		statement_failed(s, res, "cannot look a token up", err, err_cap);
		rc = -1;
	} else if (PQntuples(res) == 1) {
		const char *problem = get_row(res, 0, &r->tunnel, r->owner, sizeof(r->owner));
		if (problem != NULL) {
			errf(err, err_cap, "PostgreSQL %s: a tunnel found by its token: %s", s->shown,
			     problem);
			rc = -1;
		} else {
			r->hit = true;
			known_set(&s->known, r->tunnel.id, r->tunnel.rev);
		}
	}
	PQclear(res);
	return rc;
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
	long n = run(s, pg_keep_sql, 5, values, "cannot keep a notification", err, err_cap);
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
	long n = run(s, pg_thing_sql, 7, values, "cannot save a thing", err, err_cap);
	free(services);
	return n < 0 ? -1 : 0;
}

static int run_host_key(struct pg_store *s, const struct pg_host_key *k, char *err, size_t err_cap)
{
	bool forget = !k->fingerprint[0];
	const char *values[] = { k->thing, k->fingerprint };
	long n = run(s, forget ? pg_key_del_sql : pg_key_set_sql, forget ? 1 : 2, values,
		     "cannot save a host key", err, err_cap);
	return n < 0 ? -1 : 0;
}

static int run_once(struct pg_store *s, struct pg_job *j, char *err, size_t err_cap)
{
	switch (j->kind) {
	case PG_SAVE:
		return run_save(s, &j->u.tunnel, err, err_cap);
	case PG_KEEP:
		return run_keep(s, &j->u.note, err, err_cap);
	case PG_DROP: {
		const char *values[] = { j->u.note.tunnel_id, j->u.note.token };
		return run(s, pg_drop_sql, 2, values, "cannot delete a notification", err,
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
	case PG_REPORT:
		break; /* never submitted */
	}
	return -1;
}

/* ---- following other nodes (under the lock, connected) ---------------------- */

/* A row this node knew is gone (the reload did not find it). */
static void report_gone(void *arg, const char *id)
{
	struct pg_job *j = calloc(1, sizeof(*j));
	if (j) {
		textf(j->u.row.id, sizeof(j->u.row.id), "%s", id);
		report(arg, j); /* hit false: gone */
	}
}

/* Reports every row whose rev differs from what this node knows, and the
 * rows it knows that are gone: what changed while it was not listening. */
static void reload(struct pg_store *s)
{
	PGresult *res = PQexec(s->conn, pg_select_all_sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		char err[256];
		statement_failed(s, res, "cannot reload the tunnels", err, sizeof(err));
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
		const char *problem = get_row(res, i, &r->tunnel, r->owner, sizeof(r->owner));
		struct known_row *k = problem ? NULL : known_get(&s->known, r->tunnel.id);
		if (k == NULL || k->rev == r->tunnel.rev) {
			if (k)
				k->seen = seen;
			else if (problem)
				log_warn("PostgreSQL %s: tunnels row %d: %s", s->shown, i + 1, problem);
			free_job(j);
			continue;
		}
		k->seen = seen;
		r->hit = true;
		textf(r->id, sizeof(r->id), "%s", r->tunnel.id);
		report(s, j);
	}
	PQclear(res);
	known_drop_unseen(&s->known, seen, report_gone, s);
}

/* LISTEN on a new connection, then the reload that covers the time
 * before it. */
static void start_listening(struct pg_store *s)
{
	if (!s->watching || s->listening || s->conn == NULL)
		return;
	char err[256];
	PGresult *res = PQexec(s->conn, "LISTEN " PG_CHANNEL);
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok) {
		statement_failed(s, res, "cannot listen for other nodes' changes", err, sizeof(err));
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
		statement_failed(s, NULL, "lost while listening", err, sizeof(err));
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
			report_row(s, space + 1);
		PQfreemem(note);
	}
}

/* After each job and each idle turn. */
static void follow(struct pg_store *s)
{
	start_listening(s);
	if (s->conn != NULL)
		take_notifications(s);
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
static int run_job(void *backend, void *job, char *err, size_t err_cap)
{
	struct pg_store *s = backend;
	pthread_mutex_lock(&s->lock);
	int rc = -1;
	if (!reconnect_if_due(s, false)) {
		errf(err, err_cap, STORE_UNAVAILABLE ": PostgreSQL %s: reconnecting", s->shown);
		job_not_run(s, job);
	} else {
		rc = run_once(s, job, err, err_cap);
		if (rc != 0 && store_error_unavailable(err) && reconnect_if_due(s, true))
			rc = run_once(s, job, err, err_cap);
		follow(s);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static void free_rows(struct pg_list *l);

static void free_job(void *job)
{
	if (job != NULL && ((struct pg_job *)job)->kind == PG_LIST)
		free_rows(&((struct pg_job *)job)->u.list);
	if (job != NULL)
		OPENSSL_cleanse(job, sizeof(struct pg_job)); /* client and notification tokens */
	free(job);
}

static int submit(struct pg_store *s, struct pg_job *j, store_done_fn done, void *ctx,
		  const char *what, char *err, size_t err_cap)
{
	char why[128];
	if (store_worker_submit(s->worker, j, done, ctx, why, sizeof(why)) != 0) {
		errf(err, err_cap, "PostgreSQL %s: cannot %s: %s", s->shown, what, why);
		return -1;
	}
	return 0;
}

static struct pg_job *new_job(struct pg_store *s, enum pg_job_kind kind, const char *what,
			      char *err, size_t err_cap)
{
	struct pg_job *j = calloc(1, sizeof(*j));
	if (j == NULL)
		errf(err, err_cap, "PostgreSQL %s: cannot %s: out of memory", s->shown, what);
	else
		j->kind = kind;
	return j;
}

static int pg_save(struct store *base, const struct registry_tunnel *t, store_done_fn done,
		   void *ctx, char *err, size_t err_cap)
{
	struct pg_store *s = (struct pg_store *)base;
	if (!t->from_file) {
		if (!registry_id_valid(t->id)) {
			errf(err, err_cap, "PostgreSQL %s: cannot save a tunnel with an invalid id",
			     s->shown);
			return -1;
		}
		const char *problem = store_tunnel_problem(t);
		if (problem != NULL) {
			errf(err, err_cap, "PostgreSQL %s: cannot save tunnel '%s': %s", s->shown, t->id,
			     problem);
			return -1;
		}
	}
	struct pg_job *j = new_job(s, PG_SAVE, "save a tunnel", err, err_cap);
	if (j == NULL)
		return -1;
	memcpy(&j->u.tunnel, t, sizeof(j->u.tunnel));
	return submit(s, j, done, ctx, "save a tunnel", err, err_cap);
}

static int pg_keep_notification(struct store *base, const struct pending_notification *pn,
				store_done_fn done, void *ctx, char *err, size_t err_cap)
{
	struct pg_store *s = (struct pg_store *)base;
	const char *problem = pending_notification_problem(pn);
	if (problem != NULL) {
		errf(err, err_cap, "PostgreSQL %s: cannot keep a notification: %s", s->shown, problem);
		return -1;
	}
	struct pg_job *j = new_job(s, PG_KEEP, "keep a notification", err, err_cap);
	if (j == NULL)
		return -1;
	memcpy(&j->u.note, pn, sizeof(j->u.note));
	return submit(s, j, done, ctx, "keep a notification", err, err_cap);
}

static int pg_drop_notification(struct store *base, const char *tunnel_id, const char *token,
				store_done_fn done, void *ctx, char *err, size_t err_cap)
{
	struct pg_store *s = (struct pg_store *)base;
	if (!registry_id_valid(tunnel_id) || strlen(token) > PENDING_TOKEN_MAX) {
		errf(err, err_cap,
		     "PostgreSQL %s: cannot delete a notification: invalid tunnel id or token",
		     s->shown);
		return -1;
	}
	struct pg_job *j = new_job(s, PG_DROP, "delete a notification", err, err_cap);
	if (j == NULL)
		return -1;
	textf(j->u.note.tunnel_id, sizeof(j->u.note.tunnel_id), "%s", tunnel_id);
	textf(j->u.note.token, sizeof(j->u.note.token), "%s", token);
	return submit(s, j, done, ctx, "delete a notification", err, err_cap);
}

static int pg_save_thing(struct store *base, const struct thing_presence *p, store_done_fn done,
			 void *ctx, char *err, size_t err_cap)
{
	struct pg_store *s = (struct pg_store *)base;
	const char *problem = store_thing_problem(p);
	if (problem != NULL) {
		errf(err, err_cap, "PostgreSQL %s: cannot save a thing: %s", s->shown, problem);
		return -1;
	}
	struct pg_job *j = new_job(s, PG_THING, "save a thing", err, err_cap);
	if (j == NULL)
		return -1;
	memcpy(&j->u.thing, p, sizeof(j->u.thing));
	return submit(s, j, done, ctx, "save a thing", err, err_cap);
}

static int pg_keep_host_key(struct store *base, const char *thing, const char *fingerprint,
			    store_done_fn done, void *ctx, char *err, size_t err_cap)
{
	struct pg_store *s = (struct pg_store *)base;
	size_t tlen = strlen(thing), flen = strlen(fingerprint);
	if (!tlen || tlen > REGISTRY_MAX_THING || flen > STORE_MAX_FINGERPRINT) {
		errf(err, err_cap, "PostgreSQL %s: cannot save a host key: thing or fingerprint too long",
		     s->shown);
		return -1;
	}
	struct pg_job *j = new_job(s, PG_HOST_KEY, "save a host key", err, err_cap);
	if (j == NULL)
		return -1;
	memcpy(j->u.key.thing, thing, tlen + 1);
	memcpy(j->u.key.fingerprint, fingerprint, flen + 1);
	return submit(s, j, done, ctx, "save a host key", err, err_cap);
}

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
static const char *get_row(const PGresult *res, int row, struct registry_tunnel *t, char *owner,
			   size_t owner_cap)
{
	const char *problem = get_tunnel(res, row, t);
	if (problem == NULL)
		snprintf(owner, owner_cap, "%s", t->owner);
	return problem;
}

/* Runs a SELECT on the loop thread (start-up: the worker is idle).
 * Returns the result, or NULL with err. The caller clears it. */
static PGresult *select_rows(struct pg_store *s, const char *sql, const char *what, char *err,
			     size_t err_cap)
{
	store_worker_wait_idle(s->worker);
	pthread_mutex_lock(&s->lock);
	PGresult *res = NULL;
	if (!reconnect_if_due(s, true)) {
		errf(err, err_cap, STORE_UNAVAILABLE ": PostgreSQL %s: cannot read the %s", s->shown,
		     what);
	} else {
		res = PQexec(s->conn, sql);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			char doing[64];
			textf(doing, sizeof(doing), "cannot read the %s", what);
			statement_failed(s, res, doing, err, err_cap);
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

static int pg_load(struct store *base, struct registry *r, char *err, size_t err_cap)
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

/* The kept notifications, oldest first. */
#define PG_SELECT_NOTIFICATIONS \
	"SELECT tunnel_id, thing, services, token, since FROM pending_notifications" \
	" ORDER BY since, tunnel_id"

/* A row of PG_SELECT_NOTIFICATIONS into pn. What is wrong, or NULL (never
 * quoting the token). */
static const char *get_notification(const PGresult *res, int row, struct pending_notification *pn)
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

static int pg_load_notifications(struct store *base, store_each_notification_fn each, void *arg,
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
		const char *problem = get_notification(res, i, &pn);
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

static int pg_load_things(struct store *base, store_each_thing_fn each, void *arg, char *err,
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

static int pg_load_host_keys(struct store *base, store_each_host_key_fn each, void *arg,
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

/* ---- open and close -------------------------------------------------------- */

/* Runs sql (no parameters) on the connection at start-up. */
static int exec_plain(struct pg_store *s, const char *sql, const char *what, char *err,
		      size_t err_cap)
{
	PGresult *res = PQexec(s->conn, sql);
	int rc = 0;
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		statement_failed(s, res, what, err, err_cap);
		rc = -1;
	}
	PQclear(res);
	return rc;
}

/* Inside the start-up transaction: brings the schema to PG_SCHEMA_VERSION. */
static int migrate(struct pg_store *s, char *err, size_t err_cap)
{
	if (exec_plain(s, "SELECT pg_advisory_xact_lock(" PG_SCHEMA_LOCK ")",
		       "cannot take the schema lock", err, err_cap) != 0 ||
	    exec_plain(s, "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)",
		       "cannot create the schema_version table", err, err_cap) != 0)
		return -1;
	PGresult *res = PQexec(s->conn, "SELECT coalesce(max(version), 0) FROM schema_version");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		statement_failed(s, res, "cannot read the schema version", err, err_cap);
		PQclear(res);
		return -1;
	}
	long version = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	if (version > PG_SCHEMA_VERSION) {
		errf(err, err_cap,
		     "PostgreSQL %s: schema version %ld is newer than this relay knows (%d); use a "
		     "newer tunnel-relay", s->shown, version, PG_SCHEMA_VERSION);
		return -1;
	}
	for (long v = version; v < PG_SCHEMA_VERSION; v++) {
		char what[64];
		textf(what, sizeof(what), "cannot migrate the schema to version %ld", v + 1);
		if (exec_plain(s, pg_migrations[v], what, err, err_cap) != 0)
			return -1;
	}
	if (version < PG_SCHEMA_VERSION &&
	    exec_plain(s, "DELETE FROM schema_version; INSERT INTO schema_version VALUES ("
			       PG_SCHEMA_VERSION_TEXT ")",
		       "cannot record the schema version", err, err_cap) != 0)
		return -1;
	return exec_plain(s, pg_notifications_table, "cannot create the notifications table", err,
			  err_cap);
}

static int check_schema(struct pg_store *s, char *err, size_t err_cap)
{
	if (exec_plain(s, "BEGIN", "cannot start a transaction", err, err_cap) != 0)
		return -1;
	if (migrate(s, err, err_cap) != 0) {
		PGresult *res = PQexec(s->conn, "ROLLBACK"); /* closing rolls back anyway */
		PQclear(res);
		return -1;
	}
	return exec_plain(s, "COMMIT", "cannot commit the schema", err, err_cap);
}

static void pg_close(struct store *base);

struct store *store_pg_open(const char *uri, char *err, size_t err_cap)
{
	size_t len = strlen(uri);
	struct pg_store *s = calloc(1, sizeof(*s) + len + 1);
	if (s == NULL) {
		errf(err, err_cap, "PostgreSQL: out of memory");
		return NULL;
	}
	s->base.ops = &pg_ops;
	memcpy(s->uri, uri, len + 1);
	store_uri_mask(uri, s->shown, sizeof(s->shown));
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		errf(err, err_cap, "PostgreSQL %s: cannot create a mutex", s->shown);
		OPENSSL_cleanse(s->uri, len);
		free(s);
		return NULL;
	}
	char why[256];
	if (pg_connect(s, why, sizeof(why)) != 0) {
		errf(err, err_cap, "PostgreSQL %s: cannot connect: %s", s->shown, why);
		pg_close(&s->base);
		return NULL;
	}
	if (check_schema(s, err, err_cap) != 0) {
		pg_close(&s->base);
		return NULL;
	}
	s->worker = store_worker_start(PG_MAX_PENDING, run_job, free_job, s, why, sizeof(why));
	if (s->worker == NULL) {
		errf(err, err_cap, "PostgreSQL %s: %s", s->shown, why);
		pg_close(&s->base);
		return NULL;
	}
	store_worker_set_idle(s->worker, pg_idle, pg_idle_fd);
	return &s->base;
}

static void pg_close(struct store *base)
{
	struct pg_store *s = (struct pg_store *)base;
	s->watch_fn = NULL; /* shutting down: no more reports to the relay */
	/* Every queued save is written (and its callback run) first. */
	store_worker_stop(s->worker);
	PQfinish(s->conn);
	known_free(&s->known);
	pthread_mutex_destroy(&s->lock);
	OPENSSL_cleanse(s->uri, strlen(s->uri)); /* it may hold the password */
	free(s);
}

/* ---- several nodes (loop thread) ------------------------------------------ */

static int pg_watch(struct store *base, const char *node_id, store_tunnel_changed_fn fn,
		    void *arg)
{
	struct pg_store *s = (struct pg_store *)base;
	if (!store_node_id_valid(node_id)) {
		log_error("PostgreSQL %s: cannot follow other nodes: invalid node id", s->shown);
		return -1;
	}
	s->watch_fn = fn;
	s->watch_arg = arg;
	store_worker_wait_idle(s->worker); /* the connection, for LISTEN */
	pthread_mutex_lock(&s->lock);
	textf(s->node, sizeof(s->node), "%s", node_id);
	s->watching = true;
	/* Away now: LISTEN (and the reload) come with the reconnection. */
	if (reconnect_if_due(s, true))
		start_listening(s);
	pthread_mutex_unlock(&s->lock);
	/* Out of its plain 1 s wait into poll() on the connection, or other
	 * nodes' first changes would wait up to a second. */
	store_worker_nudge(s->worker);
	return 0;
}

static void found(void *job, void *ctx, const char *err)
{
	struct pg_row *r = &((struct pg_job *)job)->u.row;
	r->found(ctx, r->hit && !err ? &r->tunnel : NULL, err);
}

static int pg_find_token(struct store *base, const uint8_t hash[TOKEN_HASH_LEN],
			 store_found_fn done, void *ctx, char *err, size_t err_cap)
{
	struct pg_store *s = (struct pg_store *)base;
	struct pg_job *j = new_job(s, PG_FIND, "look a token up", err, err_cap);
	if (j == NULL)
		return -1;
	memcpy(j->u.row.hash, hash, TOKEN_HASH_LEN);
	j->u.row.found = done;
	char why[128];
	if (store_worker_submit_finish(s->worker, j, found, ctx, why, sizeof(why)) != 0) {
		errf(err, err_cap, "PostgreSQL %s: cannot look a token up: %s", s->shown, why);
		return -1;
	}
	return 0;
}

static int pg_claim_side(struct store *base, const char *tunnel_id, enum tunnel_side side,
			 const char *client_token, const char *node_id, store_done_fn done,
			 void *ctx, char *err, size_t err_cap)
{
	struct pg_store *s = (struct pg_store *)base;
	struct pg_job *j = new_job(s, PG_CLAIM, "claim a side", err, err_cap);
	if (j == NULL)
		return -1;
	const char *problem = store_claim_take(&j->u.claim, tunnel_id, side, client_token,
					       node_id);
	if (problem != NULL) {
		errf(err, err_cap, "PostgreSQL %s: cannot claim a side: %s", s->shown, problem);
		free_job(j);
		return -1;
	}
	return submit(s, j, done, ctx, "claim a side", err, err_cap);
}

/* ---- the ops table ------------------------------------------------------- */

static void pg_poll(struct store *base)
{
	store_worker_poll(((struct pg_store *)base)->worker);
}

static void pg_flush(struct store *base)
{
	struct pg_store *s = (struct pg_store *)base;
	store_worker_wait_idle(s->worker);
	store_worker_poll(s->worker);
}

static void pg_forget(struct store *base, void *ctx)
{
	store_worker_forget(((struct pg_store *)base)->worker, ctx);
}

static void pg_set_waker(struct store *base, store_wake_fn wake, void *arg)
{
	store_worker_set_waker(((struct pg_store *)base)->worker, wake, arg);
}

/* ---- every node's kept notifications (store_list_notifications) ---------- */

/* A reading takes at most 1000 rows (oldest first, PG_SELECT_NOTIFICATIONS
 * " LIMIT 1000" below): the next one, 30 s later, takes the rest. */

static void free_rows(struct pg_list *l)
{
	if (l->rows != NULL)
		OPENSSL_cleanse(l->rows, l->n * sizeof(*l->rows)); /* tokens */
	free(l->rows);
	l->rows = NULL;
	l->n = 0;
}

/* Worker thread, under the lock, connected: reads the rows into l. A row
 * that does not parse is skipped with a warning (the others still count). */
static int run_list(struct pg_store *s, struct pg_list *l, char *err, size_t err_cap)
{
	PGresult *res = PQexec(s->conn, PG_SELECT_NOTIFICATIONS " LIMIT 1000");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		statement_failed(s, res, "cannot read the kept notifications", err, err_cap);
		PQclear(res);
		return -1;
	}
	free_rows(l); /* a second go after a reconnection */
	int n = PQntuples(res);
	l->rows = n > 0 ? calloc((size_t)n, sizeof(*l->rows)) : NULL;
	if (n > 0 && l->rows == NULL) {
		errf(err, err_cap, "PostgreSQL %s: cannot read the kept notifications: out of memory",
		     s->shown);
		PQclear(res);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		const char *problem = get_notification(res, i, &l->rows[l->n]);
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

/* On the loop thread: the rows to each, then done. */
static void listed(void *job, void *ctx, const char *err)
{
	struct pg_list *l = &((struct pg_job *)job)->u.list;
	for (size_t i = 0; err == NULL && i < l->n; i++)
		if (l->each(ctx, &l->rows[i]) != 0)
			break;
	l->done(ctx, err);
}

static int pg_list_notifications(struct store *base, store_each_notification_fn each,
				 store_done_fn done, void *ctx, char *err, size_t err_cap)
{
	struct pg_store *s = (struct pg_store *)base;
	struct pg_job *j = new_job(s, PG_LIST, "read the kept notifications", err, err_cap);
	if (j == NULL)
		return -1;
	j->u.list.each = each;
	j->u.list.done = done;
	char why[128];
	if (store_worker_submit_finish(s->worker, j, listed, ctx, why, sizeof(why)) != 0) {
		errf(err, err_cap, "PostgreSQL %s: cannot read the kept notifications: %s", s->shown,
		     why);
		return -1;
	}
	return 0;
}

static const struct store_ops pg_ops = {
	.load = pg_load,
	.save = pg_save,
	.poll = pg_poll,
	.flush = pg_flush,
	.forget = pg_forget,
	.set_waker = pg_set_waker,
	.close = pg_close,
	.keep_notification = pg_keep_notification,
	.drop_notification = pg_drop_notification,
	.load_notifications = pg_load_notifications,
	.save_thing = pg_save_thing,
	.load_things = pg_load_things,
	.keep_host_key = pg_keep_host_key,
	.load_host_keys = pg_load_host_keys,
	.watch = pg_watch,
	.find_token = pg_find_token,
	.claim_side = pg_claim_side,
	.list_notifications = pg_list_notifications,
};
