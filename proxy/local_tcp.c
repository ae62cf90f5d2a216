/* The local TCP side: source listeners, destination dials, and moving bytes
 * between local sockets and the tunnel with bounded queues. Local sockets
 * are libwebsockets raw sockets in the same event loop as the tunnel. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "common/io.h"
#include "common/log.h"
#include "proxy/proxy.h"

/* Most bytes handed to one local socket per writeable event. */
#define LOCAL_WRITE_CHUNK (64u * 1024u)

static struct proxy *proxy_of(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

static void set_ws_rx(struct proxy *p, bool enable)
{
	if (p->ws_rx_paused == !enable)
		return;
	p->ws_rx_paused = !enable;
	log_debug("%s reading the tunnel (%zu local queue(s) over %u KiB)", enable ? "resuming" : "pausing",
		  p->n_local_over_high, LOCAL_QUEUE_HIGH / 1024);
	if (p->connected)
		ws_client_pause_rx(p->wc, !enable);
}

void local_queue_drained(struct local_conn *c)
{
	struct proxy *p = c->proxy;
	if (p->n_local_over_high > 0)
		p->n_local_over_high--;
	if (p->n_local_over_high == 0)
		set_ws_rx(p, true);
}

/* send() without blocking: the bytes taken, 0 when the socket is full, -1
 * on an error (errno set). */
static ssize_t send_now(struct local_conn *c, const uint8_t *data, size_t len)
{
	ssize_t n = send(lws_get_socket_fd(c->wsi), data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0 && io_try_again(errno))
		return 0;
	return n;
}

void local_send(struct local_conn *c, const uint8_t *data, size_t len)
{
	if (c->ending)
		return;
	if (c->connected && bytequeue_len(&c->to_local) == 0) {
		/* Usually the socket takes it all now: no copy, no extra poll. An
		 * error is left to the writeable callback, which closes the socket. */
		ssize_t n = send_now(c, data, len);
		if (n > 0) {
			data += n;
			len -= (size_t)n;
		}
		if (len == 0)
			return;
	}
	if (bytequeue_append(&c->to_local, data, len)) {
		log_error("out of memory queueing data for a local connection; closing it");
		local_end(c);
		return;
	}
	if (!c->over_high && bytequeue_len(&c->to_local) > LOCAL_QUEUE_HIGH) {
		/* A slow local reader: stop reading the tunnel until it catches up. */
		c->over_high = true;
		c->proxy->n_local_over_high++;
		set_ws_rx(c->proxy, false);
	}
	if (c->connected)
		lws_callback_on_writable(c->wsi);
}

void local_end(struct local_conn *c)
{
	c->ending = true;
	if (!c->wsi) {
		conn_remove(c->proxy, c);
		return;
	}
	if (c->connected) {
		lws_rx_flow_control(c->wsi, 0);
		lws_callback_on_writable(c->wsi); /* flushes, then closes */
	}
	/* else: a dial in flight; it closes as soon as it completes or fails. */
}

static void resolve_bind(const char *bind, char *out, size_t cap)
{
	/* lws wants an address or an interface name; "localhost" is neither. */
	snprintf(out, cap, "%s", strcmp(bind, "localhost") ? bind : "127.0.0.1");
}

int local_listen(struct proxy *p, size_t entry)
{
	struct mapping_entry *e = &p->mapping.entry[entry];
	char iface[HOSTPORT_MAX_HOST];
	resolve_bind(p->opt->bind_address, iface, sizeof(iface));
	struct lws_protocols const *protocols[] = { &local_tcp_protocol, NULL };
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	char name[32];
	snprintf(name, sizeof(name), "listen-%zu", entry);
	info.vhost_name = name;
	info.port = e->listen_port;
	info.iface = iface;
	info.pprotocols = protocols;
	info.options = LWS_SERVER_OPTION_ADOPT_APPLY_LISTEN_ACCEPT_CONFIG;
	if (!strchr(iface, ':'))
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	info.listen_accept_role = "raw-skt";
	info.listen_accept_protocol = "local-tcp";
	info.user = e;
	p->listeners[entry] = lws_create_vhost(p->ctx, &info);
	if (!p->listeners[entry]) {
		log_error("cannot listen on %s:%d (port in use or address not local?)", iface, e->listen_port);
		return -1;
	}
	return 0;
}

int local_connect(struct proxy *p, struct local_conn *c)
{
	const struct mapping_entry *e = &p->mapping.entry[p->services[c->service].entry];
	char unix_address[MAPPING_MAX_UNIX_PATH + 2];
	struct lws_client_connect_info ci;
	memset(&ci, 0, sizeof(ci));
	ci.context = p->ctx;
	ci.vhost = p->client_vhost;
	ci.method = "RAW";
	ci.local_protocol_name = "local-tcp";
	ci.opaque_user_data = c;
	if (e->unix_path[0]) {
		snprintf(unix_address, sizeof(unix_address), "+%s", e->unix_path); /* lws: '+' = Unix socket */
		ci.address = unix_address;
	} else {
		ci.address = e->target.host;
		ci.port = e->target.port;
	}
	ci.host = ci.address;
	ci.pwsi = &c->wsi;
	/* lws may report a failure from inside this call: the error callback
	 * then only marks the connection, and we report it here. */
	c->dialing = true;
	struct lws *wsi = lws_client_connect_via_info(&ci);
	c->dialing = false;
	if (!wsi || c->dial_failed) {
		c->wsi = NULL;
		return -1;
	}
	return 0;
}

static const char *target_text(struct proxy *p, struct local_conn *c, char *buf, size_t cap)
{
	const struct mapping_entry *e = &p->mapping.entry[p->services[c->service].entry];
	if (e->unix_path[0])
		snprintf(buf, cap, "%s", e->unix_path);
	else
		snprintf(buf, cap, "%s:%d", e->target.host, e->target.port);
	return buf;
}

/* Writes what the socket takes now, without blocking. We do not use
 * lws_write here: on a short write it keeps the rest itself and, while it
 * holds any, stops reading that socket. A local service that answers as it
 * reads (an echo, ssh) then deadlocks against us: it cannot read because its
 * replies are not read. Our queue keeps the rest instead, bounded as ever. */
static int on_writeable(struct local_conn *c)
{
	size_t len = bytequeue_len(&c->to_local);
	if (len > LOCAL_WRITE_CHUNK)
		len = LOCAL_WRITE_CHUNK;
	ssize_t n = len ? send_now(c, bytequeue_peek(&c->to_local), len) : 0;
	if (n < 0) {
		log_debug("service %s: connection %u of stream %d: write failed: %s",
			  c->proxy->services[c->service].id, c->connection_id, c->stream_id,
			  strerror(errno));
		return -1;
	}
	bytequeue_consume(&c->to_local, (size_t)n);
	if (c->over_high && bytequeue_len(&c->to_local) < LOCAL_QUEUE_LOW) {
		c->over_high = false;
		local_queue_drained(c);
	}
	if (bytequeue_len(&c->to_local))
		lws_callback_on_writable(c->wsi);
	else if (c->ending)
		return -1; /* flushed: close */
	return 0;
}

static void on_closed(struct proxy *p, struct local_conn *c)
{
	log_debug("service %s: connection %u of stream %d closed", p->services[c->service].id,
		  c->connection_id, c->stream_id);
	if (!c->peer_knows && p->ready)
		tunnel_send_conn_reset(p, c);
	conn_remove(p, c);
}

static int local_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			  void *in, size_t len)
{
	struct proxy *p = proxy_of(wsi);
	struct local_conn *c = lws_get_opaque_user_data(wsi);
	char where[MAPPING_MAX_UNIX_PATH + 16];
	switch (reason) {
	case LWS_CALLBACK_RAW_ADOPT: {
		/* Source: a local client connected to one of our listeners. */
		const struct mapping_entry *e = lws_vhost_user(lws_get_vhost(wsi));
		c = source_on_accept(p, (size_t)(e - p->mapping.entry));
		if (!c)
			return -1;
		c->wsi = wsi;
		c->connected = true;
		lws_set_opaque_user_data(wsi, c);
		return 0;
	}
	case LWS_CALLBACK_RAW_CONNECTED:
		if (!c)
			return -1;
		c->connected = true;
		if (c->ending && !bytequeue_len(&c->to_local))
			return -1;
		log_debug("service %s: connection %u of stream %d connected to %s",
			  p->services[c->service].id, c->connection_id, c->stream_id,
			  target_text(p, c, where, sizeof(where)));
		if (bytequeue_len(&c->to_local))
			lws_callback_on_writable(wsi);
		return 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (!c)
			return 0;
		lws_set_opaque_user_data(wsi, NULL);
		c->wsi = NULL;
		c->dial_failed = true;
		log_warn("service %s: cannot connect to %s: %.*s", p->services[c->service].id,
			 target_text(p, c, where, sizeof(where)), in ? (int)len : 17,
			 in ? (const char *)in : "connection failed");
		if (!c->dialing)
			destination_on_connect_failed(p, c);
		return 0;
	case LWS_CALLBACK_RAW_RX:
		if (c && !c->ending && p->ready)
			tunnel_send_data(p, c, in, len);
		return 0;
	case LWS_CALLBACK_RAW_WRITEABLE:
		return c ? on_writeable(c) : 0;
	case LWS_CALLBACK_RAW_CLOSE:
		if (c) {
			lws_set_opaque_user_data(wsi, NULL);
			on_closed(p, c);
		}
		return 0;
	default:
		return 0;
	}
}

const struct lws_protocols local_tcp_protocol = {
	"local-tcp", local_callback, 0, LOCAL_READ_SIZE, 0, NULL, 0
};
