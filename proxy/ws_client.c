/* The WebSocket client's I/O (see ws_client.h). One connection at a time
 * goes through these states:
 *
 *   CONNECTING -> [PROXY_REQUEST -> PROXY_ANSWER] -> TLS_HANDSHAKE
 *     -> UPGRADE_REQUEST -> UPGRADE_ANSWER -> OPEN -> CLOSING
 *
 * The socket is an io watcher on our event loop (common/ev.h); we do the
 * reading and writing. Every event runs pump(): socket ->
 * BIO pair, the state's TLS work, BIO pair -> socket. This file has the
 * socket, the pump, connecting and the API; the handshake states are in
 * ws_handshake.c, the frames of an open connection in ws_frames.c. */
#include "proxy/ws_client_internal.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/io.h"
#include "common/log.h"
#include "common/tcp_liveness.h"
#include "proxy/dial.h"
#include "proxy/tls_client.h"
void wc_end_connection(struct ws_client *wc, const char *fmt, ...)
{
	if (!wc->why[0]) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(wc->why, sizeof(wc->why), fmt, ap);
		va_end(ap);
	}
	wc->kill = true;
	/* Closed from the loop: the caller may be in the middle of using wc. */
	if (wc->io.active)
		wc_start_timer(&wc->later, 0);
}

void wc_start_timer(struct ev_timer *t, uint64_t after_us)
{
	/* The loop keeps room for a few timers: this fails only past them. */
	if (ev_timer_start(t, after_us, 0))
		log_error("out of memory for a timer");
}


int wc_ssl_failed(struct ws_client *wc, int rc, const char *doing)
{
	int err = SSL_get_error(wc->ssl, rc);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
		ERR_clear_error();
		return 0;
	}
	char buf[256];
	if (err == SSL_ERROR_ZERO_RETURN)
		wc_end_connection(wc, "the relay ended the TLS session");
	else if (wc->state == WC_TLS_HANDSHAKE)
		wc_end_connection(wc, "TLS handshake failed: %s", tls_client_failure(wc->ssl, buf, sizeof(buf)));
	else
		wc_end_connection(wc, "TLS failed while %s: %s", doing,
			       err == SSL_ERROR_SYSCALL ? "connection lost" :
			       tls_client_failure(wc->ssl, buf, sizeof(buf)));
	return -1;
}

/* ---- the socket ------------------------------------------------------------ */

/* socket -> BIO pair (TLS states) */
static void net_receive(struct ws_client *wc, bool *progress)
{
	for (int i = 0; i < 2 && !wc->peer_eof && !wc->drained; i++) { /* twice: the ring may wrap */
		char *space;
		ssize_t room = BIO_nwrite0(wc->net, &space);
		if (room <= 0)
			return;
		ssize_t n = recv(wc->fd, space, (size_t)room, MSG_DONTWAIT);
		if (n == 0) {
			wc->peer_eof = true;
			*progress = true;
			return;
		}
		if (n < 0) {
			if (io_try_again(errno))
				wc->drained = true;
			else
				wc_end_connection(wc, "read failed: %s", strerror(errno));
			return;
		}
		BIO_nwrite(wc->net, &space, (int)n);
		*progress = true;
		if (n < room) {
			wc->drained = true;
			return;
		}
	}
}

/* BIO pair -> socket */
static void net_send(struct ws_client *wc, bool *progress)
{
	while (BIO_ctrl_pending(wc->net) > 0) {
		char *data;
		ssize_t len = BIO_nread0(wc->net, &data);
		if (len <= 0)
			return;
		ssize_t n = send(wc->fd, data, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (!io_try_again(errno))
				wc_end_connection(wc, "write failed: %s", strerror(errno));
			return;
		}
		BIO_nread(wc->net, &data, (int)n);
		*progress = true;
		if (n < len)
			return;
	}
}

/* ---- one service pass ------------------------------------------------------ */

static bool wants_output(const struct ws_client *wc)
{
	if (wc->state == WC_CONNECTING || wc->state == WC_PROXY_REQUEST)
		return true;
	if (wc->net && BIO_ctrl_pending(wc->net) > 0)
		return true;
	return (wc->state == WC_OPEN || wc->state == WC_CLOSING) &&
	       (wc->out_sent < wc->out_len || wc->close_due || wc->pong_due || wc->ping_due ||
		(wc->state == WC_OPEN && wc->want_write));
}

/* Whether OpenSSL holds received bytes that no poll() would announce. */
static bool input_buffered(const struct ws_client *wc)
{
	return wc->ssl && (SSL_has_pending(wc->ssl) || BIO_ctrl_pending(SSL_get_rbio(wc->ssl)) > 0);
}

/* Reading while pollin_on; writing while something waits to go out. */
static void update_interest(struct ws_client *wc)
{
	unsigned events = (wc->pollin_on ? EV_READ : 0u) | (wants_output(wc) ? EV_WRITE : 0u);
	if (ev_io_set(&wc->io, events))
		wc_end_connection(wc, "epoll: %s", strerror(errno));
}

static void pump(struct ws_client *wc)
{
	wc->in_pump = true;
	for (int round = 0; round < PUMP_ROUNDS && !wc->kill; round++) {
		bool progress = false;
		if (wc->state == WC_PROXY_REQUEST || wc->state == WC_PROXY_ANSWER)
			wc_proxy_exchange(wc, &progress);
		if (wc->ssl) {
			net_receive(wc, &progress);
			if (wc->state >= WC_TLS_HANDSHAKE && wc->state <= WC_UPGRADE_ANSWER)
				wc_handshake(wc, &progress);
			if (wc->state >= WC_OPEN) {
				wc_app_read(wc, &progress);
				wc_app_write(wc, &progress);
			}
			net_send(wc, &progress);
			if (wc->end_when_flushed && !wc->close_due && wc->out_len == 0 &&
			    BIO_ctrl_pending(wc->net) == 0)
				wc_end_connection(wc, "%s", wc->why); /* our last frame is out */
			if (wc->peer_eof && wc->state < WC_OPEN && !wc->kill)
				wc_end_connection(wc, "the relay dropped the connection during the handshake");
		}
		if (!progress)
			break;
	}
	wc->in_pump = false;
	if (wc->kill || !wc->io.active)
		return;
	bool ring_full = wc->net && BIO_ctrl_get_write_guarantee(wc->net) == 0;
	wc->pollin_on = !wc->peer_eof && !ring_full;
	update_interest(wc);
	if (!wc->rx_paused && input_buffered(wc))
		wc_start_timer(&wc->later, 0);
}

/* Sends what can go now, without reading. For callers outside our own
 * callbacks (a local socket's): there, delivering received data could end
 * the very connection that is calling. Saves a poll() round per message. */
static void send_now(struct ws_client *wc)
{
	bool progress = false;
	wc->in_pump = true;
	wc_app_write(wc, &progress);
	net_send(wc, &progress);
	wc->in_pump = false;
	if (!wc->kill && wc->io.active)
		update_interest(wc);
}

static void close_connection(struct ws_client *wc);

static void pump_later(struct ev_timer *t)
{
	struct ws_client *wc = t->user;
	if (!wc->io.active)
		return;
	if (!wc->kill)
		pump(wc);
	if (wc->kill)
		close_connection(wc);
}

/* ---- connecting ------------------------------------------------------------ */

static void on_timeout(struct ev_timer *t)
{
	struct ws_client *wc = t->user;
	if (wc->state == WC_CLOSING)
		wc_end_connection(wc, "%s", wc->why[0] ? wc->why : "the relay did not answer our close");
	else
		wc_end_connection(wc, "no answer from %s:%d within %d s", wc->cfg.host, wc->cfg.port,
			       (int)(CONNECT_TIMEOUT_US / 1000000u));
}

static void describe_address(const struct addrinfo *a, char *buf, size_t cap)
{
	char host[NI_MAXHOST], port[NI_MAXSERV];
	if (getnameinfo(a->ai_addr, a->ai_addrlen, host, sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV))
		snprintf(buf, cap, "?");
	else
		snprintf(buf, cap, strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, port);
}

static void on_socket(struct ev_io *w, unsigned events);

/* Starts a non-blocking connect to the next address. -1 when none is left
 * or the socket cannot be made. */
static int dial_next(struct ws_client *wc)
{
	while (wc->next_addr) {
		struct addrinfo *a = wc->next_addr;
		wc->next_addr = a->ai_next;
		char where[80]; /* a numeric address and port */
		describe_address(a, where, sizeof(where));
		char why[sizeof(wc->why) - sizeof(where) - 2];
		int fd = dial_start(a, why, sizeof(why));
		if (fd < 0) {
			snprintf(wc->why, sizeof(wc->why), "%s: %s", where, why);
			continue;
		}
		if (tcp_set_liveness(fd, TCP_LIVENESS_SECONDS) < 0)
			log_debug("TCP keepalive: %s", strerror(errno));
		/* Writable: the connect finished. */
		if (ev_io_start(wc->loop, &wc->io, fd, EV_READ | EV_WRITE, on_socket, wc)) {
			snprintf(wc->why, sizeof(wc->why), "cannot add the socket to the event loop");
			close(fd);
			continue;
		}
		wc->fd = fd;
		wc->state = WC_CONNECTING;
		wc->why[0] = '\0';
		wc->pollin_on = true;
		log_debug("connecting to %s%s", where, wc->cfg.proxy_host[0] ? " (the proxy)" : "");
		return 0;
	}
	return -1;
}

static void reset_connection(struct ws_client *wc)
{
	if (wc->ssl)
		SSL_free(wc->ssl);
	wc->ssl = NULL;
	if (wc->net)
		BIO_free(wc->net);
	wc->net = NULL;
	wc->fd = -1;
	wc->peer_eof = wc->kill = wc->rx_paused = wc->end_when_flushed = wc->drained = false;
	wc->out_len = wc->out_sent = 0;
	wc->want_write = wc->pong_due = wc->ping_due = wc->close_due = false;
}

static void retry_next_address(struct ev_timer *t)
{
	struct ws_client *wc = t->user;
	if (dial_next(wc) == 0)
		return;
	ev_timer_stop(&wc->timeout);
	wc_free_handshake_buffer(wc);
	wc->state = WC_IDLE;
	wc->h.on_ended(wc->h.user, false, 0, wc->why);
}

int ws_client_connect(struct ws_client *wc)
{
	const char *host = wc->cfg.proxy_host[0] ? wc->cfg.proxy_host : wc->cfg.host;
	int port = wc->cfg.proxy_host[0] ? wc->cfg.proxy_port : wc->cfg.port;
	char service[16];
	snprintf(service, sizeof(service), "%d", port);
	struct addrinfo hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	if (wc->addrs)
		freeaddrinfo(wc->addrs);
	wc->addrs = NULL;
	reset_connection(wc);
	wc->opened = false;
	wc->http_status = 0;
	wc->why[0] = '\0';
	/* Blocking, as lws's own client resolves: a relay name is looked up
	 * once per connection attempt. */
	int rc = getaddrinfo(host, service, &hints, &wc->addrs);
	if (rc) {
		log_warn("cannot resolve %s: %s", host, gai_strerror(rc));
		wc->addrs = NULL;
		return -1;
	}
	wc->next_addr = wc->addrs;
	wc_free_handshake_buffer(wc);
	wc->hs = malloc(HANDSHAKE_BUFFER); /* freed once the upgrade is done */
	if (!wc->hs) {
		log_warn("cannot connect: out of memory");
		return -1;
	}
	if (dial_next(wc)) {
		log_warn("cannot connect to %s:%d: %s", host, port, wc->why);
		return -1;
	}
	wc_start_timer(&wc->timeout, CONNECT_TIMEOUT_US);
	return 0;
}

/* POLLOUT or POLLIN while connecting: did the connect work? */
static void check_connected(struct ws_client *wc)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(wc->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == 0) {
		wc_after_connected(wc);
		return;
	}
	snprintf(wc->why, sizeof(wc->why), "%s", strerror(err));
	wc->kill = true; /* closing tries the next address */
}

/* ---- the socket's events ----------------------------------------------------- */

static void close_socket(struct ws_client *wc)
{
	ev_io_stop(&wc->io);
	if (wc->fd >= 0)
		close(wc->fd);
	wc->fd = -1;
	ev_timer_stop(&wc->later);
}

/* The connection is over: try the next address, or report the end. */
static void close_connection(struct ws_client *wc)
{
	close_socket(wc);
	bool try_next = wc->state == WC_CONNECTING && wc->next_addr;
	if (try_next) {
		reset_connection(wc);
		wc->why[0] = '\0';
		wc_start_timer(&wc->retry, 0);
		return;
	}
	ev_timer_stop(&wc->timeout);
	reset_connection(wc);
	wc_free_handshake_buffer(wc);
	enum wc_state was = wc->state;
	wc->state = WC_IDLE;
	wc->h.on_ended(wc->h.user, wc->opened, was >= WC_UPGRADE_ANSWER ? wc->http_status : 0,
		       wc->why[0] ? wc->why : "connection lost");
}

static void on_socket(struct ev_io *w, unsigned events)
{
	struct ws_client *wc = w->user;
	if (events & (EV_READ | EV_ERROR))
		wc->drained = false;
	if (wc->state == WC_CONNECTING)
		check_connected(wc);
	if (!wc->kill)
		pump(wc);
	if (wc->kill)
		close_connection(wc);
}

/* ---- the API ----------------------------------------------------------------- */

struct ws_client *ws_client_new(struct ev_loop *loop, const struct ws_client_config *cfg,
				const struct ws_client_handler *handler)
{
	struct ws_client *wc = calloc(1, sizeof(*wc));
	if (!wc) {
		log_fatal("out of memory");
		return NULL;
	}
	wc->loop = loop;
	ev_timer_init(&wc->later, loop, pump_later, wc);
	ev_timer_init(&wc->retry, loop, retry_next_address, wc);
	ev_timer_init(&wc->timeout, loop, on_timeout, wc);
	wc->cfg = *cfg;
	wc->h = *handler;
	wc->fd = -1;
	wc->out_cap = WS_MAX_HEADER + cfg->max_message;
	wc->out = malloc(wc->out_cap);
	wc->ssl_ctx = tls_client_ctx_new(cfg->ca_path, cfg->no_verify);
	if (!wc->out || !wc->ssl_ctx) {
		if (!wc->out)
			log_fatal("out of memory");
		ws_client_free(wc);
		return NULL;
	}
	return wc;
}

void ws_client_want_write(struct ws_client *wc)
{
	if (wc->state != WC_OPEN || wc->want_write)
		return;
	wc->want_write = true;
	if (wc->io.active && !wc->kill && !wc->in_pump) /* else the running pump sends it */
		send_now(wc);
}

void ws_client_ping(struct ws_client *wc, const uint8_t *payload, size_t len)
{
	if (wc->state != WC_OPEN || len > WS_MAX_CONTROL)
		return;
	memcpy(wc->ping, payload, len);
	wc->ping_len = len;
	wc->ping_due = true;
	if (wc->io.active && !wc->kill)
		update_interest(wc);
}

void ws_client_pause_rx(struct ws_client *wc, bool pause)
{
	if (wc->rx_paused == pause)
		return;
	wc->rx_paused = pause;
	/* Resuming: bytes may already wait inside OpenSSL, where poll() cannot see them. */
	if (!pause && wc->io.active && !wc->kill)
		wc_start_timer(&wc->later, 0);
}

void ws_client_check_path(struct ws_client *wc)
{
	if (wc->state == WC_OPEN && wc->io.active && !wc->kill && tcp_path_dead(wc->fd, TCP_LIVENESS_SECONDS))
		wc_end_connection(wc, "the relay ACKed nothing for %d s with data or probes outstanding "
				  "(dead path)", TCP_LIVENESS_SECONDS);
}

void ws_client_close(struct ws_client *wc, int code)
{
	if (wc->state == WC_OPEN) {
		wc_queue_close(wc, code);
		snprintf(wc->why, sizeof(wc->why), "closed by us (%d)", code);
		if (wc->io.active && !wc->kill)
			pump(wc);
	} else if (wc->io.active) {
		wc_end_connection(wc, "closed by us");
	}
}

void ws_client_free(struct ws_client *wc)
{
	if (!wc)
		return;
	close_socket(wc);
	ev_timer_stop(&wc->retry);
	ev_timer_stop(&wc->timeout);
	reset_connection(wc);
	wc_free_handshake_buffer(wc);
	if (wc->addrs)
		freeaddrinfo(wc->addrs);
	SSL_CTX_free(wc->ssl_ctx);
	free(wc->out);
	free(wc);
}
