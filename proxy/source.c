/* Source mode (the operator's side): local clients connect to our
 * listeners; each becomes a connection in the tunnel. */
#include <stdint.h>
#include <string.h>

#include "common/log.h"
#include "proxy/proxy.h"

static int service_of_entry(const struct proxy *p, size_t entry)
{
	for (size_t s = 0; s < p->n_services; s++)
		if (p->services[s].entry == entry)
			return (int)s;
	return -1;
}

void source_on_ready(struct proxy *p)
{
	for (size_t i = 0; i < p->mapping.n; i++) {
		int s = service_of_entry(p, i);
		if (s < 0) {
			log_warn("port %d: the tunnel has no service %s; not listening",
				 p->mapping.entry[i].listen_port, p->mapping.entry[i].service);
			continue;
		}
		/* 0 also when it is still open from an earlier session. */
		if (p->io->listen(p->io->user, i)) {
			proxy_exit(p, 1);
			return;
		}
		log_info("listening on %s:%d for service %s", p->opt->bind_address,
			 p->mapping.entry[i].listen_port, p->services[s].id[0] ? p->services[s].id : "(V1)");
	}
}

struct local_conn *source_on_accept(struct proxy *p, size_t entry)
{
	int port = p->mapping.entry[entry].listen_port;
	int s = p->ready ? service_of_entry(p, entry) : -1;
	if (s < 0) {
		log_warn("refusing a local connection on port %d: the tunnel is not connected", port);
		return NULL;
	}
	if (conn_count(p) >= p->max_conns) {
		log_warn("refusing a local connection on port %d: %zu connections already open "
			 "(limit %zu per tunnel)", port, conn_count(p), p->max_conns);
		return NULL;
	}
	struct proxy_service *svc = &p->services[s];
	/* The first connection of a service starts a stream; later ones join it
	 * (V3). Before V3 every connection needs its own stream. */
	bool new_stream = svc->stream_id == 0 || p->version < 3;
	int32_t stream_id = svc->stream_id;
	uint32_t connection_id = svc->last_connection_id + 1;
	if (new_stream) {
		stream_id = svc->last_stream_id == INT32_MAX ? 1 : svc->last_stream_id + 1;
		connection_id = 1;
	}
	struct local_conn *c = conn_add(p, (size_t)s, stream_id, connection_id);
	if (!c)
		return NULL;
	if (new_stream) {
		if (svc->stream_id)
			conn_end_stream(p, (size_t)s, svc->stream_id); /* V1/V2: a new stream replaces the old */
		svc->last_stream_id = stream_id;
		svc->stream_id = stream_id;
	}
	svc->last_connection_id = connection_id;
	c->started_stream = new_stream;
	tunnel_send_conn_msg(p, new_stream ? TMSG_STREAM_START : TMSG_CONNECTION_START, c);
	log_info("service %s: new connection on port %d (stream %d, connection %u, %zu open)",
		 svc->id, port, stream_id, connection_id, conn_count(p));
	return c;
}
