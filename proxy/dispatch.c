/* Received tunnel messages to the modes: frames out of WebSocket messages,
 * the session's messages (SERVICE_IDS, SESSION_RESET), what both modes do
 * alike (DATA, CONNECTION_RESET, STREAM_RESET), and the starts a
 * destination serves. */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "proxy/proxy.h"

/* Our messages are shaped for an older destination than the subprotocol
 * says (a source's -y V1/V2). */
static bool shaped_for_older(const struct proxy *p)
{
	return p->format < p->version;
}

/* Service index of a message's serviceId ("" = the only service); -1 if unknown. */
static int service_index(const struct proxy *p, const char *service_id)
{
	/* A V1 destination names no service, and whatever a relay put in its
	 * messages is about the one service we carry (main.c checks there is one). */
	if (shaped_for_older(p) && p->format == 1)
		return 0;
	if (!service_id[0])
		return p->n_services == 1 ? 0 : -1;
	for (size_t i = 0; i < p->n_services; i++)
		if (!strcmp(p->services[i].id, service_id))
			return (int)i;
	return -1;
}

static void become_ready(struct proxy *p)
{
	p->ready = true;
	backoff_reset(&p->backoff);
	/* Listen first: whoever waits for "tunnel ready" may connect at once. */
	if (p->opt->mode == PROXY_MODE_SOURCE)
		source_on_ready(p);
}

static void on_service_ids(struct proxy *p, const struct tunnel_msg *m)
{
	if (p->ready) {
		log_debug("ignoring a repeated SERVICE_IDS");
		return;
	}
	size_t entry_of[TUNNEL_MAX_SERVICES];
	char err[256];
	if (mapping_resolve(&p->mapping, (const char *const *)m->service_ids, m->n_service_ids,
			    entry_of, err, sizeof(err))) {
		log_fatal("the tunnel's services do not match the mapping: %s", err);
		proxy_exit(p, 1);
		return;
	}
	p->n_services = m->n_service_ids;
	char list[TUNNEL_MAX_SERVICES * (TUNNEL_MAX_SERVICE_ID + 2)] = "";
	for (size_t i = 0; i < m->n_service_ids; i++) {
		memset(&p->services[i], 0, sizeof(p->services[i]));
		snprintf(p->services[i].id, sizeof(p->services[i].id), "%s", m->service_ids[i]);
		p->services[i].entry = entry_of[i];
		strcat(list, i ? "," : "");
		strcat(list, m->service_ids[i]);
	}
	become_ready(p);
	if (!p->exiting)
		log_info("tunnel ready: services %s", list);
}

void dispatch_ready_v1(struct proxy *p)
{
	memset(&p->services[0], 0, sizeof(p->services[0]));
	p->n_services = 1;
	p->services[0].entry = 0;
	become_ready(p);
	if (!p->exiting)
		log_info("tunnel ready: V1, one service");
}

/* What both modes do alike; false for any other type. */
static bool on_conn_message(struct proxy *p, const struct tunnel_msg *m, size_t service)
{
	struct proxy_service *svc = &p->services[service];
	struct local_conn *c;
	switch (m->type) {
	case TMSG_DATA:
		if (shaped_for_older(p) && m->connection_id != 0) {
			/* A V1/V2 destination has no connection ids; this is no reply to us. */
			log_debug("dropping DATA with connection id %u: -y V%d carries none", m->connection_id,
				  p->format);
			return true;
		}
		c = conn_find(p, service, m->stream_id, m->connection_id);
		if (c)
			conn_deliver(c, m->payload, m->payload_len);
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
			conn_end(c);
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

void dispatch_message(struct proxy *p, const struct tunnel_msg *m)
{
	if (m->type == TMSG_SERVICE_IDS) {
		on_service_ids(p, m);
		return;
	}
	if (m->type == TMSG_SESSION_RESET) {
		log_info("the relay reset the session (the other side left): closing %zu connection(s)",
			 conn_count(p));
		conn_end_all(p);
		for (size_t i = 0; i < p->n_services; i++)
			p->services[i].stream_id = 0;
		return;
	}
	if (!p->ready) {
		log_warn("ignoring %s received before SERVICE_IDS", tunnel_msg_type_str(m->type));
		return;
	}
	int service = service_index(p, m->service_id);
	if (service < 0) {
		log_warn("ignoring %s for unknown service '%s'", tunnel_msg_type_str(m->type), m->service_id);
		return;
	}
	if (on_conn_message(p, m, (size_t)service))
		return;
	if (p->opt->mode == PROXY_MODE_SOURCE)
		log_warn("ignoring %s: a source does not expect it", tunnel_msg_type_str(m->type));
	else
		destination_on_start(p, m, (size_t)service);
}

int dispatch_receive(struct proxy *p, const uint8_t *in, size_t len, bool first)
{
	enum frame_status fs = frame_decoder_account(&p->decoder, len, first);
	struct frame f;
	while (fs == FRAME_NEED_MORE &&
	       (fs = frame_decoder_next(&p->decoder, &in, &len, &f)) == FRAME_READY) {
		struct tunnel_msg m;
		enum tunnel_msg_status st = tunnel_msg_parse(f.body, f.body_len, &m);
		if (st == TMSG_OK) {
			dispatch_message(p, &m);
			tunnel_msg_free(&m);
		} else if (st != TMSG_SKIP) {
			log_error("bad frame from the relay: %s; reconnecting", tunnel_msg_status_str(st));
			return -1;
		}
		fs = FRAME_NEED_MORE;
	}
	if (fs != FRAME_NEED_MORE) {
		log_error("bad data from the relay: %s; reconnecting", frame_status_str(fs));
		return -1;
	}
	return 0;
}

void dispatch_session_open(struct proxy *p)
{
	p->connected = true;
	p->version = p->opt->client_version; /* the one subprotocol we asked for */
	p->format = p->opt->destination_type < p->version ? p->opt->destination_type : p->version;
	p->ready = false;
	p->ws_rx_paused = false;
	frame_decoder_reset(&p->decoder);
	tunnel_send_drop_all(p);
}

void dispatch_session_closed(struct proxy *p)
{
	p->connected = false;
	p->ready = false;
	tunnel_send_drop_all(p);
	conn_end_all(p);
}
