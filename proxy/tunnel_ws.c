/* The tunnel WebSocket: connecting to the relay (TLS, access token and
 * client token headers), keep-alive pings, reassembling frames, sending
 * queued frames, and reconnecting with back-off. */
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/log.h"
#include "common/lws_glue.h"
#include "proxy/proxy.h"

static const char *const subprotocol_names[] = {
	NULL, "aws.iot.securetunneling-1.0", "aws.iot.securetunneling-2.0",
	"aws.iot.securetunneling-3.0",
};

static struct proxy *proxy_of(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

/* ---- sending ---------------------------------------------------------------- */

static void after_queue(struct proxy *p)
{
	if (p->ws)
		lws_callback_on_writable(p->ws);
	if (!p->locals_paused && bytequeue_len(&p->to_tunnel) > TUNNEL_QUEUE_HIGH)
		local_pause_reads(p, true); /* the relay is slower than our local readers */
}

static int queue_encoded(struct proxy *p, const struct tunnel_msg *m)
{
	size_t need = tunnel_msg_encoded_size(m);
	uint8_t *dst = bytequeue_reserve(&p->to_tunnel, need);
	if (!dst) {
		log_error("out of memory queueing a message for the relay");
		return -1;
	}
	size_t len = tunnel_msg_encode(m, dst, need);
	if (len == 0) {
		log_error("cannot encode %s for the relay", tunnel_msg_type_str(m->type));
		return -1;
	}
	bytequeue_commit(&p->to_tunnel, len);
	return 0;
}

/* Fills the fields every message about a connection carries, as the
 * negotiated version wants them (V1: no service id; before V3: no
 * connection id). */
static struct tunnel_msg conn_msg(const struct proxy *p, enum tunnel_msg_type type,
				  const struct local_conn *c)
{
	struct tunnel_msg m = {
		.type = type,
		.stream_id = c->stream_id,
		.service_id = p->version >= 2 ? p->services[c->service].id : "",
		.connection_id = p->version >= 3 ? c->connection_id : 0,
	};
	return m;
}

void tunnel_send_msg(struct proxy *p, const struct tunnel_msg *m)
{
	if (p->ws && queue_encoded(p, m) == 0)
		after_queue(p);
}

void tunnel_send_conn_msg(struct proxy *p, enum tunnel_msg_type type, const struct local_conn *c)
{
	struct tunnel_msg m = conn_msg(p, type, c);
	tunnel_send_msg(p, &m);
}

void tunnel_send_data(struct proxy *p, struct local_conn *c, const uint8_t *data, size_t len)
{
	if (!p->ws)
		return;
	while (len > 0) {
		size_t chunk = len > TUNNEL_MAX_PAYLOAD ? TUNNEL_MAX_PAYLOAD : len;
		struct tunnel_msg m = conn_msg(p, TMSG_DATA, c);
		m.payload = data;
		m.payload_len = chunk;
		if (queue_encoded(p, &m)) {
			local_end(c);
			break;
		}
		data += chunk;
		len -= chunk;
	}
	after_queue(p);
}

void tunnel_send_conn_reset(struct proxy *p, struct local_conn *c)
{
	/* Before V3 a stream holds one connection: ending it ends the stream. */
	tunnel_send_conn_msg(p, p->version >= 3 ? TMSG_CONNECTION_RESET : TMSG_STREAM_RESET, c);
	c->peer_knows = true;
}

/* ---- receiving ----------------------------------------------------------- */

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
		p->exiting = true;
		p->exit_code = 1;
		lws_cancel_service(p->ctx);
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
	p->ready = true;
	backoff_reset(&p->backoff);
	log_info("tunnel ready: services %s", list);
	if (p->opt->mode == PROXY_MODE_SOURCE)
		source_on_ready(p);
}

/* V1 has no SERVICE_IDS: the tunnel has one unnamed service. */
static void become_ready_v1(struct proxy *p)
{
	memset(&p->services[0], 0, sizeof(p->services[0]));
	p->n_services = 1;
	p->services[0].entry = 0;
	p->ready = true;
	backoff_reset(&p->backoff);
	log_info("tunnel ready: V1, one service");
	if (p->opt->mode == PROXY_MODE_SOURCE)
		source_on_ready(p);
}

static void handle_message(struct proxy *p, const struct tunnel_msg *m)
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
	if (p->opt->mode == PROXY_MODE_SOURCE)
		source_on_message(p, m, (size_t)service);
	else
		destination_on_message(p, m, (size_t)service);
}

static int on_receive(struct proxy *p, struct lws *wsi, const uint8_t *in, size_t len)
{
	if (!lws_frame_is_binary(wsi)) {
		log_error("the relay sent a text message; closing the connection");
		return -1;
	}
	enum frame_status fs = frame_decoder_account(&p->decoder, len, lws_is_first_fragment(wsi));
	struct frame f;
	while (fs == FRAME_NEED_MORE &&
	       (fs = frame_decoder_next(&p->decoder, &in, &len, &f)) == FRAME_READY) {
		struct tunnel_msg m;
		enum tunnel_msg_status st = tunnel_msg_parse(f.body, f.body_len, &m);
		if (st == TMSG_OK) {
			handle_message(p, &m);
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

/* ---- connection lifecycle ------------------------------------------------ */

static void connect_now(lws_sorted_usec_list_t *sul);

static void schedule_reconnect(struct proxy *p)
{
	uint32_t random = 0;
	if (RAND_bytes((unsigned char *)&random, sizeof(random)) != 1)
		random = (uint32_t)time(NULL);
	uint32_t ms = backoff_next_ms(&p->backoff, random);
	log_info("reconnecting to the relay in %.1f s", ms / 1000.0);
	lws_sul_schedule(p->ctx, 0, &p->reconnect_timer, connect_now, (lws_usec_t)ms * 1000);
}

static void send_ping_soon(lws_sorted_usec_list_t *sul)
{
	struct proxy *p = lws_container_of(sul, struct proxy, ping_timer);
	if (!p->ws)
		return;
	p->ping_due = true;
	lws_callback_on_writable(p->ws);
	lws_sul_schedule(p->ctx, 0, &p->ping_timer, send_ping_soon, PING_INTERVAL_US);
}

static void connect_now(lws_sorted_usec_list_t *sul)
{
	struct proxy *p = lws_container_of(sul, struct proxy, reconnect_timer);
	const struct proxy_options *o = p->opt;
	char path[64];
	snprintf(path, sizeof(path), "/tunnel?local-proxy-mode=%s",
		 o->mode == PROXY_MODE_SOURCE ? "source" : "destination");
	struct lws_client_connect_info ci;
	memset(&ci, 0, sizeof(ci));
	ci.context = p->ctx;
	ci.vhost = p->client_vhost;
	ci.address = o->endpoint.host;
	ci.port = o->endpoint.port;
	ci.path = path;
	ci.host = o->endpoint.host; /* AWS's relay wants Host without a port */
	ci.origin = o->endpoint.host;
	ci.protocol = subprotocol_names[o->client_version];
	ci.local_protocol_name = "tunnel";
	ci.alpn = "http/1.1";
	ci.ssl_connection = LCCSCF_USE_SSL;
	if (o->no_verify)
		ci.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
				     LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
	log_debug("connecting to wss://%s:%d%s", o->endpoint.host, o->endpoint.port, path);
	if (!lws_client_connect_via_info(&ci)) {
		log_warn("cannot start a connection to %s:%d", o->endpoint.host, o->endpoint.port);
		schedule_reconnect(p);
	}
}

static int add_handshake_headers(struct proxy *p, struct lws *wsi, unsigned char **pos, size_t len)
{
	unsigned char *end = *pos + len;
	const char *token = p->opt->access_token;
	if (lws_add_http_header_by_name(wsi, (const unsigned char *)"access-token:",
					(const unsigned char *)token, (int)strlen(token), pos, end) ||
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"client-token:",
					(const unsigned char *)p->opt->client_token,
					(int)strlen(p->opt->client_token), pos, end)) {
		log_error("the handshake headers do not fit");
		return -1;
	}
	return 0;
}

static void on_established(struct proxy *p, struct lws *wsi)
{
	p->ws = wsi;
	p->version = p->opt->client_version; /* the one subprotocol we asked for */
	p->ready = false;
	p->ws_rx_paused = false;
	frame_decoder_init(&p->decoder);
	bytequeue_consume(&p->to_tunnel, bytequeue_len(&p->to_tunnel));
	log_info("connected to relay %s:%d (%s)", p->opt->endpoint.host, p->opt->endpoint.port,
		 subprotocol_names[p->version]);
	/* Ping right away, then every 20 s. */
	send_ping_soon(&p->ping_timer);
	if (p->version == 1)
		become_ready_v1(p);
}

static void on_disconnected(struct proxy *p, const char *why)
{
	bool was_connected = p->ws != NULL;
	p->ws = NULL;
	p->ready = false;
	lws_sul_cancel(&p->ping_timer);
	conn_end_all(p);
	bytequeue_consume(&p->to_tunnel, bytequeue_len(&p->to_tunnel));
	if (p->locals_paused)
		local_pause_reads(p, false);
	if (p->exiting) {
		if (!p->destroying)
			lws_cancel_service(p->ctx); /* wake the loop so main() sees it */
		return;
	}
	if (was_connected)
		log_warn("disconnected from the relay: %s", why);
	schedule_reconnect(p);
}

/* A close frame from the relay: 1000 means the tunnel was closed (exit 0);
 * 1001 (going away) is retried; anything else will not heal by retrying. */
static void on_peer_close(struct proxy *p, const uint8_t *in, size_t len)
{
	int code = len >= 2 ? (in[0] << 8) | in[1] : 1005;
	const char *reason = len > 2 ? (const char *)in + 2 : "";
	int reason_len = len > 2 ? (int)(len - 2) : 0;
	if (code == LWS_CLOSE_STATUS_GOINGAWAY) {
		log_info("the relay is going away (%d %.*s); will reconnect", code, reason_len, reason);
		return;
	}
	p->exiting = true;
	p->exit_code = code == LWS_CLOSE_STATUS_NORMAL ? 0 : 1;
	if (code == LWS_CLOSE_STATUS_NORMAL)
		log_info("the relay closed the tunnel (%.*s); exiting", reason_len, reason);
	else
		log_error("the relay closed the connection with %d: %.*s; exiting", code, reason_len, reason);
}

static void on_connection_error(struct proxy *p, struct lws *wsi, const char *in, size_t len)
{
	unsigned int status = lws_http_client_http_response(wsi);
	if (status >= 400 && status < 500) {
		/* 4xx: the relay refused us for good (token, mode, path...). */
		log_fatal("the relay refused the connection: HTTP %u (%s); not retrying", status,
			  status == 401 ? "access token not recognised" :
			  status == 403 ? "access token already in use, or for the other mode" :
			  "bad request");
		p->exiting = true;
		p->exit_code = 1;
		lws_cancel_service(p->ctx);
		return;
	}
	if (status)
		log_warn("the relay answered HTTP %u", status);
	else
		log_warn("cannot connect to the relay %s:%d: %.*s", p->opt->endpoint.host,
			 p->opt->endpoint.port, in ? (int)len : 7, in ? in : "unknown");
	on_disconnected(p, "connection failed");
}

static int on_writeable(struct proxy *p, struct lws *wsi)
{
	if (p->ping_due) {
		/* AWS's localproxy puts the epoch time in ms, as text, in its pings. */
		uint8_t buf[LWS_PRE + 32];
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		int n = snprintf((char *)buf + LWS_PRE, sizeof(buf) - LWS_PRE, "%lld",
				 (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
		p->ping_due = false;
		if (lws_write(wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_PING) < n)
			return -1;
		if (bytequeue_len(&p->to_tunnel))
			lws_callback_on_writable(wsi);
		return 0;
	}
	if (ws_send_queued(wsi, &p->to_tunnel, TUNNEL_MAX_WS_MESSAGE))
		return -1;
	if (bytequeue_len(&p->to_tunnel))
		lws_callback_on_writable(wsi);
	if (p->locals_paused && bytequeue_len(&p->to_tunnel) < TUNNEL_QUEUE_LOW)
		local_pause_reads(p, false);
	return 0;
}

static int tunnel_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			   void *in, size_t len)
{
	struct proxy *p = proxy_of(wsi);
	switch (reason) {
	case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_CLIENT_VERIFY_CERTS: {
		/* A CA directory, or the system's CAs when none was named. */
		struct stat st;
		if (!p->opt->capath[0])
			SSL_CTX_set_default_verify_paths(user);
		else if (stat(p->opt->capath, &st) == 0 && S_ISDIR(st.st_mode) &&
			 !SSL_CTX_load_verify_locations(user, NULL, p->opt->capath))
			log_error("cannot load CA certificates from %s", p->opt->capath);
		return 0;
	}
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		return add_handshake_headers(p, wsi, in, len);
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		on_established(p, wsi);
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		return on_receive(p, wsi, in, len);
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return on_writeable(p, wsi);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		on_peer_close(p, in, len);
		return 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		on_connection_error(p, wsi, in, len);
		return 0;
	case LWS_CALLBACK_CLIENT_CLOSED:
		on_disconnected(p, "connection closed");
		return 0;
	default:
		return 0;
	}
}

const struct lws_protocols tunnel_ws_protocol = {
	"tunnel", tunnel_callback, 0, TUNNEL_MAX_WS_MESSAGE, 0, NULL, 0
};

int tunnel_ws_init(struct proxy *p)
{
	const struct proxy_options *o = p->opt;
	static const struct lws_protocols *protocols[] = {
		&tunnel_ws_protocol, &local_tcp_protocol, NULL
	};
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.pprotocols = protocols;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	info.user = p;
	/* lws reads at most this much per socket per event (and builds the
	 * handshake, with its 4096-character token, in it): small values cost
	 * a poll() per few KiB. */
	info.pt_serv_buf_size = LWS_IO_BUFFER_SIZE;
	p->ctx = lws_create_context(&info);
	if (!p->ctx) {
		log_fatal("cannot create the event loop");
		return -1;
	}
	struct stat st;
	info.vhost_name = "relay-client";
	info.ssl_client_options_set = TLS_MIN_1_2_OPTIONS;
	if (o->capath[0] && stat(o->capath, &st) == 0 && !S_ISDIR(st.st_mode))
		info.client_ssl_ca_filepath = o->capath;
	if (o->https_proxy.host[0]) {
		info.http_proxy_address = o->https_proxy.host;
		info.http_proxy_port = (unsigned int)o->https_proxy.port;
	}
	p->client_vhost = lws_create_vhost(p->ctx, &info);
	if (!p->client_vhost) {
		log_fatal("cannot set up TLS for the relay connection (CA file %s)",
			  o->capath[0] ? o->capath : "system default");
		return -1;
	}
	if (o->no_verify)
		log_warn("TLS verification of the relay is OFF (-k): anyone on the path can "
			 "impersonate the relay and read the tunnel");
	stop_signals_install(p->ctx);
	connect_now(&p->reconnect_timer);
	return 0;
}

void tunnel_ws_shutdown(struct proxy *p)
{
	lws_sul_cancel(&p->reconnect_timer);
	lws_sul_cancel(&p->ping_timer);
	p->exiting = true;
	p->destroying = true;
	stop_signals_detach();
	if (p->ctx)
		lws_context_destroy(p->ctx);
	p->ctx = NULL;
}
