#include "relay/peer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "proto/frame.h"
#include "proto/message.h"
#include "proto/ws_codec.h"
#include "relay/cluster.h"
#include "relay/live_index.h"
#include "relay/session.h"
#include "relay/store.h"
#include "relay/store_rows.h"

/* WebSocket close codes (RFC 6455 §7.4.1) beyond proto/ws_codec.h's. */
#define CLOSE_UNACCEPTABLE_OPCODE 1003
#define CLOSE_POLICY_VIOLATION 1008
#define CLOSE_MESSAGE_TOO_LARGE 1009
#define CLOSE_UNEXPECTED_CONDITION 1011

/* Runtime state of a tunnel with at least one side connected. */
struct tunnel_live {
	struct tunnel_live *prev, *next;  /* the dataplane's list */
	struct registry_tunnel *tunnel;
	struct session session;
	struct peer *peer[2];
};

struct dataplane {
	struct dataplane_config cfg;
	struct tunnel_live *live;         /* every tunnel with a peer */
	struct live_index by_tunnel;      /* registry tunnel -> its entry in that list */
	/* Peers that may hold a send queue or a decoder buffer: the periodic
	 * release walks these, not every peer (most are idle and hold none). */
	struct peer *holding;
};

struct peer {
	struct dataplane *dp;
	void *conn;
	struct tunnel_live *live;        /* NULL once detached */
	enum tunnel_side side;
	int version;
	struct frame_decoder decoder;
	struct bytequeue out;           /* frames waiting to be sent to this peer */
	struct peer *hold_prev, *hold_next; /* dp->holding, while on_hold */
	bool on_hold;
	bool throttling_other;          /* we paused the other side's rx */
	int close_code;                 /* nonzero: close on the next writeable */
	char close_reason[96];
	char addr[64];
};

struct dataplane *dataplane_new(const struct dataplane_config *cfg)
{
	struct dataplane *dp = calloc(1, sizeof(*dp));
	if (dp)
		dp->cfg = *cfg;
	return dp;
}

void dataplane_free(struct dataplane *dp)
{
	if (!dp)
		return;
	/* Closing every peer has released each tunnel's live state. */
	live_index_free(&dp->by_tunnel);
	free(dp);
}

static struct tunnel_live *live_find(const struct dataplane *dp, const struct registry_tunnel *t)
{
	return live_index_get(&dp->by_tunnel, t);
}

static void live_remove(struct dataplane *dp, struct tunnel_live *l)
{
	if (l->prev)
		l->prev->next = l->next;
	else
		dp->live = l->next;
	if (l->next)
		l->next->prev = l->prev;
	live_index_del(&dp->by_tunnel, l->tunnel);
	session_free(&l->session);
	free(l);
}

static struct peer *other_peer(const struct peer *p)
{
	return p->live ? p->live->peer[1 - p->side] : NULL;
}

static const char *tunnel_id(const struct peer *p)
{
	return p->live ? p->live->tunnel->id : "?";
}

/* ---- buffers held ------------------------------------------------------- */

static void hold(struct peer *p)
{
	if (p->on_hold)
		return;
	p->on_hold = true;
	p->hold_prev = NULL;
	p->hold_next = p->dp->holding;
	if (p->hold_next)
		p->hold_next->hold_prev = p;
	p->dp->holding = p;
}

static void unhold(struct peer *p)
{
	if (!p->on_hold)
		return;
	p->on_hold = false;
	if (p->hold_prev)
		p->hold_prev->hold_next = p->hold_next;
	else
		p->dp->holding = p->hold_next;
	if (p->hold_next)
		p->hold_next->hold_prev = p->hold_prev;
}

/* ---- sending ------------------------------------------------------------ */

static void request_close(struct peer *p, int code, const char *reason)
{
	if (p->close_code)
		return;
	p->close_code = code;
	snprintf(p->close_reason, sizeof(p->close_reason), "%s", reason);
	p->dp->cfg.io->want_write(p->conn);
	/* A peer that stopped reading never becomes writeable: drop it then. */
	p->dp->cfg.io->close_within(p->conn, PEER_CLOSE_TIMEOUT_S);
}

static int queue_frame(struct peer *to, const uint8_t *frame, size_t len)
{
	/* Forwarded data stops at PEER_QUEUE_HIGH plus a message in flight
	 * (the sender is paused); only a peer that keeps asking for replies
	 * (resets) without reading them gets past this. */
	if (bytequeue_len(&to->out) > PEER_QUEUE_HIGH + 2 * TUNNEL_MAX_WS_MESSAGE) {
		request_close(to, CLOSE_POLICY_VIOLATION, "not reading what the relay sends");
		return -1;
	}
	if (bytequeue_append(&to->out, frame, len)) {
		request_close(to, CLOSE_UNEXPECTED_CONDITION, "out of memory");
		return -1;
	}
	hold(to);
	to->dp->cfg.io->want_write(to->conn);
	return 0;
}

static void queue_msg(struct peer *to, const struct tunnel_msg *m)
{
	uint8_t frame[TUNNEL_FRAME_PREFIX + 1024];
	size_t len = tunnel_msg_encode(m, frame, sizeof(frame));
	if (len == 0) {
		log_error("tunnel %s: could not encode %s", tunnel_id(to), tunnel_msg_type_str(m->type));
		return;
	}
	queue_frame(to, frame, len);
}

static void send_service_ids(struct peer *p)
{
	const struct registry_tunnel *t = p->live->tunnel;
	const char *ids[TUNNEL_MAX_SERVICES];
	for (size_t i = 0; i < t->n_services; i++)
		ids[i] = t->services[i];
	struct tunnel_msg m = {
		.type = TMSG_SERVICE_IDS,
		.service_id = "",
		.n_service_ids = t->n_services,
		.service_ids = ids,
	};
	queue_msg(p, &m);
}

/* session_peer_left's messages for the survivor. */
static void tell_survivor(void *ctx, const struct tunnel_msg *m)
{
	struct peer *survivor = ctx;
	log_debug("tunnel %s: telling the %s %s (stream %d, connection %u)", tunnel_id(survivor),
		  tunnel_side_name(survivor->side), tunnel_msg_type_str(m->type), m->stream_id,
		  m->connection_id);
	queue_msg(survivor, m);
}

/* Resumes reading from `p`'s peer when p's queue has drained enough. */
static void maybe_resume_other(struct peer *p)
{
	if (!p->throttling_other || bytequeue_len(&p->out) > PEER_QUEUE_LOW)
		return;
	p->throttling_other = false;
	struct peer *o = other_peer(p);
	log_debug("tunnel %s: resuming reads from the %s", tunnel_id(p), tunnel_side_name(1 - p->side));
	if (o)
		p->dp->cfg.io->pause_reading(o->conn, false);
}

/* ---- joining and leaving ----------------------------------------------- */

static void detach(struct peer *p, const char *why)
{
	struct tunnel_live *live = p->live;
	if (!live)
		return;
	struct registry_tunnel *t = live->tunnel;
	struct peer *o = live->peer[1 - p->side];
	live->peer[p->side] = NULL;
	session_peer_left(&live->session, p->side, o ? tell_survivor : NULL, o);
	if (cluster_saves_leaving(t, p->dp->cfg.node_id)) {
		t->side_changed_at[p->side] = time(NULL);
		t->connected[p->side] = false;
		store_save_logged(p->dp->cfg.store, t);
	}
	log_info("tunnel %s: %s disconnected (%s)", t->id, tunnel_side_name(p->side), why);
	if (o) {
		if (p->throttling_other)
			p->dp->cfg.io->pause_reading(o->conn, false);
		o->throttling_other = false;
	} else {
		live_remove(p->dp, live);
	}
	p->throttling_other = false;
	p->live = NULL;
}

/* The tunnel's live state, made when its first peer joins. */
static struct tunnel_live *live_get(struct dataplane *dp, struct registry_tunnel *t)
{
	struct tunnel_live *live = live_find(dp, t);
	if (live)
		return live;
	live = calloc(1, sizeof(*live));
	if (!live || session_init(&live->session, t, dp->cfg.max_connections)) {
		free(live);
		log_error("tunnel %s: out of memory", t->id);
		return NULL;
	}
	live->tunnel = t;
	if (live_index_put(&dp->by_tunnel, t, live)) {
		session_free(&live->session);
		free(live);
		log_error("tunnel %s: out of memory", t->id);
		return NULL;
	}
	live->next = dp->live;
	if (dp->live)
		dp->live->prev = live;
	dp->live = live;
	return live;
}

/* The shared store's answer to this node's claim of p's side. */
static void claimed(void *ctx, const char *err)
{
	struct peer *p = ctx;
	if (!err)
		return;
	if (store_error_lost_race(err)) {
		/* The row as stored came first (through the watch), and may
		 * have closed p already: said once. */
		if (!p->close_code)
			log_warn("tunnel %s: another relay node admitted the %s first; closing it here",
				 tunnel_id(p), tunnel_side_name(p->side));
		request_close(p, CLUSTER_CLOSE_LOST, "another relay node admitted this side");
		return;
	}
	/* The database is away: the side stays admitted here (a later
	 * admission claims it again). */
	log_warn("tunnel %s: cannot record the %s as admitted here: %s", tunnel_id(p),
		 tunnel_side_name(p->side), err);
}

static void claim(struct peer *p, struct registry_tunnel *t)
{
	const struct registry_side *side = &t->side[p->side];
	char err[256];
	if (store_claim_side(p->dp->cfg.store, t->id, p->side,
			     side->has_client_token ? side->client_token : "", p->dp->cfg.node_id,
			     store_connected_bits(t), claimed, p, err, sizeof(err)))
		claimed(p, err); /* not even queued: as if the database were away */
	else
		t->rev++; /* a won claim writes rev + 1: the next save expects it (store.h) */
}

struct peer *peer_join(struct dataplane *dp, void *conn, const struct admit_result *res,
		       int version, const char *addr)
{
	struct peer *p = calloc(1, sizeof(*p));
	if (!p) {
		log_error("out of memory for a new connection");
		return NULL;
	}
	p->dp = dp;
	p->conn = conn;
	p->side = res->side;
	p->version = version;
	bytequeue_init(&p->out, dp->cfg.queue_headroom);
	snprintf(p->addr, sizeof(p->addr), "%s", addr);
	frame_decoder_init(&p->decoder);

	struct registry_tunnel *t = res->tunnel;
	struct tunnel_live *live = live_find(dp, t);
	struct peer *old = live ? live->peer[res->side] : NULL;
	if (old) {
		/* A reconnect with the same client token replaces the old socket. */
		detach(old, "replaced by a reconnect");
		request_close(old, WS_CLOSE_GOING_AWAY, "replaced by a reconnect");
	}
	live = live_get(dp, t);
	if (!live) {
		free(p);
		return NULL;
	}
	p->live = live;
	live->peer[res->side] = p;
	session_peer_joined(&live->session, res->side, version);
	t->side_changed_at[res->side] = time(NULL);
	/* This node owns the tunnel now (its claim says so in the store): the
	 * row says which sides are connected here, for the other nodes'
	 * APIs (cluster_side_connected). */
	if (dp->cfg.node_id)
		snprintf(t->owner, sizeof(t->owner), "%s", dp->cfg.node_id);
	for (int s = 0; s < 2; s++)
		t->connected[s] = live->peer[s] != NULL;
	store_save_logged(dp->cfg.store, t);
	if (dp->cfg.node_id && dp->cfg.store)
		claim(p, t);
	log_info("tunnel %s: %s connected from %s (V%d%s)", t->id, tunnel_side_name(res->side),
		 p->addr, version, res->reconnect ? ", reconnect" : "");
	if (version >= 2)
		send_service_ids(p);
	return p;
}

/* ---- receiving ------------------------------------------------------------ */

static int handle_frame(struct peer *p, const struct frame *f)
{
	struct tunnel_msg m;
	enum tunnel_msg_status st = tunnel_msg_parse(f->body, f->body_len, &m);
	if (st == TMSG_SKIP) {
		log_debug("tunnel %s: skipped an ignorable message of unknown type from %s",
			  tunnel_id(p), tunnel_side_name(p->side));
		return 0;
	}
	if (st != TMSG_OK) {
		char reason[96];
		snprintf(reason, sizeof(reason), "bad frame: %s", tunnel_msg_status_str(st));
		request_close(p, WS_CLOSE_PROTOCOL_ERROR, reason);
		return -1;
	}
	struct tunnel_live *live = p->live;
	const char *id = live->tunnel->id;
	p->dp->cfg.metrics->bytes_from[p->side] += f->raw_len;
	struct session_action a = session_on_message(&live->session, p->side, &m);
	int rc = 0;
	switch (a.verdict) {
	case SV_FORWARD:
		queue_frame(live->peer[1 - p->side], f->raw, f->raw_len);
		break;
	case SV_FORWARD_AS:
		log_info("tunnel %s: forwarding %s (stream %d, connection %u) as %s: %s", id,
			 tunnel_msg_type_str(m.type), m.stream_id, m.connection_id,
			 tunnel_msg_type_str(a.reply.type), a.reason);
		queue_msg(live->peer[1 - p->side], &a.reply);
		break;
	case SV_DROP:
		log_debug("tunnel %s: dropped %s (stream %d, connection %u) from %s: %s",
			  id, tunnel_msg_type_str(m.type), m.stream_id,
			  m.connection_id, tunnel_side_name(p->side), a.reason);
		break;
	case SV_REPLY:
		if (a.limit_reached)
			log_warn("tunnel %s: refusing %s (stream %d, connection %u): connection limit of %zu reached",
				 id, tunnel_msg_type_str(m.type), m.stream_id,
				 m.connection_id ? m.connection_id : 1, live->session.max_live);
		else
			log_info("tunnel %s: answering %s with %s: %s", id,
				 tunnel_msg_type_str(m.type), tunnel_msg_type_str(a.reply.type), a.reason);
		queue_msg(p, &a.reply);
		break;
	case SV_PROTOCOL_ERROR:
		request_close(p, WS_CLOSE_PROTOCOL_ERROR, a.reason);
		rc = -1;
		break;
	}
	tunnel_msg_free(&m);
	return rc;
}

void peer_receive(struct peer *p, const uint8_t *in, size_t len, bool binary, bool first_fragment)
{
	if (!p->live || p->close_code)
		return; /* detached or closing: ignore what is still in flight */
	if (!binary) {
		request_close(p, CLOSE_UNACCEPTABLE_OPCODE, "text messages are not allowed");
		return;
	}
	enum frame_status fs = frame_decoder_account(&p->decoder, len, first_fragment);
	if (fs != FRAME_NEED_MORE) {
		request_close(p, CLOSE_MESSAGE_TOO_LARGE, frame_status_str(fs));
		return;
	}
	struct frame f;
	while ((fs = frame_decoder_next(&p->decoder, &in, &len, &f)) == FRAME_READY) {
		if (handle_frame(p, &f))
			return;
	}
	if (p->decoder.buf)
		hold(p); /* a frame straddles reads */
	if (fs == FRAME_ERR_NO_MEMORY) {
		request_close(p, CLOSE_UNEXPECTED_CONDITION, "out of memory");
		return;
	}
	if (fs != FRAME_NEED_MORE) {
		request_close(p, WS_CLOSE_PROTOCOL_ERROR, frame_status_str(fs));
		return;
	}
	struct peer *o = other_peer(p);
	if (o && !o->throttling_other && bytequeue_len(&o->out) > PEER_QUEUE_HIGH) {
		o->throttling_other = true;
		log_debug("tunnel %s: pausing reads from the %s (%zu bytes wait for the %s)", tunnel_id(p),
			  tunnel_side_name(p->side), bytequeue_len(&o->out), tunnel_side_name(o->side));
		p->dp->cfg.io->pause_reading(p->conn, true);
	}
}

int peer_writeable(struct peer *p)
{
	const struct peer_io *io = p->dp->cfg.io;
	if (p->close_code) {
		if (p->close_code == WS_CLOSE_PROTOCOL_ERROR ||
		    p->close_code == CLOSE_UNACCEPTABLE_OPCODE ||
		    p->close_code == CLOSE_MESSAGE_TOO_LARGE ||
		    p->close_code == CLOSE_POLICY_VIOLATION)
			log_warn("tunnel %s: closing %s %s with %d: %s", tunnel_id(p),
				 tunnel_side_name(p->side), p->addr, p->close_code, p->close_reason);
		io->close(p->conn, p->close_code, p->close_reason);
		return -1;
	}
	if (io->send(p->conn, &p->out))
		return -1;
	if (bytequeue_len(&p->out))
		io->want_write(p->conn);
	maybe_resume_other(p);
	return 0;
}

void peer_closed(struct peer *p)
{
	if (!p)
		return;
	if (p->live)
		detach(p, p->close_code ? p->close_reason : "connection closed");
	if (p->dp->cfg.node_id)
		store_forget(p->dp->cfg.store, p); /* its claim's answer must not find it */
	unhold(p);
	bytequeue_free(&p->out);
	frame_decoder_free(&p->decoder);
	free(p);
}

/* ---- what the API asks of the data plane -------------------------------- */

void dataplane_close_side(void *dp, struct registry_tunnel *t, int side, int code, const char *reason)
{
	struct tunnel_live *live = live_find(dp, t);
	for (int i = 0; live && i < 2; i++) {
		struct peer *p = live->peer[i];
		if (p && (side < 0 || side == i)) {
			log_info("tunnel %s: closing the %s (%s)", t->id, tunnel_side_name(p->side), reason);
			request_close(p, code, reason);
		}
	}
}

const char *dataplane_node_id(const struct dataplane *dp)
{
	return dp->cfg.node_id;
}

bool dataplane_side_connected(void *dp, const struct registry_tunnel *t, enum tunnel_side side)
{
	const struct tunnel_live *live = live_find(dp, t);
	return live && live->peer[side] && !live->peer[side]->close_code;
}

size_t dataplane_live_connections(void *dp, const struct registry_tunnel *t)
{
	const struct tunnel_live *live = live_find(dp, t);
	return live ? session_live_count(&live->session) : 0;
}

void dataplane_totals(const struct dataplane *dp, size_t *peers, size_t *live_connections)
{
	*peers = 0;
	*live_connections = 0;
	for (const struct tunnel_live *l = dp->live; l; l = l->next) {
		for (int s = 0; s < 2; s++)
			*peers += l->peer[s] && !l->peer[s]->close_code;
		*live_connections += session_live_count(&l->session);
	}
}

size_t dataplane_release_idle(struct dataplane *dp)
{
	size_t released = 0;
	for (struct peer *p = dp->holding, *next; p; p = next) {
		next = p->hold_next;
		if (!bytequeue_len(&p->out)) {
			released += p->out.cap;
			bytequeue_free(&p->out);
		}
		if (p->decoder.buf && frame_decoder_idle(&p->decoder)) {
			released += TUNNEL_MAX_FRAME;
			frame_decoder_release(&p->decoder);
		}
		if (!p->out.cap && !p->decoder.buf)
			unhold(p);
	}
	return released;
}
