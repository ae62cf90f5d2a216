#include "relay/password_worker.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "common/text.h"
#include "relay/password_hash.h"
#include "relay/store_worker.h"

/* The checks in flight, so that forget() can find a caller's: touched
 * only on the loop thread (submit, callbacks and frees all run there). */
struct password_worker {
	struct store_worker *runner;
	struct check *in_flight;
};

/* One check. */
struct check {
	struct password_worker *w;
	struct check *next;
	char password[PASSWORD_MAX_LEN + 1];
	char hash[PASSWORD_HASH_CAP];
	bool have_hash;
	password_done_fn done;
	void *ctx;
};

/* The outcome travels as the runner's error: NULL when it matched. */
static const char NO_MATCH[] = "no match";

static int run_check(void *backend, void *job, char *err, size_t err_cap)
{
	struct check *c = job;
	password_hash_prepare(); /* once: the first unknown name costs no more than others */
	bool ok = password_hash_check(c->password, c->have_hash ? c->hash : NULL);
	OPENSSL_cleanse(c->password, sizeof(c->password));
	if (ok)
		return 0;
	errf(err, err_cap, "%s", NO_MATCH);
	return -1;
}

static void free_check(void *job)
{
	struct check *c = job;
	for (struct check **p = &c->w->in_flight; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

/* The runner's callback: the job's own done, with the verdict. */
static void on_checked(void *ctx, const char *err)
{
	struct check *c = ctx;
	if (c->done)
		c->done(c->ctx, err == NULL);
}

struct password_worker *password_worker_start(size_t max_jobs, char *err, size_t err_cap)
{
	struct password_worker *w = calloc(1, sizeof(*w));
	if (!w) {
		errf(err, err_cap, "out of memory");
		return NULL;
	}
	w->runner = store_worker_start(max_jobs, run_check, free_check, NULL, err, err_cap);
	if (!w->runner) {
		free(w);
		return NULL;
	}
	return w;
}

int password_worker_check(struct password_worker *w, const char *password, const char *hash,
			  password_done_fn done, void *ctx)
{
	if (strlen(password) > PASSWORD_MAX_LEN)
		return -1;
	struct check *c = calloc(1, sizeof(*c));
	if (!c)
		return -1;
	memcpy(c->password, password, strlen(password) + 1);
	if (hash && strlen(hash) < sizeof(c->hash)) {
		memcpy(c->hash, hash, strlen(hash) + 1);
		c->have_hash = true;
	}
	c->done = done;
	c->ctx = ctx;
	c->w = w;
	c->next = w->in_flight;
	w->in_flight = c;
	char err[128];
	/* The job is its own callback context: forget() finds it by ctx. */
	return store_worker_submit(w->runner, c, on_checked, c, err, sizeof(err));
}

void password_worker_poll(struct password_worker *w)
{
	if (w)
		store_worker_poll(w->runner);
}

void password_worker_forget(struct password_worker *w, void *ctx)
{
	for (struct check *c = w ? w->in_flight : NULL; c; c = c->next)
		if (c->ctx == ctx)
			c->done = NULL;
}

void password_worker_set_waker(struct password_worker *w, password_wake_fn wake, void *arg)
{
	store_worker_set_waker(w->runner, wake, arg);
}

void password_worker_stop(struct password_worker *w)
{
	if (!w)
		return;
	store_worker_stop(w->runner);
	free(w);
}
