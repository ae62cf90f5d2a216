#include "relay/tunnel_timers.h"

#include <stdlib.h>

#include "relay/registry.h"

void tunnel_timers_init(struct tunnel_timers *tt, int64_t keep_closed)
{
	tt->heap = NULL;
	tt->n = 0;
	tt->cap = 0;
	tt->keep_closed = keep_closed;
}

void tunnel_timers_free(struct tunnel_timers *tt)
{
	free(tt->heap);
	tunnel_timers_init(tt, tt->keep_closed);
}

static void swap(struct timer_entry *a, struct timer_entry *b)
{
	struct timer_entry x = *a;
	*a = *b;
	*b = x;
}

static int push(struct tunnel_timers *tt, struct timer_entry e)
{
	if (tt->n == tt->cap) {
		size_t cap = tt->cap ? 2 * tt->cap : 64;
		struct timer_entry *h = realloc(tt->heap, cap * sizeof(*h));
		if (!h)
			return -1;
		tt->heap = h;
		tt->cap = cap;
	}
	size_t i = tt->n++;
	tt->heap[i] = e;
	while (i > 0 && tt->heap[(i - 1) / 2].due > tt->heap[i].due) {
		swap(&tt->heap[(i - 1) / 2], &tt->heap[i]);
		i = (i - 1) / 2;
	}
	return 0;
}

static struct timer_entry pop(struct tunnel_timers *tt)
{
	struct timer_entry top = tt->heap[0];
	tt->heap[0] = tt->heap[--tt->n];
	for (size_t i = 0;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < tt->n && tt->heap[l].due < tt->heap[m].due)
			m = l;
		if (r < tt->n && tt->heap[r].due < tt->heap[m].due)
			m = r;
		if (m == i)
			break;
		swap(&tt->heap[i], &tt->heap[m]);
		i = m;
	}
	return top;
}

int tunnel_timers_schedule(struct tunnel_timers *tt, struct registry_tunnel *t)
{
	struct timer_entry e = { .tunnel = t };
	if (t->closed_at) {
		e.action = TIMER_PURGE;
		e.due = t->closed_at + tt->keep_closed;
	} else if (t->expires_at) {
		e.action = TIMER_EXPIRE;
		e.due = t->expires_at;
	} else {
		return 0;
	}
	return push(tt, e);
}

enum timer_action tunnel_timers_next_due(struct tunnel_timers *tt, int64_t now,
					 struct registry_tunnel **t)
{
	if (tt->n == 0 || tt->heap[0].due > now)
		return TIMER_NONE;
	struct timer_entry e = pop(tt);
	*t = e.tunnel;
	return e.action;
}
