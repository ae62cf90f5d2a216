#include "common/tcp_liveness.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

int tcp_set_liveness(int fd, int seconds)
{
	/* idle + intvl * cnt == about seconds: a third idle, then six probes. */
	int idle = seconds / 3 > 0 ? seconds / 3 : 1;
	int cnt = 6;
	int intvl = (seconds - idle) / cnt > 0 ? (seconds - idle) / cnt : 1;
	int on = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)) < 0)
		return -1;
	return 0;
}

bool tcp_liveness_dead(const struct tcp_liveness_view *v, int seconds)
{
	/* One unanswered probe is normal for an instant (sent, ACK on its way). */
	bool waiting = v->unacked > 0 || v->probes >= 2;
	return waiting && v->last_ack_ms >= (uint32_t)seconds * 1000u;
}

bool tcp_path_dead(int fd, int seconds)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
	    len < offsetof(struct tcp_info, tcpi_last_ack_recv) + sizeof(ti.tcpi_last_ack_recv))
		return false;
	struct tcp_liveness_view v = {
		.unacked = ti.tcpi_unacked,
		.probes = ti.tcpi_probes,
		.last_ack_ms = ti.tcpi_last_ack_recv,
	};
	return tcp_liveness_dead(&v, seconds);
}
