#include "relay/peer_lws.h"

#include <string.h>

#include "common/lws_glue.h"
#include "proto/wire.h"
#include "relay/http_router.h"
#include "relay/peer_liveness.h"

static void lws_want_write(void *conn)
{
	lws_callback_on_writable(conn);
}

static void lws_pause_reading(void *conn, bool pause)
{
	lws_rx_flow_control(conn, pause ? 0 : 1);
}

static void lws_close_within(void *conn, unsigned secs)
{
	lws_set_timeout(conn, PENDING_TIMEOUT_CLOSE_SEND, (int)secs);
}

static int lws_send(void *conn, struct bytequeue *q)
{
	return ws_send_queued(conn, q, TUNNEL_MAX_WS_MESSAGE);
}

static void lws_close(void *conn, int code, const char *reason)
{
	lws_close_reason(conn, (enum lws_close_status)code, (unsigned char *)reason, strlen(reason));
}

const struct peer_io peer_lws_io = {
	.want_write = lws_want_write,
	.pause_reading = lws_pause_reading,
	.close_within = lws_close_within,
	.send = lws_send,
	.close = lws_close,
};

static int on_established(struct peer_lws *pl, struct lws *wsi, struct peer_lws_session *ps)
{
	struct admit_result res;
	ps->peer = NULL;

	char channel[CHANNEL_ID_LEN + 1];
	if (handshake_take(pl->handshake, wsi, &res, channel))
		return -1;
	const char *name = lws_get_protocol(wsi)->name;
	char *addr = ps->addr;
	http_client_address(wsi, addr, sizeof(ps->addr));
	/* "ADDR, channel ID": the log line then matches the channel-id the
	 * client logs. */
	char who[64 + CHANNEL_ID_LEN + 16];
	snprintf(who, sizeof(who), "%s, channel %s", addr, channel);
	ps->peer = peer_join(pl->dataplane, wsi, &res, subprotocol_version(name, strlen(name)), who);
	if (ps->peer)
		peer_liveness_start(wsi, addr);
	return ps->peer ? 0 : -1;
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
		if (ps->peer)
			peer_receive(ps->peer, in, len, lws_frame_is_binary(wsi),
				     lws_is_first_fragment(wsi));
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return ps->peer ? peer_writeable(ps->peer) : -1;
	case LWS_CALLBACK_CLOSED:
		peer_closed(ps->peer);
		ps->peer = NULL;
		return 0;
	default:
		return 0;
	}
}
