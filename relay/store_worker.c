#include "relay/store_worker.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/text.h"

struct job {
	struct job *next;
	void *data;
	store_done_fn done;     /* NULL once forgotten */
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

static void *worker_main(void *arg)
{
	struct store_worker *w = arg;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->todo.head && !w->stopping) {
			if (!w->idle_fn) {
				pthread_cond_wait(&w->work, &w->lock);
				continue;
			}
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until); /* the condition's clock */
			until.tv_sec += STORE_WORKER_IDLE_S;
			if (pthread_cond_timedwait(&w->work, &w->lock, &until) == 0 ||
			    w->todo.head || w->stopping)
				continue;
			store_idle_fn idle = w->idle_fn;
			pthread_mutex_unlock(&w->lock);
			idle(w->backend);
			pthread_mutex_lock(&w->lock);
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
		free(w);
		errf(err, err_cap, "cannot start the store thread: %s",
		     rc > 0 ? strerror(rc) : "no mutex or condition variable");
		return NULL;
	}
	return w;
}

int store_worker_submit(struct store_worker *w, void *data, store_done_fn done, void *ctx,
			char *err, size_t err_cap)
{
	struct job *j = calloc(1, sizeof(*j));
	pthread_mutex_lock(&w->lock);
	bool full = w->outstanding >= w->max_jobs;
	if (j && !full) {
		j->data = data;
		j->done = done;
		j->ctx = ctx;
		list_push(&w->todo, j);
		w->outstanding++;
		pthread_cond_signal(&w->work);
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
		if (j->done)
			j->done(j->ctx, j->rc ? j->err : NULL);
		w->free_job(j->data);
		free(j);
		n++;
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
			if (j->ctx == ctx)
				j->done = NULL;
	pthread_mutex_unlock(&w->lock);
}

void store_worker_set_waker(struct store_worker *w, store_wake_fn wake, void *arg)
{
	pthread_mutex_lock(&w->lock);
	w->wake = wake;
	w->wake_arg = arg;
	pthread_mutex_unlock(&w->lock);
}

void store_worker_set_idle(struct store_worker *w, store_idle_fn idle)
{
	pthread_mutex_lock(&w->lock);
	w->idle_fn = idle;
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
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->lock);
	/* The thread runs what is still queued before it ends. */
	pthread_join(w->thread, NULL);
	store_worker_poll(w);
	pthread_cond_destroy(&w->idle);
	pthread_cond_destroy(&w->work);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
