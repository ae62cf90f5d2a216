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

/* Stream ids should not repeat within a tunnel's lifetime, and a restarted
 * proxy remembers nothing: so each session's first stream id (per service)
 * is random, 1..INT32_MAX, and the next ones count up from it, wrapping
 * from INT32_MAX to 1. An AWS destination ignores a STREAM_START carrying
 * its current stream id, so starting at 1 again after a reconnect would
 * leave it deaf. 0 when no random bytes could be had. */
static int32_t next_stream_id(struct proxy *p, const struct proxy_service *svc)
{
	if (svc->last_stream_id)
		return svc->last_stream_id == INT32_MAX ? 1 : svc->last_stream_id + 1;
	uint8_t b[4];
	if (p->io->random(p->io->user, b, sizeof(b)))
		return 0;
	uint32_t r = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	return (int32_t)(r % INT32_MAX) + 1;
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
	/* Before V3 (or with -y V1/V2) a stream holds one connection, and a
	 * destination of that kind serves one stream at a time: a new stream
	 * would cut the open connection off (AWS's source does that), so a
	 * second client waits its turn instead. */
	if (p->format < 3 && svc->stream_id && conn_find(p, (size_t)s, svc->stream_id, 1)) {
		log_warn("refusing a local connection on %s: a V%d destination takes one connection "
			 "at a time, and stream %d is open", port, p->format, svc->stream_id);
		return NULL;
	}
	/* The first connection of a service starts a stream; later ones join it
	 * (V3). Before V3 every connection needs its own stream. */
	bool new_stream = svc->stream_id == 0 || p->format < 3;
	int32_t stream_id = svc->stream_id;
	uint32_t connection_id = svc->last_connection_id + 1;
	if (new_stream) {
		stream_id = next_stream_id(p, svc);
		connection_id = 1;
		if (!stream_id) {
			log_error("refusing a local connection on %s: no random bytes for a stream id", port);
			return NULL;
		}
	}
	struct local_conn *c = conn_add(p, (size_t)s, stream_id, connection_id);
	if (!c)
		return NULL;
	if (new_stream) {
		svc->last_stream_id = stream_id;
		svc->stream_id = stream_id;
	}
	svc->last_connection_id = connection_id;
	c->started_stream = new_stream;
	tunnel_send_conn_msg(p, new_stream ? TMSG_STREAM_START : TMSG_CONNECTION_START, c);
	log_info("service %s: new connection on %s (stream %d, connection %u, %zu open)",
		 svc->id[0] ? svc->id : "(V1)", port, stream_id, connection_id, conn_count(p));
	return c;
}
