/* The WebSocket client from a connected socket to an open WebSocket: the
 * HTTP proxy's CONNECT, the TLS handshake, the upgrade request and the
 * check of its answer. */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/io.h"
#include "common/log.h"
#include "proxy/tls_client.h"
#include "proxy/ws_client_internal.h"

static int begin_tls(struct ws_client *wc)
{
	BIO *inner = NULL;
	if (BIO_new_bio_pair(&inner, BIO_PAIR_SIZE, &wc->net, BIO_PAIR_SIZE) != 1) {
		wc_end_connection(wc, "cannot set up TLS: out of memory");
		return -1;
	}
	wc->ssl = tls_client_ssl_new(wc->ssl_ctx, wc->cfg.host, wc->cfg.no_verify, inner);
	if (!wc->ssl) {
		wc_end_connection(wc, "cannot set up TLS");
		return -1;
	}
	wc->state = WC_TLS_HANDSHAKE;
	return 0;
}

void wc_after_connected(struct ws_client *wc)
{
	if (!wc->cfg.proxy_host[0]) {
		begin_tls(wc);
		return;
	}
	wc->hs_len = http_connect_build(wc->cfg.host, wc->cfg.port, (char *)wc->hs, HANDSHAKE_BUFFER);
	wc->hs_done = 0;
	if (!wc->hs_len) {
		wc_end_connection(wc, "cannot build the proxy's CONNECT request");
		return;
	}
	wc->state = WC_PROXY_REQUEST;
}

/* Plain text to and from the HTTP proxy. */
void wc_proxy_exchange(struct ws_client *wc, bool *progress)
{
	if (wc->state == WC_PROXY_REQUEST) {
		ssize_t n = send(wc->fd, wc->hs + wc->hs_done, wc->hs_len - wc->hs_done,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (!io_try_again(errno))
				wc_end_connection(wc, "cannot talk to the proxy: %s", strerror(errno));
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
			wc_end_connection(wc, "the proxy closed the connection");
			return;
		}
		if (n < 0) {
			if (!io_try_again(errno))
				wc_end_connection(wc, "cannot talk to the proxy: %s", strerror(errno));
			return;
		}
		*progress = true;
		wc->hs_len++;
		size_t head = http_head_length(wc->hs, wc->hs_len);
		if (!head)
			continue;
		int status = http_head_status((const char *)wc->hs, head);
		if (status / 100 != 2) {
			wc_end_connection(wc, "the proxy %s:%d refused to connect to %s:%d: HTTP %d",
				       wc->cfg.proxy_host, wc->cfg.proxy_port, wc->cfg.host, wc->cfg.port,
				       status);
			return;
		}
		log_debug("the proxy connected us to %s:%d", wc->cfg.host, wc->cfg.port);
		begin_tls(wc);
		return;
	}
	wc_end_connection(wc, "the proxy's answer is longer than %u bytes", WS_MAX_RESPONSE_HEAD);
}

static int build_upgrade_request(struct ws_client *wc)
{
	uint8_t nonce[WS_NONCE_LEN];
	if (RAND_bytes(nonce, sizeof(nonce)) != 1) {
		wc_end_connection(wc, "no random bytes for the WebSocket key");
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
		wc_end_connection(wc, "the upgrade request does not fit (token too long?)");
		return -1;
	}
	return 0;
}

static void upgrade_answer(struct ws_client *wc, bool *progress)
{
	for (;;) {
		if (wc->hs_len >= WS_MAX_RESPONSE_HEAD) {
			wc_end_connection(wc, "the relay's answer is longer than %u bytes", WS_MAX_RESPONSE_HEAD);
			return;
		}
		int n = SSL_read(wc->ssl, wc->hs + wc->hs_len, (int)(WS_MAX_RESPONSE_HEAD - wc->hs_len));
		if (n <= 0) {
			wc_ssl_failed(wc, n, "reading the upgrade answer");
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
			wc_end_connection(wc, "the relay refused the upgrade: HTTP %d", wc->http_status);
			return;
		}
		if (r == WS_UPGRADE_INVALID) {
			wc->http_status = 0;
			wc_end_connection(wc, "bad upgrade answer from the relay: %s", err);
			return;
		}
		wc->http_status = 0;
		wc->state = WC_OPEN;
		wc->opened = true;
		ev_timer_stop(&wc->timeout);
		ws_parser_init(&wc->parser);
		wc->h.on_open(wc->h.user);
		/* Frames that came in the same read as the answer. */
		if (wc->hs_len > head && !wc->kill)
			wc_deliver(wc, wc->hs + head, wc->hs_len - head);
		wc_free_handshake_buffer(wc);
		return;
	}
}

void wc_handshake(struct ws_client *wc, bool *progress)
{
	if (wc->state == WC_TLS_HANDSHAKE) {
		int rc = SSL_do_handshake(wc->ssl);
		if (rc != 1) {
			wc_ssl_failed(wc, rc, "connecting");
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
			wc_ssl_failed(wc, n, "sending the upgrade request");
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

void wc_free_handshake_buffer(struct ws_client *wc)
{
	if (!wc->hs)
		return;
	OPENSSL_cleanse(wc->hs, HANDSHAKE_BUFFER); /* the request held the access token */
	free(wc->hs);
	wc->hs = NULL;
	wc->hs_len = wc->hs_done = 0;
}
