/* The relay's event loop: a libev loop the relay owns and lends to
 * libwebsockets as its "foreign" loop, plus the stop signals.
 *
 * Why libev under lws (docs/event-loops.md): lws's own loop is poll(),
 * which walks every descriptor on each wake-up (40-45% of a core idle at
 * 10,000 pinging connections); libev's epoll costs ~3%. The loop is ours,
 * not lws's, so that SIGTERM/SIGINT can break it and the relay stops
 * cleanly. libev's types stay inside event_loop.c: its names (ev_run,
 * ev_signal...) would clash with common/ev.h, localproxy's own loop. */
#ifndef RELAY_EVENT_LOOP_H
#define RELAY_EVENT_LOOP_H

#include <stdbool.h>
#include <stddef.h>

struct relay_loop;

/* The Debian package that holds lws's libev plugin, named in errors. */
#define RELAY_EVLIB_PACKAGE "libwebsockets-evlib-ev"

/* Checks that lws's libev plugin can be loaded, then makes the loop.
 * Returns NULL with err filled (naming the missing package) on failure. */
struct relay_loop *relay_loop_new(char *err, size_t cap);
/* What lws_context_creation_info.foreign_loops takes: an array of one. */
void **relay_loop_foreign(struct relay_loop *loop);
/* Runs the loop until SIGINT or SIGTERM (SIGPIPE is ignored). Returns the
 * signal that stopped it, or 0 if the loop ran out of watchers. */
int relay_loop_run(struct relay_loop *loop);
/* Runs what is ready without blocking (lets lws finish a destroy). */
void relay_loop_run_nowait(struct relay_loop *loop);
void relay_loop_free(struct relay_loop *loop);

/* cb(arg) runs each time the loop is about to wait for events (libev's
 * prepare): work queued by callbacks in this round gets done before the
 * loop sleeps. One hook per loop; 0, or -1 if one is set already. */
int relay_loop_before_wait(struct relay_loop *loop, void (*cb)(void *arg), void *arg);

/* A descriptor the loop watches for the relay's own I/O beside lws (the
 * browser terminals' helper pipes): cb(arg) runs when fd is readable (or
 * writable, with write true). Made stopped; NULL when out of memory. */
struct relay_fd_watch;
struct relay_fd_watch *relay_fd_watch_new(struct relay_loop *loop, int fd, bool write,
					  void (*cb)(void *arg), void *arg);
/* The same for both directions: cb says which happened. Made stopped
 * (relay_fd_watch_want starts it). */
struct relay_fd_watch *relay_fd_watch_new_rw(struct relay_loop *loop, int fd,
					     void (*cb)(void *arg, bool readable, bool writable),
					     void *arg);
/* Starts (on) or stops watching; either twice is harmless. */
void relay_fd_watch_set(struct relay_fd_watch *w, bool on);
/* Watches for readable, writable, both, or (neither) stops. */
void relay_fd_watch_want(struct relay_fd_watch *w, bool read, bool write);
/* Stops and frees (the descriptor stays open). NULL does nothing. */
void relay_fd_watch_free(struct relay_fd_watch *w);

#endif
