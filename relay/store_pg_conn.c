/* The PostgreSQL store's connection: connecting, losing it (one warning
 * per outage) and reconnecting with backoff, and running one statement
 * with what its failure means. The bottom of the store_pg*.c files: it
 * calls none of them (relay/store_pg_internal.h). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "common/log.h"
#include "common/text.h"
#include "relay/store_pg_internal.h"

#define PG_BACKOFF_MIN_S 1
#define PG_BACKOFF_MAX_S 30

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
int pg_connect(struct pg_store *s, char *why, size_t why_cap)
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
bool pg_reconnect_if_due(struct pg_store *s, bool now)
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

/* What a failed statement means: lost (err starts with STORE_UNAVAILABLE,
 * the connection is dropped) or a real failure. */
void pg_statement_failed(struct pg_store *s, const PGresult *res, const char *what, char *err,
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
long pg_run_rev(struct pg_store *s, const char *sql, int n, const char *const *values,
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
		pg_statement_failed(s, res, what, err, err_cap);
	if (rev != NULL && changed > 0)
		*rev = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return changed;
}

/* pg_run_rev without the rev: the number of rows changed, or -1. */
long pg_run(struct pg_store *s, const char *sql, int n, const char *const *values,
	    const char *what, char *err, size_t err_cap)
{
	return pg_run_rev(s, sql, n, values, NULL, what, err, err_cap);
}
