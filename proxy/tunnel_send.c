/* What localproxy sends to the relay, and in what order.
 *
 * Each local connection queues its DATA frames in its own queue; every
 * other message goes to the shared queue. A WebSocket message is built from
 * the shared queue first, then one frame from each connection in turn, so
 * ten busy connections share the tunnel evenly. A connection whose queue
 * passes CONN_QUEUE_HIGH stops being read until it is below CONN_QUEUE_LOW:
 * backpressure per connection, with no global pause that would always favour
 * whichever socket the event loop serves first. */
#include <string.h>

#include "common/log.h"
#include "proxy/proxy.h"

static int queue_encoded(struct bytequeue *q, const struct tunnel_msg *m)
{
	size_t need = tunnel_msg_encoded_size(m);
	uint8_t *dst = bytequeue_reserve(q, need);
	if (!dst) {
		log_error("out of memory queueing a message for the relay");
		return -1;
	}
	size_t len = tunnel_msg_encode(m, dst, need);
	if (len == 0) {
		log_error("cannot encode %s for the relay", tunnel_msg_type_str(m->type));
		return -1;
	}
	bytequeue_commit(q, len);
	return 0;
}

/* Fills the fields every message about a connection carries, in the shape
 * of p->format (V1: no service id; before V3: no connection id). */
static struct tunnel_msg conn_msg(const struct proxy *p, enum tunnel_msg_type type,
				  const struct local_conn *c)
{
	struct tunnel_msg m = {
		.type = type,
		.stream_id = c->stream_id,
		.service_id = p->format >= 2 ? p->services[c->service].id : "",
		.connection_id = p->format >= 3 ? c->connection_id : 0,
	};
	return m;
}

void tunnel_send_msg(struct proxy *p, const struct tunnel_msg *m)
{
	if (p->connected && queue_encoded(&p->to_tunnel, m) == 0)
		p->io->relay_want_write(p->io->user);
}

void tunnel_send_conn_msg(struct proxy *p, enum tunnel_msg_type type, struct local_conn *c)
{
	if (!p->connected)
		return;
	/* What the connection still has queued goes first: a reset must not
	 * overtake its data. */
	size_t pending = bytequeue_len(&c->to_tunnel);
	if (pending) {
		if (bytequeue_append(&p->to_tunnel, bytequeue_peek(&c->to_tunnel), pending))
			log_error("out of memory: the last %zu bytes of a connection are lost", pending);
		bytequeue_consume(&c->to_tunnel, pending);
	}
	struct tunnel_msg m = conn_msg(p, type, c);
	tunnel_send_msg(p, &m);
}

int tunnel_send_data(struct proxy *p, struct local_conn *c, const uint8_t *data, size_t len)
{
	if (!p->connected)
		return 0;
	while (len > 0) {
		size_t chunk = len > TUNNEL_MAX_PAYLOAD ? TUNNEL_MAX_PAYLOAD : len;
		struct tunnel_msg m = conn_msg(p, TMSG_DATA, c);
		m.payload = data;
		m.payload_len = chunk;
		if (queue_encoded(&c->to_tunnel, &m))
			return -1;
		data += chunk;
		len -= chunk;
	}
	p->io->relay_want_write(p->io->user); /* sends at once when the socket can take it */
	if (!c->tunnel_full && bytequeue_len(&c->to_tunnel) > CONN_QUEUE_HIGH) {
		c->tunnel_full = true; /* the relay is slower than this local reader */
		p->io->pause_read(p->io->user, c, true);
	}
	return 0;
}

void tunnel_send_conn_reset(struct proxy *p, struct local_conn *c)
{
	/* Before V3 a stream holds one connection: ending it ends the stream. */
	tunnel_send_conn_msg(p, p->format >= 3 ? TMSG_CONNECTION_RESET : TMSG_STREAM_RESET, c);
	c->peer_knows = true;
}

/* The size of the whole frame at offset `at` in q if it fits in room, else 0. */
static size_t next_frame(struct bytequeue *q, size_t at, size_t room)
{
	size_t len = bytequeue_len(q);
	if (at >= len)
		return 0;
	size_t size = frame_whole_size(bytequeue_peek(q) + at, len - at);
	return size <= room ? size : 0;
}

void tunnel_send_next(struct proxy *p)
{
	size_t shared = 0, f;
	while ((f = next_frame(&p->to_tunnel, shared, SEND_MESSAGE_MAX - shared)))
		shared += f;
	size_t total = shared;
	/* Then one frame per connection per turn, starting one further on each
	 * message. A connection's frames stay in order in its own piece. */
	size_t taken[TUNNEL_DEFAULT_MAX_CONNECTIONS] = { 0 };
	for (bool more = true; more;) {
		more = false;
		for (size_t k = 0; k < p->max_conns; k++) {
			size_t i = (p->next_turn + k) % p->max_conns;
			struct local_conn *c = p->conns[i];
			if (c && (f = next_frame(&c->to_tunnel, taken[i], SEND_MESSAGE_MAX - total))) {
				taken[i] += f;
				total += f;
				more = true;
			}
		}
	}
	p->next_turn = (p->next_turn + 1) % p->max_conns;
	if (total == 0)
		return;
	struct ws_piece pieces[1 + TUNNEL_DEFAULT_MAX_CONNECTIONS];
	size_t n = 0;
	if (shared)
		pieces[n++] = (struct ws_piece){ bytequeue_peek(&p->to_tunnel), shared };
	for (size_t i = 0; i < p->max_conns; i++)
		if (taken[i])
			pieces[n++] = (struct ws_piece){ bytequeue_peek(&p->conns[i]->to_tunnel), taken[i] };
	if (p->io->relay_sendv(p->io->user, pieces, n) != total) {
		p->io->relay_want_write(p->io->user); /* the last message is still going out */
		return;
	}
	bytequeue_consume(&p->to_tunnel, shared);
	bool left = bytequeue_len(&p->to_tunnel) > 0;
	for (size_t i = 0; i < p->max_conns; i++) {
		struct local_conn *c = p->conns[i];
		if (!c)
			continue;
		bytequeue_consume(&c->to_tunnel, taken[i]);
		left = left || bytequeue_len(&c->to_tunnel) > 0;
		if (c->tunnel_full && bytequeue_len(&c->to_tunnel) < CONN_QUEUE_LOW) {
			c->tunnel_full = false;
			if (!c->ending && c->sock)
				p->io->pause_read(p->io->user, c, false);
		}
	}
	if (left)
		p->io->relay_want_write(p->io->user);
}

/* Drops everything queued (the connection to the relay is gone). */
void tunnel_send_drop_all(struct proxy *p)
{
	bytequeue_consume(&p->to_tunnel, bytequeue_len(&p->to_tunnel));
	for (size_t i = 0; i < p->max_conns; i++)
		if (p->conns[i])
			bytequeue_consume(&p->conns[i]->to_tunnel, bytequeue_len(&p->conns[i]->to_tunnel));
}
