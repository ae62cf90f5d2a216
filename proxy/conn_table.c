/* The local connections of a tunnel, keyed by (service, stream, connection). */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "proxy/proxy.h"

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
		bytequeue_init(&c->to_local, 0);
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
	if (c->over_high) {
		c->over_high = false;
		local_queue_drained(c);
	}
	bytequeue_free(&c->to_local);
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

void conn_end_stream(struct proxy *p, size_t service, int32_t stream_id)
{
	for (size_t i = 0; i < p->max_conns; i++) {
		struct local_conn *c = p->conns[i];
		if (c && c->service == service && (stream_id == 0 || c->stream_id == stream_id)) {
			c->peer_knows = true;
			local_end(c); /* may remove c from the table */
		}
	}
}

void conn_end_all(struct proxy *p)
{
	for (size_t i = 0; i < p->max_conns; i++) {
		struct local_conn *c = p->conns[i];
		if (c) {
			c->peer_knows = true;
			local_end(c);
		}
	}
}

int service_index(const struct proxy *p, const char *service_id)
{
	if (!service_id[0])
		return p->n_services == 1 ? 0 : -1;
	for (size_t i = 0; i < p->n_services; i++)
		if (!strcmp(p->services[i].id, service_id))
			return (int)i;
	return -1;
}

bool conn_on_message(struct proxy *p, const struct tunnel_msg *m, size_t service)
{
	struct proxy_service *svc = &p->services[service];
	struct local_conn *c;
	switch (m->type) {
	case TMSG_DATA:
		c = conn_find(p, service, m->stream_id, m->connection_id);
		if (c)
			local_send(c, m->payload, m->payload_len);
		else
			log_debug("dropping DATA for closed connection %u of stream %d", m->connection_id,
				  m->stream_id);
		return true;
	case TMSG_CONNECTION_RESET:
		c = conn_find(p, service, m->stream_id, m->connection_id);
		if (c) {
			log_info("service %s: connection %u of stream %d reset by the other side",
				 svc->id, c->connection_id, c->stream_id);
			c->peer_knows = true;
			local_end(c);
		}
		return true;
	case TMSG_STREAM_RESET:
		log_info("service %s: stream %d reset by the other side", svc->id, m->stream_id);
		conn_end_stream(p, service, m->stream_id);
		if (svc->stream_id == m->stream_id)
			svc->stream_id = 0;
		return true;
	default:
		return false;
	}
}
