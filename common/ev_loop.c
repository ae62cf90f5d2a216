/* The event loop's dispatcher and its I/O watchers (see ev.h): one
 * epoll_wait per round, bounded by the first timer, then the ready
 * watchers, then the due timers. epoll is level-triggered: a watcher whose
 * interest stays on is called again each round while its fd is ready. */
#include "common/ev_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

uint64_t ev_clock_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

struct ev_loop *ev_loop_new(void)
{
	struct ev_loop *loop = calloc(1, sizeof(*loop));
	if (!loop)
		return NULL;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		free(loop);
		return NULL;
	}
	/* Room for a few timers from the start, so that starting one of
	 * them can only fail in a program that runs many. */
	loop->heap_cap = 16;
	loop->heap = calloc(loop->heap_cap, sizeof(*loop->heap));
	if (!loop->heap) {
		close(loop->epfd);
		free(loop);
		return NULL;
	}
	loop->now_us = ev_clock_us();
	return loop;
}

void ev_loop_free(struct ev_loop *loop)
{
	if (!loop)
		return;
	close(loop->epfd);
	ev__timers_free(loop);
	free(loop);
}

uint64_t ev_now_us(const struct ev_loop *loop)
{
	return loop->now_us;
}

void ev_stop(struct ev_loop *loop)
{
	loop->stopped = true;
}

static uint32_t epoll_bits(unsigned events)
{
	return (events & EV_READ ? EPOLLIN : 0u) | (events & EV_WRITE ? EPOLLOUT : 0u);
}

int ev_io_start(struct ev_loop *loop, struct ev_io *w, int fd, unsigned events, ev_io_cb cb,
		void *user)
{
	w->loop = loop;
	w->fd = fd;
	w->events = events & (EV_READ | EV_WRITE);
	w->cb = cb;
	w->user = user;
	struct epoll_event e = { .events = epoll_bits(w->events), .data.ptr = w };
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &e) < 0)
		return -1;
	w->active = true;
	return 0;
}

int ev_io_set(struct ev_io *w, unsigned events)
{
	events &= EV_READ | EV_WRITE;
	if (!w->active || w->events == events)
		return 0;
	struct epoll_event e = { .events = epoll_bits(events), .data.ptr = w };
	if (epoll_ctl(w->loop->epfd, EPOLL_CTL_MOD, w->fd, &e) < 0)
		return -1;
	w->events = events;
	return 0;
}

void ev_io_stop(struct ev_io *w)
{
	if (!w->active)
		return;
	struct ev_loop *loop = w->loop;
	/* Fails only if the fd is already closed, which removed it anyway. */
	(void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	w->active = false;
	/* Its event may still wait in this round's batch: forget it, since the
	 * watcher's memory may be freed right after this call. */
	for (int i = loop->next_event; i < loop->n_events; i++)
		if (loop->events[i].data.ptr == w)
			loop->events[i].data.ptr = NULL;
}

static void dispatch_io(struct ev_loop *loop)
{
	for (loop->next_event = 0; loop->next_event < loop->n_events;) {
		struct epoll_event *e = &loop->events[loop->next_event++];
		struct ev_io *w = e->data.ptr;
		if (!w)
			continue;
		unsigned got = 0;
		if (e->events & EPOLLIN)
			got |= EV_READ;
		if (e->events & EPOLLOUT)
			got |= EV_WRITE;
		if (e->events & (EPOLLERR | EPOLLHUP))
			got |= EV_ERROR;
		/* An error on a paused watcher is reported as what it waits for
		 * once it resumes; until then, do not spin on it. */
		got &= w->events | EV_ERROR;
		if (got == EV_ERROR && !w->events)
			continue;
		w->cb(w, got);
	}
	loop->n_events = loop->next_event = 0;
}

int ev_run_once(struct ev_loop *loop, int64_t timeout_us)
{
	int64_t wait_us = ev__timers_wait_us(loop);
	if (wait_us < 0 || (timeout_us >= 0 && timeout_us < wait_us))
		wait_us = timeout_us;
	/* Round up, so a timer is not woken for just before it is due. */
	int wait_ms = wait_us < 0 ? -1 : (int)((wait_us + 999) / 1000);
	int n = epoll_wait(loop->epfd, loop->events, EV__BATCH, wait_ms);
	loop->now_us = ev_clock_us();
	if (n < 0) {
		if (errno != EINTR)
			return -1;
		n = 0;
	}
	loop->n_events = n;
	dispatch_io(loop);
	ev__timers_run(loop);
	return 0;
}

int ev_run(struct ev_loop *loop)
{
	loop->stopped = false;
	while (!loop->stopped)
		if (ev_run_once(loop, -1))
			return -1;
	return 0;
}
