#include "relay/peer_liveness.h"

#include <errno.h>
#include <libwebsockets.h>
#include <string.h>

#include "common/log.h"
#include "common/tcp_liveness.h"

void peer_liveness_start(struct lws *wsi, const char *addr)
{
	if (tcp_set_liveness(lws_get_socket_fd(wsi), TCP_LIVENESS_SECONDS) < 0)
		log_debug("%s: TCP keepalive: %s", addr, strerror(errno));
}

void peer_liveness_check(void *wsi, const char *who, void *unused)
{
	/* A peer that stopped reading still ACKs our probes: only silence counts. */
	if (!tcp_path_dead(lws_get_socket_fd(wsi), TCP_LIVENESS_SECONDS))
		return;
	log_warn("%s: no ACK for %d s with data or probes outstanding: dead path; dropping the connection",
		 who, TCP_LIVENESS_SECONDS);
	/* Not now: the caller is walking the connections. */
	lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
}
