#include "relay/ws_server.h"

#include <libwebsockets.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/bytequeue.h"
#include "common/log.h"
#include "common/lws_glue.h"
#include "proto/frame.h"
#include "proto/message.h"
#include "relay/admit.h"
#include "relay/notify.h"
#include "relay/peer_liveness.h"
#include "relay/server_state.h"
#include "relay/session.h"
#include "relay/store.h"

/* A peer's outgoing queue above HIGH pauses reading from the other side of
 * its tunnel; below LOW reading resumes. With one WebSocket message
 * (<= 131076 bytes) in flight when the pause lands, a queue never holds more
 * than HIGH + 131076 bytes. */
#define PEER_QUEUE_HIGH (256u * 1024u)
#define PEER_QUEUE_LOW (64u * 1024u)

struct peer;

/* Runtime state of a tunnel with at least one side connected. */
struct tunnel_live {
	struct session session;
	struct peer *peer[2];
};

/* Per-WebSocket state (lws allocates it zeroed as the session's user data). */
struct peer {
	struct lws *wsi;
	struct registry_tunnel *tunnel; /* NULL once detached */
	enum tunnel_side side;
	int version;
	struct frame_decoder *decoder;
	struct bytequeue out;           /* frames waiting to be sent to this peer */
	bool throttling_other;          /* we paused the other side's rx */
	int close_code;                 /* nonzero: close on the next writeable */
	char close_reason[96];
	char addr[64];
};


static struct relay_server *server_of(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

static struct tunnel_live *live_of(struct peer *p)
{
	return p->tunnel ? p->tunnel->live : NULL;
}

static struct peer *other_peer(struct peer *p)
{
	struct tunnel_live *live = live_of(p);
	return live ? live->peer[1 - p->side] : NULL;
}

static const char *tunnel_id(const struct peer *p)
{
	return p->tunnel ? p->tunnel->id : "?";
}

/* ---- handshake -------------------------------------------------------- */

/* Copies a custom header's value into buf. Returns its length, or -1 when
 * absent; -2 when longer than the buffer. */
static int copy_custom_header(struct lws *wsi, const char *name, char *buf, int cap)
{
	int n = (int)strlen(name);
	int len = lws_hdr_custom_length(wsi, name, n);
	if (len < 0)
		return -1;
	if (len >= cap)
		return -2;
	if (lws_hdr_custom_copy(wsi, buf, cap, name, n) < 0)
		return -1;
	return len;
}

static int refuse_http(struct lws *wsi, int status, const char *reason, const char *label)
{
	metrics_count_rejection(&server_of(wsi)->metrics, label);
	char addr[64] = "?";
	lws_get_peer_simple(wsi, addr, sizeof(addr));
	log_warn("rejected handshake from %s: HTTP %d: %s", addr, status, reason);
	char body[160];
	snprintf(body, sizeof(body), "%s\n", reason);
	if (lws_return_http_status(wsi, (unsigned int)status, body))
		return -1;
	return 1; /* response written: lws ends the transaction */
}

/* Persists a tunnel's new state; a failure is logged, the relay goes on. */
static void save_tunnel(struct relay_server *srv, const struct registry_tunnel *t)
{
	char err[256];
	if (srv->store && store_save(srv->store, t, err, sizeof(err)))
		log_error("tunnel %s: cannot save its state: %s", t->id, err);
}

static int on_confirm_upgrade(struct lws *wsi, const char *upgrade)
{
	struct relay_server *srv = server_of(wsi);
	if (strcasecmp(upgrade, "websocket"))
		return refuse_http(wsi, 400, "only WebSocket upgrades are served", "bad_upgrade");

	char path[128] = "", mode[32], subprotocols[256] = "";
	char token[TUNNEL_MAX_ACCESS_TOKEN + 1], client_token[TUNNEL_MAX_CLIENT_TOKEN + 2];
	if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) < 0)
		path[0] = '\0';
	/* Points past "local-proxy-mode=" inside mode, or NULL when absent. */
	const char *mode_value = lws_get_urlarg_by_name(wsi, "local-proxy-mode=", mode, sizeof(mode));
	if (lws_hdr_copy(wsi, subprotocols, sizeof(subprotocols), WSI_TOKEN_PROTOCOL) <= 0)
		subprotocols[0] = '\0';

	int token_len = copy_custom_header(wsi, "access-token:", token, sizeof(token));
	if (token_len == -2) {
		OPENSSL_cleanse(token, sizeof(token));
		return refuse_http(wsi, 401, "access-token longer than 4096 characters", "malformed_token");
	}
	int ct_len = copy_custom_header(wsi, "client-token:", client_token, sizeof(client_token));
	if (ct_len == -2) {
		OPENSSL_cleanse(token, sizeof(token));
		return refuse_http(wsi, 400, "malformed client-token (want 32-128 of [A-Za-z0-9-])",
				   "malformed_client_token");
	}

	struct admit_request req = {
		.path = path,
		.mode = mode_value,
		.subprotocols = subprotocols[0] ? subprotocols : NULL,
		.access_token = token_len >= 0 ? token : NULL,
		.access_token_len = token_len >= 0 ? (size_t)token_len : 0,
		.client_token = ct_len >= 0 ? client_token : NULL,
		.client_token_len = ct_len >= 0 ? (size_t)ct_len : 0,
	};
	struct admit_result res = admit_decide(srv->registry, &req);
	OPENSSL_cleanse(token, sizeof(token));
	if (res.http_status) {
		OPENSSL_cleanse(client_token, sizeof(client_token));
		return refuse_http(wsi, res.http_status, res.reason, res.label ? res.label : "other");
	}
	/* The token is marked used only in ESTABLISHED: lws may still fail the
	 * upgrade after this point, and the token must not be lost then. */
	srv->pending_wsi = wsi;
	srv->pending = res;
	srv->pending_client_token_len = ct_len > 0 ? (size_t)ct_len : 0;
	memcpy(srv->pending_client_token, client_token, srv->pending_client_token_len);
	OPENSSL_cleanse(client_token, sizeof(client_token));
	return 0;
}

/* ---- sending ------------------------------------------------------------ */

static void request_close(struct peer *p, int code, const char *reason)
{
	if (p->close_code)
		return;
	p->close_code = code;
	snprintf(p->close_reason, sizeof(p->close_reason), "%s", reason);
	lws_callback_on_writable(p->wsi);
	/* A peer that stopped reading never becomes writeable: drop it then. */
	lws_set_timeout(p->wsi, PENDING_TIMEOUT_CLOSE_SEND, 5);
}

static int queue_frame(struct peer *to, const uint8_t *frame, size_t len)
{
	/* Forwarded data stops at PEER_QUEUE_HIGH plus a message in flight
	 * (the sender is paused); only a peer that keeps asking for replies
	 * (resets) without reading them gets past this. */
	if (bytequeue_len(&to->out) > PEER_QUEUE_HIGH + 2 * TUNNEL_MAX_WS_MESSAGE) {
		request_close(to, LWS_CLOSE_STATUS_POLICY_VIOLATION, "not reading what the relay sends");
		return -1;
	}
	if (bytequeue_append(&to->out, frame, len)) {
		request_close(to, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
		return -1;
	}
	lws_callback_on_writable(to->wsi);
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
	const char *ids[TUNNEL_MAX_SERVICES];
	for (size_t i = 0; i < p->tunnel->n_services; i++)
		ids[i] = p->tunnel->services[i];
	struct tunnel_msg m = {
		.type = TMSG_SERVICE_IDS,
		.service_id = "",
		.n_service_ids = p->tunnel->n_services,
		.service_ids = ids,
	};
	queue_msg(p, &m);
}

static void send_session_reset(struct peer *p)
{
	struct tunnel_msg m = { .type = TMSG_SESSION_RESET, .service_id = "" };
	queue_msg(p, &m);
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
		lws_rx_flow_control(o->wsi, 1);
}

/* ---- joining and leaving ----------------------------------------------- */

static void detach(struct peer *p, const char *why)
{
	struct tunnel_live *live = live_of(p);
	if (!live)
		return;
	struct peer *o = live->peer[1 - p->side];
	live->peer[p->side] = NULL;
	session_peer_left(&live->session, p->side);
	p->tunnel->side_changed_at[p->side] = time(NULL);
	save_tunnel(server_of(p->wsi), p->tunnel);
	log_info("tunnel %s: %s disconnected (%s)", p->tunnel->id, tunnel_side_name(p->side), why);
	if (o) {
		if (p->throttling_other)
			lws_rx_flow_control(o->wsi, 1);
		o->throttling_other = false;
		send_session_reset(o);
	} else {
		session_free(&live->session);
		free(live);
		p->tunnel->live = NULL;
	}
	p->throttling_other = false;
	p->tunnel = NULL;
}

static int on_established(struct lws *wsi, struct peer *p)
{
	struct relay_server *srv = server_of(wsi);
	if (srv->pending_wsi != wsi) {
		log_error("handshake state lost for a connection; closing it");
		return -1;
	}
	struct admit_result res = srv->pending;
	srv->pending_wsi = NULL;
	struct admit_request committed = {
		.client_token = srv->pending_client_token_len ? srv->pending_client_token : NULL,
		.client_token_len = srv->pending_client_token_len,
	};
	admit_commit(&res, &committed);
	OPENSSL_cleanse(srv->pending_client_token, sizeof(srv->pending_client_token));

	memset(p, 0, sizeof(*p));
	p->wsi = wsi;
	p->side = res.side;
	p->version = subprotocol_version(lws_get_protocol(wsi)->name,
					 strlen(lws_get_protocol(wsi)->name));
	bytequeue_init(&p->out, LWS_PRE);
	lws_get_peer_simple(wsi, p->addr, sizeof(p->addr));
	p->decoder = malloc(sizeof(*p->decoder));
	if (!p->decoder) {
		log_error("out of memory for a new connection");
		return -1;
	}
	frame_decoder_init(p->decoder);
	peer_liveness_start(wsi, p->addr);

	struct registry_tunnel *t = res.tunnel;
	struct tunnel_live *live = t->live;
	struct peer *old = live ? live->peer[res.side] : NULL;
	if (old) {
		/* A reconnect with the same client token replaces the old socket. */
		detach(old, "replaced by a reconnect");
		request_close(old, LWS_CLOSE_STATUS_GOINGAWAY, "replaced by a reconnect");
		live = t->live;
	}
	if (!live) {
		live = calloc(1, sizeof(*live));
		if (!live || session_init(&live->session, t, srv->max_connections)) {
			free(live);
			log_error("tunnel %s: out of memory", t->id);
			return -1;
		}
		t->live = live;
	}
	p->tunnel = t;
	live->peer[res.side] = p;
	session_peer_joined(&live->session, res.side, p->version);
	t->side_changed_at[res.side] = time(NULL);
	save_tunnel(srv, t);
	log_info("tunnel %s: %s connected from %s (V%d%s)", t->id, tunnel_side_name(res.side),
		 p->addr, p->version, res.reconnect ? ", reconnect" : "");
	if (p->version >= 2)
		send_service_ids(p);
	return 0;
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
		request_close(p, LWS_CLOSE_STATUS_PROTOCOL_ERR, reason);
		return -1;
	}
	struct tunnel_live *live = live_of(p);
	server_of(p->wsi)->metrics.bytes_from[p->side] += f->raw_len;
	struct session_action a = session_on_message(&live->session, p->side, &m);
	int rc = 0;
	switch (a.verdict) {
	case SV_FORWARD:
		queue_frame(live->peer[1 - p->side], f->raw, f->raw_len);
		break;
	case SV_DROP:
		log_debug("tunnel %s: dropped %s (stream %d, connection %u) from %s: %s",
			  p->tunnel->id, tunnel_msg_type_str(m.type), m.stream_id,
			  m.connection_id, tunnel_side_name(p->side), a.reason);
		break;
	case SV_REPLY:
		if (a.limit_reached)
			log_warn("tunnel %s: refusing %s (stream %d, connection %u): connection limit of %zu reached",
				 p->tunnel->id, tunnel_msg_type_str(m.type), m.stream_id,
				 m.connection_id ? m.connection_id : 1, live->session.max_live);
		else
			log_info("tunnel %s: answering %s with %s: %s", p->tunnel->id,
				 tunnel_msg_type_str(m.type), tunnel_msg_type_str(a.reply.type), a.reason);
		queue_msg(p, &a.reply);
		break;
	case SV_PROTOCOL_ERROR:
		request_close(p, LWS_CLOSE_STATUS_PROTOCOL_ERR, a.reason);
		rc = -1;
		break;
	}
	tunnel_msg_free(&m);
	return rc;
}

static int on_receive(struct lws *wsi, struct peer *p, const uint8_t *in, size_t len)
{
	if (!p->tunnel || p->close_code)
		return 0; /* detached or closing: ignore what is still in flight */
	if (!lws_frame_is_binary(wsi)) {
		request_close(p, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, "text messages are not allowed");
		return 0;
	}
	enum frame_status fs = frame_decoder_account(p->decoder, len, lws_is_first_fragment(wsi));
	if (fs != FRAME_NEED_MORE) {
		request_close(p, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, frame_status_str(fs));
		return 0;
	}
	struct frame f;
	while ((fs = frame_decoder_next(p->decoder, &in, &len, &f)) == FRAME_READY) {
		if (handle_frame(p, &f))
			return 0;
	}
	if (fs != FRAME_NEED_MORE) {
		request_close(p, LWS_CLOSE_STATUS_PROTOCOL_ERR, frame_status_str(fs));
		return 0;
	}
	struct peer *o = other_peer(p);
	if (o && !o->throttling_other && bytequeue_len(&o->out) > PEER_QUEUE_HIGH) {
		o->throttling_other = true;
		log_debug("tunnel %s: pausing reads from the %s (%zu bytes wait for the %s)", tunnel_id(p),
			  tunnel_side_name(p->side), bytequeue_len(&o->out), tunnel_side_name(o->side));
		lws_rx_flow_control(wsi, 0);
	}
	return 0;
}

static int on_writeable(struct lws *wsi, struct peer *p)
{
	if (p->close_code) {
		if (p->close_code == LWS_CLOSE_STATUS_PROTOCOL_ERR ||
		    p->close_code == LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE ||
		    p->close_code == LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE ||
		    p->close_code == LWS_CLOSE_STATUS_POLICY_VIOLATION)
			log_warn("tunnel %s: closing %s %s with %d: %s", tunnel_id(p),
				 tunnel_side_name(p->side), p->addr, p->close_code, p->close_reason);
		lws_close_reason(wsi, (enum lws_close_status)p->close_code,
				 (unsigned char *)p->close_reason, strlen(p->close_reason));
		return -1;
	}
	if (ws_send_queued(wsi, &p->out, TUNNEL_MAX_WS_MESSAGE))
		return -1;
	if (bytequeue_len(&p->out))
		lws_callback_on_writable(wsi);
	maybe_resume_other(p);
	return 0;
}

static void on_closed(struct peer *p)
{
	if (p->tunnel)
		detach(p, p->close_code ? p->close_reason : "connection closed");
	bytequeue_free(&p->out);
	free(p->decoder);
	p->decoder = NULL;
}

/* ---- lws callbacks ------------------------------------------------------ */

static int tunnel_callback(struct lws *wsi, enum lws_callback_reasons reason,
			   void *user, void *in, size_t len)
{
	struct peer *p = user;
	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		return on_established(wsi, p);
	case LWS_CALLBACK_RECEIVE:
		return on_receive(wsi, p, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return on_writeable(wsi, p);
	case LWS_CALLBACK_RECEIVE_PONG:
		return 0;
	case LWS_CALLBACK_TIMER:
		return peer_liveness_check(wsi, p->addr);
	case LWS_CALLBACK_CLOSED:
		on_closed(p);
		return 0;
	default:
		return 0;
	}
}

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason,
			 void *user, void *in, size_t len)
{
	switch (reason) {
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return on_confirm_upgrade(wsi, in);
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		/* lws binds the first listed name it knows, and "http" is one of
		 * ours: a WebSocket must speak a tunnel subprotocol. */
		log_warn("rejected handshake: the client listed \"http\" as a WebSocket subprotocol");
		return -1;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED: {
		/* The MQTT client's threads woke us: run what it finished. */
		struct relay_server *srv = server_of(wsi);
		if (srv && srv->notifier)
			notifier_poll(srv->notifier);
		return 0;
	}
	default:
		return http_api_callback(wsi, reason, user, in, len);
	}
}

/* lws picks the protocol named by the client's Sec-WebSocket-Protocol. */
/* Not const: the http entry's session size comes from http_api.c. */
static struct lws_protocols relay_protocols[] = {
	{ "http", http_callback, 0, API_MAX_BODY, 0, NULL, 0 },
	{ SUBPROTOCOL_V3, tunnel_callback, sizeof(struct peer), TUNNEL_MAX_WS_MESSAGE, 0, NULL, 0 },
	{ SUBPROTOCOL_V2, tunnel_callback, sizeof(struct peer), TUNNEL_MAX_WS_MESSAGE, 0, NULL, 0 },
	{ SUBPROTOCOL_V1, tunnel_callback, sizeof(struct peer), TUNNEL_MAX_WS_MESSAGE, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* ---- what the API asks of the data plane -------------------------------- */

void relay_close_side(void *server, struct registry_tunnel *t, int side, int code, const char *reason)
{
	(void)server;
	struct tunnel_live *live = t->live;
	for (int i = 0; live && i < 2; i++) {
		struct peer *p = live->peer[i];
		if (p && (side < 0 || side == i)) {
			log_info("tunnel %s: closing the %s (%s)", t->id, tunnel_side_name(p->side), reason);
			request_close(p, code, reason);
		}
	}
}

bool relay_side_connected(void *server, const struct registry_tunnel *t, enum tunnel_side side)
{
	(void)server;
	const struct tunnel_live *live = t->live;
	return live && live->peer[side] && !live->peer[side]->close_code;
}

size_t relay_live_connections(void *server, const struct registry_tunnel *t)
{
	(void)server;
	const struct tunnel_live *live = t->live;
	return live ? session_live_count(&live->session) : 0;
}

void relay_gauges(struct relay_server *srv, struct metrics_gauges *g)
{
	memset(g, 0, sizeof(*g));
	for (size_t i = 0; i < srv->registry->n; i++) {
		const struct registry_tunnel *t = srv->registry->tunnels[i];
		if (t->closed_at)
			g->tunnels_closed++;
		else
			g->tunnels_open++;
		g->peers_connected += relay_side_connected(srv, t, SIDE_SOURCE) +
				      relay_side_connected(srv, t, SIDE_DESTINATION);
		g->live_connections += relay_live_connections(srv, t);
	}
}

void relay_api_env(struct relay_server *srv, struct api_env *env)
{
	memset(env, 0, sizeof(*env));
	env->registry = srv->registry;
	env->store = srv->store;
	env->api_key = srv->api_key;
	env->now = time(NULL);
	env->hooks.server = srv;
	env->hooks.close_side = relay_close_side;
	env->hooks.side_connected = relay_side_connected;
	env->hooks.live_connections = relay_live_connections;
}

/* Once a second: close expired tunnels, let the MQTT client report. */
static void on_tick(lws_sorted_usec_list_t *sul)
{
	struct relay_server *srv = lws_container_of(sul, struct relay_server, tick);
	struct api_env env;
	relay_api_env(srv, &env);
	for (size_t i = 0; i < srv->registry->n; i++) {
		struct registry_tunnel *t = srv->registry->tunnels[i];
		if (t->closed_at || !t->expires_at || t->expires_at > env.now)
			continue;
		char err[256];
		log_info("tunnel %s: lifetime of %d min is over; closing it", t->id, t->lifetime_minutes);
		if (api_close_tunnel(&env, t, "tunnel expired", err, sizeof(err)))
			log_error("tunnel %s: cannot save its state: %s", t->id, err);
	}
	if (srv->notifier)
		notifier_poll(srv->notifier);
	lws_sul_schedule(srv->ctx, 0, &srv->tick, on_tick, LWS_USEC_PER_SEC);
}

struct relay_server *relay_server_start(const struct relay_server_config *cfg,
					struct registry *registry)
{
	struct relay_server *srv = calloc(1, sizeof(*srv));
	if (!srv) {
		log_error("out of memory");
		return NULL;
	}
	srv->registry = registry;
	srv->store = cfg->store;
	srv->api_key = cfg->api_key;
	srv->max_connections = cfg->max_connections;
	relay_protocols[0].per_session_data_size = http_session_size();

	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.port = cfg->port;
	info.iface = cfg->bind;
	info.protocols = relay_protocols;
	info.user = srv;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	if (cfg->bind && !strchr(cfg->bind, ':'))
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6; /* an IPv4 address */
	info.ssl_cert_filepath = cfg->cert;
	info.ssl_private_key_filepath = cfg->key;
	info.ssl_options_set = TLS_MIN_1_2_OPTIONS;
	info.alpn = "http/1.1"; /* the API and WebSockets speak HTTP/1.1 */
	/* The whole upgrade request is capped at 4 KiB (PROTOCOL.md §2). */
	info.max_http_header_data = TUNNEL_MAX_HTTP_REQUEST;
	info.pt_serv_buf_size = LWS_IO_BUFFER_SIZE; /* bytes read per socket per event */
	info.timeout_secs = 10;
	info.ka_time = 60;
	info.ka_probes = 3;
	info.ka_interval = 10;

	srv->ctx = lws_create_context(&info);
	if (!srv->ctx) {
		log_error("cannot listen on %s:%d with certificate %s and key %s "
			  "(port in use, or unreadable certificate/key?)",
			  cfg->bind ? cfg->bind : "*", cfg->port, cfg->cert, cfg->key);
		free(srv);
		return NULL;
	}
	if (cfg->notify) {
		char err[256];
		srv->notifier = notifier_start(cfg->notify, srv->ctx, err, sizeof(err));
		if (!srv->notifier) {
			log_error("MQTT: %s", err);
			lws_context_destroy(srv->ctx);
			free(srv);
			return NULL;
		}
	}
	log_info("listening on %s:%d (%zu tunnels, at most %zu connections each; API %s; MQTT %s)",
		 cfg->bind ? cfg->bind : "*", cfg->port, registry->n, cfg->max_connections,
		 srv->api_key ? "on" : "off", srv->notifier ? cfg->notify->uri : "off");
	lws_sul_schedule(srv->ctx, 0, &srv->tick, on_tick, LWS_USEC_PER_SEC);
	return srv;
}

int relay_server_run(struct relay_server *srv)
{
	stop_signals_install(srv->ctx);
	while (!stop_requested()) {
		if (lws_service(srv->ctx, 0) < 0)
			break;
	}
	log_info("stopping (signal %d)", stop_signal());
	return 0;
}

void relay_server_stop(struct relay_server *srv)
{
	if (!srv)
		return;
	lws_sul_cancel(&srv->tick);
	/* Pending API calls get their notification result before lws frees them. */
	if (srv->notifier)
		notifier_stop(srv->notifier);
	srv->notifier = NULL;
	stop_signals_detach();
	lws_context_destroy(srv->ctx);
	/* Closing every connection has released each tunnel's live state. */
	free(srv);
}
