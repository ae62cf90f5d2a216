/* One localproxy run (see tunnel.h): connecting to the relay (TLS, access
 * token and client token headers), keep-alive pings, reconnecting with
 * back-off, and the stop signals. The WebSocket itself is
 * proxy/ws_client.c; what arrives goes to proxy/dispatch.c. */
#include "proxy/tunnel.h"

#include <errno.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/ev.h"
#include "common/log.h"
#include "proto/ws_codec.h"
#include "proxy/io_sockets.h"
#include "proxy/proxy.h"

static const char *const subprotocol_names[] = {
	NULL, SUBPROTOCOL_V1, SUBPROTOCOL_V2, SUBPROTOCOL_V3,
};

struct tunnel {
	struct proxy p;
	struct ev_loop *loop;
	struct io_sockets sockets;
	struct ws_client *wc;
	char ws_path[64];
	struct ev_timer reconnect_timer;
	struct ev_timer ping_timer;
	struct ev_signal stop_signals;
	int stop_signal;           /* the signal that asked us to stop, or 0 */
	bool shutting_down;        /* callbacks only clean up */
};

static void start_timer(struct ev_timer *t, uint64_t after_us, uint64_t repeat_us)
{
	/* The loop keeps room for a few timers: this fails only past them. */
	if (ev_timer_start(t, after_us, repeat_us))
		log_error("out of memory for a timer");
}

static void schedule_reconnect(struct tunnel *t)
{
	uint32_t random = 0;
	if (RAND_bytes((unsigned char *)&random, sizeof(random)) != 1)
		random = (uint32_t)time(NULL);
	uint32_t ms = backoff_next_ms(&t->p.backoff, random);
	log_info("reconnecting to the relay in %.1f s", ms / 1000.0);
	start_timer(&t->reconnect_timer, (uint64_t)ms * 1000u, 0);
}

static void send_ping(struct ev_timer *timer)
{
	struct tunnel *t = timer->user;
	if (!t->p.connected)
		return;
	/* A path that went silent (a NAT that forgot us) is noticed here,
	 * not after TCP's retransmissions give up (docs/operations.md). */
	ws_client_check_path(t->wc);
	if (!t->p.connected)
		return;
	/* AWS's localproxy puts the epoch time in ms, as text, in its pings. */
	char text[32];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	int n = snprintf(text, sizeof(text), "%lld", (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
	ws_client_ping(t->wc, (const uint8_t *)text, (size_t)n);
}

static void connect_now(struct ev_timer *timer)
{
	struct tunnel *t = timer->user;
	log_debug("connecting to wss://%s:%d%s", t->p.opt->endpoint.host, t->p.opt->endpoint.port,
		  t->ws_path);
	if (ws_client_connect(t->wc))
		schedule_reconnect(t);
}

static void on_established(void *user)
{
	struct tunnel *t = user;
	dispatch_session_open(&t->p);
	log_info("connected to relay %s:%d (%s)", t->p.opt->endpoint.host, t->p.opt->endpoint.port,
		 subprotocol_names[t->p.version]);
	/* Ping right away, then every 20 s. */
	send_ping(&t->ping_timer);
	start_timer(&t->ping_timer, PING_INTERVAL_US, PING_INTERVAL_US);
	if (t->p.version == 1)
		dispatch_ready_v1(&t->p);
}

static int on_receive(void *user, const uint8_t *in, size_t len, bool first, bool binary)
{
	struct tunnel *t = user;
	if (!binary) {
		log_error("the relay sent a text message; closing the connection");
		return -1;
	}
	return dispatch_receive(&t->p, in, len, first);
}

static void on_disconnected(struct tunnel *t, bool was_connected, const char *why)
{
	ev_timer_stop(&t->ping_timer);
	dispatch_session_closed(&t->p);
	if (t->p.exiting) {
		ev_stop(t->loop);
		return;
	}
	if (was_connected)
		log_warn("disconnected from the relay: %s", why);
	schedule_reconnect(t);
}

/* A close frame from the relay: 1000 means the tunnel was closed (exit 0);
 * 1001 (going away) and 1012 (service restart: a relay node letting go of
 * a tunnel another node now holds) are retried; anything else will not
 * heal by retrying. */
static void on_peer_close(void *user, int code, const char *reason, size_t len)
{
	struct tunnel *t = user;
	int reason_len = len > 123 ? 123 : (int)len;
	if (code == WS_CLOSE_GOING_AWAY) {
		log_info("the relay is going away (%d %.*s); will reconnect", code, reason_len, reason);
		return;
	}
	if (code == WS_CLOSE_SERVICE_RESTART) {
		log_info("the relay asks to connect again (%d %.*s); will reconnect", code, reason_len,
			 reason);
		return;
	}
	t->p.exiting = true;
	t->p.exit_code = code == WS_CLOSE_NORMAL ? 0 : 1;
	if (code == WS_CLOSE_NORMAL)
		log_info("the relay closed the tunnel (%.*s); exiting", reason_len, reason);
	else
		log_error("the relay closed the connection with %d: %.*s; exiting", code, reason_len, reason);
}

static void on_ended(void *user, bool opened, int http_status, const char *why)
{
	struct tunnel *t = user;
	if (opened) {
		on_disconnected(t, true, why);
		return;
	}
	if (http_status >= 400 && http_status < 500) {
		/* 4xx: the relay refused us for good (token, mode, path...). */
		log_fatal("the relay refused the connection: HTTP %d (%s); not retrying", http_status,
			  http_status == 401 ? "access token not recognised" :
			  http_status == 403 ? "access token already in use, or for the other mode" :
			  "bad request");
		proxy_exit(&t->p, 1);
		return;
	}
	log_warn("cannot connect to the relay %s:%d: %s", t->p.opt->endpoint.host,
		 t->p.opt->endpoint.port, why);
	on_disconnected(t, false, why);
}

static void on_writeable(void *user)
{
	struct tunnel *t = user;
	tunnel_send_next(&t->p);
}

static void on_stop_signal(struct ev_signal *s, int signo)
{
	struct tunnel *t = s->user;
	t->stop_signal = signo;
	ev_stop(t->loop);
}

static int start(struct tunnel *t)
{
	const struct proxy_options *o = t->p.opt;
	t->loop = ev_loop_new();
	if (!t->loop) {
		log_fatal("cannot create the event loop: %s", strerror(errno));
		return -1;
	}
	io_sockets_init(&t->sockets, &t->p, t->loop);
	ev_timer_init(&t->reconnect_timer, t->loop, connect_now, t);
	ev_timer_init(&t->ping_timer, t->loop, send_ping, t);
	snprintf(t->ws_path, sizeof(t->ws_path), "/tunnel?local-proxy-mode=%s",
		 o->mode == PROXY_MODE_SOURCE ? "source" : "destination");
	struct ws_client_config cfg = {
		.host = o->endpoint.host,
		.port = o->endpoint.port,
		.path = t->ws_path,
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
		.user = t,
		.on_open = on_established,
		.on_data = on_receive,
		.on_writeable = on_writeable,
		.on_close_frame = on_peer_close,
		.on_ended = on_ended,
	};
	t->wc = ws_client_new(t->loop, &cfg, &handler);
	if (!t->wc)
		return -1;
	t->sockets.wc = t->wc;
	if (o->no_verify)
		log_warn("TLS verification of the relay is OFF (-k): anyone on the path can "
			 "impersonate the relay and read the tunnel");
	/* Writes to a closed socket fail with EPIPE instead of killing us. */
	struct sigaction ignore = { .sa_handler = SIG_IGN };
	static const int stop_signals[] = { SIGINT, SIGTERM };
	if (sigaction(SIGPIPE, &ignore, NULL) ||
	    ev_signal_start(t->loop, &t->stop_signals, stop_signals, 2, on_stop_signal, t)) {
		log_fatal("cannot set up signal handling: %s", strerror(errno));
		return -1;
	}
	connect_now(&t->reconnect_timer);
	return 0;
}

static void shut_down(struct tunnel *t)
{
	if (!t->loop)
		return;
	ev_timer_stop(&t->reconnect_timer);
	ev_timer_stop(&t->ping_timer);
	t->p.exiting = true;
	if (t->wc && t->p.connected)
		ws_client_close(t->wc, WS_CLOSE_GOING_AWAY); /* best effort: one try to send it */
	ws_client_free(t->wc);
	t->wc = NULL;
	io_sockets_close(&t->sockets);
	ev_signal_stop(&t->stop_signals);
	ev_loop_free(t->loop);
	t->loop = NULL;
}

int tunnel_run(const struct proxy_options *opt, const struct mapping *mapping)
{
	struct tunnel *t = calloc(1, sizeof(*t));
	if (!t) {
		log_fatal("out of memory");
		return 1;
	}
	proxy_init(&t->p, opt, NULL);
	t->p.mapping = *mapping;
	int rc = 1;
	if (start(t) == 0 && !t->p.exiting) {
		if (ev_run(t->loop))
			log_fatal("the event loop failed: %s", strerror(errno));
		rc = t->p.exit_code;
		if (t->stop_signal)
			log_info("stopping on signal %d", t->stop_signal);
	} else if (t->p.exiting) {
		rc = t->p.exit_code;
	}
	shut_down(t);
	proxy_free(&t->p);
	free(t);
	return rc;
}
