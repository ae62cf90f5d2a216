/* Unit tests for common/ev*.c: io watchers on socketpairs and pipes, timer
 * order, pause and resume, a wake-up from another thread, signals, stop. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/ev.h"

/* Bounds every wait, so a broken loop fails instead of hanging. */
#define ROUND_LIMIT_US 2000000

struct io_log {
	unsigned events[8];
	size_t n;
	struct ev_io *stop_other; /* stopped from the callback */
	bool drain;
};

static void on_io(struct ev_io *w, unsigned events)
{
	struct io_log *log = w->user;
	if (log->n < 8)
		log->events[log->n] = events;
	log->n++;
	if (log->drain && (events & EV_READ)) {
		char buf[64];
		assert_true(read(w->fd, buf, sizeof(buf)) > 0);
	}
	if (log->stop_other)
		ev_io_stop(log->stop_other);
}

static void test_io_read_write(void **state)
{
	(void)state;
	struct ev_loop *loop = ev_loop_new();
	assert_non_null(loop);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	struct io_log log = { .drain = true };
	struct ev_io w;
	assert_int_equal(ev_io_start(loop, &w, sv[0], EV_READ, on_io, &log), 0);
	/* Nothing to read: the round times out without a call. */
	assert_int_equal(ev_run_once(loop, 20000), 0);
	assert_int_equal(log.n, 0);
	assert_int_equal(write(sv[1], "hi", 2), 2);
	assert_int_equal(ev_run_once(loop, ROUND_LIMIT_US), 0);
	assert_int_equal(log.n, 1);
	assert_int_equal(log.events[0], EV_READ);
	/* Write interest: a socket with room is writable at once. */
	assert_int_equal(ev_io_set(&w, EV_WRITE), 0);
	assert_int_equal(ev_run_once(loop, ROUND_LIMIT_US), 0);
	assert_int_equal(log.n, 2);
	assert_int_equal(log.events[1], EV_WRITE);
	ev_io_stop(&w);
	close(sv[0]);
	close(sv[1]);
	ev_loop_free(loop);
}

static void test_io_pause_resume(void **state)
{
	(void)state;
	struct ev_loop *loop = ev_loop_new();
	int p[2];
	assert_int_equal(pipe(p), 0);
	struct io_log log = { .drain = false };
	struct ev_io w;
	assert_int_equal(ev_io_start(loop, &w, p[0], EV_READ, on_io, &log), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	/* Level-triggered: called each round while readable... */
	assert_int_equal(ev_run_once(loop, ROUND_LIMIT_US), 0);
	assert_int_equal(ev_run_once(loop, ROUND_LIMIT_US), 0);
	assert_int_equal(log.n, 2);
	/* ...but not while paused, */
	assert_int_equal(ev_io_set(&w, 0), 0);
	assert_int_equal(ev_run_once(loop, 20000), 0);
	assert_int_equal(log.n, 2);
	/* and again once resumed. */
	assert_int_equal(ev_io_set(&w, EV_READ), 0);
	assert_int_equal(ev_run_once(loop, ROUND_LIMIT_US), 0);
	assert_int_equal(log.n, 3);
	/* The writer hangs up: reported with what the watcher waits for. */
	char c;
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[1]);
	assert_int_equal(ev_run_once(loop, ROUND_LIMIT_US), 0);
	assert_int_equal(log.n, 4);
	assert_true(log.events[3] & EV_ERROR);
	ev_io_stop(&w);
	close(p[0]);
	ev_loop_free(loop);
}

static void test_io_stop_pending_watcher(void **state)
{
	(void)state;
	struct ev_loop *loop = ev_loop_new();
	int a[2], b[2];
	assert_int_equal(pipe(a), 0);
	assert_int_equal(pipe(b), 0);
	struct io_log la = { 0 }, lb = { 0 };
	struct ev_io wa, wb;
	assert_int_equal(ev_io_start(loop, &wa, a[0], EV_READ, on_io, &la), 0);
	assert_int_equal(ev_io_start(loop, &wb, b[0], EV_READ, on_io, &lb), 0);
	/* Both ready in the same round; whichever runs first stops the other. */
	la.stop_other = &wb;
	lb.stop_other = &wa;
	assert_int_equal(write(a[1], "x", 1), 1);
	assert_int_equal(write(b[1], "x", 1), 1);
	assert_int_equal(ev_run_once(loop, ROUND_LIMIT_US), 0);
	assert_int_equal(la.n + lb.n, 1);
	ev_io_stop(&wa);
	ev_io_stop(&wb);
	for (int i = 0; i < 2; i++) {
		close(a[i]);
		close(b[i]);
	}
	ev_loop_free(loop);
}

struct timer_log {
	int order[16];
	size_t n;
	struct ev_loop *loop;
};

struct tagged_timer {
	struct ev_timer t;
	int tag;
	struct timer_log *log;
};

static void on_timer(struct ev_timer *t)
{
	struct tagged_timer *tt = t->user;
	struct timer_log *log = tt->log;
	if (log->n < 16)
		log->order[log->n] = tt->tag;
	log->n++;
	if (log->n == 5)
		ev_stop(log->loop);
}

static void test_timers_in_order(void **state)
{
	(void)state;
	struct ev_loop *loop = ev_loop_new();
	struct timer_log log = { .loop = loop };
	struct tagged_timer t[5];
	/* Started out of order; 4 is stopped before it is due. */
	const uint64_t after_ms[5] = { 30, 10, 50, 20, 15 };
	for (int i = 0; i < 5; i++) {
		t[i].tag = i;
		t[i].log = &log;
		ev_timer_init(&t[i].t, loop, on_timer, &t[i]);
		assert_int_equal(ev_timer_start(&t[i].t, after_ms[i] * 1000, 0), 0);
	}
	ev_timer_stop(&t[4].t);
	assert_false(ev_timer_active(&t[4].t));
	uint64_t start = ev_clock_us();
	while (log.n < 4 && ev_clock_us() - start < ROUND_LIMIT_US)
		assert_int_equal(ev_run_once(loop, ROUND_LIMIT_US), 0);
	assert_int_equal(log.n, 4);
	assert_int_equal(log.order[0], 1);
	assert_int_equal(log.order[1], 3);
	assert_int_equal(log.order[2], 0);
	assert_int_equal(log.order[3], 2);
	/* Not before it was due. */
	assert_true(ev_clock_us() - start >= 50000);
	ev_loop_free(loop);
}

static void test_repeating_timer_and_stop(void **state)
{
	(void)state;
	struct ev_loop *loop = ev_loop_new();
	struct timer_log log = { .loop = loop };
	struct tagged_timer t = { .tag = 7, .log = &log };
	ev_timer_init(&t.t, loop, on_timer, &t);
	assert_int_equal(ev_timer_start(&t.t, 1000, 2000), 0);
	uint64_t start = ev_clock_us();
	/* ev_run returns once the callback calls ev_stop at the 5th run. */
	assert_int_equal(ev_run(loop), 0);
	assert_int_equal(log.n, 5);
	assert_true(ev_clock_us() - start >= 9000);
	assert_true(ev_timer_active(&t.t));
	ev_timer_stop(&t.t);
	ev_loop_free(loop);
}

static void on_zero_timer(struct ev_timer *t)
{
	int *runs = t->user;
	(*runs)++;
	/* Restarting with no delay must not spin inside one round. */
	assert_int_equal(ev_timer_start(t, 0, 0), 0);
}

static void test_zero_timer_runs_once_per_round(void **state)
{
	(void)state;
	struct ev_loop *loop = ev_loop_new();
	int runs = 0;
	struct ev_timer t;
	ev_timer_init(&t, loop, on_zero_timer, &runs);
	assert_int_equal(ev_timer_start(&t, 0, 0), 0);
	assert_int_equal(ev_run_once(loop, ROUND_LIMIT_US), 0);
	assert_int_equal(runs, 1);
	assert_int_equal(ev_run_once(loop, ROUND_LIMIT_US), 0);
	assert_int_equal(runs, 2);
	ev_timer_stop(&t);
	ev_loop_free(loop);
}

static void test_many_timers(void **state)
{
	(void)state;
	struct ev_loop *loop = ev_loop_new();
	struct timer_log log = { .loop = loop };
	enum { N = 40 };
	struct tagged_timer t[N];
	for (int i = 0; i < N; i++) {
		t[i].tag = i;
		t[i].log = &log;
		ev_timer_init(&t[i].t, loop, on_timer, &t[i]);
		/* The heap grows past its first 16 slots. */
		assert_int_equal(ev_timer_start(&t[i].t, (uint64_t)(N - i) * 1000 + 100000, 0), 0);
	}
	for (int i = 0; i < N; i += 2)
		ev_timer_stop(&t[i].t);
	for (int i = 1; i < N; i += 2)
		assert_true(ev_timer_active(&t[i].t));
	for (int i = 1; i < N; i += 2)
		ev_timer_stop(&t[i].t);
	ev_loop_free(loop);
}

static void on_async(struct ev_async *a)
{
	int *calls = a->user;
	(*calls)++;
}

static void *send_later(void *arg)
{
	struct timespec pause = { 0, 20 * 1000 * 1000 };
	nanosleep(&pause, NULL);
	ev_async_send(arg);
	ev_async_send(arg);
	return NULL;
}

static void test_async_from_thread(void **state)
{
	(void)state;
	struct ev_loop *loop = ev_loop_new();
	int calls = 0;
	struct ev_async a;
	assert_int_equal(ev_async_start(loop, &a, on_async, &calls), 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, send_later, &a), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	/* Two sends before the loop ran: one call. */
	assert_int_equal(ev_run_once(loop, ROUND_LIMIT_US), 0);
	assert_int_equal(calls, 1);
	assert_int_equal(ev_run_once(loop, 20000), 0);
	assert_int_equal(calls, 1);
	/* And one that wakes a loop already waiting. */
	assert_int_equal(pthread_create(&th, NULL, send_later, &a), 0);
	uint64_t start = ev_clock_us();
	assert_int_equal(ev_run_once(loop, ROUND_LIMIT_US), 0);
	assert_true(ev_clock_us() - start < ROUND_LIMIT_US);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(calls, 2);
	ev_async_stop(&a);
	ev_loop_free(loop);
}

static void on_signal(struct ev_signal *s, int signo)
{
	int *got = s->user;
	*got = signo;
	ev_stop(s->io.loop);
}

static void test_signal(void **state)
{
	(void)state;
	struct ev_loop *loop = ev_loop_new();
	int got = 0;
	struct ev_signal s;
	const int signals[] = { SIGUSR1 };
	assert_int_equal(ev_signal_start(loop, &s, signals, 1, on_signal, &got), 0);
	assert_int_equal(raise(SIGUSR1), 0); /* blocked: waits in the signalfd */
	assert_int_equal(ev_run(loop), 0);
	assert_int_equal(got, SIGUSR1);
	ev_signal_stop(&s);
	ev_loop_free(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_io_read_write),
		cmocka_unit_test(test_io_pause_resume),
		cmocka_unit_test(test_io_stop_pending_watcher),
		cmocka_unit_test(test_timers_in_order),
		cmocka_unit_test(test_repeating_timer_and_stop),
		cmocka_unit_test(test_zero_timer_runs_once_per_round),
		cmocka_unit_test(test_many_timers),
		cmocka_unit_test(test_async_from_thread),
		cmocka_unit_test(test_signal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
