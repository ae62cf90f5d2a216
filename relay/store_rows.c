/* Row checks and the services columns' JSON, shared by the store backends. */
#include "relay/store_rows.h"

#include <string.h>

#include <cjson/cJSON.h>

#include "proto/message.h"
#include "relay/notify_payload.h"
#include "relay/presence_payload.h"

bool store_node_id_valid(const char *id)
{
	size_t n = strnlen(id, STORE_MAX_NODE_ID + 1);
	if (n < 1 || n > STORE_MAX_NODE_ID)
		return false;
	/* Notification payloads are "NODE ID": never a space in it. */
	return strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

const char *store_claim_take(struct store_claim *c, const char *tunnel_id, enum tunnel_side side,
			     const char *client_token, const char *node_id, int connected)
{
	size_t clen = strnlen(client_token, TUNNEL_MAX_CLIENT_TOKEN + 1);
	if (!registry_id_valid(tunnel_id) || (side != SIDE_SOURCE && side != SIDE_DESTINATION) ||
	    (clen && !client_token_valid(client_token, clen)) || !store_node_id_valid(node_id) ||
	    connected < 0 || connected > 3)
		return "invalid tunnel id, side, client token, node id or connected flags";
	memcpy(c->id, tunnel_id, strlen(tunnel_id) + 1);
	c->side = side;
	memcpy(c->client_token, client_token, clen + 1);
	memcpy(c->node, node_id, strlen(node_id) + 1);
	c->connected = connected;
	return NULL;
}

/* Checked before saving too, so that a row we write is always a row we can
 * load back (a bad row stops the relay). */
const char *store_tunnel_problem(const struct registry_tunnel *t)
{
	if (strnlen(t->thing, sizeof(t->thing)) == sizeof(t->thing) ||
	    strnlen(t->description, sizeof(t->description)) == sizeof(t->description))
		return "thing or description is not terminated";
	if (t->n_services < 1 || t->n_services > TUNNEL_MAX_SERVICES)
		return "needs 1 to 3 services";
	for (size_t i = 0; i < t->n_services; i++) {
		if (!tunnel_service_id_valid(t->services[i]))
			return "service id must match [A-Za-z0-9_:-]{1,128}";
		for (size_t j = 0; j < i; j++)
			if (strcmp(t->services[i], t->services[j]) == 0)
				return "a service is listed twice";
	}
	for (int s = 0; s < 2; s++) {
		const struct registry_side *side = &t->side[s];
		if (side->has_client_token &&
		    !client_token_valid(side->client_token,
					strnlen(side->client_token, sizeof(side->client_token))))
			return "client token must match [A-Za-z0-9-]{32,128}";
		if (t->side_changed_at[s] < 0)
			return "side change time is negative";
	}
	if (t->lifetime_minutes < 0 || t->created_at < 0 || t->expires_at < 0 ||
	    t->closed_at < 0)
		return "lifetime or times are negative";
	return NULL;
}

const char *store_thing_problem(const struct thing_presence *p)
{
	if (!notify_thing_valid(p->name))
		return "name must be 1-128 characters of [A-Za-z0-9_:-]";
	if (p->state != THING_ONLINE && p->state != THING_OFFLINE)
		return "state must be online or offline";
	if (p->n_services > THING_MAX_SERVICES)
		return "more than 32 services";
	for (size_t i = 0; i < p->n_services; i++)
		if (!tunnel_service_id_valid(p->services[i]))
			return "service id must match [A-Za-z0-9_:-]{1,128}";
	if (strnlen(p->agent_version, sizeof(p->agent_version)) == sizeof(p->agent_version))
		return "agent version is not terminated";
	if (p->since < 0 || p->boot_time < 0 || p->max_tunnels < 0 ||
	    p->max_tunnels > PRESENCE_MAX_TUNNELS)
		return "a time or maxTunnels is out of range";
	return NULL;
}

char *store_services_json(const char (*services)[TUNNEL_MAX_SERVICE_ID + 1], size_t n)
{
	/* Sized for a thing's list, the longest that comes here. */
	const char *names[THING_MAX_SERVICES];
	if (n > THING_MAX_SERVICES)
		return NULL;
	for (size_t i = 0; i < n; i++)
		names[i] = services[i];
	cJSON *arr = cJSON_CreateStringArray(names, (int)n);
	char *text = arr ? cJSON_PrintUnformatted(arr) : NULL;
	cJSON_Delete(arr);
	return text;
}

const char *store_parse_services(const char *text, size_t len,
				 char (*out)[TUNNEL_MAX_SERVICE_ID + 1], size_t min, size_t max,
				 size_t *n_out)
{
	cJSON *arr = cJSON_ParseWithLength(text, len);
	const char *problem = NULL;
	int n = cJSON_GetArraySize(arr);
	if (!cJSON_IsArray(arr) || n < (int)min || n > (int)max)
		problem = max == TUNNEL_MAX_SERVICES ? "services must be a JSON array of 1 to 3 strings"
						     : "services must be a JSON array of at most 32 strings";
	for (int i = 0; problem == NULL && i < n; i++) {
		const cJSON *e = cJSON_GetArrayItem(arr, i);
		if (!cJSON_IsString(e) || strlen(e->valuestring) > TUNNEL_MAX_SERVICE_ID)
			problem = "service id must match [A-Za-z0-9_:-]{1,128}";
		else
			memcpy(out[i], e->valuestring, strlen(e->valuestring) + 1);
	}
	if (problem == NULL)
		*n_out = (size_t)n;
	cJSON_Delete(arr);
	return problem;
}

int store_connected_bits(const struct registry_tunnel *t)
{
	return (t->connected[SIDE_SOURCE] ? 1 : 0) | (t->connected[SIDE_DESTINATION] ? 2 : 0);
}

int store_connected_from_bits(struct registry_tunnel *t, int64_t bits)
{
	if (bits < 0 || bits > 3)
		return -1;
	t->connected[SIDE_SOURCE] = (bits & 1) != 0;
	t->connected[SIDE_DESTINATION] = (bits & 2) != 0;
	return 0;
}
