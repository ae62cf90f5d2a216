#include "relay/session.h"

#include <stdlib.h>
#include <string.h>

int session_init(struct session *s, const struct registry_tunnel *t, size_t max_live)
{
	memset(s, 0, sizeof(*s));
	s->n_services = t->n_services;
	s->services = t->services;
	s->max_live = max_live;
	/* At least one slot so that a limit of 0 still has a valid array. */
	s->live = calloc(max_live ? max_live : 1, sizeof(*s->live));
	return s->live ? 0 : -1;
}

void session_free(struct session *s)
{
	free(s->live);
	s->live = NULL;
	s->n_live = 0;
}

void session_peer_joined(struct session *s, enum tunnel_side side, int version)
{
	if (side != SIDE_SOURCE && side != SIDE_DESTINATION)
		return;
	s->version[side] = version;
	/* Until it says otherwise, a peer writes in its version's style. */
	s->style[side].omits_service_id = version < 2;
	s->style[side].omits_connection_id = version < 3;
	if (side == SIDE_SOURCE)
		memset(s->dormant_stream, 0, sizeof(s->dormant_stream));
}

/* A reset for the survivor, in its style. */
static struct tunnel_msg farewell(const struct session *s, enum tunnel_side to,
				  enum tunnel_msg_type type, uint8_t svc, int32_t stream,
				  uint32_t conn)
{
	struct tunnel_msg m;
	memset(&m, 0, sizeof(m));
	m.type = type;
	m.stream_id = stream;
	m.service_id = s->style[to].omits_service_id ? "" : s->services[svc];
	m.connection_id = s->style[to].omits_connection_id ? 0 : conn;
	return m;
}

void session_peer_left(struct session *s, enum tunnel_side side, session_tell_fn tell,
		       void *ctx)
{
	if (side != SIDE_SOURCE && side != SIDE_DESTINATION)
		return;
	enum tunnel_side to = side == SIDE_SOURCE ? SIDE_DESTINATION : SIDE_SOURCE;
	s->version[side] = 0;
	memset(s->dormant_stream, 0, sizeof(s->dormant_stream));
	if (s->version[to] != 0 && tell) {
		if (to == SIDE_SOURCE && s->version[to] >= 3) {
			for (size_t i = 0; i < s->n_live; i++) {
				const struct session_conn *c = &s->live[i];
				struct tunnel_msg m = farewell(s, to, TMSG_CONNECTION_RESET, c->service,
							       c->stream_id, c->connection_id);
				tell(ctx, &m);
			}
			for (size_t i = 0; i < s->n_services; i++)
				s->dormant_stream[i] = s->active_stream[i];
		} else {
			for (size_t i = 0; i < s->n_services; i++) {
				if (s->active_stream[i] == 0)
					continue;
				struct tunnel_msg m = farewell(s, to, TMSG_STREAM_RESET, (uint8_t)i,
							       s->active_stream[i], 0);
				tell(ctx, &m);
			}
		}
	}
	s->n_live = 0;
	memset(s->active_stream, 0, sizeof(s->active_stream));
}

size_t session_live_count(const struct session *s)
{
	return s->n_live;
}

/* ---- the live-connection table -------------------------------------------- */

static size_t live_find(const struct session *s, uint8_t svc, int32_t stream, uint32_t conn)
{
	for (size_t i = 0; i < s->n_live; i++) {
		const struct session_conn *c = &s->live[i];
		if (c->service == svc && c->stream_id == stream && c->connection_id == conn)
			return i;
	}
	return s->n_live;
}

static void live_remove_at(struct session *s, size_t i)
{
	s->live[i] = s->live[--s->n_live];
}

/* Removes every connection of a service; of one of its streams if stream > 0. */
static void live_remove_matching(struct session *s, uint8_t svc, int32_t stream)
{
	size_t i = 0;
	while (i < s->n_live) {
		const struct session_conn *c = &s->live[i];
		if (c->service == svc && (stream == 0 || c->stream_id == stream))
			live_remove_at(s, i); /* the last entry moved into i: look again */
		else
			i++;
	}
}

static void live_add(struct session *s, uint8_t svc, int32_t stream, uint32_t conn)
{
	s->live[s->n_live++] = (struct session_conn){ .service = svc, .stream_id = stream,
						      .connection_id = conn };
}

/* ---- verdicts ------------------------------------------------------------ */

static struct session_action act(enum session_verdict v, const char *reason)
{
	struct session_action a;
	memset(&a, 0, sizeof(a));
	a.verdict = v;
	a.reason = reason;
	return a;
}

/* A reset sent back to the sender about the stream/connection it named. */
static struct session_action reply(const struct session *s, enum tunnel_msg_type type,
				   const struct tunnel_msg *m, uint8_t svc, const char *reason,
				   bool limit)
{
	struct session_action a = act(SV_REPLY, reason);
	a.reply.type = type;
	a.reply.stream_id = m->stream_id;
	a.reply.connection_id = m->connection_id;
	a.reply.service_id = s->services[svc];
	a.limit_reached = limit;
	return a;
}

static enum tunnel_side other_side(enum tunnel_side side)
{
	return side == SIDE_SOURCE ? SIDE_DESTINATION : SIDE_SOURCE;
}

/* Forward to the other side, or drop when nobody is there to receive it. */
static struct session_action forward_if_peer(const struct session *s, enum tunnel_side from)
{
	if (s->version[other_side(from)] == 0)
		return act(SV_DROP, "peer not connected");
	return act(SV_FORWARD, NULL);
}

/* Resolves m's service id to an index; NULL on success, else the reason. */
static const char *resolve_service(const struct session *s, const struct tunnel_msg *m,
				   uint8_t *svc)
{
	const char *id = m->service_id ? m->service_id : "";
	if (id[0] == '\0') {
		/* V1 peers send no service id: it can only mean the one service. */
		if (s->n_services != 1)
			return "message without serviceId in a multi-service tunnel";
		*svc = 0;
		return NULL;
	}
	for (size_t i = 0; i < s->n_services; i++) {
		if (strcmp(id, s->services[i]) == 0) {
			*svc = (uint8_t)i;
			return NULL;
		}
	}
	return "unknown service id";
}

static struct session_action on_stream_start(struct session *s, const struct tunnel_msg *m,
					     uint8_t svc, uint32_t conn)
{
	if (s->version[SIDE_DESTINATION] == 0)
		return reply(s, TMSG_STREAM_RESET, m, svc, "no destination connected", false);
	/* A new stream replaces the old one: its connections are gone. */
	live_remove_matching(s, svc, 0);
	s->active_stream[svc] = 0;
	s->dormant_stream[svc] = 0;
	if (s->n_live >= s->max_live)
		return reply(s, TMSG_STREAM_RESET, m, svc, "connection limit reached", true);
	live_add(s, svc, m->stream_id, conn);
	s->active_stream[svc] = m->stream_id;
	return act(SV_FORWARD, NULL);
}

/* The source kept its stream through a destination change (see
 * session_peer_left): the new destination has never heard of it, so the
 * connection that continues it starts it there. */
static struct session_action restart_dormant(struct session *s, const struct tunnel_msg *m,
					     uint8_t svc, uint32_t conn)
{
	if (s->n_live >= s->max_live)
		return reply(s, TMSG_CONNECTION_RESET, m, svc, "connection limit reached", true);
	s->dormant_stream[svc] = 0;
	live_add(s, svc, m->stream_id, conn);
	s->active_stream[svc] = m->stream_id;
	struct session_action a = act(SV_FORWARD_AS, "stream kept through a destination change");
	a.reply = *m;
	a.reply.type = TMSG_STREAM_START;
	/* The frame's strings live in the sender's buffer: name the service
	 * through the registry, as the sender did (or did not). */
	a.reply.service_id = m->service_id && m->service_id[0] ? s->services[svc] : "";
	return a;
}

static struct session_action on_connection_start(struct session *s, const struct tunnel_msg *m,
						 uint8_t svc, uint32_t conn)
{
	if (s->version[SIDE_SOURCE] < 3)
		return act(SV_PROTOCOL_ERROR, "CONNECTION_START needs protocol V3");
	if (s->version[SIDE_DESTINATION] == 0)
		return reply(s, TMSG_CONNECTION_RESET, m, svc, "no destination connected", false);
	if (s->active_stream[svc] == 0 && m->stream_id == s->dormant_stream[svc])
		return restart_dormant(s, m, svc, conn);
	if (s->version[SIDE_DESTINATION] < 3)
		return reply(s, TMSG_CONNECTION_RESET, m, svc,
			     "destination speaks V1/V2: one connection per stream", false);
	if (m->stream_id != s->active_stream[svc])
		return reply(s, TMSG_CONNECTION_RESET, m, svc, "stream not active", false);
	if (live_find(s, svc, m->stream_id, conn) < s->n_live)
		return act(SV_DROP, "duplicate CONNECTION_START");
	if (s->n_live >= s->max_live)
		return reply(s, TMSG_CONNECTION_RESET, m, svc, "connection limit reached", true);
	live_add(s, svc, m->stream_id, conn);
	return act(SV_FORWARD, NULL);
}

static struct session_action on_data(struct session *s, enum tunnel_side from,
				     const struct tunnel_msg *m, uint8_t svc, uint32_t conn)
{
	if (s->version[other_side(from)] == 0)
		return act(SV_DROP, "peer not connected");
	if (live_find(s, svc, m->stream_id, conn) < s->n_live)
		return act(SV_FORWARD, NULL);
	return act(SV_DROP, "DATA for unknown connection");
}

static struct session_action on_connection_reset(struct session *s, enum tunnel_side from,
						 const struct tunnel_msg *m, uint8_t svc,
						 uint32_t conn)
{
	size_t i = live_find(s, svc, m->stream_id, conn);
	/* Peers answer a reset with a reset: a second one is expected, not an error. */
	if (i == s->n_live)
		return act(SV_DROP, "reset for unknown connection");
	live_remove_at(s, i);
	return forward_if_peer(s, from);
}

static struct session_action on_stream_reset(struct session *s, enum tunnel_side from,
					     const struct tunnel_msg *m, uint8_t svc)
{
	live_remove_matching(s, svc, m->stream_id);
	if (s->active_stream[svc] == m->stream_id)
		s->active_stream[svc] = 0;
	return forward_if_peer(s, from);
}

/* Rejects the types a client never sends, whatever their content. */
static const char *check_type(enum tunnel_side from, enum tunnel_msg_type type)
{
	switch (type) {
	case TMSG_DATA:
	case TMSG_STREAM_RESET:
	case TMSG_CONNECTION_RESET:
		return NULL;
	case TMSG_STREAM_START:
		return from == SIDE_SOURCE ? NULL : "only the source sends STREAM_START";
	case TMSG_CONNECTION_START:
		return from == SIDE_SOURCE ? NULL : "only the source sends CONNECTION_START";
	case TMSG_SERVICE_IDS:
		return "only the relay sends SERVICE_IDS";
	case TMSG_SESSION_RESET:
		return "only the relay sends SESSION_RESET";
	case TMSG_UNKNOWN:
		break;
	}
	return "unexpected message type";
}

struct session_action session_on_message(struct session *s, enum tunnel_side from,
					 const struct tunnel_msg *m)
{
	if (from != SIDE_SOURCE && from != SIDE_DESTINATION)
		return act(SV_PROTOCOL_ERROR, "message from an unknown side");
	const char *why = check_type(from, m->type);
	if (why != NULL)
		return act(SV_PROTOCOL_ERROR, why);
	/* tunnel_msg_parse already insists on this; cheap to hold to here too. */
	if (m->stream_id <= 0)
		return act(SV_PROTOCOL_ERROR, "message without streamId");
	uint8_t svc = 0;
	why = resolve_service(s, m, &svc);
	if (why != NULL)
		return act(SV_PROTOCOL_ERROR, why);
	uint32_t conn = m->connection_id ? m->connection_id : 1;
	if (m->type == TMSG_STREAM_START || m->type == TMSG_CONNECTION_START ||
	    m->type == TMSG_DATA) {
		/* What this side writes is how it wants to be written to. */
		s->style[from].omits_service_id = m->service_id == NULL || m->service_id[0] == '\0';
		s->style[from].omits_connection_id = m->connection_id == 0;
	}

	switch (m->type) {
	case TMSG_STREAM_START:
		return on_stream_start(s, m, svc, conn);
	case TMSG_CONNECTION_START:
		return on_connection_start(s, m, svc, conn);
	case TMSG_DATA:
		return on_data(s, from, m, svc, conn);
	case TMSG_CONNECTION_RESET:
		return on_connection_reset(s, from, m, svc, conn);
	case TMSG_STREAM_RESET:
		return on_stream_reset(s, from, m, svc);
	default:
		return act(SV_PROTOCOL_ERROR, "unexpected message type");
	}
}
