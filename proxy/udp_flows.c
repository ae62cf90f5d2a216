#include "proxy/udp_flows.h"

#include <netinet/in.h>
#include <string.h>

void udp_flows_init(struct udp_flows *t)
{
	memset(t, 0, sizeof(*t));
}

/* Same family, address and port (sockaddr padding is not compared). */
static bool same_address(const struct sockaddr_storage *a, const struct sockaddr *b)
{
	if (a->ss_family != b->sa_family)
		return false;
	if (b->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)a;
		const struct sockaddr_in *y = (const struct sockaddr_in *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
	const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)b;
	return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
	       !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
}

static bool is_ip(const struct sockaddr *addr, socklen_t len)
{
	return (addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) ||
	       (addr->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6));
}

int udp_flows_find(const struct udp_flows *t, const struct sockaddr *addr, socklen_t len)
{
	if (!is_ip(addr, len))
		return -1;
	for (int i = 0; i < UDP_FLOWS_MAX; i++)
		if (t->used[i] && same_address(&t->addr[i], addr))
			return i;
	return -1;
}

int udp_flows_add(struct udp_flows *t, const struct sockaddr *addr, socklen_t len, uint64_t now_us)
{
	if (!is_ip(addr, len) || len > (socklen_t)sizeof(t->addr[0]))
		return -1;
	for (int i = 0; i < UDP_FLOWS_MAX; i++) {
		if (t->used[i])
			continue;
		memset(&t->addr[i], 0, sizeof(t->addr[i]));
		memcpy(&t->addr[i], addr, len);
		t->addr_len[i] = len;
		t->last_us[i] = now_us;
		t->used[i] = true;
		return i;
	}
	return -1;
}

void udp_flows_touch(struct udp_flows *t, int slot, uint64_t now_us)
{
	t->last_us[slot] = now_us;
}

void udp_flows_remove(struct udp_flows *t, int slot)
{
	t->used[slot] = false;
}

bool udp_flows_idle(const struct udp_flows *t, int slot, uint64_t now_us, uint64_t idle_us)
{
	return t->used[slot] && now_us - t->last_us[slot] >= idle_us;
}
