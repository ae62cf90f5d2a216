#include "relay/handshake.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "proto/wire.h"

void handshake_init(struct handshake *h, struct registry *r, struct relay_metrics *m)
{
	memset(h, 0, sizeof(*h));
	h->registry = r;
	h->metrics = m;
}

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

/* Every refused upgrade goes out here. */
static int refuse_http(struct handshake *h, struct lws *wsi, int status, const char *reason,
		       const char *label)
{
	metrics_count_rejection(h->metrics, label);
	char addr[64] = "?";
	lws_get_peer_simple(wsi, addr, sizeof(addr));
	log_warn("rejected handshake from %s: HTTP %d: %s", addr, status, reason);
	char body[160];
	snprintf(body, sizeof(body), "%s\n", reason);
	if (lws_return_http_status(wsi, (unsigned int)status, body))
		return -1;
	return 1; /* response written: lws ends the transaction */
}

int handshake_confirm(struct handshake *h, struct lws *wsi, const char *upgrade)
{
	if (strcasecmp(upgrade, "websocket"))
		return refuse_http(h, wsi, 400, "only WebSocket upgrades are served", "bad_upgrade");

	char path[128] = "", mode[32], subprotocols[256] = "";
	char token[TUNNEL_MAX_ACCESS_TOKEN + 1], client_token[TUNNEL_MAX_CLIENT_TOKEN + 2];
	if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) < 0)
		path[0] = '\0';
	/* Points past "local-proxy-mode=" inside mode, or NULL when absent. */
	const char *mode_value = lws_get_urlarg_by_name(wsi, WIRE_MODE_PARAM "=", mode, sizeof(mode));
	if (lws_hdr_copy(wsi, subprotocols, sizeof(subprotocols), WSI_TOKEN_PROTOCOL) <= 0)
		subprotocols[0] = '\0';

	int token_len = copy_custom_header(wsi, WIRE_HEADER_ACCESS_TOKEN ":", token, sizeof(token));
	if (token_len == -2) {
		OPENSSL_cleanse(token, sizeof(token));
		return refuse_http(h, wsi, 401, "malformed " WIRE_HEADER_ACCESS_TOKEN " (want " TUNNEL_ACCESS_TOKEN_SYNTAX ")",
				   "malformed_token");
	}
	int ct_len = copy_custom_header(wsi, WIRE_HEADER_CLIENT_TOKEN ":", client_token, sizeof(client_token));
	if (ct_len == -2) {
		OPENSSL_cleanse(token, sizeof(token));
		return refuse_http(h, wsi, 400, "malformed " WIRE_HEADER_CLIENT_TOKEN " (want " TUNNEL_CLIENT_TOKEN_SYNTAX ")",
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
	struct admit_result res = admit_decide(h->registry, &req);
	OPENSSL_cleanse(token, sizeof(token));
	if (res.http_status) {
		OPENSSL_cleanse(client_token, sizeof(client_token));
		return refuse_http(h, wsi, res.http_status, res.reason, res.label ? res.label : "other");
	}
	/* The token is marked used only in ESTABLISHED: lws may still fail the
	 * upgrade after this point, and the token must not be lost then. */
	h->pending_wsi = wsi;
	h->pending = res;
	h->pending_client_token_len = ct_len > 0 ? (size_t)ct_len : 0;
	memcpy(h->pending_client_token, client_token, h->pending_client_token_len);
	OPENSSL_cleanse(client_token, sizeof(client_token));
	return 0;
}

int handshake_refuse_http_subprotocol(struct handshake *h, struct lws *wsi)
{
	/* lws binds the first listed name it knows, and "http" is one of
	 * ours: a WebSocket must speak a tunnel subprotocol. */
	log_warn("rejected handshake: the client listed \"http\" as a WebSocket subprotocol");
	return -1;
}

int handshake_take(struct handshake *h, struct lws *wsi, struct admit_result *res)
{
	if (h->pending_wsi != wsi) {
		log_error("handshake state lost for a connection; closing it");
		return -1;
	}
	*res = h->pending;
	h->pending_wsi = NULL;
	struct admit_request committed = {
		.client_token = h->pending_client_token_len ? h->pending_client_token : NULL,
		.client_token_len = h->pending_client_token_len,
	};
	admit_commit(res, &committed);
	OPENSSL_cleanse(h->pending_client_token, sizeof(h->pending_client_token));
	return 0;
}
