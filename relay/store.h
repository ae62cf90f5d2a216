/* The seam between the relay and where tunnels persist. A backend is an
 * ops table behind struct store; the relay calls only the functions below.
 *
 * Saving never blocks the event loop: store_save checks the tunnel, takes a
 * copy of it and returns; the backend writes it later (SQLite on a worker
 * thread, an asynchronous PostgreSQL client on its socket) and the outcome
 * comes back through done(ctx, err) on the loop thread, from store_poll or
 * store_flush, never from inside store_save. Saves complete in the order
 * they were made, so the last save of a tunnel is what stays stored.
 *
 * Device notifications that could not be sent yet are kept the same way
 * (store_keep_notification): in order with the saves, on the same thread.
 * So is each thing's last presence (store_save_thing).
 *
 * Loading runs once at start-up, before the loop, and may block. */
#ifndef RELAY_STORE_H
#define RELAY_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "relay/registry.h"

struct store;
struct pending_notification;
struct thing_presence;

/* The longest SSH host key fingerprint kept ("SHA256:" and base64). */
#define STORE_MAX_FINGERPRINT 100

/* Errors of a backend that cannot reach its database (connection lost,
 * reconnecting) start with this, so that callers can tell "retry later"
 * from a real failure: the API answers 503 to them, not 500. */
#define STORE_UNAVAILABLE "database unavailable"

/* True when err says the database could not be reached (STORE_UNAVAILABLE). */
int store_error_unavailable(const char *err);

/* Errors of a conditional write that another relay node won (it closed
 * the tunnel first) start with this: the API answers 409. */
#define STORE_LOST_RACE "changed by another relay node"
int store_error_lost_race(const char *err);

/* err: NULL when the tunnel was saved, else why not (names the store and the
 * tunnel, never a token); valid only during the call. */
typedef void (*store_done_fn)(void *ctx, const char *err);
/* Wakes the event loop from any thread, so that it calls store_poll. */
typedef void (*store_wake_fn)(void *arg);
/* Called for each kept notification at load; non-zero stops the load. */
typedef int (*store_each_notification_fn)(void *arg, const struct pending_notification *pn);
/* Called for each kept thing at load; non-zero stops the load. */
typedef int (*store_each_thing_fn)(void *arg, const struct thing_presence *p);
/* Called for each remembered SSH host key at load; non-zero stops the load. */
typedef int (*store_each_host_key_fn)(void *arg, const char *thing, const char *fingerprint);

struct store_ops {
	int (*load)(struct store *s, struct registry *r, char *err, size_t err_cap);
	int (*save)(struct store *s, const struct registry_tunnel *t, store_done_fn done,
		    void *ctx, char *err, size_t err_cap);
	void (*poll)(struct store *s);
	void (*flush)(struct store *s);
	void (*forget)(struct store *s, void *ctx);
	void (*set_waker)(struct store *s, store_wake_fn wake, void *arg);
	void (*close)(struct store *s);
	int (*keep_notification)(struct store *s, const struct pending_notification *pn,
				 store_done_fn done, void *ctx, char *err, size_t err_cap);
	int (*drop_notification)(struct store *s, const char *tunnel_id, const char *token,
				 store_done_fn done,
				 void *ctx, char *err, size_t err_cap);
	int (*load_notifications)(struct store *s, store_each_notification_fn each, void *arg,
				  char *err, size_t err_cap);
	int (*save_thing)(struct store *s, const struct thing_presence *p, store_done_fn done,
			  void *ctx, char *err, size_t err_cap);
	int (*load_things)(struct store *s, store_each_thing_fn each, void *arg, char *err,
			   size_t err_cap);
	int (*keep_host_key)(struct store *s, const char *thing, const char *fingerprint,
			     store_done_fn done, void *ctx, char *err, size_t err_cap);
	int (*load_host_keys)(struct store *s, store_each_host_key_fn each, void *arg, char *err,
			      size_t err_cap);
	/* The cluster calls below, spelled without their typedefs (which
	 * come with the calls' own comments further down). */
	int (*watch)(struct store *s, const char *node_id,
		     void (*fn)(void *arg, const char *tunnel_id, const struct registry_tunnel *row,
				const char *owner),
		     void *arg);
	int (*find_token)(struct store *s, const uint8_t hash[TOKEN_HASH_LEN],
			  void (*done)(void *ctx, const struct registry_tunnel *row, const char *err),
			  void *ctx, char *err, size_t err_cap);
	int (*claim_side)(struct store *s, const char *tunnel_id, enum tunnel_side side,
			  const char *client_token, const char *node_id, int connected,
			  store_done_fn done, void *ctx, char *err, size_t err_cap);
	/* NULL: a store no other node shares (SQLite). */
	long (*reset_node)(struct store *s, const char *node_id, char *err, size_t err_cap);
	/* NULL: a store no other node shares (SQLite). */
	int (*list_notifications)(struct store *s, store_each_notification_fn each,
				  store_done_fn done, void *ctx, char *err, size_t err_cap);
	/* NULL: a store no other node shares (SQLite). */
	int (*take_notification)(struct store *s, const struct pending_notification *pn,
				 int64_t now, store_done_fn done, void *ctx, char *err,
				 size_t err_cap);
};

/* Every backend's state starts with this. */
struct store {
	const struct store_ops *ops;
};

/* Loads every tunnel into r (open and closed; closed ones for listing).
 * Call before the first save. Returns the number loaded, or -1 with a
 * reason. */
int store_load(struct store *s, struct registry *r, char *err, size_t err_cap);

/* Starts saving the whole row of t (every field of struct registry_tunnel);
 * does nothing but report success for a tunnel from a --tunnels file.
 * Returns 0 with done(ctx, …) to come exactly once and t->rev one up (the
 * copy taken expects the row at the old rev: see rev below), or -1 with a
 * reason in err, no callback and t unchanged (t is invalid, or too many
 * saves are waiting). */
int store_save(struct store *s, struct registry_tunnel *t, store_done_fn done, void *ctx,
	       char *err, size_t err_cap);

/* Saves t; a failure is logged ("tunnel ID: cannot save its state: …") and
 * the relay goes on. t must outlive the store (registry tunnels do).
 * NULL store: nothing is persisted. */
void store_save_logged(struct store *s, struct registry_tunnel *t);

/* Keeps pn (replacing what was kept for its tunnel) until dropped: like
 * store_save, returns 0 with done(ctx, …) to come, or -1 with a reason. */
int store_keep_notification(struct store *s, const struct pending_notification *pn,
			    store_done_fn done, void *ctx, char *err, size_t err_cap);
/* Deletes what is kept for pn's tunnel if it is still pn (the same
 * token; pn's token "" matches any), in one conditional statement, so that
 * a newer notification kept meanwhile, by this relay or another sharing
 * the database, stays. Nothing kept: not an error; a failure is logged.
 * NULL store does nothing. */
void store_drop_notification_logged(struct store *s, const struct pending_notification *pn);
/* Hands every kept notification to each(arg, pn) (blocking, at start-up,
 * like store_load). Returns the number, or -1 with a reason. */
int store_load_notifications(struct store *s, store_each_notification_fn each, void *arg,
			     char *err, size_t err_cap);

/* Saves a copy of p (replacing what was kept for the thing); a failure is
 * logged. NULL store does nothing. */
void store_save_thing_logged(struct store *s, const struct thing_presence *p);
/* Hands every kept thing to each(arg, p) (blocking, at start-up, like
 * store_load). Returns the number, or -1 with a reason. */
int store_load_things(struct store *s, store_each_thing_fn each, void *arg, char *err,
		      size_t err_cap);

/* Remembers the SSH host key fingerprint of a thing's device (the browser
 * terminal's, relay/host_keys.h), replacing any; "" forgets it. A failure
 * is logged. NULL store does nothing. */
void store_keep_host_key_logged(struct store *s, const char *thing, const char *fingerprint);
/* Hands every remembered host key to each(arg, …) (blocking, at start-up).
 * Returns the number, or -1 with a reason. */
int store_load_host_keys(struct store *s, store_each_host_key_fn each, void *arg, char *err,
			 size_t err_cap);

/* What another node (sharing the database) did to a tunnel. row NULL: the row is gone (deleted
 * or purged). owner: the node that last admitted a side of it ("" none). Called on the loop
 * thread from store_poll, never for this node's own writes. */
typedef void (*store_tunnel_changed_fn)(void *arg, const char *tunnel_id,
					const struct registry_tunnel *row, const char *owner);
/* Starts following other nodes' changes (PostgreSQL: LISTEN on channel "tunnel_changed"; each
 * tunnel write of every node sends pg_notify('tunnel_changed', 'NODE ID') in its transaction; a
 * notification from another node makes the worker read that row and report it). Also reports every
 * change after a reconnect (a full reload: every tunnel whose row differs, plus vanished ones), since
 * notifications sent while away are lost. SQLite: does nothing (one node). Returns 0 or -1. */
int store_watch(struct store *s, const char *node_id, store_tunnel_changed_fn fn, void *arg);

/* Looks a tunnel up by one side's token hash (a handshake missed in memory). done(ctx, row or NULL
 * when none, err) on the loop thread; row valid only during the call. Returns 0 or -1 with err. */
typedef void (*store_found_fn)(void *ctx, const struct registry_tunnel *row, const char *err);
int store_find_token(struct store *s, const uint8_t hash[TOKEN_HASH_LEN], store_found_fn done,
		     void *ctx, char *err, size_t err_cap);

/* A side admitted here: one conditional statement sets that side used with client_token (may be
 * "") and owner = node_id, and the row's connected flags to `connected` (store_connected_bits:
 * the sides this node now holds, so a claim that follows a lost save still says so), only if the
 * tunnel is open and the side is unused or used with the same client token. done(ctx, NULL) when
 * won; err starting with STORE_LOST_RACE when another node got it (or the tunnel closed);
 * STORE_UNAVAILABLE when the database is away. Notifies. */
int store_claim_side(struct store *s, const char *tunnel_id, enum tunnel_side side,
		     const char *client_token, const char *node_id, int connected,
		     store_done_fn done, void *ctx, char *err, size_t err_cap);
/* At start-up, before store_load: a node that stopped held the sides its rows say are connected
 * (owner = node_id); it holds none now. Clears those flags (rev + 1, other nodes notified), so
 * that other nodes stop showing them connected. Blocking. Returns the rows changed (0 for a store
 * no other node shares), or -1 with err. */
long store_reset_node(struct store *s, const char *node_id, char *err, size_t err_cap);
/* rev (struct registry_tunnel) and these calls:
 * - store_save sends the copy with its rev, and adds 1 to t->rev when it
 *   takes it (so back-to-back saves chain); PostgreSQL writes the row only
 *   if the stored rev is still the copy's.
 * - store_claim_side adds 1 to the row's rev when won. The caller adds 1
 *   to its own t->rev when it calls (not in done: jobs run in order, so a
 *   store_save made before done comes must already expect the claimed rev).
 *   A claim of a tunnel the database does not hold (a --tunnels file's)
 *   is won: there is nothing to race for.
 * - Whoever applies a row from store_tunnel_changed_fn or store_found_fn
 *   takes row->rev into its copy, else its next save loses.
 * - A lost save or claim (STORE_LOST_RACE) reports the row as stored
 *   through the watch callback (row NULL when gone) before its done. */

/* Reads every kept notification, every node's (a shared database), on
 * the store's thread, never blocking the loop: each(ctx, pn) on the loop
 * thread for each row (pn a copy, wiped after the call; non-zero skips the
 * rest), then done(ctx, err). Returns 0 with those to come, 1 when no
 * other node shares the store (SQLite: it holds nothing this relay did
 * not keep itself; no callback), or -1 with a reason. store_forget(ctx)
 * cancels the callbacks. */
int store_list_notifications(struct store *s, store_each_notification_fn each, store_done_fn done,
			     void *ctx, char *err, size_t err_cap);

/* Takes the kept notification pn before publishing it (several nodes on one
 * database): one conditional statement sets the row's since to now, only if
 * the row still holds pn's token and pn->since (the since this node last
 * saw: nobody took it meanwhile) and the tunnel's stored row is open, not
 * expired and holds pn's token as its destination token (by hash: never a
 * rotated token). Setting since makes the row young again, so other nodes
 * leave it to the taker (PENDING_ADOPT_AFTER_S): a lease. done(ctx, NULL)
 * when taken; err starting with STORE_LOST_RACE when not (another node took
 * or sent it, or the token is stale); STORE_UNAVAILABLE when the database
 * is away. Returns 0 with done to come, 1 when no other node shares the
 * store (SQLite: go ahead; no callback), or -1 with a reason. */
int store_take_notification(struct store *s, const struct pending_notification *pn, int64_t now,
			    store_done_fn done, void *ctx, char *err, size_t err_cap);

/* Runs the callbacks of finished saves. Loop thread only; NULL does nothing. */
void store_poll(struct store *s);
/* Waits until every save made so far is finished, then runs the callbacks.
 * Blocks: for shutdown and tests. NULL does nothing. */
void store_flush(struct store *s);
/* No callback will be made for saves started with ctx (the save itself
 * still happens). NULL does nothing. */
void store_forget(struct store *s, void *ctx);
/* wake(arg) is called from the backend's thread whenever a result waits
 * for store_poll; NULL stops that (before the loop goes away). */
void store_set_waker(struct store *s, store_wake_fn wake, void *arg);
/* Finishes every waiting save (running its callback), then frees s. NULL
 * does nothing. */
void store_close(struct store *s);

#endif
