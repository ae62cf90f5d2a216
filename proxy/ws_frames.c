/* The WebSocket client's frames on an open connection: parsing what the
 * server sends (data to the handler; pings, pongs and close answered) and
 * masking what we send (one message, or a control frame, at a time). */
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "proxy/ws_client_internal.h"

/* ---- receiving --------------------------------------------------------- */

void wc_queue_close(struct ws_client *wc, int code)
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
		wc_queue_close(wc, WS_CLOSE_PROTOCOL_ERROR);
		wc->end_when_flushed = true;
		snprintf(wc->why, sizeof(wc->why), "the relay sent a close frame of one byte");
		return;
	}
	int code = ev->len >= 2 ? (ev->data[0] << 8) | ev->data[1] : WS_CLOSE_NO_STATUS;
	if (ev->len >= 2 && !ws_close_code_valid(code)) {
		wc_queue_close(wc, WS_CLOSE_PROTOCOL_ERROR);
		wc->end_when_flushed = true;
		snprintf(wc->why, sizeof(wc->why), "the relay sent close code %d, which is not allowed", code);
		return;
	}
	/* The reason goes into our log: control characters could forge lines. */
	char reason[WS_MAX_CONTROL];
	size_t reason_len = ev->len > 2 ? ev->len - 2 : 0;
	for (size_t i = 0; i < reason_len; i++) {
		uint8_t b = ev->data[2 + i];
		reason[i] = (char)(b < 0x20 || b == 0x7f ? '?' : b);
	}
	if (wc->state == WC_CLOSING && !wc->close_due) {
		/* It answers our close. */
		wc_end_connection(wc, "closed (%d)", code);
		return;
	}
	wc->h.on_close_frame(wc->h.user, code, reason, reason_len);
	snprintf(wc->why, sizeof(wc->why), "the relay closed the connection (%d %.*s)", code,
		 (int)(reason_len > 100 ? 100 : reason_len), reason);
	wc_queue_close(wc, code == WS_CLOSE_NO_STATUS ? WS_CLOSE_NORMAL : code);
	wc->end_when_flushed = true; /* the server closes first; we need not wait */
}

/* Received bytes through the frame parser to the handler. */
void wc_deliver(struct ws_client *wc, const uint8_t *data, size_t len)
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
				wc_queue_close(wc, WS_CLOSE_PROTOCOL_ERROR);
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
			wc_queue_close(wc, ev.close_code);
			wc->end_when_flushed = true;
			snprintf(wc->why, sizeof(wc->why), "the relay broke the WebSocket protocol: %s",
				 ev.error);
			return;
		}
		if (wc->kill)
			return;
	}
}

void wc_app_read(struct ws_client *wc, bool *progress)
{
	size_t budget = READ_BUDGET;
	while (!wc->rx_paused && !wc->kill && budget > 0) {
		/* Nothing in OpenSSL nor in the BIO pair: SSL_read could only
		 * fail (and cost an error-queue round), once per message. At
		 * EOF it runs, to tell a clean end from a cut one. */
		if (!wc->peer_eof && !SSL_has_pending(wc->ssl) &&
		    BIO_ctrl_pending(SSL_get_rbio(wc->ssl)) == 0)
			return;
		int n = SSL_read(wc->ssl, wc->in, sizeof(wc->in));
		if (n <= 0) {
			if (wc_ssl_failed(wc, n, "reading") == 0 && wc->peer_eof &&
			    BIO_ctrl_pending(SSL_get_rbio(wc->ssl)) == 0)
				wc_end_connection(wc, "the relay dropped the connection");
			return;
		}
		*progress = true;
		budget = (size_t)n > budget ? 0 : budget - (size_t)n;
		wc_deliver(wc, wc->in, (size_t)n);
	}
}

/* ---- sending ------------------------------------------------------------- */

/* Writes one masked frame of the pieces' bytes into out. */
static void put_frame(struct ws_client *wc, enum ws_opcode op, const struct ws_piece *pieces,
		      size_t n, size_t total)
{
	/* Masks come from a pool of random bytes drawn MASK_POOL at a time:
	 * one RAND_bytes per frame cost a getpid() and a DRBG pass per message. */
	if (wc->mask_left < 4) {
		if (RAND_bytes(wc->mask_pool, sizeof(wc->mask_pool)) != 1) {
			wc_end_connection(wc, "no random bytes for a frame mask");
			return;
		}
		wc->mask_left = sizeof(wc->mask_pool);
	}
	const uint8_t *mask = wc->mask_pool + sizeof(wc->mask_pool) - wc->mask_left;
	wc->mask_left -= 4;
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
		wc_start_timer(&wc->timeout, CLOSE_TIMEOUT_US);
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

void wc_app_write(struct ws_client *wc, bool *progress)
{
	int messages = 0;
	while (!wc->kill) {
		if (wc->out_sent < wc->out_len) {
			int n = SSL_write(wc->ssl, wc->out + wc->out_sent, (int)(wc->out_len - wc->out_sent));
			if (n <= 0) {
				wc_ssl_failed(wc, n, "writing");
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
