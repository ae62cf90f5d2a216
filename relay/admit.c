#include "relay/admit.h"

#include <string.h>

#include <openssl/crypto.h>

static const char *const subprotocol_names[] = { SUBPROTOCOL_V1, SUBPROTOCOL_V2,
						  SUBPROTOCOL_V3 };

int subprotocol_version(const char *name, size_t len)
{
	if (name == NULL)
		return 0;
	for (int v = 1; v <= 3; v++) {
		const char *want = subprotocol_names[v - 1];
		if (len == strlen(want) && memcmp(name, want, len) == 0)
			return v;
	}
	return 0;
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Highest version among the comma-separated names in list; 0 if none. */
static int best_subprotocol(const char *list)
{
	int best = 0;
	const char *p = list;
	while (p != NULL && *p != '\0') {
		const char *comma = strchr(p, ',');
		const char *end = comma ? comma : p + strlen(p);
		const char *b = p;
		const char *e = end;
		while (b < e && is_ows(*b))
			b++;
		while (e > b && is_ows(e[-1]))
			e--;
		int v = subprotocol_version(b, (size_t)(e - b));
		if (v > best)
			best = v;
		p = comma ? comma + 1 : NULL;
	}
	return best;
}

static struct admit_result refuse(struct admit_result res, int status, const char *reason,
				  const char *label)
{
	res.http_status = status;
	res.reason = reason;
	res.label = label;
	res.reconnect = false;
	return res;
}

static bool mode_side(const char *mode, enum tunnel_side *side)
{
	if (mode == NULL)
		return false;
	if (strcmp(mode, "source") == 0) {
		*side = SIDE_SOURCE;
		return true;
	}
	if (strcmp(mode, "destination") == 0) {
		*side = SIDE_DESTINATION;
		return true;
	}
	return false;
}

/* A used token is accepted again only with the client token of its first use. */
static bool is_reconnect(const struct registry_side *side, const struct admit_request *req)
{
	if (!side->has_client_token || req->client_token == NULL)
		return false;
	size_t stored = strnlen(side->client_token, sizeof(side->client_token));
	return stored == req->client_token_len &&
	       CRYPTO_memcmp(side->client_token, req->client_token, stored) == 0;
}

static const char *wrong_side_reason(enum tunnel_side token_side)
{
	return token_side == SIDE_DESTINATION
		       ? "access token is for the destination, not the source"
		       : "access token is for the source, not the destination";
}

struct admit_result admit_decide(struct registry *r, const struct admit_request *req)
{
	struct admit_result res = { .http_status = 0, .reason = NULL, .label = NULL, .tunnel = NULL,
				    .side = SIDE_SOURCE, .version = 0,
				    .subprotocol = NULL, .reconnect = false };
	if (req->path == NULL || strcmp(req->path, WIRE_PATH) != 0)
		return refuse(res, 400, "path must be " WIRE_PATH, "bad_path");
	enum tunnel_side want;
	if (!mode_side(req->mode, &want))
		return refuse(res, 400, WIRE_MODE_PARAM " must be source or destination", "bad_mode");
	res.side = want;
	res.version = best_subprotocol(req->subprotocols);
	if (res.version == 0)
		return refuse(res, 400,
			      "no supported Sec-WebSocket-Protocol (want " SUBPROTOCOL_V3 ", " SUBPROTOCOL_V2
			      " or " SUBPROTOCOL_V1 ")",
			      "bad_subprotocol");
	res.subprotocol = subprotocol_names[res.version - 1];
	if (req->access_token == NULL)
		return refuse(res, 401, "missing " WIRE_HEADER_ACCESS_TOKEN " header", "missing_token");
	if (!access_token_valid(req->access_token, req->access_token_len))
		return refuse(res, 401, "malformed " WIRE_HEADER_ACCESS_TOKEN, "malformed_token");
	if (req->client_token != NULL &&
	    !client_token_valid(req->client_token, req->client_token_len))
		return refuse(res, 400, "malformed " WIRE_HEADER_CLIENT_TOKEN " (want " TUNNEL_CLIENT_TOKEN_SYNTAX ")",
			      "malformed_client_token");

	enum tunnel_side token_side = SIDE_SOURCE;
	struct registry_tunnel *t =
		registry_find_token(r, req->access_token, req->access_token_len, &token_side);
	if (t == NULL)
		return refuse(res, 401, "unknown access token", "unknown_token");
	/* Known from here on: the tunnel is reported even on refusal, for the log. */
	res.tunnel = t;
	if (t->closed_at != 0)
		return refuse(res, 401, "the tunnel is closed", "tunnel_closed");
	if (token_side != want)
		return refuse(res, 403, wrong_side_reason(token_side), "wrong_side");
	const struct registry_side *side = &t->side[want];
	if (side->used) {
		if (!is_reconnect(side, req))
			return refuse(res, 403,
				      "access token already used (reconnect needs the same " WIRE_HEADER_CLIENT_TOKEN ")",
				      "token_reused");
		res.reconnect = true;
	}
	return res;
}

void admit_commit(const struct admit_result *res, const struct admit_request *req)
{
	if (res->http_status != 0 || res->tunnel == NULL)
		return;
	struct registry_side *side = &res->tunnel->side[res->side];
	if (side->used)
		return; /* a reconnect keeps the client token of the first use */
	side->used = true;
	side->has_client_token = false;
	if (req->client_token != NULL && req->client_token_len <= TUNNEL_MAX_CLIENT_TOKEN) {
		memcpy(side->client_token, req->client_token, req->client_token_len);
		side->client_token[req->client_token_len] = '\0';
		side->has_client_token = true;
	}
}
