/* The WebSocket client's I/O (see ws_client.h). One connection at a time
 * goes through these states:
 *
 *   CONNECTING -> [PROXY_REQUEST -> PROXY_ANSWER] -> TLS_HANDSHAKE
 *     -> UPGRADE_REQUEST -> UPGRADE_ANSWER -> OPEN -> CLOSING
 *
 * The socket is an lws "raw file" descriptor: lws only polls it and calls
 * us; we do the reading and writing. Every event runs pump(): socket ->
 * BIO pair, the state's TLS work, BIO pair -> socket. */
#include "proxy/ws_client.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/text.h"
#include "proto/limits.h"
#include "proto/ws_codec.h"
#include "proxy/tls_client.h"

/* Each direction of the BIO pair: the most ciphertext held between the
 * socket and OpenSSL, and the most one recv or send moves: two TLS
 * records. */
#define BIO_PAIR_SIZE (32u * 1024u)
/* The plaintext read per SSL_read: one TLS record at most. */
#define READ_CHUNK (16u * 1024u)
/* Work per event, so local sockets get their turn. */
#define PUMP_ROUNDS 4
#define READ_BUDGET (256u * 1024u)
#define MESSAGES_PER_ROUND 2
#define CONNECT_TIMEOUT_US (20 * LWS_USEC_PER_SEC)
#define CLOSE_TIMEOUT_US (5 * LWS_USEC_PER_SEC)
/* The request (with a token of up to 4096 characters) or an answer's head. */
#define HANDSHAKE_BUFFER (TUNNEL_MAX_ACCESS_TOKEN + WS_MAX_RESPONSE_HEAD)

enum wc_state {
	WC_IDLE,
	WC_CONNECTING,
	WC_PROXY_REQUEST,
	WC_PROXY_ANSWER,
	WC_TLS_HANDSHAKE,
	WC_UPGRADE_REQUEST,
	WC_UPGRADE_ANSWER,
	WC_OPEN,
	WC_CLOSING,     /* our close frame is queued or sent */
};

struct ws_client {
	struct lws_context *ctx;
	struct lws_vhost *vhost;
	struct ws_client_config cfg;
	struct ws_client_handler h;
	SSL_CTX *ssl_ctx;

	/* one connection */
	enum wc_state state;
	struct lws *wsi;
	int fd;
	struct addrinfo *addrs, *next_addr;
	SSL *ssl;
	BIO *net;                 /* our end of the BIO pair: ciphertext */
	char key[WS_KEY_LEN + 1];
	uint8_t *hs;              /* handshake text (request out, answer in) */
	size_t hs_len, hs_done;
	struct ws_parser parser;
	bool opened, peer_eof, rx_paused, pollin_on;
	bool in_writeable_callback, kill;
	bool in_pump;             /* pump() or send_now() is running */
	bool heard;               /* bytes came from the relay since the last ping */
	bool pinged;              /* a ping went out on this connection */
	bool end_when_flushed;    /* end once the close frame is out */
	int http_status;
	char why[256];

	/* sending: one frame at a time in out, then control frames by priority */
	uint8_t *out;
	size_t out_cap, out_len, out_sent;
	bool want_write;
	bool pong_due, ping_due, close_due;
	uint8_t pong[WS_MAX_CONTROL], ping[WS_MAX_CONTROL];
	size_t pong_len, ping_len;
	int close_code;

	uint8_t in[READ_CHUNK];
	lws_sorted_usec_list_t later;   /* re-runs pump() (or asks for POLLOUT) */
	lws_sorted_usec_list_t retry;   /* tries the next address */
	lws_sorted_usec_list_t timeout; /* connect or close takes too long */
};

static void end_connection(struct ws_client *wc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Ends the connection: lws closes the socket and LWS_CALLBACK_RAW_CLOSE_FILE
 * reports it. The first reason given is the one reported. */
static void end_connection(struct ws_client *wc, const char *fmt, ...)
{
	if (!wc->why[0]) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(wc->why, sizeof(wc->why), fmt, ap);
		va_end(ap);
	}
	wc->kill = true;
	if (wc->wsi)
		lws_set_timeout(wc->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

static struct lws_context *context_of(struct ws_client *wc)
{
	return wc->ctx;
}

/* ---- the socket ------------------------------------------------------------ */

/* socket -> BIO pair (TLS states) */
static void net_receive(struct ws_client *wc, bool *progress)
{
	for (int i = 0; i < 2 && !wc->peer_eof; i++) { /* twice: the ring may wrap */
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
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				end_connection(wc, "read failed: %s", strerror(errno));
			return;
		}
		BIO_nwrite(wc->net, &space, (int)n);
		*progress = true;
		wc->heard = true;
		if (n < room)
			return;
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
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				end_connection(wc, "write failed: %s", strerror(errno));
			return;
		}
		BIO_nread(wc->net, &data, (int)n);
		*progress = true;
		if (n < len)
			return;
	}
}

/* ---- the handshake ------------------------------------------------------- */

static int begin_tls(struct ws_client *wc)
{
	BIO *inner = NULL;
	if (BIO_new_bio_pair(&inner, BIO_PAIR_SIZE, &wc->net, BIO_PAIR_SIZE) != 1) {
		end_connection(wc, "cannot set up TLS: out of memory");
		return -1;
	}
	wc->ssl = tls_client_ssl_new(wc->ssl_ctx, wc->cfg.host, wc->cfg.no_verify, inner);
	if (!wc->ssl) {
		end_connection(wc, "cannot set up TLS");
		return -1;
	}
	wc->state = WC_TLS_HANDSHAKE;
	return 0;
}

static void after_connected(struct ws_client *wc)
{
	if (!wc->cfg.proxy_host[0]) {
		begin_tls(wc);
		return;
	}
	wc->hs_len = http_connect_build(wc->cfg.host, wc->cfg.port, (char *)wc->hs, HANDSHAKE_BUFFER);
	wc->hs_done = 0;
	if (!wc->hs_len) {
		end_connection(wc, "cannot build the proxy's CONNECT request");
		return;
	}
	wc->state = WC_PROXY_REQUEST;
}

/* Plain text to and from the HTTP proxy. */
static void proxy_exchange(struct ws_client *wc, bool *progress)
{
	if (wc->state == WC_PROXY_REQUEST) {
		ssize_t n = send(wc->fd, wc->hs + wc->hs_done, wc->hs_len - wc->hs_done,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				end_connection(wc, "cannot talk to the proxy: %s", strerror(errno));
			return;
		}
		*progress = true;
		wc->hs_done += (size_t)n;
		if (wc->hs_done == wc->hs_len) {
			wc->state = WC_PROXY_ANSWER;
			wc->hs_len = 0;
		}
		return;
	}
	/* Read byte-exact up to the blank line: what follows is the relay's TLS. */
	while (wc->hs_len < WS_MAX_RESPONSE_HEAD) {
		ssize_t n = recv(wc->fd, wc->hs + wc->hs_len, 1, MSG_DONTWAIT);
		if (n == 0) {
			end_connection(wc, "the proxy closed the connection");
			return;
		}
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				end_connection(wc, "cannot talk to the proxy: %s", strerror(errno));
			return;
		}
		*progress = true;
		wc->hs_len++;
		size_t head = http_head_length(wc->hs, wc->hs_len);
		if (!head)
			continue;
		int status = http_head_status((const char *)wc->hs, head);
		if (status / 100 != 2) {
			end_connection(wc, "the proxy %s:%d refused to connect to %s:%d: HTTP %d",
				       wc->cfg.proxy_host, wc->cfg.proxy_port, wc->cfg.host, wc->cfg.port,
				       status);
			return;
		}
		log_debug("the proxy connected us to %s:%d", wc->cfg.host, wc->cfg.port);
		begin_tls(wc);
		return;
	}
	end_connection(wc, "the proxy's answer is longer than %u bytes", WS_MAX_RESPONSE_HEAD);
}

static int build_upgrade_request(struct ws_client *wc)
{
	uint8_t nonce[WS_NONCE_LEN];
	if (RAND_bytes(nonce, sizeof(nonce)) != 1) {
		end_connection(wc, "no random bytes for the WebSocket key");
		return -1;
	}
	ws_key_from_nonce(nonce, wc->key);
	struct ws_request r = {
		.host = wc->cfg.host, .path = wc->cfg.path, .subprotocol = wc->cfg.subprotocol,
		.key = wc->key, .access_token = wc->cfg.access_token,
		.client_token = wc->cfg.client_token,
	};
	wc->hs_len = ws_request_build(&r, (char *)wc->hs, HANDSHAKE_BUFFER);
	wc->hs_done = 0;
	if (!wc->hs_len) {
		end_connection(wc, "the upgrade request does not fit (token too long?)");
		return -1;
	}
	return 0;
}

/* Classifies a failed SSL call: 0 = retry later, -1 = the connection ended. */
static int ssl_failed(struct ws_client *wc, int rc, const char *doing)
{
	int err = SSL_get_error(wc->ssl, rc);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
		ERR_clear_error();
		return 0;
	}
	char buf[256];
	if (err == SSL_ERROR_ZERO_RETURN)
		end_connection(wc, "the relay ended the TLS session");
	else if (wc->state == WC_TLS_HANDSHAKE)
		end_connection(wc, "TLS handshake failed: %s", tls_client_failure(wc->ssl, buf, sizeof(buf)));
	else
		end_connection(wc, "TLS failed while %s: %s", doing,
			       err == SSL_ERROR_SYSCALL ? "connection lost" :
			       tls_client_failure(wc->ssl, buf, sizeof(buf)));
	return -1;
}

static void deliver(struct ws_client *wc, const uint8_t *data, size_t len);

static void upgrade_answer(struct ws_client *wc, bool *progress)
{
	for (;;) {
		if (wc->hs_len >= WS_MAX_RESPONSE_HEAD) {
			end_connection(wc, "the relay's answer is longer than %u bytes", WS_MAX_RESPONSE_HEAD);
			return;
		}
		int n = SSL_read(wc->ssl, wc->hs + wc->hs_len, (int)(WS_MAX_RESPONSE_HEAD - wc->hs_len));
		if (n <= 0) {
			ssl_failed(wc, n, "reading the upgrade answer");
			return;
		}
		*progress = true;
		wc->hs_len += (size_t)n;
		size_t head = http_head_length(wc->hs, wc->hs_len);
		if (!head)
			continue;
		char err[128] = "";
		enum ws_upgrade_result r = ws_upgrade_check((const char *)wc->hs, head, wc->key,
							    wc->cfg.subprotocol, &wc->http_status,
							    err, sizeof(err));
		if (r == WS_UPGRADE_REFUSED) {
			end_connection(wc, "the relay refused the upgrade: HTTP %d", wc->http_status);
			return;
		}
		if (r == WS_UPGRADE_INVALID) {
			wc->http_status = 0;
			end_connection(wc, "bad upgrade answer from the relay: %s", err);
			return;
		}
		wc->http_status = 0;
		wc->state = WC_OPEN;
		wc->opened = true;
		lws_sul_cancel(&wc->timeout);
		ws_parser_init(&wc->parser);
		wc->h.on_open(wc->h.user);
		/* Frames that came in the same read as the answer. */
		if (wc->hs_len > head && !wc->kill)
			deliver(wc, wc->hs + head, wc->hs_len - head);
		return;
	}
}

static void handshake(struct ws_client *wc, bool *progress)
{
	if (wc->state == WC_TLS_HANDSHAKE) {
		int rc = SSL_do_handshake(wc->ssl);
		if (rc != 1) {
			ssl_failed(wc, rc, "connecting");
			return;
		}
		*progress = true;
		log_debug("TLS up with %s (%s, %s)", wc->cfg.host, SSL_get_version(wc->ssl),
			  SSL_get_cipher_name(wc->ssl));
		if (build_upgrade_request(wc))
			return;
		wc->state = WC_UPGRADE_REQUEST;
	}
	if (wc->state == WC_UPGRADE_REQUEST) {
		int n = SSL_write(wc->ssl, wc->hs + wc->hs_done, (int)(wc->hs_len - wc->hs_done));
		if (n <= 0) {
			ssl_failed(wc, n, "sending the upgrade request");
			return;
		}
		*progress = true;
		wc->hs_done += (size_t)n;
		if (wc->hs_done < wc->hs_len)
			return;
		OPENSSL_cleanse(wc->hs, wc->hs_len); /* it held the access token */
		wc->hs_len = 0;
		wc->state = WC_UPGRADE_ANSWER;
	}
	if (wc->state == WC_UPGRADE_ANSWER)
		upgrade_answer(wc, progress);
}

/* ---- receiving --------------------------------------------------------- */

static void queue_close(struct ws_client *wc, int code)
{
	if (wc->state == WC_CLOSING)
		return;
	wc->state = WC_CLOSING;
	wc->close_due = true;
	wc->close_code = code;
}

static void on_control(struct ws_client *wc, const struct ws_event *ev)
{
	if (ev->opcode == WS_OP_PING) {
		memcpy(wc->pong, ev->data, ev->len);
		wc->pong_len = ev->len;
		wc->pong_due = true;
		return;
	}
	if (ev->opcode != WS_OP_CLOSE)
		return; /* a pong: the connection is alive, nothing to do */
	if (ev->len == 1) {
		queue_close(wc, WS_CLOSE_PROTOCOL_ERROR);
		wc->end_when_flushed = true;
		snprintf(wc->why, sizeof(wc->why), "the relay sent a close frame of one byte");
		return;
	}
	int code = ev->len >= 2 ? (ev->data[0] << 8) | ev->data[1] : WS_CLOSE_NO_STATUS;
	const char *reason = ev->len > 2 ? (const char *)ev->data + 2 : "";
	size_t reason_len = ev->len > 2 ? ev->len - 2 : 0;
	if (wc->state == WC_CLOSING && !wc->close_due) {
		/* It answers our close. */
		end_connection(wc, "closed (%d)", code);
		return;
	}
	wc->h.on_close_frame(wc->h.user, code, reason, reason_len);
	snprintf(wc->why, sizeof(wc->why), "the relay closed the connection (%d %.*s)", code,
		 (int)(reason_len > 100 ? 100 : reason_len), reason);
	queue_close(wc, code == WS_CLOSE_NO_STATUS ? WS_CLOSE_NORMAL : code);
	wc->end_when_flushed = true; /* the server closes first; we need not wait */
}

/* Received bytes through the frame parser to the handler. */
static void deliver(struct ws_client *wc, const uint8_t *data, size_t len)
{
	for (;;) {
		struct ws_event ev = ws_parser_next(&wc->parser, &data, &len);
		switch (ev.type) {
		case WS_EV_NONE:
			return;
		case WS_EV_DATA:
			if (wc->state == WC_CLOSING)
				break; /* data after a close is dropped */
			if (wc->h.on_data(wc->h.user, ev.data, ev.len, ev.first,
					  ev.opcode == WS_OP_BINARY)) {
				queue_close(wc, WS_CLOSE_PROTOCOL_ERROR);
				wc->end_when_flushed = true;
				snprintf(wc->why, sizeof(wc->why), "unacceptable data from the relay");
				return;
			}
			break;
		case WS_EV_CONTROL:
			on_control(wc, &ev);
			if (wc->kill || wc->state == WC_CLOSING)
				return;
			break;
		case WS_EV_ERROR:
			queue_close(wc, ev.close_code);
			wc->end_when_flushed = true;
			snprintf(wc->why, sizeof(wc->why), "the relay broke the WebSocket protocol: %s",
				 ev.error);
			return;
		}
		if (wc->kill)
			return;
	}
}

static void app_read(struct ws_client *wc, bool *progress)
{
	size_t budget = READ_BUDGET;
	while (!wc->rx_paused && !wc->kill && budget > 0) {
		int n = SSL_read(wc->ssl, wc->in, sizeof(wc->in));
		if (n <= 0) {
			if (ssl_failed(wc, n, "reading") == 0 && wc->peer_eof &&
			    BIO_ctrl_pending(SSL_get_rbio(wc->ssl)) == 0)
				end_connection(wc, "the relay dropped the connection");
			return;
		}
		*progress = true;
		budget = (size_t)n > budget ? 0 : budget - (size_t)n;
		deliver(wc, wc->in, (size_t)n);
	}
}

/* ---- sending ------------------------------------------------------------- */

static void on_timeout(lws_sorted_usec_list_t *sul);

/* Writes one masked frame of the pieces' bytes into out. */
static void put_frame(struct ws_client *wc, enum ws_opcode op, const struct ws_piece *pieces,
		      size_t n, size_t total)
{
	uint8_t mask[4];
	if (RAND_bytes(mask, sizeof(mask)) != 1) {
		end_connection(wc, "no random bytes for a frame mask");
		return;
	}
	size_t at = ws_frame_header(wc->out, op, total, mask);
	size_t payload_at = at;
	for (size_t i = 0; i < n; i++) {
		/* The mask runs on across pieces: rotate it to this piece's offset. */
		size_t phase = at - payload_at;
		uint8_t rotated[4];
		for (size_t k = 0; k < 4; k++)
			rotated[k] = mask[(phase + k) & 3];
		ws_mask_copy(wc->out + at, pieces[i].data, pieces[i].len, rotated);
		at += pieces[i].len;
	}
	wc->out_len = at;
	wc->out_sent = 0;
}

static void put_control(struct ws_client *wc, enum ws_opcode op, const uint8_t *payload, size_t len)
{
	struct ws_piece piece = { payload, len };
	put_frame(wc, op, &piece, 1, len);
}

/* Fills out with the next control frame; false when none is due. */
static bool next_control_frame(struct ws_client *wc)
{
	if (wc->close_due) {
		uint8_t code[2] = { (uint8_t)(wc->close_code >> 8), (uint8_t)wc->close_code };
		wc->close_due = false;
		put_control(wc, WS_OP_CLOSE, code, sizeof(code));
		lws_sul_schedule(context_of(wc), 0, &wc->timeout, on_timeout, CLOSE_TIMEOUT_US);
		return true;
	}
	if (wc->state == WC_CLOSING)
		return false; /* nothing follows a close */
	if (wc->pong_due) {
		wc->pong_due = false;
		put_control(wc, WS_OP_PONG, wc->pong, wc->pong_len);
		return true;
	}
	if (wc->ping_due) {
		wc->ping_due = false;
		put_control(wc, WS_OP_PING, wc->ping, wc->ping_len);
		return true;
	}
	return false;
}

static void app_write(struct ws_client *wc, bool *progress)
{
	int messages = 0;
	while (!wc->kill) {
		if (wc->out_sent < wc->out_len) {
			int n = SSL_write(wc->ssl, wc->out + wc->out_sent, (int)(wc->out_len - wc->out_sent));
			if (n <= 0) {
				ssl_failed(wc, n, "writing");
				return;
			}
			*progress = true;
			wc->out_sent += (size_t)n;
			if (wc->out_sent < wc->out_len)
				return; /* the BIO pair is full: the socket must take some first */
		}
		wc->out_len = wc->out_sent = 0;
		if (next_control_frame(wc))
			continue;
		if (wc->state != WC_OPEN || !wc->want_write || messages++ == MESSAGES_PER_ROUND)
			return;
		wc->want_write = false;
		wc->h.on_writeable(wc->h.user);
		if (!wc->out_len)
			return;
	}
}

/* ---- one service pass ------------------------------------------------------ */

static void pump_later(lws_sorted_usec_list_t *sul);

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

static void set_pollin(struct ws_client *wc, bool on)
{
	if (wc->pollin_on == on)
		return;
	wc->pollin_on = on;
	lws_rx_flow_control(wc->wsi, on ? 1 : 0);
}

static void pump(struct ws_client *wc)
{
	wc->in_pump = true;
	for (int round = 0; round < PUMP_ROUNDS && !wc->kill; round++) {
		bool progress = false;
		if (wc->state == WC_PROXY_REQUEST || wc->state == WC_PROXY_ANSWER)
			proxy_exchange(wc, &progress);
		if (wc->ssl) {
			net_receive(wc, &progress);
			if (wc->state >= WC_TLS_HANDSHAKE && wc->state <= WC_UPGRADE_ANSWER)
				handshake(wc, &progress);
			if (wc->state >= WC_OPEN) {
				app_read(wc, &progress);
				app_write(wc, &progress);
			}
			net_send(wc, &progress);
			if (wc->end_when_flushed && !wc->close_due && wc->out_len == 0 &&
			    BIO_ctrl_pending(wc->net) == 0)
				end_connection(wc, "%s", wc->why); /* our last frame is out */
			if (wc->peer_eof && wc->state < WC_OPEN && !wc->kill)
				end_connection(wc, "the relay dropped the connection during the handshake");
		}
		if (!progress)
			break;
	}
	wc->in_pump = false;
	if (wc->kill || !wc->wsi)
		return;
	bool ring_full = wc->net && BIO_ctrl_get_write_guarantee(wc->net) == 0;
	set_pollin(wc, !wc->peer_eof && !ring_full);
	if (wants_output(wc)) {
		/* lws clears POLLOUT after a writeable callback: ask again after it. */
		if (wc->in_writeable_callback)
			lws_sul_schedule(context_of(wc), 0, &wc->later, pump_later, 1);
		else
			lws_callback_on_writable(wc->wsi);
	}
	if (!wc->rx_paused && input_buffered(wc))
		lws_sul_schedule(context_of(wc), 0, &wc->later, pump_later, 1);
}

/* Sends what can go now, without reading. For callers outside our own
 * callbacks (a local socket's): there, delivering received data could end
 * the very connection that is calling. Saves a poll() round per message. */
static void send_now(struct ws_client *wc)
{
	bool progress = false;
	wc->in_pump = true;
	app_write(wc, &progress);
	net_send(wc, &progress);
	wc->in_pump = false;
	if (!wc->kill && wc->wsi && wants_output(wc))
		lws_callback_on_writable(wc->wsi);
}

static void pump_later(lws_sorted_usec_list_t *sul)
{
	struct ws_client *wc = lws_container_of(sul, struct ws_client, later);
	if (wc->wsi && !wc->kill)
		pump(wc);
}

/* ---- connecting ------------------------------------------------------------ */

static void on_timeout(lws_sorted_usec_list_t *sul)
{
	struct ws_client *wc = lws_container_of(sul, struct ws_client, timeout);
	if (wc->state == WC_CLOSING)
		end_connection(wc, "%s", wc->why[0] ? wc->why : "the relay did not answer our close");
	else
		end_connection(wc, "no answer from %s:%d within %d s", wc->cfg.host, wc->cfg.port,
			       (int)(CONNECT_TIMEOUT_US / LWS_USEC_PER_SEC));
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

/* Starts a non-blocking connect to the next address. -1 when none is left
 * or the socket cannot be made. */
static int dial_next(struct ws_client *wc)
{
	while (wc->next_addr) {
		struct addrinfo *a = wc->next_addr;
		wc->next_addr = a->ai_next;
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0) {
			snprintf(wc->why, sizeof(wc->why), "socket: %s", strerror(errno));
			continue;
		}
		char where[80]; /* a numeric address and port */
		describe_address(a, where, sizeof(where));
		/* Small messages (keystrokes) must not wait for the previous one's ACK. */
		int one = 1;
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
			log_debug("TCP_NODELAY: %s", strerror(errno));
		if (connect(fd, a->ai_addr, a->ai_addrlen) < 0 && errno != EINPROGRESS) {
			snprintf(wc->why, sizeof(wc->why), "%s: %s", where, strerror(errno));
			close(fd);
			continue;
		}
		lws_adopt_desc_t desc;
		memset(&desc, 0, sizeof(desc));
		desc.vh = wc->vhost;
		desc.type = LWS_ADOPT_RAW_FILE_DESC;
		desc.fd.filefd = fd;
		desc.vh_prot_name = ws_client_protocol.name;
		desc.opaque = wc;
		wc->fd = fd;
		wc->state = WC_CONNECTING;
		wc->why[0] = '\0';
		wc->wsi = lws_adopt_descriptor_vhost_via_info(&desc); /* closes fd on failure */
		if (!wc->wsi) {
			snprintf(wc->why, sizeof(wc->why), "cannot add the socket to the event loop");
			continue;
		}
		wc->pollin_on = true;
		log_debug("connecting to %s%s", where, wc->cfg.proxy_host[0] ? " (the proxy)" : "");
		lws_callback_on_writable(wc->wsi); /* POLLOUT: the connect finished */
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
	wc->peer_eof = wc->kill = wc->rx_paused = wc->end_when_flushed = false;
	wc->heard = wc->pinged = false;
	wc->out_len = wc->out_sent = 0;
	wc->want_write = wc->pong_due = wc->ping_due = wc->close_due = false;
	if (wc->hs)
		OPENSSL_cleanse(wc->hs, HANDSHAKE_BUFFER);
}

static void retry_next_address(lws_sorted_usec_list_t *sul)
{
	struct ws_client *wc = lws_container_of(sul, struct ws_client, retry);
	if (dial_next(wc) == 0)
		return;
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
	if (dial_next(wc)) {
		log_warn("cannot connect to %s:%d: %s", host, port, wc->why);
		return -1;
	}
	lws_sul_schedule(context_of(wc), 0, &wc->timeout, on_timeout, CONNECT_TIMEOUT_US);
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
		after_connected(wc);
		return;
	}
	snprintf(wc->why, sizeof(wc->why), "%s", strerror(err));
	wc->kill = true; /* the close callback tries the next address */
}

/* ---- the lws side -------------------------------------------------------- */

static void on_closed(struct ws_client *wc)
{
	if (wc->state == WC_CONNECTING && !wc->why[0]) {
		/* lws saw the failed connect (POLLHUP) before we did. */
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(wc->fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err)
			snprintf(wc->why, sizeof(wc->why), "%s", strerror(err));
	}
	bool try_next = wc->state == WC_CONNECTING && wc->next_addr;
	wc->wsi = NULL;
	lws_sul_cancel(&wc->later);
	if (try_next) {
		reset_connection(wc);
		wc->why[0] = '\0';
		lws_sul_schedule(context_of(wc), 0, &wc->retry, retry_next_address, 1);
		return;
	}
	lws_sul_cancel(&wc->timeout);
	reset_connection(wc);
	enum wc_state was = wc->state;
	wc->state = WC_IDLE;
	wc->h.on_ended(wc->h.user, wc->opened, was >= WC_UPGRADE_ANSWER ? wc->http_status : 0,
		       wc->why[0] ? wc->why : "connection lost");
}

static int ws_client_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			      void *in, size_t len)
{
	struct ws_client *wc = lws_get_opaque_user_data(wsi);
	if (!wc)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
	case LWS_CALLBACK_RAW_WRITEABLE_FILE:
		if (wc->state == WC_CONNECTING)
			check_connected(wc);
		if (!wc->kill) {
			wc->in_writeable_callback = reason == LWS_CALLBACK_RAW_WRITEABLE_FILE;
			pump(wc);
			wc->in_writeable_callback = false;
		}
		return wc->kill ? -1 : 0;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		lws_set_opaque_user_data(wsi, NULL);
		on_closed(wc);
		return 0;
	default:
		return 0;
	}
}

const struct lws_protocols ws_client_protocol = {
	"ws-client", ws_client_callback, 0, 0, 0, NULL, 0
};

/* ---- the API ----------------------------------------------------------------- */

struct ws_client *ws_client_new(struct lws_context *ctx, struct lws_vhost *vhost, const struct ws_client_config *cfg,
				const struct ws_client_handler *handler)
{
	struct ws_client *wc = calloc(1, sizeof(*wc));
	if (!wc) {
		log_fatal("out of memory");
		return NULL;
	}
	wc->ctx = ctx;
	wc->vhost = vhost;
	wc->cfg = *cfg;
	wc->h = *handler;
	wc->fd = -1;
	wc->out_cap = WS_MAX_HEADER + cfg->max_message;
	wc->out = malloc(wc->out_cap);
	wc->hs = malloc(HANDSHAKE_BUFFER);
	wc->ssl_ctx = tls_client_ctx_new(cfg->ca_path, cfg->no_verify);
	if (!wc->out || !wc->hs || !wc->ssl_ctx) {
		if (!wc->out || !wc->hs)
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
	if (wc->wsi && !wc->kill && !wc->in_pump) /* else the running pump sends it */
		send_now(wc);
}

size_t ws_client_sendv(struct ws_client *wc, const struct ws_piece *pieces, size_t n)
{
	if (wc->state != WC_OPEN || wc->out_len || wc->kill)
		return 0;
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += pieces[i].len;
	if (total > wc->cfg.max_message)
		return 0;
	put_frame(wc, WS_OP_BINARY, pieces, n, total);
	return wc->kill ? 0 : total;
}

void ws_client_ping(struct ws_client *wc, const uint8_t *payload, size_t len)
{
	if (wc->state != WC_OPEN || len > WS_MAX_CONTROL)
		return;
	/* Nothing at all since the last ping, not even its pong: the relay or
	 * the path (a NAT that forgot us) is gone without a word. While we
	 * hold reads back the relay's bytes may wait unread, so that is not
	 * counted. */
	if (wc->pinged && !wc->heard && !wc->rx_paused) {
		end_connection(wc, "no answer from the relay since the last ping");
		return;
	}
	wc->pinged = true;
	wc->heard = false;
	memcpy(wc->ping, payload, len);
	wc->ping_len = len;
	wc->ping_due = true;
	if (wc->wsi && !wc->kill)
		lws_callback_on_writable(wc->wsi);
}

void ws_client_pause_rx(struct ws_client *wc, bool pause)
{
	if (wc->rx_paused == pause)
		return;
	wc->rx_paused = pause;
	if (pause)
		wc->heard = true; /* unread bytes may wait: do not judge this ping interval */
	/* Resuming: bytes may already wait inside OpenSSL, where poll() cannot see them. */
	if (!pause && wc->wsi && !wc->kill)
		lws_sul_schedule(context_of(wc), 0, &wc->later, pump_later, 1);
}

void ws_client_close(struct ws_client *wc, int code)
{
	if (wc->state == WC_OPEN) {
		queue_close(wc, code);
		snprintf(wc->why, sizeof(wc->why), "closed by us (%d)", code);
		if (wc->wsi && !wc->kill)
			pump(wc);
	} else if (wc->wsi) {
		end_connection(wc, "closed by us");
	}
}

void ws_client_free(struct ws_client *wc)
{
	if (!wc)
		return;
	reset_connection(wc);
	if (wc->addrs)
		freeaddrinfo(wc->addrs);
	SSL_CTX_free(wc->ssl_ctx);
	free(wc->hs);
	free(wc->out);
	free(wc);
}
