/* Private to the event loop's files (ev_loop.c, ev_timer.c, ev_async.c,
 * ev_signal.c): the loop's state and the timer steps the dispatcher runs. */
#ifndef COMMON_EV_INTERNAL_H
#define COMMON_EV_INTERNAL_H

#include <sys/epoll.h>

#include "common/ev.h"

/* Events taken from epoll per round. */
#define EV__BATCH 64

struct ev_loop {
	int epfd;
	bool stopped;
	uint64_t now_us;
	/* the round's events: ev_io_stop clears a stopped watcher's entry */
	struct epoll_event events[EV__BATCH];
	int n_events;
	int next_event;
	/* timers: a binary min-heap on due_us */
	struct ev_timer **heap;
	size_t n_timers, heap_cap;
	bool running_timers;
};

/* Microseconds until the first timer is due (0 if overdue); -1 when none. */
int64_t ev__timers_wait_us(const struct ev_loop *loop);
/* Runs the timers due at loop->now_us. */
void ev__timers_run(struct ev_loop *loop);
void ev__timers_free(struct ev_loop *loop);

#endif
