/* Local UDP sockets on the event loop. A flow is one peer address and
 * stands for one connection: a source's bound socket has a flow per client
 * address (up to UDP_FLOWS_MAX), a destination's connected socket has one.
 * A datagram is never split nor queued: one on_data per datagram, one
 * datagram per send; those larger than max_datagram are dropped and logged.
 * Flows that see no datagram for idle_us end (on_closed). It reports to
 * the same handler as a stream socket (local_sock.h); on_queue_mark never
 * fires, since nothing is queued. */
#ifndef PROXY_LOCAL_UDP_H
#define PROXY_LOCAL_UDP_H

#include <sys/socket.h>

#include "proxy/local_sock.h"

struct local_udp;
struct local_udp_flow;

/* Binds bind_address:port (as local_listener_open). A datagram from a new
 * address calls on_flow, which may open its flow with local_udp_flow_open
 * (else the datagram is dropped). NULL on error (logged). */
struct local_udp *local_udp_listen(struct ev_loop *loop, const char *bind_address, int port,
				   size_t max_datagram, uint64_t idle_us,
				   void (*on_flow)(void *user, struct local_udp *u,
						   const struct sockaddr *addr, socklen_t len),
				   void *user);
/* Closes the socket and every flow, without callbacks. */
void local_udp_close(struct local_udp *u);
/* Only inside on_flow. NULL when the table is full. */
struct local_udp_flow *local_udp_flow_open(struct local_udp *u, const struct sockaddr *addr,
					   socklen_t len, const struct local_sock_handler *h);

/* A connected socket to host:port; on_connected follows from the loop.
 * NULL when it failed at once (why filled). */
struct local_udp_flow *local_udp_dial(struct ev_loop *loop, const char *host, int port,
				      size_t max_datagram, uint64_t idle_us,
				      const struct local_sock_handler *h, char *why, size_t why_cap);

/* One datagram to the flow's peer; dropped (0) when the socket is full. */
int local_udp_send(struct local_udp_flow *f, const uint8_t *data, size_t len);
/* Datagrams for a paused flow are dropped. */
void local_udp_pause_read(struct local_udp_flow *f, bool pause);
/* Ends the flow in the next round (on_closed). */
void local_udp_end(struct local_udp_flow *f);
/* Ends it at once without callbacks (a dialled flow closes its socket). */
void local_udp_flow_free(struct local_udp_flow *f);

#endif
