/* The agent's bookkeeping of its localproxy children. Pure: it never sends
 * a signal or waits; it says what the caller should do, and takes the time
 * as an argument (milliseconds, CLOCK_MONOTONIC in the agent).
 *
 * A child is "running" until the agent asks it to stop (a rotation
 * replaced it, or the agent is stopping); it is then "stopping": it got
 * SIGTERM and gets SIGKILL if it is still there SUPERVISOR_KILL_AFTER_MS
 * later. Only running children count against maxTunnels. Every child stays
 * in the table until it is reaped. */
#ifndef AGENT_SUPERVISOR_H
#define AGENT_SUPERVISOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/notification.h"

#define SUPERVISOR_KILL_AFTER_MS 5000

struct child {
	pid_t pid;
	char key[NOTIFICATION_KEY_MAX];     /* tunnel id, or "sha256:..." */
	char label[NOTIFICATION_LABEL_MAX]; /* for log lines */
	int64_t started_ms;
	bool stopping;
	bool killed;          /* SIGKILL already asked for */
	int64_t kill_at_ms;   /* when stopping */
};

struct supervisor {
	struct child *child;
	size_t n, cap;
	int max_running;
};

enum supervisor_verdict {
	SUPERVISOR_START,       /* a free slot: start a child */
	SUPERVISOR_REPLACE,     /* this key has a running child: stop it, start the new one */
	SUPERVISOR_REFUSE_CAP,  /* max_running children run already */
};

void supervisor_init(struct supervisor *s, int max_running);
void supervisor_free(struct supervisor *s);

/* What to do with a notification keyed by key. With SUPERVISOR_REPLACE,
 * *old_pid is the running child to stop. */
enum supervisor_verdict supervisor_plan(const struct supervisor *s, const char *key,
					pid_t *old_pid);
/* Records a started child. Returns 0, or -1 when out of memory. */
int supervisor_add(struct supervisor *s, pid_t pid, const char *key, const char *label,
		   int64_t now_ms);
/* Marks pid as stopping (the caller sends SIGTERM). Returns false if pid
 * is not a running child. */
bool supervisor_stop(struct supervisor *s, pid_t pid, int64_t now_ms);
/* Marks every running child stopping and writes their pids to pids
 * (capacity cap) for the caller to SIGTERM. Returns how many. */
size_t supervisor_stop_all(struct supervisor *s, int64_t now_ms, pid_t *pids, size_t cap);
/* The next stopping child whose SIGKILL is due at now_ms, marked killed;
 * 0 when there is none. Call until it returns 0. */
pid_t supervisor_next_kill(struct supervisor *s, int64_t now_ms);
/* Milliseconds until the next SIGKILL is due (0 if overdue), or -1. */
int supervisor_next_deadline(const struct supervisor *s, int64_t now_ms);
/* Removes a reaped child, copying it to *out. False if pid is not ours. */
bool supervisor_reaped(struct supervisor *s, pid_t pid, struct child *out);
size_t supervisor_running(const struct supervisor *s);
size_t supervisor_count(const struct supervisor *s);

/* "exited with status 0", "killed by signal 9 (SIGKILL)". */
void supervisor_describe_status(int wstatus, char *out, size_t cap);

#endif
