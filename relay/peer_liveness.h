/* The relay's use of common/tcp_liveness.h on its WebSocket connections. */
#ifndef RELAY_PEER_LIVENESS_H
#define RELAY_PEER_LIVENESS_H

/* How often the server sweeps every connection: a third of
 * TCP_LIVENESS_SECONDS at most, so a dead path is dropped 45-50 s after its
 * last ACK. One sweep from the server's tick, not a timer per connection:
 * lws inserts each timer into one sorted list by a linear walk, which at
 * 10,000 connections re-armed every 5 s cost more than everything else an
 * idle relay does. */
#define PEER_LIVENESS_POLL_S 5

struct lws;

/* On a new connection: keepalive for an idle dead path. addr names the
 * peer in the log. */
void peer_liveness_start(struct lws *wsi, const char *addr);

/* For dataplane_each_peer every PEER_LIVENESS_POLL_S: a connection whose
 * path is dead is logged and closed on lws's next pass. */
void peer_liveness_check(void *wsi, const char *who, void *unused);

#endif
