/* A small epoll event loop: I/O watchers, timers, a cross-thread wake-up
 * and signals, each reporting through a callback and a user pointer. It
 * knows nothing of its users. One loop per thread; only ev_async_send may
 * be called from another thread.
 *
 * Watchers are structs the caller owns (embed them; no allocation per
 * watcher). Stopping a watcher from any callback is safe, also one whose
 * event is pending in the current round: it is not called afterwards.
 * Times are microseconds on the monotonic clock. */
#ifndef COMMON_EV_H
#define COMMON_EV_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EV_READ 1u
#define EV_WRITE 2u
/* Reported with the others: the peer hung up or the socket has an error. */
#define EV_ERROR 4u

struct ev_loop;
struct ev_io;
struct ev_timer;
struct ev_async;
struct ev_signal;

typedef void (*ev_io_cb)(struct ev_io *w, unsigned events);
typedef void (*ev_timer_cb)(struct ev_timer *t);
typedef void (*ev_async_cb)(struct ev_async *a);
typedef void (*ev_signal_cb)(struct ev_signal *s, int signo);

struct ev_io {
	struct ev_loop *loop;
	int fd;
	unsigned events;       /* the interest: EV_READ | EV_WRITE, or 0 (paused) */
	bool active;
	ev_io_cb cb;
	void *user;
};

struct ev_timer {
	struct ev_loop *loop;
	uint64_t due_us;
	uint64_t repeat_us;    /* 0: one-shot */
	size_t heap_at;        /* its place in the loop's heap; SIZE_MAX when stopped */
	ev_timer_cb cb;
	void *user;
};

struct ev_async {
	struct ev_io io;       /* the eventfd */
	ev_async_cb cb;
	void *user;
};

struct ev_signal {
	struct ev_io io;       /* the signalfd */
	sigset_t mask;         /* its signals, unblocked again when it stops */
	ev_signal_cb cb;
	void *user;
};

/* NULL when epoll cannot be set up (errno set). */
struct ev_loop *ev_loop_new(void);
/* Stop every watcher first: the loop does not own them. */
void ev_loop_free(struct ev_loop *loop);
/* Runs until ev_stop. 0, or -1 when epoll_wait fails (errno set). */
int ev_run(struct ev_loop *loop);
/* One round: waits at most timeout_us (-1: until something happens), runs
 * what is due. 0 or -1 as ev_run. */
int ev_run_once(struct ev_loop *loop, int64_t timeout_us);
/* Makes ev_run return after the current callback. */
void ev_stop(struct ev_loop *loop);
/* The loop's time: the monotonic clock read at the start of the round. */
uint64_t ev_now_us(const struct ev_loop *loop);
/* Reads the monotonic clock. */
uint64_t ev_clock_us(void);

/* Watches fd for events (EV_READ | EV_WRITE; 0 registers it paused).
 * 0, or -1 (errno set). */
int ev_io_start(struct ev_loop *loop, struct ev_io *w, int fd, unsigned events, ev_io_cb cb,
		void *user);
/* Changes the interest (pause and resume reading or writing). 0 or -1. */
int ev_io_set(struct ev_io *w, unsigned events);
/* Stops watching; the fd stays open (the caller closes it). */
void ev_io_stop(struct ev_io *w);

void ev_timer_init(struct ev_timer *t, struct ev_loop *loop, ev_timer_cb cb, void *user);
/* Due after after_us (0: in the next round), then every repeat_us if not 0.
 * Restarts a running timer. 0, or -1 when memory runs out. */
int ev_timer_start(struct ev_timer *t, uint64_t after_us, uint64_t repeat_us);
void ev_timer_stop(struct ev_timer *t);
bool ev_timer_active(const struct ev_timer *t);

/* ev_async_send, from any thread, makes cb run on the loop's thread (once
 * for any number of sends before it runs). 0, or -1 (errno set). */
int ev_async_start(struct ev_loop *loop, struct ev_async *a, ev_async_cb cb, void *user);
void ev_async_send(struct ev_async *a);
void ev_async_stop(struct ev_async *a);

/* Delivers the signals listed (n of them) to cb on the loop instead of
 * interrupting the program: they are blocked and read from a signalfd
 * (and no longer ignored, if they were).
 * 0, or -1 (errno set). */
int ev_signal_start(struct ev_loop *loop, struct ev_signal *s, const int *signals, size_t n,
		    ev_signal_cb cb, void *user);
/* Stops and unblocks the signals again. */
void ev_signal_stop(struct ev_signal *s);

#endif
