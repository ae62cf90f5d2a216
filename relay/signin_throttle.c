#include "relay/signin_throttle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int signin_throttle_init(struct signin_throttle *t, size_t cap)
{
	t->slot = calloc(cap ? cap : 1, sizeof(*t->slot));
	t->cap = t->slot ? (cap ? cap : 1) : 0;
	return t->slot ? 0 : -1;
}

void signin_throttle_free(struct signin_throttle *t)
{
	free(t->slot);
	t->slot = NULL;
	t->cap = 0;
}

static void make_key(char key[80], char kind, const char *name)
{
	snprintf(key, 80, "%c:%s", kind, name ? name : "");
}

static struct throttle_entry *find(const struct signin_throttle *t, const char *key)
{
	for (size_t i = 0; i < t->cap; i++)
		if (t->slot[i].key[0] && !strcmp(t->slot[i].key, key))
			return &t->slot[i];
	return NULL;
}

/* The wait after e's failures, counted from its last failure. */
static int64_t entry_wait(const struct throttle_entry *e, int64_t now)
{
	if (!e || e->failures <= THROTTLE_FREE_FAILURES || now - e->last_failure >= THROTTLE_FORGET_S)
		return 0;
	unsigned doublings = e->failures - THROTTLE_FREE_FAILURES - 1;
	int64_t delay = doublings >= 6 ? THROTTLE_MAX_WAIT_S : (int64_t)1 << doublings;
	if (delay > THROTTLE_MAX_WAIT_S)
		delay = THROTTLE_MAX_WAIT_S;
	int64_t left = e->last_failure + delay - now;
	return left > 0 ? left : 0;
}

int64_t signin_throttle_wait(const struct signin_throttle *t, const char *user, const char *addr,
			     int64_t now)
{
	char key[80];
	make_key(key, 'u', user);
	int64_t a = entry_wait(find(t, key), now);
	make_key(key, 'a', addr);
	int64_t b = entry_wait(find(t, key), now);
	return a > b ? a : b;
}

static void count_failure(struct signin_throttle *t, const char *key, int64_t now)
{
	struct throttle_entry *e = find(t, key);
	if (!e) {
		/* A free slot, else one gone quiet, else the oldest. */
		e = &t->slot[0];
		for (size_t i = 0; i < t->cap; i++) {
			struct throttle_entry *s = &t->slot[i];
			if (!s->key[0] || now - s->last_failure >= THROTTLE_FORGET_S) {
				e = s;
				break;
			}
			if (s->last_failure < e->last_failure)
				e = s;
		}
		memset(e, 0, sizeof(*e));
		snprintf(e->key, sizeof(e->key), "%s", key);
	} else if (now - e->last_failure >= THROTTLE_FORGET_S) {
		e->failures = 0;
	}
	if (e->failures < 1000)
		e->failures++;
	e->last_failure = now;
}

void signin_throttle_failed(struct signin_throttle *t, const char *user, const char *addr, int64_t now)
{
	char key[80];
	make_key(key, 'u', user);
	count_failure(t, key, now);
	make_key(key, 'a', addr);
	count_failure(t, key, now);
}

void signin_throttle_succeeded(struct signin_throttle *t, const char *user)
{
	char key[80];
	make_key(key, 'u', user);
	struct throttle_entry *e = find(t, key);
	if (e)
		memset(e, 0, sizeof(*e));
}
