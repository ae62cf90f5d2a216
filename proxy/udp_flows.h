/* The UDP flows of one socket: which client address is which flow, and
 * when a flow has been idle long enough to end. Pure (no I/O): the
 * caller passes the time. */
#ifndef PROXY_UDP_FLOWS_H
#define PROXY_UDP_FLOWS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* More than a tunnel's connections: the data plane refuses the rest. */
#define UDP_FLOWS_MAX 16

struct udp_flows {
	struct sockaddr_storage addr[UDP_FLOWS_MAX];
	socklen_t addr_len[UDP_FLOWS_MAX];
	uint64_t last_us[UDP_FLOWS_MAX]; /* the last datagram either way */
	bool used[UDP_FLOWS_MAX];
};

void udp_flows_init(struct udp_flows *t);
/* The slot of addr's flow, or -1. */
int udp_flows_find(const struct udp_flows *t, const struct sockaddr *addr, socklen_t len);
/* A new flow for addr (an IPv4 or IPv6 address), active at now_us: its
 * slot, or -1 when the table is full or addr is not IP. */
int udp_flows_add(struct udp_flows *t, const struct sockaddr *addr, socklen_t len, uint64_t now_us);
void udp_flows_touch(struct udp_flows *t, int slot, uint64_t now_us);
void udp_flows_remove(struct udp_flows *t, int slot);
/* True when the flow in slot saw no datagram for idle_us. */
bool udp_flows_idle(const struct udp_flows *t, int slot, uint64_t now_us, uint64_t idle_us);

#endif
