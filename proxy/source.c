/* Source mode (the operator's side): local clients connect to our
 * listeners; each becomes a connection in the tunnel. */
#include <stdint.h>
#include <stdio.h>
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

/* Where entry listens, for logs: "localhost:2222", "udp:localhost:53",
 * "unix:/run/x.sock", "stdin/stdout". */
static const char *listen_text(const struct proxy *p, size_t entry, char *buf, size_t cap)
{
	const struct mapping_entry *e = &p->mapping.entry[entry];
	if (e->kind != MAPPING_TCP && e->kind != MAPPING_UDP)
		return mapping_entry_text(e, buf, cap);
	snprintf(buf, cap, "%s%s:%d", e->kind == MAPPING_UDP ? "udp:" : "", p->opt->bind_address,
		 e->listen_port);
	return buf;
}

void source_on_ready(struct proxy *p)
{
	for (size_t i = 0; i < p->mapping.n; i++) {
		int s = service_of_entry(p, i);
		char where[MAPPING_TEXT_MAX];
		listen_text(p, i, where, sizeof(where));
		if (s < 0) {
			log_warn("%s: the tunnel has no service %s; not listening", where,
				 p->mapping.entry[i].service);
			continue;
		}
		/* 0 also when it is still open from an earlier session. */
		if (p->io->listen(p->io->user, i)) {
			proxy_exit(p, 1);
			return;
		}
		log_info("listening on %s for service %s", where, p->services[s].id[0] ? p->services[s].id : "(V1)");
	}
}

struct local_conn *source_on_accept(struct proxy *p, size_t entry)
{
	char port[MAPPING_TEXT_MAX];
	listen_text(p, entry, port, sizeof(port));
	int s = p->ready ? service_of_entry(p, entry) : -1;
	if (s < 0) {
		log_warn("refusing a local connection on %s: the tunnel is not connected", port);
		return NULL;
	}
	if (conn_count(p) >= p->max_conns) {
		log_warn("refusing a local connection on %s: %zu connections already open "
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
	log_info("service %s: new connection on %s (stream %d, connection %u, %zu open)",
		 svc->id, port, stream_id, connection_id, conn_count(p));
	return c;
}
