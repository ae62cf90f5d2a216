/* Destination mode (the device's side): each connection the source starts
 * becomes a local connection (TCP or Unix socket) to the mapped service. */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "proxy/proxy.h"

static void ended_before_connecting(struct local_conn *c);

/* c's target (its mapping entry's), for logs. */
static const char *target_text(const struct local_conn *c, char *buf, size_t cap)
{
	const struct proxy *p = c->proxy;
	return mapping_entry_text(&p->mapping.entry[p->services[c->service].entry], buf, cap);
}

/* Tells the source a connection could not be served. */
static void refuse(struct proxy *p, const struct tunnel_msg *m, size_t service, bool whole_stream)
{
	struct local_conn key = {
		.service = service,
		.stream_id = m->stream_id,
		.connection_id = m->connection_id ? m->connection_id : 1,
	};
	tunnel_send_conn_msg(p, whole_stream || p->version < 3 ? TMSG_STREAM_RESET : TMSG_CONNECTION_RESET, &key);
	if (whole_stream && p->services[service].stream_id == m->stream_id)
		p->services[service].stream_id = 0;
}

static void open_connection(struct proxy *p, const struct tunnel_msg *m, size_t service, bool starts_stream)
{
	if (conn_count(p) >= p->max_conns) {
		log_warn("service %s: refusing connection %u of stream %d: %zu connections open (limit)",
			 p->services[service].id, m->connection_id, m->stream_id, conn_count(p));
		refuse(p, m, service, starts_stream);
		return;
	}
	struct local_conn *c = conn_add(p, service, m->stream_id, m->connection_id);
	if (!c) {
		refuse(p, m, service, starts_stream);
		return;
	}
	c->started_stream = starts_stream;
	log_info("service %s: opening connection %u of stream %d", p->services[service].id,
		 c->connection_id, c->stream_id);
	char why[128];
	if (p->io->dial(p->io->user, c, why, sizeof(why)))
		destination_on_connect_failed(c, why);
}

void destination_on_connected(struct local_conn *c)
{
	char where[MAPPING_TEXT_MAX];
	log_debug("service %s: connection %u of stream %d connected to %s",
		  c->proxy->services[c->service].id, c->connection_id, c->stream_id,
		  target_text(c, where, sizeof(where)));
}

void destination_on_connect_failed(struct local_conn *c, const char *why)
{
	char where[MAPPING_TEXT_MAX];
	log_warn("service %s: cannot connect to %s: %s", c->proxy->services[c->service].id,
		 target_text(c, where, sizeof(where)), why);
	c->sock = NULL;
	ended_before_connecting(c);
}

/* The dial failed: the source must drop the connection (or its stream). */
static void ended_before_connecting(struct local_conn *c)
{
	struct proxy *p = c->proxy;
	/* The first connection of a stream failing ends the stream. */
	bool whole_stream = c->started_stream || p->version < 3;
	size_t service = c->service;
	int32_t stream_id = c->stream_id;
	if (!c->peer_knows && p->ready) {
		tunnel_send_conn_msg(p, whole_stream ? TMSG_STREAM_RESET : TMSG_CONNECTION_RESET, c);
		if (whole_stream && p->services[service].stream_id == stream_id)
			p->services[service].stream_id = 0;
	}
	c->peer_knows = true;
	conn_end(c); /* it has no socket: removed now */
	if (whole_stream)
		conn_end_stream(p, service, stream_id); /* the source dropped them too */
}

void destination_on_start(struct proxy *p, const struct tunnel_msg *m, size_t service)
{
	struct proxy_service *svc = &p->services[service];
	switch (m->type) {
	case TMSG_STREAM_START:
		/* A new stream replaces the service's old one. */
		if (svc->stream_id)
			conn_end_stream(p, service, 0);
		svc->stream_id = m->stream_id;
		open_connection(p, m, service, true);
		return;
	case TMSG_CONNECTION_START:
		if (m->stream_id != svc->stream_id) {
			log_warn("service %s: CONNECTION_START for inactive stream %d", svc->id, m->stream_id);
			refuse(p, m, service, false);
			return;
		}
		if (conn_find(p, service, m->stream_id, m->connection_id)) {
			log_debug("ignoring a repeated CONNECTION_START for connection %u", m->connection_id);
			return;
		}
		open_connection(p, m, service, false);
		return;
	default:
		log_warn("ignoring %s: a destination does not expect it", tunnel_msg_type_str(m->type));
		return;
	}
}
