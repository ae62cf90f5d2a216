#include "relay/peer_liveness.h"

#include <errno.h>
#include <libwebsockets.h>
#include <string.h>

#include "common/log.h"
#include "common/tcp_liveness.h"

/* A third of TCP_LIVENESS_SECONDS at most: a dead path is dropped 45-50 s
 * after its last ACK. */
#define PEER_LIVENESS_POLL_US (5 * LWS_USEC_PER_SEC)

void peer_liveness_start(struct lws *wsi, const char *addr)
{
	if (tcp_set_liveness(lws_get_socket_fd(wsi), TCP_LIVENESS_SECONDS) < 0)
		log_debug("%s: TCP keepalive: %s", addr, strerror(errno));
	lws_set_timer_usecs(wsi, PEER_LIVENESS_POLL_US);
}

int peer_liveness_check(struct lws *wsi, const char *addr)
{
	/* A peer that stopped reading still ACKs our probes: only silence counts. */
	if (tcp_path_dead(lws_get_socket_fd(wsi), TCP_LIVENESS_SECONDS)) {
		log_warn("%s: no ACK for %d s with data or probes outstanding: dead path; dropping the connection",
			 addr, TCP_LIVENESS_SECONDS);
		return -1;
	}
	lws_set_timer_usecs(wsi, PEER_LIVENESS_POLL_US);
	return 0;
}
