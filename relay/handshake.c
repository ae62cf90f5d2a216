#include "relay/handshake.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/token.h"
#include "proto/wire.h"
#include "relay/http_router.h"

void handshake_init(struct handshake *h, struct registry *r, struct relay_metrics *m)
{
	memset(h, 0, sizeof(*h));
	h->registry = r;
	h->metrics = m;
	cluster_misses_init(&h->misses, h);
}

void handshake_share(struct handshake *h, struct store *s, store_tunnel_changed_fn found,
		     void *found_arg)
{
	h->store = s;
	h->found = found;
	h->found_arg = found_arg;
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

static const char *status_text(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 409: return "Conflict";
	case 429: return "Too Many Requests";
	case 503: return "Service Unavailable";
	default: return status >= 500 ? "Internal Server Error" : "Bad Request";
	}
}

/* A refusal every WebSocket client can read: an HTTP/1.1 status line
 * (strict clients such as python-websockets cannot parse lws's HTTP/1.0
 * one) and one plain line of text (AWS's localproxy prints the body as it
 * is; an HTML page there is noise). 4xx means "do not retry", 5xx "retry". */
int handshake_write_refusal(struct lws *wsi, int status, const char *reason)
{
	unsigned char buf[LWS_PRE + 512];
	char *out = (char *)buf + LWS_PRE;
	size_t cap = sizeof(buf) - LWS_PRE;
	int body_len = (int)strlen(reason) + 1;
	int n = snprintf(out, cap,
			 "HTTP/1.1 %d %s\r\n"
			 "Content-Type: text/plain; charset=utf-8\r\n"
			 "Content-Length: %d\r\n"
			 "Connection: close\r\n"
			 "\r\n"
			 "%s\n",
			 status, status_text(status), body_len, reason);
	if (n < 0 || (size_t)n >= cap)
		return -1;
	if (lws_write(wsi, (unsigned char *)out, (size_t)n, LWS_WRITE_HTTP_HEADERS) != n)
		return -1;
	return 1; /* response written: lws ends the transaction */
}

/* The refusals a client retrying a token that is no longer good gets,
 * which it may repeat for ever. Anything else is logged every time. */
static bool is_dead_token(const char *label)
{
	return !strcmp(label, "unknown_token") || !strcmp(label, "tunnel_closed") ||
	       !strcmp(label, "token_reused") || !strcmp(label, "not_known_yet");
}

/* Every refused upgrade goes out here. token: the access token the client
 * sent (NULL if none), so that a client retrying the same dead token is
 * logged once per episode (relay/refusal_log.h); every refusal is counted
 * in /metrics all the same. */
static int refuse_http(struct handshake *h, struct lws *wsi, int status, const char *reason,
		       const char *label, const char *token, size_t token_len)
{
	metrics_count_rejection(h->metrics, label);
	uint64_t key = 0;
	uint8_t hash[TOKEN_HASH_LEN];
	if (is_dead_token(label) && token && token_len && token_hash(token, token_len, hash) == 0) {
		memcpy(&key, hash, sizeof(key));
		key ^= (uint64_t)label[0] << 56 ^ strlen(label); /* the same token, another reason */
		key |= 1; /* never 0, which means "log it" */
	}
	OPENSSL_cleanse(hash, sizeof(hash));
	uint32_t left_out = 0;
	char addr[64];
	http_client_address(wsi, addr, sizeof(addr));
	/* Not known yet is how several nodes learn of a tunnel: no warning. */
	enum log_level level = strcmp(label, "not_known_yet") ? LOG_WARN : LOG_INFO;
	if (refusal_log_note(&h->refusals, key, status, now_ms(), &left_out)) {
		if (left_out)
			log_msg(level, "rejected handshake from %s: HTTP %d: %s (the same token was "
				"refused %u more times before, not logged)", addr, status, reason,
				left_out);
		else
			log_msg(level, "rejected handshake from %s: HTTP %d: %s", addr, status, reason);
	} else {
		log_debug("rejected handshake from %s: HTTP %d: %s (again)", addr, status, reason);
	}
	return handshake_write_refusal(wsi, status, reason);
}

/* The database's answer about a token unknown in memory. */
static void token_found(void *ctx, const struct registry_tunnel *row, const char *err)
{
	struct cluster_miss *slot = ctx;
	struct handshake *h = slot->set->owner;
	cluster_miss_done(slot, !row && !err, now_ms());
	if (err)
		log_debug("cannot look an access token up in the database: %s", err);
	else if (row)
		h->found(h->found_arg, row->id, row, NULL);
}

/* A token unknown in memory, on a shared store: true when it may yet be
 * known (another node just opened or rotated it): the client is told to
 * retry (503) while the database is asked; false once it missed there. */
static bool maybe_elsewhere(struct handshake *h, const char *token, size_t len)
{
	uint8_t hash[TOKEN_HASH_LEN];
	if (!h->store || token_hash(token, len, hash))
		return false;
	struct cluster_miss *slot = NULL;
	enum cluster_miss_verdict v = cluster_miss_check(&h->misses, hash, now_ms(), &slot);
	char err[256];
	if (v == CLUSTER_LOOK_UP &&
	    store_find_token(h->store, hash, token_found, slot, err, sizeof(err))) {
		cluster_miss_done(slot, false, now_ms()); /* too busy to ask: retry later */
		log_debug("cannot look an access token up in the database: %s", err);
	}
	OPENSSL_cleanse(hash, sizeof(hash));
	return v != CLUSTER_UNKNOWN;
}

int handshake_confirm(struct handshake *h, struct lws *wsi, const char *upgrade)
{
	if (strcasecmp(upgrade, "websocket"))
		return refuse_http(h, wsi, 400, "only WebSocket upgrades are served", "bad_upgrade",
				   NULL, 0);

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
		return refuse_http(h, wsi, 401,
				   "malformed " WIRE_HEADER_ACCESS_TOKEN " (want " TUNNEL_ACCESS_TOKEN_SYNTAX ")",
				   "malformed_token", NULL, 0);
	}
	int ct_len = copy_custom_header(wsi, WIRE_HEADER_CLIENT_TOKEN ":", client_token, sizeof(client_token));
	if (ct_len == -2) {
		int rc = refuse_http(h, wsi, 400,
				     "malformed " WIRE_HEADER_CLIENT_TOKEN " (want " TUNNEL_CLIENT_TOKEN_SYNTAX ")",
				     "malformed_client_token", token_len > 0 ? token : NULL,
				     token_len > 0 ? (size_t)token_len : 0);
		OPENSSL_cleanse(token, sizeof(token));
		return rc;
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
	if (res.http_status == 401 && !res.tunnel && !strcmp(res.label, "unknown_token") &&
	    maybe_elsewhere(h, req.access_token, req.access_token_len)) {
		res.http_status = 503;
		res.reason = "tunnel not known on this node yet; retry";
		res.label = "not_known_yet";
	}
	if (res.http_status) {
		int rc = refuse_http(h, wsi, res.http_status, res.reason, res.label ? res.label : "other",
				     req.access_token, req.access_token_len);
		OPENSSL_cleanse(token, sizeof(token));
		OPENSSL_cleanse(client_token, sizeof(client_token));
		return rc;
	}
	OPENSSL_cleanse(token, sizeof(token));
	/* channel-id names this connection in both sides' logs: AWS's
	 * localproxy logs it as its "session ID". */
	uint8_t rnd[CHANNEL_ID_LEN / 2];
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		OPENSSL_cleanse(client_token, sizeof(client_token));
		return refuse_http(h, wsi, 500, "no randomness for a channel id", "internal", NULL, 0);
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(h->pending_channel_id + 2 * i, 3, "%02x", rnd[i]);
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

int handshake_add_headers(struct handshake *h, struct lws *wsi, unsigned char **p,
			  unsigned char *end)
{
	if (h->pending_wsi != wsi)
		return 0;
	return lws_add_http_header_by_name(wsi, (const unsigned char *)"channel-id:",
					   (const unsigned char *)h->pending_channel_id,
					   (int)strlen(h->pending_channel_id), p, end)
		       ? -1
		       : 0;
}

int handshake_take(struct handshake *h, struct lws *wsi, struct admit_result *res,
		   char channel_id[CHANNEL_ID_LEN + 1])
{
	if (h->pending_wsi != wsi) {
		log_error("handshake state lost for a connection; closing it");
		return -1;
	}
	*res = h->pending;
	h->pending_wsi = NULL;
	memcpy(channel_id, h->pending_channel_id, sizeof(h->pending_channel_id));
	struct admit_request committed = {
		.client_token = h->pending_client_token_len ? h->pending_client_token : NULL,
		.client_token_len = h->pending_client_token_len,
	};
	admit_commit(res, &committed);
	OPENSSL_cleanse(h->pending_client_token, sizeof(h->pending_client_token));
	return 0;
}
