/* One thread that runs a blocking backend's jobs in order, for a store
 * whose library blocks (SQLite, libpq's synchronous calls). The loop thread
 * submits jobs; the thread runs them one at a time; finished jobs wait in a
 * list until the loop thread collects them (store_worker_poll), and the
 * loop is woken each time one finishes. At most `max_jobs` jobs are
 * submitted and not yet collected, so memory stays bounded. */
#ifndef RELAY_STORE_WORKER_H
#define RELAY_STORE_WORKER_H

#include <stddef.h>

#include "relay/store.h"

/* Runs on the worker thread: returns 0, or -1 with a reason in err. */
typedef int (*store_job_fn)(void *backend, void *job, char *err, size_t err_cap);
/* Runs on the worker thread when it has had nothing to do for a second,
 * or when the descriptor store_idle_fd_fn named became readable (a
 * backend's reconnection in the background, its database's notifications). */
typedef void (*store_idle_fn)(void *backend);
/* On the worker thread, before it waits: a descriptor whose readability
 * should wake it (the database connection's socket), or -1 for none. */
typedef int (*store_idle_fd_fn)(void *backend);
/* On the loop thread, for a job submitted with store_worker_submit_finish
 * or a report: finish(job, ctx, err) instead of done(ctx, err), so that a
 * job can answer with more than an error (a row it read). */
typedef void (*store_finish_fn)(void *job, void *ctx, const char *err);
/* Frees a job (on the loop thread, after its callback). */
typedef void (*store_job_free_fn)(void *job);

struct store_worker;

/* Starts the thread. NULL when memory or threads run out (reason in err). */
struct store_worker *store_worker_start(size_t max_jobs, store_job_fn run, store_job_free_fn free_job,
					void *backend, char *err, size_t err_cap);
/* Queues job (taking it over). Returns 0 with done(ctx, …) to come from a
 * later poll, or -1 with job freed and a reason in err when max_jobs are
 * outstanding or memory runs out. */
int store_worker_submit(struct store_worker *w, void *job, store_done_fn done, void *ctx,
			char *err, size_t err_cap);
/* As store_worker_submit, but finish(job, ctx, …) answers. */
int store_worker_submit_finish(struct store_worker *w, void *job, store_finish_fn finish, void *ctx,
			       char *err, size_t err_cap);
/* Worker thread only (inside a job or idle): queues job for the loop
 * thread, which runs finish(job, NULL, NULL) from a poll and frees it, after
 * what finished before it. Never forgotten, not counted in max_jobs. */
void store_worker_report(struct store_worker *w, void *job, store_finish_fn finish);
void store_worker_poll(struct store_worker *w);
/* Blocks until no job is queued or running (no callbacks run). */
void store_worker_wait_idle(struct store_worker *w);
void store_worker_forget(struct store_worker *w, void *ctx);
void store_worker_set_waker(struct store_worker *w, store_wake_fn wake, void *arg);
/* idle(backend) from now on runs about once a second while no job waits,
 * and whenever idle_fd's descriptor (idle_fd may be NULL) becomes readable;
 * the backend guards what it shares with the loop thread itself. */
/* Wakes the thread out of its idle wait so that it asks idle_fd again
 * (the backend has a descriptor to wait on now). */
void store_worker_nudge(struct store_worker *w);
void store_worker_set_idle(struct store_worker *w, store_idle_fn idle, store_idle_fd_fn idle_fd);
/* Runs what is queued, runs every callback, joins the thread, frees w. */
void store_worker_stop(struct store_worker *w);

#endif
