/* The audit log: who did what to which thing and tunnel, one JSON object
 * per line (docs/console.md). Each event goes to the relay's log, to the
 * --audit-log file when there is one (appended, one write per line), and
 * into a ring of the latest events that the console shows. Never a token,
 * a password or a key: callers pass names, ids and reasons only. */
#ifndef RELAY_AUDIT_H
#define RELAY_AUDIT_H

#include <stddef.h>
#include <stdint.h>

struct audit_event {
	const char *who;       /* a console user, "api-key" or "aws-api" */
	const char *role;      /* "admin", "operator"; NULL for the API key */
	const char *from;      /* the client's address */
	const char *action;    /* signin, signin.failed, signout, tunnel.open, ... */
	const char *thing;
	const char *tunnel_id;
	const char *detail;
};

/* The latest events kept in memory for the console. */
#define AUDIT_RING_DEFAULT 1000

struct audit;

/* Opens path for appending (created 0600 if missing); NULL path: no file,
 * the ring and log lines only. NULL with a reason in err when the file
 * cannot be opened or memory runs out. */
struct audit *audit_open(const char *path, size_t ring_cap, char *err, size_t err_cap);
void audit_close(struct audit *a);

/* Records ev now (time(NULL)). NULL a: a log line only. */
void audit_record(struct audit *a, const struct audit_event *ev);
/* The same at a given time (tests). */
void audit_record_at(struct audit *a, const struct audit_event *ev, int64_t now);

/* {"events":[…]}: the latest `limit` events, newest first, all of them or
 * (only_who not NULL) only those of that user. malloc'd; NULL when out of
 * memory. */
char *audit_events_json(const struct audit *a, const char *only_who, size_t limit);

#endif
