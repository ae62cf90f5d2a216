#include "relay/peer_lws.h"

#include <fcntl.h>
#include <openssl/ssl.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "proto/wire.h"
#include "relay/http_router.h"

/* The hand-over. lws has no call that lets go of a connection, so: stop
 * lws reading it, and have lws kill it on its next pass as if a timeout
 * had expired. That path (socket_is_permanently_unusable) sends no close
 * frame, no TLS close_notify and no shutdown(); its last act is
 * lws_ssl_close(), which closes SSL_get_fd(ssl) and frees the session. In
 * the CLOSED callback just before, the session's descriptor becomes a
 * throwaway /dev/null, and our own reference (SSL_up_ref) keeps the session:
 * lws closes /dev/null and drops its reference, while the socket, still
 * registered in the loop's epoll under its number, stays ours. */

static int hand_over(struct peer_lws *pl, struct lws *wsi, struct peer_lws_session *ps,
		     const char *who, const struct admit_result *res, int version)
{
	SSL *ssl = lws_get_ssl(wsi);
	int fd = lws_get_socket_fd(wsi);
	if (!ssl || fd < 0) {
		log_error("%s: no TLS session on a tunnel connection", who);
		return -1;
	}
	struct tunnel_ws *c = tunnel_ws_new(pl->conns, fd, ssl, who);
	if (!c) {
		log_error("%s: out of memory", who);
		return -1;
	}
	ps->peer = peer_join(pl->dataplane, c, res, version, who);
	if (!ps->peer) {
		tunnel_ws_abandon(c);
		return -1;
	}
	tunnel_ws_bind(c, ps->peer);
	ps->conn = c;
	lws_rx_flow_control(wsi, 0);
	lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	return 0;
}

/* CLOSED, while handing over: lws is about to close SSL_get_fd() and free
 * its reference to the session. */
static void let_go(struct lws *wsi, struct peer_lws_session *ps)
{
	struct tunnel_ws *c = ps->conn;
	ps->conn = NULL;
	ps->peer = NULL; /* the connection owns it now */
	int throwaway = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (throwaway < 0 || SSL_set_fd(lws_get_ssl(wsi), throwaway) != 1) {
		/* lws closes the socket itself then. */
		log_error("cannot take over a tunnel connection (no descriptor for /dev/null)");
		if (throwaway >= 0)
			close(throwaway);
		tunnel_ws_abandon(c);
		return;
	}
	tunnel_ws_start(c);
}

static int on_established(struct peer_lws *pl, struct lws *wsi, struct peer_lws_session *ps)
{
	struct admit_result res;
	ps->peer = NULL;
	ps->conn = NULL;

	char channel[CHANNEL_ID_LEN + 1];
	if (handshake_take(pl->handshake, wsi, &res, channel))
		return -1;
	const char *name = lws_get_protocol(wsi)->name;
	char addr[64];
	http_client_address(wsi, addr, sizeof(addr));
	/* "ADDR, channel ID": the log line then matches the channel-id the
	 * client logs. */
	char who[64 + CHANNEL_ID_LEN + 16];
	snprintf(who, sizeof(who), "%s, channel %s", addr, channel);
	return hand_over(pl, wsi, ps, who, &res, subprotocol_version(name, strlen(name)));
}

/* The protocol's user pointer is read only for a connection's own events:
 * events such as EVENT_WAIT_CANCELLED reach this callback too. */
int peer_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		      void *in, size_t len)
{
	struct peer_lws_session *ps = user;
	switch (reason) {
	case LWS_CALLBACK_ADD_HEADERS: {
		struct peer_lws *pl = lws_get_protocol(wsi)->user;
		struct lws_process_html_args *args = in;
		unsigned char *p = (unsigned char *)args->p;
		if (handshake_add_headers(pl->handshake, wsi, &p, p + args->max_len))
			return -1;
		args->max_len -= (int)(p - (unsigned char *)args->p);
		args->p = (char *)p;
		return 0;
	}
	case LWS_CALLBACK_ESTABLISHED:
		return on_established(lws_get_protocol(wsi)->user, wsi, ps);
	case LWS_CALLBACK_RECEIVE:
		/* Only from a client that sent before it had our 101, in the
		 * same read as its request: lws parsed it before letting go. */
		if (ps->peer)
			peer_receive(ps->peer, in, len, lws_frame_is_binary(wsi),
				     lws_is_first_fragment(wsi));
		return 0;
	case LWS_CALLBACK_CLOSED:
		if (ps->conn)
			let_go(wsi, ps);
		return 0;
	default:
		return 0;
	}
}
