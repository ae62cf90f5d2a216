/* Local UDP sockets (see local_udp.h). One watcher per socket, reading one
 * datagram per event; one timer per socket that reports a dial, reaps
 * ended flows and ends idle ones, so that no callback runs inside a
 * caller's call. */
#include "proxy/local_udp.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/io.h"
#include "common/log.h"
#include "proxy/udp_flows.h"

#define UDP_RECEIVE_BUFFER (1024 * 1024)
/* How often idle flows are looked for, at most. */
#define SWEEP_US 1000000u

struct local_udp_flow {
	struct local_udp *owner;
	int slot;
	struct local_sock_handler h;
	bool paused, ending;
};

struct local_udp {
	struct ev_io io;
	struct ev_timer sweep;
	struct udp_flows table;
	struct local_udp_flow flow[UDP_FLOWS_MAX];
	bool dialled;              /* connected to one peer: flow 0 */
	bool reported_connected;
	size_t max_datagram;
	uint64_t idle_us;
	void (*on_flow)(void *user, struct local_udp *u, const struct sockaddr *addr, socklen_t len);
	void *user;
};

/* One more byte than a DATA message holds shows a datagram was too big. */
static uint8_t read_buf[LOCAL_SOCK_READ_MAX + 1];

static void free_socket(struct local_udp *u)
{
	ev_timer_stop(&u->sweep);
	ev_io_stop(&u->io);
	close(u->io.fd);
	free(u);
}

void local_udp_close(struct local_udp *u)
{
	if (u)
		free_socket(u);
}

static void reap(struct local_udp_flow *f)
{
	struct local_udp *u = f->owner;
	struct local_sock_handler h = f->h;
	udp_flows_remove(&u->table, f->slot);
	if (u->dialled)
		free_socket(u);
	h.on_closed(h.user);
}

void local_udp_flow_free(struct local_udp_flow *f)
{
	if (!f)
		return;
	udp_flows_remove(&f->owner->table, f->slot);
	if (f->owner->dialled)
		free_socket(f->owner);
}

static void on_sweep(struct ev_timer *t)
{
	struct local_udp *u = t->user;
	uint64_t now = ev_now_us(t->loop);
	if (u->dialled && !u->reported_connected) {
		u->reported_connected = true;
		u->flow[0].h.on_connected(u->flow[0].h.user);
	}
	for (int i = 0; i < UDP_FLOWS_MAX; i++) {
		struct local_udp_flow *f = &u->flow[i];
		if (!u->table.used[i] || !(f->ending || udp_flows_idle(&u->table, i, now, u->idle_us)))
			continue;
		if (!f->ending)
			log_debug("UDP flow idle for %llu s: ending it",
				  (unsigned long long)(u->idle_us / 1000000u));
		bool last = u->dialled;
		reap(f);
		if (last)
			return; /* u is gone */
	}
}

/* Runs the sweep in the next round (an end or a dial to report). */
static void sweep_soon(struct local_udp *u)
{
	uint64_t every = u->idle_us < SWEEP_US ? u->idle_us : SWEEP_US;
	if (ev_timer_start(&u->sweep, 0, every ? every : SWEEP_US))
		log_error("out of memory for a timer");
}

static struct local_udp_flow *flow_at(struct local_udp *u, int slot, const struct local_sock_handler *h)
{
	struct local_udp_flow *f = &u->flow[slot];
	*f = (struct local_udp_flow){ .owner = u, .slot = slot, .h = *h };
	return f;
}

struct local_udp_flow *local_udp_flow_open(struct local_udp *u, const struct sockaddr *addr,
					   socklen_t len, const struct local_sock_handler *h)
{
	int slot = udp_flows_add(&u->table, addr, len, ev_now_us(u->io.loop));
	return slot < 0 ? NULL : flow_at(u, slot, h);
}

static void on_readable(struct ev_io *w, unsigned events)
{
	struct local_udp *u = w->user;
	struct sockaddr_storage from;
	socklen_t from_len = sizeof(from);
	ssize_t n = recvfrom(w->fd, read_buf, sizeof(read_buf), MSG_DONTWAIT | MSG_TRUNC,
			     (struct sockaddr *)&from, &from_len);
	if (n < 0) {
		if (io_try_again(errno))
			return;
		/* A dialled socket hears of an unreachable peer (ICMP) here. */
		log_debug("UDP socket: %s", strerror(errno));
		if (u->dialled && u->table.used[0])
			local_udp_end(&u->flow[0]);
		return;
	}
	if ((size_t)n > u->max_datagram) {
		log_warn("dropping a %zd-byte UDP datagram: a tunnel message holds at most %zu bytes",
			 n, u->max_datagram);
		return;
	}
	int slot = u->dialled ? 0 : udp_flows_find(&u->table, (struct sockaddr *)&from, from_len);
	if (slot < 0) {
		u->on_flow(u->user, u, (struct sockaddr *)&from, from_len);
		slot = udp_flows_find(&u->table, (struct sockaddr *)&from, from_len);
		if (slot < 0)
			return; /* refused */
		sweep_soon(u);
	}
	if (!u->table.used[slot])
		return;
	struct local_udp_flow *f = &u->flow[slot];
	if (f->paused || f->ending) {
		log_debug("dropping a UDP datagram: its flow is %s", f->ending ? "ending" : "paused");
		return;
	}
	udp_flows_touch(&u->table, slot, ev_now_us(w->loop));
	f->h.on_data(f->h.user, read_buf, (size_t)n);
}

static struct local_udp *socket_new(struct ev_loop *loop, int fd, size_t max_datagram, uint64_t idle_us)
{
	struct local_udp *u = calloc(1, sizeof(*u));
	if (!u || ev_io_start(loop, &u->io, fd, EV_READ, on_readable, u)) {
		close(fd);
		free(u);
		return NULL;
	}
	udp_flows_init(&u->table);
	ev_timer_init(&u->sweep, loop, on_sweep, u);
	u->max_datagram = max_datagram < LOCAL_SOCK_READ_MAX ? max_datagram : LOCAL_SOCK_READ_MAX;
	u->idle_us = idle_us;
	return u;
}

/* A UDP socket for host:port's first address, bound (passive) or
 * connected; its address in *addr. -1 with why filled. */
static int udp_socket(const char *host, int port, bool passive, struct sockaddr_storage *addr,
		      socklen_t *addr_len, char *why, size_t why_cap)
{
	char service[16];
	snprintf(service, sizeof(service), "%d", port);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM,
				  .ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0) };
	struct addrinfo *a = NULL;
	int rc = getaddrinfo(host, service, &hints, &a);
	if (rc) {
		snprintf(why, why_cap, "cannot resolve %s: %s", host, gai_strerror(rc));
		return -1;
	}
	int fd = socket(a->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/* Room for a burst: every flow of a source shares this one socket,
	 * and what does not fit is dropped. Best effort (net.core.rmem_max). */
	int room = UDP_RECEIVE_BUFFER;
	if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &room, sizeof(room)) < 0)
		log_debug("SO_RCVBUF: %s", strerror(errno));
	if (fd < 0 || (passive ? bind(fd, a->ai_addr, a->ai_addrlen) : connect(fd, a->ai_addr, a->ai_addrlen)) < 0) {
		snprintf(why, why_cap, "%s", strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	} else {
		memcpy(addr, a->ai_addr, a->ai_addrlen);
		*addr_len = a->ai_addrlen;
	}
	freeaddrinfo(a);
	return fd;
}

struct local_udp *local_udp_listen(struct ev_loop *loop, const char *bind_address, int port,
				   size_t max_datagram, uint64_t idle_us,
				   void (*on_flow)(void *user, struct local_udp *u,
						   const struct sockaddr *addr, socklen_t len),
				   void *user)
{
	const char *host = !bind_address[0] || !strcmp(bind_address, "localhost") ? "127.0.0.1" : bind_address;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char why[128];
	int fd = udp_socket(host, port, true, &addr, &addr_len, why, sizeof(why));
	struct local_udp *u = fd >= 0 ? socket_new(loop, fd, max_datagram, idle_us) : NULL;
	if (!u) {
		log_error("cannot listen on udp:%s:%d: %s", host, port, fd >= 0 ? "out of memory" : why);
		return NULL;
	}
	u->on_flow = on_flow;
	u->user = user;
	return u;
}

struct local_udp_flow *local_udp_dial(struct ev_loop *loop, const char *host, int port,
				      size_t max_datagram, uint64_t idle_us,
				      const struct local_sock_handler *h, char *why, size_t why_cap)
{
	struct sockaddr_storage addr;
	socklen_t addr_len;
	int fd = udp_socket(host, port, false, &addr, &addr_len, why, why_cap);
	if (fd < 0)
		return NULL;
	struct local_udp *u = socket_new(loop, fd, max_datagram, idle_us);
	if (!u) {
		snprintf(why, why_cap, "out of memory");
		return NULL;
	}
	u->dialled = true;
	int slot = udp_flows_add(&u->table, (struct sockaddr *)&addr, addr_len, ev_now_us(loop));
	if (slot != 0) {
		snprintf(why, why_cap, "not an IP address");
		free_socket(u);
		return NULL;
	}
	sweep_soon(u); /* reports the dial */
	return flow_at(u, 0, h);
}

int local_udp_send(struct local_udp_flow *f, const uint8_t *data, size_t len)
{
	struct local_udp *u = f->owner;
	if (f->ending)
		return 0;
	const struct sockaddr *to = u->dialled ? NULL : (const struct sockaddr *)&u->table.addr[f->slot];
	ssize_t n = sendto(u->io.fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL, to,
			   to ? u->table.addr_len[f->slot] : 0);
	if (n < 0)
		log_debug("dropping a UDP datagram of %zu bytes: %s", len, strerror(errno));
	else
		udp_flows_touch(&u->table, f->slot, ev_now_us(u->io.loop));
	return 0;
}

void local_udp_pause_read(struct local_udp_flow *f, bool pause)
{
	f->paused = pause;
}

void local_udp_end(struct local_udp_flow *f)
{
	f->ending = true;
	sweep_soon(f->owner);
}
