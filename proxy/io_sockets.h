/* The data plane's I/O (struct proxy_io) on real sockets: local stream
 * sockets (proxy/local_sock.c), UDP flows (proxy/local_udp.c), stdin and
 * stdout (proxy/local_stdio.c) and the relay's WebSocket (proxy/ws_client.c)
 * on one event loop. Which of them a connection has follows from its
 * mapping entry's kind. Their events go up to the data plane's event
 * functions. */
#ifndef PROXY_IO_SOCKETS_H
#define PROXY_IO_SOCKETS_H

#include "common/ev.h"
#include "proxy/local_sock.h"
#include "proxy/local_udp.h"
#include "proxy/proxy.h"

struct io_sockets;

struct io_listener {
	struct io_sockets *owner;
	size_t entry;              /* its mapping entry */
	struct local_listener *l;  /* TCP or Unix: NULL until it listens */
	struct local_udp *udp;     /* UDP: NULL until it listens */
	bool stdio_taken;          /* stdin/stdout: its one connection was made */
};

struct io_sockets {
	struct proxy *p;
	struct ev_loop *loop;
	struct ws_client *wc;      /* the relay's; set by the caller */
	struct io_listener listeners[TUNNEL_MAX_SERVICES];
	struct proxy_io io;
};

/* Fills s and points p->io at s->io. */
void io_sockets_init(struct io_sockets *s, struct proxy *p, struct ev_loop *loop);
/* Closes every local socket and listener at once, without callbacks. */
void io_sockets_close(struct io_sockets *s);

#endif
