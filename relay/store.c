/* The store seam's calls, dispatched to the backend's ops table. */
#include "relay/store.h"

#include <string.h>

#include "common/log.h"
#include "relay/pending_notification.h"

int store_error_unavailable(const char *err)
{
	return err != NULL && strncmp(err, STORE_UNAVAILABLE, strlen(STORE_UNAVAILABLE)) == 0;
}

int store_error_lost_race(const char *err)
{
	return err != NULL && strncmp(err, STORE_LOST_RACE, strlen(STORE_LOST_RACE)) == 0;
}

int store_load(struct store *s, struct registry *r, char *err, size_t err_cap)
{
	return s->ops->load(s, r, err, err_cap);
}

int store_save(struct store *s, struct registry_tunnel *t, store_done_fn done, void *ctx,
	       char *err, size_t err_cap)
{
	int rc = s->ops->save(s, t, done, ctx, err, err_cap);
	if (rc == 0)
		t->rev++; /* the copy carries the rev it expects; the next save expects this */
	return rc;
}

int store_watch(struct store *s, const char *node_id, store_tunnel_changed_fn fn, void *arg)
{
	return s->ops->watch(s, node_id, fn, arg);
}

int store_find_token(struct store *s, const uint8_t hash[TOKEN_HASH_LEN], store_found_fn done,
		     void *ctx, char *err, size_t err_cap)
{
	return s->ops->find_token(s, hash, done, ctx, err, err_cap);
}

int store_claim_side(struct store *s, const char *tunnel_id, enum tunnel_side side,
		     const char *client_token, const char *node_id, int connected,
		     store_done_fn done, void *ctx, char *err, size_t err_cap)
{
	return s->ops->claim_side(s, tunnel_id, side, client_token, node_id, connected, done, ctx,
				  err, err_cap);
}

long store_reset_node(struct store *s, const char *node_id, char *err, size_t err_cap)
{
	return s->ops->reset_node ? s->ops->reset_node(s, node_id, err, err_cap) : 0;
}

static void log_failure(void *ctx, const char *err)
{
	const struct registry_tunnel *t = ctx;
	if (!err)
		return;
	/* Several nodes expire or close the same tunnel at once by design: the
	 * loser takes the stored row (reported through store_watch), which is
	 * no error worth waking anyone for. */
	if (store_error_lost_race(err))
		log_info("tunnel %s: %s; taking the stored state", t->id, err);
	else
		log_error("tunnel %s: cannot save its state: %s", t->id, err);
}

void store_save_logged(struct store *s, struct registry_tunnel *t)
{
	char err[256];
	if (s && store_save(s, t, log_failure, t, err, sizeof(err)))
		log_failure(t, err);
}

int store_keep_notification(struct store *s, const struct pending_notification *pn,
			    store_done_fn done, void *ctx, char *err, size_t err_cap)
{
	return s->ops->keep_notification(s, pn, done, ctx, err, err_cap);
}

static void log_drop_failure(void *ctx, const char *err)
{
	(void)ctx;
	if (err)
		log_error("cannot delete a kept notification: %s", err);
}

void store_drop_notification_logged(struct store *s, const struct pending_notification *pn)
{
	char err[256];
	if (s && s->ops->drop_notification(s, pn->tunnel_id, pn->token, log_drop_failure, NULL, err,
					   sizeof(err)))
		log_drop_failure(NULL, err);
}

int store_load_notifications(struct store *s, store_each_notification_fn each, void *arg,
			     char *err, size_t err_cap)
{
	return s->ops->load_notifications(s, each, arg, err, err_cap);
}

static void log_thing_failure(void *ctx, const char *err)
{
	(void)ctx;
	if (err)
		log_error("cannot save a thing's presence: %s", err);
}

void store_save_thing_logged(struct store *s, const struct thing_presence *p)
{
	char err[256];
	if (s && s->ops->save_thing(s, p, log_thing_failure, NULL, err, sizeof(err)))
		log_thing_failure(NULL, err);
}

int store_load_things(struct store *s, store_each_thing_fn each, void *arg, char *err,
		      size_t err_cap)
{
	return s->ops->load_things(s, each, arg, err, err_cap);
}

static void log_host_key_failure(void *ctx, const char *err)
{
	(void)ctx;
	if (err)
		log_error("cannot save a device's SSH host key: %s", err);
}

void store_keep_host_key_logged(struct store *s, const char *thing, const char *fingerprint)
{
	char err[256];
	if (s && s->ops->keep_host_key(s, thing, fingerprint, log_host_key_failure, NULL, err,
				       sizeof(err)))
		log_host_key_failure(NULL, err);
}

int store_load_host_keys(struct store *s, store_each_host_key_fn each, void *arg, char *err,
			 size_t err_cap)
{
	return s->ops->load_host_keys(s, each, arg, err, err_cap);
}

void store_poll(struct store *s)
{
	if (s)
		s->ops->poll(s);
}

void store_flush(struct store *s)
{
	if (s)
		s->ops->flush(s);
}

void store_forget(struct store *s, void *ctx)
{
	if (s)
		s->ops->forget(s, ctx);
}

void store_set_waker(struct store *s, store_wake_fn wake, void *arg)
{
	if (s)
		s->ops->set_waker(s, wake, arg);
}

void store_close(struct store *s)
{
	if (s)
		s->ops->close(s);
}

int store_list_notifications(struct store *s, store_each_notification_fn each, store_done_fn done,
			     void *ctx, char *err, size_t err_cap)
{
	if (!s->ops->list_notifications)
		return 1;
	return s->ops->list_notifications(s, each, done, ctx, err, err_cap);
}

int store_take_notification(struct store *s, const struct pending_notification *pn, int64_t now,
			    store_done_fn done, void *ctx, char *err, size_t err_cap)
{
	if (!s->ops->take_notification)
		return 1;
	return s->ops->take_notification(s, pn, now, done, ctx, err, err_cap);
}
