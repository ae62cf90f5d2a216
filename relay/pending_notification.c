#include "relay/pending_notification.h"

#include <openssl/crypto.h>
#include <string.h>

#include "common/token.h"
#include "proto/message.h"

void pending_notification_wipe(struct pending_notification *pn)
{
	OPENSSL_cleanse(pn, sizeof(*pn));
}

void pending_notification_wipe_token(struct pending_notification *pn)
{
	OPENSSL_cleanse(pn->token, sizeof(pn->token));
}

int pending_notification_make(struct pending_notification *pn, const struct registry_tunnel *t,
			      const char *token, int64_t now)
{
	memset(pn, 0, sizeof(*pn));
	size_t len = strlen(token);
	if (len == 0 || len > PENDING_TOKEN_MAX || !t->thing[0] || t->n_services < 1 ||
	    t->n_services > TUNNEL_MAX_SERVICES)
		return -1;
	memcpy(pn->tunnel_id, t->id, sizeof(pn->tunnel_id));
	memcpy(pn->thing, t->thing, sizeof(pn->thing));
	pn->n_services = t->n_services;
	memcpy(pn->services, t->services, sizeof(pn->services));
	memcpy(pn->token, token, len + 1);
	pn->since = now;
	return 0;
}

enum pending_verdict pending_notification_check(const struct pending_notification *pn,
						struct registry *r, int64_t now)
{
	const struct registry_tunnel *t = registry_find_id(r, pn->tunnel_id);
	if (!t)
		return PENDING_NO_TUNNEL;
	if (t->closed_at)
		return PENDING_CLOSED;
	if (t->expires_at && t->expires_at <= now)
		return PENDING_EXPIRED;
	uint8_t hash[TOKEN_HASH_LEN];
	if (token_hash(pn->token, strlen(pn->token), hash) ||
	    !token_hash_equal(hash, t->side[SIDE_DESTINATION].token_hash))
		return PENDING_TOKEN_ROTATED;
	return PENDING_CURRENT;
}

const char *pending_verdict_text(enum pending_verdict v)
{
	switch (v) {
	case PENDING_CURRENT: return "still current";
	case PENDING_NO_TUNNEL: return "the tunnel is gone";
	case PENDING_CLOSED: return "the tunnel is closed";
	case PENDING_EXPIRED: return "the tunnel expired";
	case PENDING_TOKEN_ROTATED: return "the destination token was rotated since";
	}
	return "?";
}

const char *pending_notification_problem(const struct pending_notification *pn)
{
	if (!registry_id_valid(pn->tunnel_id))
		return "tunnel id must be 1-64 characters of [A-Za-z0-9_-]";
	if (!pn->thing[0])
		return "thing is empty";
	if (pn->n_services < 1 || pn->n_services > TUNNEL_MAX_SERVICES)
		return "needs 1 to 3 services";
	for (size_t i = 0; i < pn->n_services; i++)
		if (!tunnel_service_id_valid(pn->services[i]))
			return "service id must match [A-Za-z0-9_:-]{1,128}";
	if (!pn->token[0])
		return "token is empty";
	return NULL;
}

enum pending_adopt pending_notification_adopt(const struct pending_notification *row, bool held,
					      bool known, int64_t now)
{
	if (held)
		return PENDING_ADOPT_HELD;
	if (!known)
		return PENDING_ADOPT_UNKNOWN;
	/* A row from the future (clocks apart) waits like a young one. */
	if (row->since > now || now - row->since < PENDING_ADOPT_AFTER_S)
		return PENDING_ADOPT_YOUNG;
	return PENDING_ADOPT;
}

bool pending_notification_take_first(const struct pending_notification *pn, bool adopted,
				     int64_t now)
{
	return adopted || now - pn->since >= PENDING_TAKE_AFTER_S;
}
