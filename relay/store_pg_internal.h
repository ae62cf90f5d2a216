/* What the PostgreSQL store's files share (relay/store_pg.c and the
 * store_pg_*.c files below it): the store and its jobs, and the functions
 * one of them calls in another. Private: included by those files only
 * (relay/store_pg.h is the public one). Files, top to bottom: store_pg.c
 * (open, close, the ops table, queueing jobs), store_pg_jobs.c (what the
 * worker thread runs), store_pg_watch.c (following other nodes),
 * store_pg_rows.c (rows read, and the start-up loads), store_pg_conn.c (the
 * connection and its statements). */
#ifndef RELAY_STORE_PG_INTERNAL_H
#define RELAY_STORE_PG_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <libpq-fe.h>

#include "relay/pending_notification.h"
#include "relay/store.h"
#include "relay/store_pg_known.h"
#include "relay/store_rows.h"
#include "relay/things.h"

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

enum pg_job_kind { PG_SAVE, PG_KEEP, PG_DROP, PG_THING, PG_HOST_KEY, PG_CLAIM, PG_FIND, PG_REPORT,
		   PG_LIST, PG_TAKE };

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

/* store_take_notification's job. */
struct pg_take {
	struct pending_notification note; /* since: the since seen */
	int64_t now;
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
		struct pg_take take;
	} u;
};

/* The kept notifications, oldest first. */
#define PG_SELECT_NOTIFICATIONS \
	"SELECT tunnel_id, thing, services, token, since FROM pending_notifications" \
	" ORDER BY since, tunnel_id"

/* ---- store_pg_conn.c: the connection ---- */

int pg_connect(struct pg_store *s, char *why, size_t why_cap);
bool pg_reconnect_if_due(struct pg_store *s, bool now);
void pg_statement_failed(struct pg_store *s, const PGresult *res, const char *what, char *err,
			 size_t err_cap);
long pg_run_rev(struct pg_store *s, const char *sql, int n, const char *const *values,
		int64_t *rev, const char *what, char *err, size_t err_cap);
long pg_run(struct pg_store *s, const char *sql, int n, const char *const *values,
	    const char *what, char *err, size_t err_cap);

/* ---- store_pg_rows.c: rows read, jobs freed, the start-up loads ---- */

const char *pg_get_row(const PGresult *res, int row, struct registry_tunnel *t, char *owner,
		       size_t owner_cap);
int pg_select_row(struct pg_store *s, const char *sql, const char *value, const char *failed,
		  const char *label, struct pg_row *r, char *err, size_t err_cap);
const char *pg_get_notification(const PGresult *res, int row, struct pending_notification *pn);
void pg_free_rows(struct pg_list *l);
void pg_free_job(void *job);
int pg_load(struct store *base, struct registry *r, char *err, size_t err_cap);
int pg_load_notifications(struct store *base, store_each_notification_fn each, void *arg,
			  char *err, size_t err_cap);
int pg_load_things(struct store *base, store_each_thing_fn each, void *arg, char *err,
		   size_t err_cap);
int pg_load_host_keys(struct store *base, store_each_host_key_fn each, void *arg, char *err,
		      size_t err_cap);

/* ---- store_pg_watch.c: following other nodes ---- */

int pg_read_row(struct pg_store *s, const char *id, struct pg_row *r, char *err, size_t err_cap);
void pg_report(struct pg_store *s, struct pg_job *j);
void pg_report_row(struct pg_store *s, const char *id);
void pg_start_listening(struct pg_store *s);
void pg_follow(struct pg_store *s);
void pg_idle(void *backend);
int pg_idle_fd(void *backend);

/* ---- store_pg_jobs.c: the worker thread's jobs ---- */

int pg_run_job(void *backend, void *job, char *err, size_t err_cap);

#endif
