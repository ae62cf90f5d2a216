/* Password checks off the event loop: the loop hands over a password and
 * the hash to check it against; one thread runs the slow hash; the verdict
 * comes back on the loop (password_worker_poll, after the thread woke the
 * loop). The thread is the store's job runner (store_worker.c), with its
 * own bound: when that many checks wait, a new one is refused at once
 * (the console answers 503) instead of queueing without end. */
#ifndef RELAY_PASSWORD_WORKER_H
#define RELAY_PASSWORD_WORKER_H

#include <stdbool.h>
#include <stddef.h>

/* Checks waiting or running at most. */
#define PASSWORD_WORKER_MAX_JOBS 16

/* The verdict, on the loop thread. */
typedef void (*password_done_fn)(void *ctx, bool match);
typedef void (*password_wake_fn)(void *arg);

struct password_worker;

struct password_worker *password_worker_start(size_t max_jobs, char *err, size_t err_cap);
/* Queues a check of password against hash (NULL: the user does not exist;
 * the check still costs one hash). The password is copied and the copy
 * wiped as soon as it is hashed. Returns 0, or -1 when the queue is full or
 * memory runs out (no callback then). */
int password_worker_check(struct password_worker *w, const char *password, const char *hash,
			  password_done_fn done, void *ctx);
/* Runs the callbacks of finished checks (on the loop). */
void password_worker_poll(struct password_worker *w);
/* ctx goes away: its callback will not run. */
void password_worker_forget(struct password_worker *w, void *ctx);
/* Called on the worker thread when a check is done (lws_cancel_service). */
void password_worker_set_waker(struct password_worker *w, password_wake_fn wake, void *arg);
void password_worker_stop(struct password_worker *w);

#endif
