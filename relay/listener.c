#include "relay/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/tcp_liveness.h"
#include "relay/event_loop.h"
#include "relay/metrics.h"
#include "relay/proxy_header.h"

/* Accepts per readable event: others wait for the next turn of the loop,
 * so a flood of connections cannot starve the tunnels. */
#define ACCEPTS_PER_EVENT 64
#define REFUSAL_LOG_INTERVAL_MS 1000
/* What lws's own accept sets (server.c's ka_time 60 + 3 probes x 10 s). */
#define KEEPALIVE_SECONDS 90

/* A connection waiting for its PROXY header. */
struct pending {
	struct listener *owner;
	int fd;
	struct relay_fd_watch *watch;
	int64_t deadline_ms;
	size_t have;                     /* header bytes read (consumed) so far */
	uint8_t buf[PROXY_HEADER_MAX];
	char peer[PROXY_ADDRESS_MAX];    /* the socket's peer: the balancer */
};

struct listener {
	struct listener_config cfg;
	int fd;
	struct relay_fd_watch *watch;
	bool paused;                     /* out of descriptors: until the next tick */
	struct pending *pending[LISTENER_MAX_PENDING];
	size_t n_pending;
	int64_t refusal_logged_ms;       /* the last refusal logged */
	uint64_t refusals_unlogged;      /* since then */
};

/* ---- the listening socket ------------------------------------------------- */

static int listen_on(const struct addrinfo *ai, bool dual_stack, char *err, size_t cap)
{
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, cap, "socket: %s", strerror(errno));
		return -1;
	}
	int one = 1, zero = 0;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (dual_stack && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero))) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, SOMAXCONN)) {
		snprintf(err, cap, "%s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* As lws listens: a given address as it is; none, the IPv6 wildcard
 * taking IPv4 too, or the IPv4 one where the host has no IPv6. */
static int open_socket(const char *bind_to, int port, char *err, size_t cap)
{
	char service[8];
	snprintf(service, sizeof(service), "%d", port);
	static const int any_families[] = { AF_INET6, AF_INET };
	for (size_t i = 0; i < (bind_to ? 1 : 2); i++) {
		struct addrinfo hints, *res = NULL;
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = bind_to ? AF_UNSPEC : any_families[i];
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_PASSIVE;
		int rc = getaddrinfo(bind_to, service, &hints, &res);
		if (rc) {
			snprintf(err, cap, "%s: %s", bind_to ? bind_to : "*", gai_strerror(rc));
			continue;
		}
		int fd = listen_on(res, !bind_to && res->ai_family == AF_INET6, err, cap);
		freeaddrinfo(res);
		if (fd >= 0)
			return fd;
	}
	return -1;
}

/* ---- waiting connections ------------------------------------------------- */

static void peer_text(const struct sockaddr_storage *ss, char out[PROXY_ADDRESS_MAX])
{
	const void *a = NULL;
	int family = ss->ss_family;
	if (family == AF_INET) {
		a = &((const struct sockaddr_in *)ss)->sin_addr;
	} else if (family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)ss)->sin6_addr;
		a = a6;
		if (IN6_IS_ADDR_V4MAPPED(a6)) { /* the IPv4 client of a dual-stack socket */
			family = AF_INET;
			a = a6->s6_addr + 12;
		}
	}
	if (!a || !inet_ntop(family, a, out, PROXY_ADDRESS_MAX))
		snprintf(out, PROXY_ADDRESS_MAX, "?");
}

/* Closes and forgets p (the descriptor too unless lws has it now). */
static void drop(struct pending *p, bool close_fd)
{
	struct listener *l = p->owner;
	relay_fd_watch_free(p->watch);
	if (close_fd)
		close(p->fd);
	for (size_t i = 0; i < l->n_pending; i++) {
		if (l->pending[i] == p) {
			l->pending[i] = l->pending[--l->n_pending];
			break;
		}
	}
	l->cfg.counted(l->cfg.arg, false);
	free(p);
}

/* A connection closed for want of a good header: counted always, logged
 * once a second at most (a scanner must not flood the log). */
static void refuse(struct pending *p, const char *why)
{
	struct listener *l = p->owner;
	l->cfg.metrics->proxy_header_refused++;
	int64_t now = now_ms();
	if (now - l->refusal_logged_ms >= REFUSAL_LOG_INTERVAL_MS) {
		if (l->refusals_unlogged)
			log_warn("closed a connection from %s: %s (and %llu more since the last such "
				 "line, not logged)", p->peer, why,
				 (unsigned long long)l->refusals_unlogged);
		else
			log_warn("closed a connection from %s: %s", p->peer, why);
		l->refusal_logged_ms = now;
		l->refusals_unlogged = 0;
	} else {
		l->refusals_unlogged++;
	}
	drop(p, true);
}

/* The header is read: lws takes the descriptor, TLS and all. */
static void adopt(struct pending *p, const struct proxy_header *h)
{
	struct listener *l = p->owner;
	char *client = strdup(h->address[0] ? h->address : p->peer);
	if (!client) {
		log_error("out of memory: closing a connection from %s", p->peer);
		drop(p, true);
		return;
	}
	log_debug("PROXY header from %s: client %s", p->peer, client);
	lws_adopt_desc_t info;
	memset(&info, 0, sizeof(info));
	info.vh = l->cfg.vhost;
	info.type = LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP | LWS_ADOPT_ALLOW_SSL;
	info.fd.sockfd = p->fd;
	/* Ours no more: lws counts it (WSI_CREATE) and watches it from here. */
	drop(p, false);
	/* The address is set once the wsi exists: on failure lws frees the
	 * wsi (and closes the descriptor) without telling WSI_DESTROY of an
	 * opaque pointer we would then free twice. */
	struct lws *wsi = lws_adopt_descriptor_vhost_via_info(&info);
	if (!wsi) {
		log_warn("lws could not take the connection of %s; closed", client);
		free(client);
		return;
	}
	lws_set_opaque_user_data(wsi, client);
}

static void on_pending_readable(void *arg)
{
	struct pending *p = arg;
	/* Peek: bytes past the header (the ClientHello) must stay for lws. */
	ssize_t n = recv(p->fd, p->buf + p->have, sizeof(p->buf) - p->have, MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		log_debug("a connection from %s closed before its PROXY header", p->peer);
		drop(p, true);
		return;
	}
	struct proxy_header h;
	proxy_header_parse(p->buf, p->have + (size_t)n, &h);
	if (h.verdict == PROXY_INVALID) {
		refuse(p, h.why);
		return;
	}
	/* All that was peeked is header when more is needed; else exactly
	 * the header's rest. Taking them out keeps the socket from staying
	 * readable with the same bytes (the loop would spin). */
	size_t take = h.verdict == PROXY_DONE ? h.length - p->have : (size_t)n;
	ssize_t got = recv(p->fd, p->buf + p->have, take, 0);
	if (got != (ssize_t)take) {
		log_debug("a connection from %s: reading its PROXY header: %s", p->peer,
			  got < 0 ? strerror(errno) : "cut short");
		drop(p, true);
		return;
	}
	p->have += take;
	if (h.verdict == PROXY_DONE)
		adopt(p, &h);
}

/* The socket options lws gives the connections it accepts itself: no
 * Nagle delay (a keystroke is one small frame), keepalive. */
static void set_socket_options(int fd)
{
	int one = 1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ||
	    tcp_set_liveness(fd, KEEPALIVE_SECONDS))
		log_debug("setting a new connection's TCP options: %s", strerror(errno));
}

static void take_connection(struct listener *l, int fd, const struct sockaddr_storage *ss)
{
	if (l->cfg.full(l->cfg.arg) || l->n_pending == LISTENER_MAX_PENDING) {
		/* Closed on arrival, as lws does when full: the backlog drains. */
		close(fd);
		if (l->n_pending == LISTENER_MAX_PENDING)
			l->cfg.metrics->proxy_header_refused++;
		return;
	}
	struct pending *p = calloc(1, sizeof(*p));
	if (p)
		p->watch = relay_fd_watch_new(l->cfg.loop, fd, false, on_pending_readable, p);
	if (!p || !p->watch) {
		log_error("out of memory: closing a new connection");
		free(p);
		close(fd);
		return;
	}
	set_socket_options(fd);
	p->owner = l;
	p->fd = fd;
	p->deadline_ms = now_ms() + LISTENER_HEADER_TIMEOUT_MS;
	peer_text(ss, p->peer);
	l->pending[l->n_pending++] = p;
	l->cfg.counted(l->cfg.arg, true);
	relay_fd_watch_set(p->watch, true);
}

static void on_listen_readable(void *arg)
{
	struct listener *l = arg;
	for (int i = 0; i < ACCEPTS_PER_EVENT; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			take_connection(l, fd, &ss);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* The connection stays in the backlog and the socket
			 * readable: stop watching it until the next tick. */
			log_warn("accept: %s; accepting again in a second", strerror(errno));
			l->paused = true;
			relay_fd_watch_set(l->watch, false);
		} else if (errno != EAGAIN && errno != EWOULDBLOCK) {
			log_error("accept: %s", strerror(errno));
		}
		return;
	}
}

/* ---- the listener --------------------------------------------------------- */

struct listener *listener_start(const struct listener_config *cfg, char *err, size_t cap)
{
	struct listener *l = calloc(1, sizeof(*l));
	if (!l) {
		snprintf(err, cap, "out of memory");
		return NULL;
	}
	l->cfg = *cfg;
	l->refusal_logged_ms = now_ms() - REFUSAL_LOG_INTERVAL_MS;
	char why[256];
	l->fd = open_socket(cfg->bind, cfg->port, why, sizeof(why));
	if (l->fd < 0) {
		snprintf(err, cap, "cannot listen on %s:%d: %s", cfg->bind ? cfg->bind : "*",
			 cfg->port, why);
		free(l);
		return NULL;
	}
	l->watch = relay_fd_watch_new(cfg->loop, l->fd, false, on_listen_readable, l);
	if (!l->watch) {
		snprintf(err, cap, "out of memory");
		close(l->fd);
		free(l);
		return NULL;
	}
	relay_fd_watch_set(l->watch, true);
	return l;
}

void listener_tick(struct listener *l, int64_t now)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n_pending;) {
		struct pending *p = l->pending[i];
		if (p->deadline_ms > now) {
			i++;
			continue;
		}
		/* refuse() moves the last one into slot i: look at i again. */
		refuse(p, p->have ? "its PROXY header did not come whole within 5 s"
				  : "no PROXY header within 5 s");
	}
	if (l->paused) {
		l->paused = false;
		relay_fd_watch_set(l->watch, true);
	}
}

void listener_free(struct listener *l)
{
	if (!l)
		return;
	while (l->n_pending)
		drop(l->pending[0], true);
	relay_fd_watch_free(l->watch);
	close(l->fd);
	free(l);
}

const char *listener_client_address(struct lws *wsi)
{
	return lws_get_opaque_user_data(wsi);
}

void listener_forget(struct lws *wsi)
{
	char *client = lws_get_opaque_user_data(wsi);
	if (client) {
		lws_set_opaque_user_data(wsi, NULL);
		free(client);
	}
}
