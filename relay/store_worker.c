#include "relay/store_worker.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/text.h"

struct job {
	struct job *next;
	void *data;
	store_done_fn done;     /* NULL once forgotten */
	store_finish_fn finish; /* instead of done; NULL once forgotten */
	bool report;            /* from the worker: never forgotten, not counted */
	void *ctx;
	int rc;
	char err[256];
};

/* A FIFO of jobs. */
struct job_list {
	struct job *head;
	struct job **tail;
};

struct store_worker {
	store_job_fn run;
	store_job_free_fn free_job;
	void *backend;
	size_t max_jobs;
	pthread_t thread;
	/* Everything below is shared with the thread, under lock. */
	pthread_mutex_t lock;
	pthread_cond_t work;    /* a job was queued, or stopping */
	pthread_cond_t idle;    /* a job finished */
	struct job_list todo, done;
	size_t outstanding;     /* submitted, not yet collected by poll */
	bool busy;              /* the thread is running a job */
	bool stopping;
	store_wake_fn wake;
	void *wake_arg;
	store_idle_fn idle_fn;  /* run every STORE_WORKER_IDLE_S while no job waits */
	store_idle_fd_fn idle_fd;
	bool polling;           /* waiting in poll(): a submit writes to wake_pipe */
	int wake_pipe[2];       /* wakes the thread out of poll() */
};

#define STORE_WORKER_IDLE_S 1

static void list_init(struct job_list *l)
{
	l->head = NULL;
	l->tail = &l->head;
}

static void list_push(struct job_list *l, struct job *j)
{
	j->next = NULL;
	*l->tail = j;
	l->tail = &j->next;
}

static struct job *list_pop(struct job_list *l)
{
	struct job *j = l->head;
	if (j) {
		l->head = j->next;
		if (!l->head)
			l->tail = &l->head;
	}
	return j;
}

/* Runs idle(backend) without the lock. */
static void run_idle(struct store_worker *w)
{
	store_idle_fn idle = w->idle_fn;
	pthread_mutex_unlock(&w->lock);
	idle(w->backend);
	pthread_mutex_lock(&w->lock);
}

/* Under the lock, nothing queued: waits for a job, the idle period, or
 * (fd >= 0) fd to become readable, running idle for the latter two. */
static void wait_for_work(struct store_worker *w)
{
	int fd = -1;
	if (w->idle_fd) {
		store_idle_fd_fn idle_fd = w->idle_fd;
		pthread_mutex_unlock(&w->lock); /* the backend takes its own lock */
		fd = idle_fd(w->backend);
		pthread_mutex_lock(&w->lock);
		if (w->todo.head || w->stopping)
			return;
	}
	if (fd < 0) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until); /* the condition's clock */
		until.tv_sec += STORE_WORKER_IDLE_S;
		if (pthread_cond_timedwait(&w->work, &w->lock, &until) != 0 && !w->todo.head &&
		    !w->stopping)
			run_idle(w);
		return;
	}
	w->polling = true;
	pthread_mutex_unlock(&w->lock);
	struct pollfd p[2] = { { .fd = w->wake_pipe[0], .events = POLLIN },
			       { .fd = fd, .events = POLLIN } };
	if (poll(p, 2, STORE_WORKER_IDLE_S * 1000) > 0 && (p[0].revents & POLLIN)) {
		char drain[64];
		while (read(w->wake_pipe[0], drain, sizeof(drain)) > 0)
			;
	}
	pthread_mutex_lock(&w->lock);
	w->polling = false;
	if (!w->todo.head && !w->stopping)
		run_idle(w);
}

/* Under the lock: wakes the thread wherever it waits. */
static void wake_thread(struct store_worker *w)
{
	pthread_cond_signal(&w->work);
	if (w->polling && write(w->wake_pipe[1], "", 1) < 0) {
		/* Full (it is awake already) or closing: nothing to do. */
	}
}

static void *worker_main(void *arg)
{
	struct store_worker *w = arg;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->todo.head && !w->stopping) {
			if (!w->idle_fn)
				pthread_cond_wait(&w->work, &w->lock);
			else
				wait_for_work(w);
		}
		struct job *j = list_pop(&w->todo);
		if (!j)
			break; /* stopping with nothing left to run */
		w->busy = true;
		pthread_mutex_unlock(&w->lock);
		j->err[0] = '\0';
		j->rc = w->run(w->backend, j->data, j->err, sizeof(j->err));
		pthread_mutex_lock(&w->lock);
		w->busy = false;
		list_push(&w->done, j);
		/* Under the lock, so that set_waker(NULL) returning means no
		 * wake-up is under way. */
		if (w->wake)
			w->wake(w->wake_arg);
		pthread_cond_broadcast(&w->idle);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

struct store_worker *store_worker_start(size_t max_jobs, store_job_fn run, store_job_free_fn free_job,
					void *backend, char *err, size_t err_cap)
{
	struct store_worker *w = calloc(1, sizeof(*w));
	if (!w) {
		errf(err, err_cap, "out of memory");
		return NULL;
	}
	w->run = run;
	w->free_job = free_job;
	w->backend = backend;
	w->max_jobs = max_jobs;
	list_init(&w->todo);
	list_init(&w->done);
	if (pipe2(w->wake_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
		errf(err, err_cap, "cannot start the store thread: pipe: %s", strerror(errno));
		free(w);
		return NULL;
	}
	bool have_lock = !pthread_mutex_init(&w->lock, NULL);
	bool have_work = have_lock && !pthread_cond_init(&w->work, NULL);
	bool have_idle = have_work && !pthread_cond_init(&w->idle, NULL);
	int rc = have_idle ? pthread_create(&w->thread, NULL, worker_main, w) : -1;
	if (rc) {
		if (have_idle)
			pthread_cond_destroy(&w->idle);
		if (have_work)
			pthread_cond_destroy(&w->work);
		if (have_lock)
			pthread_mutex_destroy(&w->lock);
		close(w->wake_pipe[0]);
		close(w->wake_pipe[1]);
		free(w);
		errf(err, err_cap, "cannot start the store thread: %s",
		     rc > 0 ? strerror(rc) : "no mutex or condition variable");
		return NULL;
	}
	return w;
}

static int submit(struct store_worker *w, void *data, store_done_fn done, store_finish_fn finish,
		  void *ctx, char *err, size_t err_cap)
{
	struct job *j = calloc(1, sizeof(*j));
	pthread_mutex_lock(&w->lock);
	bool full = w->outstanding >= w->max_jobs;
	if (j && !full) {
		j->data = data;
		j->done = done;
		j->finish = finish;
		j->ctx = ctx;
		list_push(&w->todo, j);
		w->outstanding++;
		wake_thread(w);
	}
	pthread_mutex_unlock(&w->lock);
	if (j && !full)
		return 0;
	if (full)
		errf(err, err_cap, "%zu saves are already waiting", w->max_jobs);
	else
		errf(err, err_cap, "out of memory");
	free(j);
	w->free_job(data);
	return -1;
}

int store_worker_submit(struct store_worker *w, void *data, store_done_fn done, void *ctx,
			char *err, size_t err_cap)
{
	return submit(w, data, done, NULL, ctx, err, err_cap);
}

int store_worker_submit_finish(struct store_worker *w, void *data, store_finish_fn finish,
			       void *ctx, char *err, size_t err_cap)
{
	return submit(w, data, NULL, finish, ctx, err, err_cap);
}

void store_worker_report(struct store_worker *w, void *data, store_finish_fn finish)
{
	struct job *j = calloc(1, sizeof(*j));
	if (j == NULL) {
		w->free_job(data); /* a report lost: the next reload finds the row again */
		return;
	}
	j->data = data;
	j->finish = finish;
	j->report = true;
	pthread_mutex_lock(&w->lock);
	list_push(&w->done, j);
	if (w->wake)
		w->wake(w->wake_arg);
	pthread_mutex_unlock(&w->lock);
}

void store_worker_poll(struct store_worker *w)
{
	pthread_mutex_lock(&w->lock);
	struct job_list ready = w->done;
	if (!ready.head)
		ready.tail = &ready.head;
	list_init(&w->done);
	pthread_mutex_unlock(&w->lock);
	/* Callbacks run without the lock: they may submit again. */
	size_t n = 0;
	struct job *j;
	while ((j = list_pop(&ready))) {
		const char *err = j->rc ? j->err : NULL;
		if (j->finish)
			j->finish(j->data, j->ctx, err);
		else if (j->done)
			j->done(j->ctx, err);
		w->free_job(j->data);
		if (!j->report)
			n++;
		free(j);
	}
	if (n) {
		pthread_mutex_lock(&w->lock);
		w->outstanding -= n;
		pthread_mutex_unlock(&w->lock);
	}
}

void store_worker_wait_idle(struct store_worker *w)
{
	pthread_mutex_lock(&w->lock);
	while (w->todo.head || w->busy)
		pthread_cond_wait(&w->idle, &w->lock);
	pthread_mutex_unlock(&w->lock);
}

void store_worker_forget(struct store_worker *w, void *ctx)
{
	pthread_mutex_lock(&w->lock);
	struct job_list *lists[] = { &w->todo, &w->done };
	for (size_t i = 0; i < 2; i++)
		for (struct job *j = lists[i]->head; j; j = j->next)
			if (j->ctx == ctx && !j->report) {
				j->done = NULL;
				j->finish = NULL;
			}
	pthread_mutex_unlock(&w->lock);
}

void store_worker_set_waker(struct store_worker *w, store_wake_fn wake, void *arg)
{
	pthread_mutex_lock(&w->lock);
	w->wake = wake;
	w->wake_arg = arg;
	pthread_mutex_unlock(&w->lock);
}

void store_worker_nudge(struct store_worker *w)
{
	pthread_mutex_lock(&w->lock);
	wake_thread(w);
	pthread_mutex_unlock(&w->lock);
}

void store_worker_set_idle(struct store_worker *w, store_idle_fn idle, store_idle_fd_fn idle_fd)
{
	pthread_mutex_lock(&w->lock);
	w->idle_fn = idle;
	w->idle_fd = idle_fd;
	pthread_cond_signal(&w->work); /* starts the timed wait */
	pthread_mutex_unlock(&w->lock);
}

void store_worker_stop(struct store_worker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	w->wake = NULL;
	wake_thread(w);
	pthread_mutex_unlock(&w->lock);
	/* The thread runs what is still queued before it ends. */
	pthread_join(w->thread, NULL);
	store_worker_poll(w);
	pthread_cond_destroy(&w->idle);
	pthread_cond_destroy(&w->work);
	pthread_mutex_destroy(&w->lock);
	close(w->wake_pipe[0]);
	close(w->wake_pipe[1]);
	free(w);
}
