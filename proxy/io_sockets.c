/* struct proxy_io on real sockets (see io_sockets.h). */
#include "proxy/io_sockets.h"

#include <limits.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "common/log.h"
#include "proxy/local_stdio.h"

static void on_connected(void *user)
{
	destination_on_connected(user);
}

static void on_connect_failed(void *user, const char *why)
{
	destination_on_connect_failed(user, why);
}

static void on_data(void *user, const uint8_t *data, size_t len)
{
	conn_on_local_data(user, data, len);
}

static void on_queue_mark(void *user, bool over)
{
	conn_on_local_mark(user, over);
}

static void on_closed(void *user)
{
	conn_on_local_closed(user);
}

/* stdin/stdout is the program's one connection: its end ends the program. */
static void on_stdio_closed(void *user)
{
	struct local_conn *c = user;
	struct proxy *p = c->proxy;
	conn_on_local_closed(c);
	log_info("the connection on stdin/stdout ended");
	proxy_exit(p, 0);
}

static enum mapping_kind kind_of(const struct local_conn *c)
{
	const struct proxy *p = c->proxy;
	return p->mapping.entry[p->services[c->service].entry].kind;
}

static struct local_sock_handler handler_for(struct local_conn *c)
{
	struct local_sock_handler h = {
		.user = c,
		.on_connected = on_connected,
		.on_connect_failed = on_connect_failed,
		.on_data = on_data,
		.on_queue_mark = on_queue_mark,
		.on_closed = on_closed,
		.queue_high = LOCAL_QUEUE_HIGH,
		.queue_low = LOCAL_QUEUE_LOW,
		.read_max = LOCAL_READ_SIZE,
	};
	return h;
}

static void on_udp_flow(void *user, struct local_udp *u, const struct sockaddr *addr, socklen_t len)
{
	struct io_listener *l = user;
	struct local_conn *c = source_on_accept(l->owner->p, l->entry);
	if (!c)
		return;
	struct local_sock_handler h = handler_for(c);
	c->sock = local_udp_flow_open(u, addr, len, &h);
	if (!c->sock)
		conn_on_local_closed(c);
}

/* The one connection on stdin/stdout, made as the tunnel becomes ready. */
static int open_stdio(struct io_listener *l)
{
	if (l->stdio_taken)
		return 0;
	l->stdio_taken = true;
	struct local_conn *c = source_on_accept(l->owner->p, l->entry);
	if (!c)
		return -1;
	struct local_sock_handler h = handler_for(c);
	h.on_closed = on_stdio_closed;
	c->sock = local_stdio_open(l->owner->loop, STDIN_FILENO, STDOUT_FILENO, &h);
	if (!c->sock) {
		conn_on_local_closed(c);
		return -1;
	}
	return 0;
}

static void on_accept(void *user, int fd)
{
	struct io_listener *l = user;
	struct local_conn *c = source_on_accept(l->owner->p, l->entry);
	if (!c) {
		close(fd);
		return;
	}
	struct local_sock_handler h = handler_for(c);
	c->sock = local_sock_adopt(l->owner->loop, fd, &h);
	if (!c->sock) {
		log_error("cannot add a local connection to the event loop");
		conn_on_local_closed(c);
	}
}

static int io_listen(void *user, size_t entry)
{
	struct io_sockets *s = user;
	struct io_listener *l = &s->listeners[entry];
	if (l->l || l->udp)
		return 0;
	const struct mapping_entry *e = &s->p->mapping.entry[entry];
	switch (e->kind) {
	case MAPPING_STDIO:
		return open_stdio(l);
	case MAPPING_UDP:
		l->udp = local_udp_listen(s->loop, s->p->opt->bind_address, e->listen_port, LOCAL_READ_SIZE,
					  (uint64_t)s->p->opt->udp_idle_s * 1000000u, on_udp_flow, l);
		return l->udp ? 0 : -1;
	case MAPPING_UNIX:
		l->l = local_listener_open_unix(s->loop, e->unix_path, on_accept, l);
		break;
	case MAPPING_TCP:
		l->l = local_listener_open(s->loop, s->p->opt->bind_address, e->listen_port, on_accept, l);
		break;
	}
	return l->l ? 0 : -1;
}

static int io_dial(void *user, struct local_conn *c, char *why, size_t why_cap)
{
	struct io_sockets *s = user;
	const struct mapping_entry *e = &s->p->mapping.entry[s->p->services[c->service].entry];
	struct local_sock_handler h = handler_for(c);
	if (e->kind == MAPPING_UDP)
		c->sock = local_udp_dial(s->loop, e->target.host, e->target.port, LOCAL_READ_SIZE,
					 (uint64_t)s->p->opt->udp_idle_s * 1000000u, &h, why, why_cap);
	else
		c->sock = local_sock_dial(s->loop, e->target.host, e->target.port,
					  e->kind == MAPPING_UNIX ? e->unix_path : "", &h, why, why_cap);
	return c->sock ? 0 : -1;
}

static int io_send(void *user, struct local_conn *c, const uint8_t *data, size_t len)
{
	switch (kind_of(c)) {
	case MAPPING_UDP: return local_udp_send(c->sock, data, len);
	case MAPPING_STDIO: return local_stdio_send(c->sock, data, len);
	default: return local_sock_send(c->sock, data, len);
	}
}

static void io_pause_read(void *user, struct local_conn *c, bool pause)
{
	switch (kind_of(c)) {
	case MAPPING_UDP: local_udp_pause_read(c->sock, pause); break;
	case MAPPING_STDIO: local_stdio_pause_read(c->sock, pause); break;
	default: local_sock_pause_read(c->sock, pause); break;
	}
}

static void io_end(void *user, struct local_conn *c)
{
	switch (kind_of(c)) {
	case MAPPING_UDP: local_udp_end(c->sock); break;
	case MAPPING_STDIO: local_stdio_end(c->sock); break;
	default: local_sock_end(c->sock); break;
	}
}

/* Closes c's socket at once, without callbacks. */
static void free_sock(struct local_conn *c)
{
	switch (kind_of(c)) {
	case MAPPING_UDP: local_udp_flow_free(c->sock); break;
	case MAPPING_STDIO: local_stdio_free(c->sock); break;
	default: local_sock_free(c->sock); break;
	}
	c->sock = NULL;
}

static void io_stop(void *user)
{
	struct io_sockets *s = user;
	ev_stop(s->loop);
}

static int io_random(void *user, uint8_t *buf, size_t len)
{
	(void)user;
	if (len > INT_MAX || RAND_bytes(buf, (int)len) != 1) {
		log_error("OpenSSL has no random bytes (RAND_bytes failed)");
		return -1;
	}
	return 0;
}

static void relay_want_write(void *user)
{
	struct io_sockets *s = user;
	ws_client_want_write(s->wc);
}

static size_t relay_sendv(void *user, const struct ws_piece *pieces, size_t n)
{
	struct io_sockets *s = user;
	return ws_client_sendv(s->wc, pieces, n);
}

static void relay_pause_rx(void *user, bool pause)
{
	struct io_sockets *s = user;
	ws_client_pause_rx(s->wc, pause);
}

void io_sockets_init(struct io_sockets *s, struct proxy *p, struct ev_loop *loop)
{
	s->p = p;
	s->loop = loop;
	s->wc = NULL;
	for (size_t i = 0; i < TUNNEL_MAX_SERVICES; i++)
		s->listeners[i] = (struct io_listener){ .owner = s, .entry = i };
	s->io = (struct proxy_io){
		.user = s,
		.relay_want_write = relay_want_write,
		.relay_sendv = relay_sendv,
		.relay_pause_rx = relay_pause_rx,
		.listen = io_listen,
		.dial = io_dial,
		.send = io_send,
		.pause_read = io_pause_read,
		.end = io_end,
		.stop = io_stop,
		.random = io_random,
	};
	p->io = &s->io;
}

void io_sockets_close(struct io_sockets *s)
{
	for (size_t i = 0; i < s->p->max_conns; i++) {
		struct local_conn *c = conn_at(s->p, i);
		if (c && c->sock)
			free_sock(c);
	}
	for (size_t i = 0; i < TUNNEL_MAX_SERVICES; i++) {
		local_listener_close(s->listeners[i].l);
		s->listeners[i].l = NULL;
		local_udp_close(s->listeners[i].udp);
		s->listeners[i].udp = NULL;
	}
}
