/* What both modes do with a local connection once it exists: bytes both
 * ways, backpressure from slow local readers, and its end. */
#include "common/log.h"
#include "proxy/proxy.h"

void proxy_exit(struct proxy *p, int exit_code)
{
	p->exiting = true;
	p->exit_code = exit_code;
	p->io->stop(p->io->user);
}

/* Reading the relay stops while any local socket has too much queued. */
static void set_ws_rx(struct proxy *p, bool enable)
{
	if (p->ws_rx_paused == !enable)
		return;
	p->ws_rx_paused = !enable;
	log_debug("%s reading the tunnel (%zu local queue(s) over %u KiB)", enable ? "resuming" : "pausing",
		  p->n_local_over_high, LOCAL_QUEUE_HIGH / 1024);
	if (p->connected)
		p->io->relay_pause_rx(p->io->user, !enable);
}

void conn_on_local_mark(struct local_conn *c, bool over)
{
	struct proxy *p = c->proxy;
	if (c->over_high == over)
		return;
	c->over_high = over;
	if (over) {
		/* A slow local reader: stop reading the tunnel until it catches up. */
		p->n_local_over_high++;
		set_ws_rx(p, false);
		return;
	}
	if (p->n_local_over_high > 0)
		p->n_local_over_high--;
	if (p->n_local_over_high == 0)
		set_ws_rx(p, true);
}

/* Removes c, which has no socket any more. */
static void release(struct local_conn *c)
{
	conn_on_local_mark(c, false);
	conn_remove(c->proxy, c);
}

void conn_end(struct local_conn *c)
{
	struct proxy *p = c->proxy;
	c->ending = true;
	if (!c->sock) {
		release(c);
		return;
	}
	/* A dial in flight closes as soon as it completes or fails. */
	p->io->end(p->io->user, c);
}

void conn_deliver(struct local_conn *c, const uint8_t *data, size_t len)
{
	struct proxy *p = c->proxy;
	if (c->ending || !c->sock)
		return;
	if (p->io->send(p->io->user, c, data, len)) {
		log_error("out of memory queueing data for a local connection; closing it");
		conn_end(c);
	}
}

void conn_end_stream(struct proxy *p, size_t service, int32_t stream_id)
{
	for (size_t i = 0; i < p->max_conns; i++) {
		struct local_conn *c = conn_at(p, i);
		if (c && c->service == service && (stream_id == 0 || c->stream_id == stream_id)) {
			c->peer_knows = true;
			conn_end(c); /* may remove c from the table */
		}
	}
}

void conn_end_all(struct proxy *p)
{
	for (size_t i = 0; i < p->max_conns; i++) {
		struct local_conn *c = conn_at(p, i);
		if (c) {
			c->peer_knows = true;
			conn_end(c);
		}
	}
}

void conn_on_local_data(struct local_conn *c, const uint8_t *data, size_t len)
{
	struct proxy *p = c->proxy;
	if (c->ending || !p->ready)
		return;
	if (tunnel_send_data(p, c, data, len))
		conn_end(c);
}

void conn_on_local_closed(struct local_conn *c)
{
	struct proxy *p = c->proxy;
	log_debug("service %s: connection %u of stream %d closed", p->services[c->service].id,
		  c->connection_id, c->stream_id);
	c->sock = NULL;
	if (!c->peer_knows && p->ready)
		tunnel_send_conn_reset(p, c);
	release(c);
}
