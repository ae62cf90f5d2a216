/* The PostgreSQL store (relay/store_pg.h): open and close (the schema
 * created or migrated under an advisory lock), the ops table, and the
 * loop thread's side of each operation, which checks it and queues a job.
 * The top of the store_pg*.c files (relay/store_pg_internal.h lists
 * them). */
#include "relay/store_pg.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "common/log.h"
#include "common/text.h"
#include "relay/pending_notification.h"
#include "relay/store_pg_internal.h"
#include "relay/store_pg_known.h"
#include "relay/store_pg_sql.h"
#include "relay/store_rows.h"
#include "relay/store_uri.h"
#include "relay/store_worker.h"
#include "relay/things.h"

/* Saves waiting for the thread at most: each holds a copy of a tunnel. */
#define PG_MAX_PENDING 1024

static const struct store_ops pg_ops;

/* ---- queueing jobs (loop thread) ------------------------------------------ */

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

/* A job for a valid notification pn (NULL with err when pn is not). */
static struct pg_job *note_job(struct pg_store *s, enum pg_job_kind kind,
			       const struct pending_notification *pn, const char *what, char *err,
			       size_t err_cap)
{
	const char *problem = pending_notification_problem(pn);
	if (problem != NULL) {
		errf(err, err_cap, "PostgreSQL %s: cannot %s: %s", s->shown, what, problem);
		return NULL;
	}
	return new_job(s, kind, what, err, err_cap);
}

static int pg_keep_notification(struct store *base, const struct pending_notification *pn,
				store_done_fn done, void *ctx, char *err, size_t err_cap)
{
	struct pg_store *s = (struct pg_store *)base;
	struct pg_job *j = note_job(s, PG_KEEP, pn, "keep a notification", err, err_cap);
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

/* ---- open and close -------------------------------------------------------- */

/* Runs sql (no parameters) on the connection at start-up. */
static int exec_plain(struct pg_store *s, const char *sql, const char *what, char *err,
		      size_t err_cap)
{
	PGresult *res = PQexec(s->conn, sql);
	int rc = 0;
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		pg_statement_failed(s, res, what, err, err_cap);
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
		pg_statement_failed(s, res, "cannot read the schema version", err, err_cap);
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
	s->worker = store_worker_start(PG_MAX_PENDING, pg_run_job, pg_free_job, s, why, sizeof(why));
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
	if (pg_reconnect_if_due(s, true))
		pg_start_listening(s);
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
			 const char *client_token, const char *node_id, int connected,
			 store_done_fn done, void *ctx, char *err, size_t err_cap)
{
	struct pg_store *s = (struct pg_store *)base;
	struct pg_job *j = new_job(s, PG_CLAIM, "claim a side", err, err_cap);
	if (j == NULL)
		return -1;
	const char *problem = store_claim_take(&j->u.claim, tunnel_id, side, client_token,
					       node_id, connected);
	if (problem != NULL) {
		errf(err, err_cap, "PostgreSQL %s: cannot claim a side: %s", s->shown, problem);
		pg_free_job(j);
		return -1;
	}
	return submit(s, j, done, ctx, "claim a side", err, err_cap);
}

static long pg_reset_node(struct store *base, const char *node_id, char *err, size_t err_cap)
{
	struct pg_store *s = (struct pg_store *)base;
	if (!store_node_id_valid(node_id)) {
		errf(err, err_cap, "PostgreSQL %s: invalid node id", s->shown);
		return -1;
	}
	const char *values[] = { node_id };
	store_worker_wait_idle(s->worker);
	pthread_mutex_lock(&s->lock);
	long n = -1;
	if (!pg_reconnect_if_due(s, true))
		errf(err, err_cap, STORE_UNAVAILABLE ": PostgreSQL %s: cannot clear this node's "
		     "connected flags", s->shown);
	else
		n = pg_run(s, pg_reset_node_sql, 1, values, "cannot clear this node's connected flags",
			   err, err_cap);
	pthread_mutex_unlock(&s->lock);
	return n;
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

static int pg_take_notification(struct store *base, const struct pending_notification *pn,
				int64_t now, store_done_fn done, void *ctx, char *err,
				size_t err_cap)
{
	struct pg_store *s = (struct pg_store *)base;
	struct pg_job *j = note_job(s, PG_TAKE, pn, "take a notification", err, err_cap);
	if (j == NULL)
		return -1;
	memcpy(&j->u.take.note, pn, sizeof(j->u.take.note));
	j->u.take.now = now;
	return submit(s, j, done, ctx, "take a notification", err, err_cap);
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
	.reset_node = pg_reset_node,
	.list_notifications = pg_list_notifications,
	.take_notification = pg_take_notification,
};
