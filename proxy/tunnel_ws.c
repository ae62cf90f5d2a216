/* The tunnel WebSocket: connecting to the relay (TLS, access token and
 * client token headers), keep-alive pings, reassembling frames, sending
 * queued frames, and reconnecting with back-off. The WebSocket itself is
 * proxy/ws_client.c. */
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/lws_glue.h"
#include "proto/ws_codec.h"
#include "proxy/proxy.h"

static const char *const subprotocol_names[] = {
	NULL, SUBPROTOCOL_V1, SUBPROTOCOL_V2, SUBPROTOCOL_V3,
};

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
	/* Listen first: whoever waits for "tunnel ready" may connect at once. */
	if (p->opt->mode == PROXY_MODE_SOURCE)
		source_on_ready(p);
	if (!p->exiting)
		log_info("tunnel ready: services %s", list);
}

/* V1 has no SERVICE_IDS: the tunnel has one unnamed service. */
static void become_ready_v1(struct proxy *p)
{
	memset(&p->services[0], 0, sizeof(p->services[0]));
	p->n_services = 1;
	p->services[0].entry = 0;
	p->ready = true;
	backoff_reset(&p->backoff);
	if (p->opt->mode == PROXY_MODE_SOURCE)
		source_on_ready(p);
	if (!p->exiting)
		log_info("tunnel ready: V1, one service");
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

static int on_receive(void *user, const uint8_t *in, size_t len, bool first, bool binary)
{
	struct proxy *p = user;
	if (!binary) {
		log_error("the relay sent a text message; closing the connection");
		return -1;
	}
	enum frame_status fs = frame_decoder_account(&p->decoder, len, first);
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
	if (!p->connected)
		return;
	ws_client_check_path(p->wc);
	/* AWS's localproxy puts the epoch time in ms, as text, in its pings. */
	char text[32];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	int n = snprintf(text, sizeof(text), "%lld", (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
	ws_client_ping(p->wc, (const uint8_t *)text, (size_t)n);
	lws_sul_schedule(p->ctx, 0, &p->ping_timer, send_ping_soon, PING_INTERVAL_US);
}

static void connect_now(lws_sorted_usec_list_t *sul)
{
	struct proxy *p = lws_container_of(sul, struct proxy, reconnect_timer);
	log_debug("connecting to wss://%s:%d%s", p->opt->endpoint.host, p->opt->endpoint.port,
		  p->ws_path);
	if (ws_client_connect(p->wc))
		schedule_reconnect(p);
}

static void on_established(void *user)
{
	struct proxy *p = user;
	p->connected = true;
	p->version = p->opt->client_version; /* the one subprotocol we asked for */
	p->ready = false;
	p->ws_rx_paused = false;
	frame_decoder_init(&p->decoder);
	tunnel_send_drop_all(p);
	log_info("connected to relay %s:%d (%s)", p->opt->endpoint.host, p->opt->endpoint.port,
		 subprotocol_names[p->version]);
	/* Ping right away, then every 20 s. */
	send_ping_soon(&p->ping_timer);
	if (p->version == 1)
		become_ready_v1(p);
}

static void on_disconnected(struct proxy *p, bool was_connected, const char *why)
{
	p->connected = false;
	p->ready = false;
	lws_sul_cancel(&p->ping_timer);
	tunnel_send_drop_all(p);
	conn_end_all(p);
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
static void on_peer_close(void *user, int code, const char *reason, size_t len)
{
	struct proxy *p = user;
	int reason_len = len > 123 ? 123 : (int)len;
	if (code == WS_CLOSE_GOING_AWAY) {
		log_info("the relay is going away (%d %.*s); will reconnect", code, reason_len, reason);
		return;
	}
	p->exiting = true;
	p->exit_code = code == WS_CLOSE_NORMAL ? 0 : 1;
	if (code == WS_CLOSE_NORMAL)
		log_info("the relay closed the tunnel (%.*s); exiting", reason_len, reason);
	else
		log_error("the relay closed the connection with %d: %.*s; exiting", code, reason_len, reason);
}

static void on_ended(void *user, bool opened, int http_status, const char *why)
{
	struct proxy *p = user;
	if (opened) {
		on_disconnected(p, true, why);
		return;
	}
	if (http_status >= 400 && http_status < 500) {
		/* 4xx: the relay refused us for good (token, mode, path...). */
		log_fatal("the relay refused the connection: HTTP %d (%s); not retrying", http_status,
			  http_status == 401 ? "access token not recognised" :
			  http_status == 403 ? "access token already in use, or for the other mode" :
			  "bad request");
		p->exiting = true;
		p->exit_code = 1;
		if (!p->destroying)
			lws_cancel_service(p->ctx);
		return;
	}
	if (!p->destroying)
		log_warn("cannot connect to the relay %s:%d: %s", p->opt->endpoint.host,
			 p->opt->endpoint.port, why);
	on_disconnected(p, false, why);
}

static void on_writeable(void *user)
{
	tunnel_send_next(user);
}

int tunnel_ws_init(struct proxy *p)
{
	const struct proxy_options *o = p->opt;
	static const struct lws_protocols *protocols[] = {
		&ws_client_protocol, &local_tcp_protocol, NULL
	};
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.pprotocols = protocols;
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	info.user = p;
	/* lws reads at most this much per local socket per event: small values
	 * cost a poll() per few KiB. */
	info.pt_serv_buf_size = LOCAL_IO_BUFFER_SIZE;
	/* Left at 0, lws sizes (and zeroes) its descriptor tables for the
	 * process's whole file limit: 320 KiB of RSS for 20000 descriptors. We
	 * need the tunnel, the local connections and the listeners. */
	info.fd_limit_per_thread = LOCALPROXY_MAX_FDS;
	p->ctx = lws_create_context(&info);
	if (!p->ctx) {
		log_fatal("cannot create the event loop");
		return -1;
	}
	info.vhost_name = "local";
	p->client_vhost = lws_create_vhost(p->ctx, &info);
	if (!p->client_vhost) {
		log_fatal("cannot create the event loop's client side");
		return -1;
	}
	snprintf(p->ws_path, sizeof(p->ws_path), WIRE_PATH "?" WIRE_MODE_PARAM "=%s",
		 o->mode == PROXY_MODE_SOURCE ? "source" : "destination");
	struct ws_client_config cfg = {
		.host = o->endpoint.host,
		.port = o->endpoint.port,
		.path = p->ws_path,
		.subprotocol = subprotocol_names[o->client_version],
		.access_token = o->access_token,
		.client_token = o->client_token,
		.ca_path = o->capath,
		.no_verify = o->no_verify,
		.proxy_host = o->https_proxy.host,
		.proxy_port = o->https_proxy.port,
		.max_message = SEND_MESSAGE_MAX,
	};
	struct ws_client_handler handler = {
		.user = p,
		.on_open = on_established,
		.on_data = on_receive,
		.on_writeable = on_writeable,
		.on_close_frame = on_peer_close,
		.on_ended = on_ended,
	};
	p->wc = ws_client_new(p->ctx, p->client_vhost, &cfg, &handler);
	if (!p->wc)
		return -1;
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
	if (p->wc && p->connected)
		ws_client_close(p->wc, WS_CLOSE_GOING_AWAY); /* best effort: one try to send it */
	p->destroying = true;
	stop_signals_detach();
	if (p->ctx)
		lws_context_destroy(p->ctx);
	p->ctx = NULL;
	ws_client_free(p->wc);
	p->wc = NULL;
}
