/* localproxy's state and its table of local connections, keyed by
 * (service, stream, connection). Storage only: no I/O, no protocol. */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "proxy/proxy.h"

void proxy_init(struct proxy *p, const struct proxy_options *opt, const struct proxy_io *io)
{
	p->opt = opt;
	p->io = io;
	p->max_conns = TUNNEL_DEFAULT_MAX_CONNECTIONS;
	bytequeue_init(&p->to_tunnel, 0);
	frame_decoder_init(&p->decoder);
}

void proxy_free(struct proxy *p)
{
	for (size_t i = 0; i < p->max_conns; i++)
		if (p->conns[i])
			conn_remove(p, p->conns[i]);
	bytequeue_free(&p->to_tunnel);
	frame_decoder_free(&p->decoder);
}

struct local_conn *conn_add(struct proxy *p, size_t service, int32_t stream_id,
			    uint32_t connection_id)
{
	for (size_t i = 0; i < p->max_conns; i++) {
		if (p->conns[i])
			continue;
		struct local_conn *c = calloc(1, sizeof(*c));
		if (!c) {
			log_error("out of memory for a new connection");
			return NULL;
		}
		c->proxy = p;
		c->service = service;
		c->stream_id = stream_id;
		c->connection_id = connection_id ? connection_id : 1;
		bytequeue_init(&c->to_tunnel, 0);
		p->conns[i] = c;
		return c;
	}
	return NULL;
}

struct local_conn *conn_find(struct proxy *p, size_t service, int32_t stream_id,
			     uint32_t connection_id)
{
	if (connection_id == 0)
		connection_id = 1;
	for (size_t i = 0; i < p->max_conns; i++) {
		struct local_conn *c = p->conns[i];
		/* A closing one may share its key with a newer connection
		 * (stream ids restart after a reconnect): it takes nothing more. */
		if (c && !c->ending && c->service == service && c->stream_id == stream_id &&
		    c->connection_id == connection_id)
			return c;
	}
	return NULL;
}

void conn_remove(struct proxy *p, struct local_conn *c)
{
	for (size_t i = 0; i < p->max_conns; i++)
		if (p->conns[i] == c)
			p->conns[i] = NULL;
	bytequeue_free(&c->to_tunnel);
	free(c);
	/* Its queues may have left free pages inside the heap, where glibc
	 * keeps them: give them back, so memory falls after a burst. */
	malloc_trim(0);
}

size_t conn_count(const struct proxy *p)
{
	size_t n = 0;
	for (size_t i = 0; i < p->max_conns; i++)
		n += p->conns[i] != NULL;
	return n;
}

struct local_conn *conn_at(const struct proxy *p, size_t i)
{
	return i < p->max_conns ? p->conns[i] : NULL;
}
