/* The event loop's timers: a binary min-heap on the due time, so each round
 * costs O(log n) per due timer and nothing for the others. */
#include "common/ev_internal.h"

#include <stdint.h>
#include <stdlib.h>

void ev_timer_init(struct ev_timer *t, struct ev_loop *loop, ev_timer_cb cb, void *user)
{
	t->loop = loop;
	t->cb = cb;
	t->user = user;
	t->due_us = t->repeat_us = 0;
	t->heap_at = SIZE_MAX;
}

bool ev_timer_active(const struct ev_timer *t)
{
	return t->heap_at != SIZE_MAX;
}

static void place(struct ev_loop *loop, size_t at, struct ev_timer *t)
{
	loop->heap[at] = t;
	t->heap_at = at;
}

static void sift_up(struct ev_loop *loop, size_t at)
{
	struct ev_timer *t = loop->heap[at];
	while (at > 0) {
		size_t parent = (at - 1) / 2;
		if (loop->heap[parent]->due_us <= t->due_us)
			break;
		place(loop, at, loop->heap[parent]);
		at = parent;
	}
	place(loop, at, t);
}

static void sift_down(struct ev_loop *loop, size_t at)
{
	struct ev_timer *t = loop->heap[at];
	for (;;) {
		size_t child = 2 * at + 1;
		if (child >= loop->n_timers)
			break;
		if (child + 1 < loop->n_timers && loop->heap[child + 1]->due_us < loop->heap[child]->due_us)
			child++;
		if (loop->heap[child]->due_us >= t->due_us)
			break;
		place(loop, at, loop->heap[child]);
		at = child;
	}
	place(loop, at, t);
}

void ev_timer_stop(struct ev_timer *t)
{
	if (!ev_timer_active(t))
		return;
	struct ev_loop *loop = t->loop;
	size_t at = t->heap_at;
	t->heap_at = SIZE_MAX;
	struct ev_timer *last = loop->heap[--loop->n_timers];
	if (last == t)
		return;
	place(loop, at, last);
	sift_up(loop, at);
	sift_down(loop, last->heap_at);
}

int ev_timer_start(struct ev_timer *t, uint64_t after_us, uint64_t repeat_us)
{
	ev_timer_stop(t);
	struct ev_loop *loop = t->loop;
	if (loop->n_timers == loop->heap_cap) {
		size_t cap = loop->heap_cap ? loop->heap_cap * 2 : 16;
		struct ev_timer **heap = realloc(loop->heap, cap * sizeof(*heap));
		if (!heap)
			return -1;
		loop->heap = heap;
		loop->heap_cap = cap;
	}
	t->due_us = loop->now_us + after_us;
	if (loop->running_timers && after_us == 0)
		t->due_us++; /* next round (see ev__timers_run) */
	t->repeat_us = repeat_us;
	place(loop, loop->n_timers++, t);
	sift_up(loop, t->heap_at);
	return 0;
}

int64_t ev__timers_wait_us(const struct ev_loop *loop)
{
	if (loop->n_timers == 0)
		return -1;
	uint64_t due = loop->heap[0]->due_us, now = ev_clock_us();
	return due <= now ? 0 : (int64_t)(due - now);
}

void ev__timers_run(struct ev_loop *loop)
{
	/* Only timers due at the round's start: one started by a callback with
	 * a delay of 0 waits for the next round, so timers cannot starve I/O. */
	uint64_t now = loop->now_us;
	loop->running_timers = true;
	while (loop->n_timers > 0 && loop->heap[0]->due_us <= now && !loop->stopped) {
		struct ev_timer *t = loop->heap[0];
		ev_timer_stop(t);
		if (t->repeat_us) {
			/* Keeps its rhythm; a late loop skips the missed beats. */
			uint64_t next = t->due_us + t->repeat_us;
			t->due_us = next > now ? next : now + t->repeat_us;
			if (ev_timer_start(t, t->due_us - now, t->repeat_us) < 0)
				continue; /* unreachable: its slot was just freed */
		}
		t->cb(t);
	}
	loop->running_timers = false;
}

void ev__timers_free(struct ev_loop *loop)
{
	for (size_t i = 0; i < loop->n_timers; i++)
		loop->heap[i]->heap_at = SIZE_MAX;
	free(loop->heap);
	loop->heap = NULL;
	loop->n_timers = loop->heap_cap = 0;
}
