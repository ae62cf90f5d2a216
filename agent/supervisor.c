#include "agent/supervisor.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

void supervisor_init(struct supervisor *s, int max_running)
{
	memset(s, 0, sizeof(*s));
	s->max_running = max_running;
}

void supervisor_free(struct supervisor *s)
{
	free(s->child);
	memset(s, 0, sizeof(*s));
}

size_t supervisor_running(const struct supervisor *s)
{
	size_t n = 0;
	for (size_t i = 0; i < s->n; i++)
		n += !s->child[i].stopping;
	return n;
}

size_t supervisor_count(const struct supervisor *s)
{
	return s->n;
}

enum supervisor_verdict supervisor_plan(const struct supervisor *s, const char *key,
					pid_t *old_pid)
{
	for (size_t i = 0; i < s->n; i++) {
		if (!s->child[i].stopping && strcmp(s->child[i].key, key) == 0) {
			if (old_pid != NULL)
				*old_pid = s->child[i].pid;
			return SUPERVISOR_REPLACE;
		}
	}
	if (supervisor_running(s) >= (size_t)(s->max_running > 0 ? s->max_running : 0))
		return SUPERVISOR_REFUSE_CAP;
	return SUPERVISOR_START;
}

int supervisor_add(struct supervisor *s, pid_t pid, const char *key, const char *label,
		   int64_t now_ms)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 8;
		struct child *c = realloc(s->child, cap * sizeof(*c));
		if (c == NULL)
			return -1;
		s->child = c;
		s->cap = cap;
	}
	struct child *c = &s->child[s->n++];
	memset(c, 0, sizeof(*c));
	c->pid = pid;
	snprintf(c->key, sizeof(c->key), "%s", key);
	snprintf(c->label, sizeof(c->label), "%s", label);
	c->started_ms = now_ms;
	return 0;
}

static struct child *find(struct supervisor *s, pid_t pid)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->child[i].pid == pid)
			return &s->child[i];
	return NULL;
}

bool supervisor_stop(struct supervisor *s, pid_t pid, int64_t now_ms)
{
	struct child *c = find(s, pid);
	if (c == NULL || c->stopping)
		return false;
	c->stopping = true;
	c->kill_at_ms = now_ms + SUPERVISOR_KILL_AFTER_MS;
	return true;
}

size_t supervisor_stop_all(struct supervisor *s, int64_t now_ms, pid_t *pids, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < s->n; i++) {
		struct child *c = &s->child[i];
		if (c->stopping)
			continue;
		c->stopping = true;
		c->kill_at_ms = now_ms + SUPERVISOR_KILL_AFTER_MS;
		if (n < cap)
			pids[n++] = c->pid;
	}
	return n;
}

pid_t supervisor_next_kill(struct supervisor *s, int64_t now_ms)
{
	for (size_t i = 0; i < s->n; i++) {
		struct child *c = &s->child[i];
		if (c->stopping && !c->killed && now_ms >= c->kill_at_ms) {
			c->killed = true;
			return c->pid;
		}
	}
	return 0;
}

int supervisor_next_deadline(const struct supervisor *s, int64_t now_ms)
{
	int64_t best = -1;
	for (size_t i = 0; i < s->n; i++) {
		const struct child *c = &s->child[i];
		if (!c->stopping || c->killed)
			continue;
		int64_t left = c->kill_at_ms > now_ms ? c->kill_at_ms - now_ms : 0;
		if (best < 0 || left < best)
			best = left;
	}
	return best > 60000 ? 60000 : (int)best;
}

bool supervisor_reaped(struct supervisor *s, pid_t pid, struct child *out)
{
	for (size_t i = 0; i < s->n; i++) {
		if (s->child[i].pid != pid)
			continue;
		if (out != NULL)
			*out = s->child[i];
		s->child[i] = s->child[--s->n];
		return true;
	}
	return false;
}

void supervisor_describe_status(int wstatus, char *out, size_t cap)
{
	if (WIFEXITED(wstatus)) {
		snprintf(out, cap, "exited with status %d", WEXITSTATUS(wstatus));
	} else if (WIFSIGNALED(wstatus)) {
		int sig = WTERMSIG(wstatus);
		const char *abbrev = sigabbrev_np(sig);
		snprintf(out, cap, "killed by signal %d%s%s%s%s", sig, abbrev ? " (SIG" : "",
			 abbrev ? abbrev : "", abbrev ? ")" : "",
			 WCOREDUMP(wstatus) ? ", core dumped" : "");
	} else {
		snprintf(out, cap, "changed state (wait status 0x%x)", (unsigned)wstatus);
	}
}
