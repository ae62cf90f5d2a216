/* Noticing a dead path under a TCP connection (a NAT that forgot it, a link
 * that went down) within about a minute, without cutting a peer that is
 * alive but has stopped reading (backpressure, a stopped process): that
 * peer's kernel keeps ACKing our zero-window probes, a dead path ACKs
 * nothing.
 *
 * Why not TCP_USER_TIMEOUT: since Linux 5.11 it also aborts a connection
 * whose peer answers every zero-window probe once the window has stayed
 * shut for that long (checked on 6.18: a 3 s user timeout killed a
 * connection to a live, non-reading peer after 3.6 s). So we use keepalive
 * for an idle path, and TCP_INFO, polled, for a path with data or probes
 * outstanding. */
#ifndef COMMON_TCP_LIVENESS_H
#define COMMON_TCP_LIVENESS_H

#include <stdbool.h>
#include <stdint.h>

/* The silence after which a path with something outstanding counts as dead;
 * both the relay and localproxy use it. Poll tcp_path_dead() every few
 * seconds (at most a third of this). */
#define TCP_LIVENESS_SECONDS 45

/* What TCP_INFO says about the peer's answers. */
struct tcp_liveness_view {
	uint32_t unacked;          /* segments sent and not yet ACKed */
	uint32_t probes;           /* zero-window or keepalive probes without answer */
	uint32_t last_ack_ms;      /* since the last ACK from the peer */
};

/* Keepalive tuned so that an idle dead path is dropped by the kernel after
 * about `seconds`. 0, or -1 with errno. */
int tcp_set_liveness(int fd, int seconds);

/* The verdict: dead when something waits for an answer (data in flight, or
 * two probes in a row unanswered: a live peer answers each one, which
 * resets the count) and nothing was ACKed for `seconds`. */
bool tcp_liveness_dead(const struct tcp_liveness_view *v, int seconds);

/* tcp_liveness_dead() on this socket's TCP_INFO; false when it cannot be
 * read (then the kernel's own timeouts still apply). */
bool tcp_path_dead(int fd, int seconds);

#endif
