/* Local stream sockets on the event loop: listeners, accepted and dialled
 * TCP or Unix sockets, non-blocking, each with a bounded outgoing queue.
 * It knows nothing of tunnels: it reports to the handler it was given. */
#ifndef PROXY_LOCAL_SOCK_H
#define PROXY_LOCAL_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/ev.h"

/* What a socket reports. Every callback runs on the event loop. After
 * on_closed or on_connect_failed the socket is gone: forget it. */
struct local_sock_handler {
	void *user;
	/* A dial succeeded. */
	void (*on_connected)(void *user);
	/* A dial failed: why, for a log line. */
	void (*on_connect_failed)(void *user, const char *why);
	/* Bytes read (at most read_max per call). */
	void (*on_data)(void *user, const uint8_t *data, size_t len);
	/* The queue went above queue_high (over = true) or back below queue_low. */
	void (*on_queue_mark)(void *user, bool over);
	/* The socket closed: the peer ended, an error, or local_sock_end flushed. */
	void (*on_closed)(void *user);
	size_t queue_high, queue_low;
	size_t read_max;           /* at most LOCAL_SOCK_READ_MAX */
};

#define LOCAL_SOCK_READ_MAX (64u * 1024u)

struct local_sock;
struct local_listener;

/* Takes over an accepted, connected socket. NULL on error (fd closed). */
struct local_sock *local_sock_adopt(struct ev_loop *loop, int fd,
				    const struct local_sock_handler *h);
/* Dials host:port, or unix_path when it is not "". NULL when it failed at
 * once (why filled); else on_connected or on_connect_failed follows. */
struct local_sock *local_sock_dial(struct ev_loop *loop, const char *host, int port,
				   const char *unix_path, const struct local_sock_handler *h,
				   char *why, size_t why_cap);
/* Sends now what the socket takes and queues the rest. -1 when memory runs
 * out (nothing queued). */
int local_sock_send(struct local_sock *s, const uint8_t *data, size_t len);
/* Stops or resumes reading. */
void local_sock_pause_read(struct local_sock *s, bool pause);
/* Stops reading, writes what is queued, then closes (on_closed follows,
 * from the loop, never from inside this call). */
void local_sock_end(struct local_sock *s);
/* Closes at once, without callbacks (shutting down). */
void local_sock_free(struct local_sock *s);

/* Calls on_accept with each accepted socket's fd (non-blocking; the callee
 * owns it). bind_address: an address, "localhost" or "" (= 127.0.0.1). NULL on
 * error (logged). */
struct local_listener *local_listener_open(struct ev_loop *loop, const char *bind_address, int port,
					   void (*on_accept)(void *user, int fd), void *user);
/* The same on a Unix socket at path (an old socket there is replaced; the
 * path is removed on close). */
struct local_listener *local_listener_open_unix(struct ev_loop *loop, const char *path,
						void (*on_accept)(void *user, int fd), void *user);
void local_listener_close(struct local_listener *l);

#endif
