/* Deciding whether a tunnel notification (PROTOCOL.md §8) is one to act on.
 * Pure: no I/O, no logging. The reasons it gives never contain the token
 * or the raw payload, so they can be logged as they are.
 *
 * Acted on only when: the payload is a JSON object; "clientMode" is
 * "destination"; "clientAccessToken" is a non-empty string of at most
 * TUNNEL_MAX_ACCESS_TOKEN printable characters; "services" is a non-empty
 * array (at most TUNNEL_MAX_SERVICES) of distinct service-id strings,
 * each mapped in the agent's "services"; "tunnelId", if present, is a
 * tunnel id; "endpoint", if present and used (useNotifiedEndpoint), is
 * HOST:PORT. Unknown keys are ignored. */
#ifndef AGENT_NOTIFICATION_H
#define AGENT_NOTIFICATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/config.h"
#include "common/token.h"
#include "proto/wire.h"

/* Larger payloads are refused unparsed. */
#define NOTIFICATION_MAX_PAYLOAD (64u * 1024u)
/* Tunnel ids: 1-128 of [A-Za-z0-9_.:-] (AWS uses UUIDs, the relay
 * [A-Za-z0-9_-]{1,64}). */
#define NOTIFICATION_MAX_TUNNEL_ID 128u
/* "tunnel ID" or "tunnel (no id, token sha256 0123456789abcdef)". */
#define NOTIFICATION_LABEL_MAX 192u
/* The supervisor's key: the tunnel id, or "sha256:" + 64 hex digits. */
#define NOTIFICATION_KEY_MAX (NOTIFICATION_MAX_TUNNEL_ID + 8u)

struct notification {
	char *token;                   /* heap; wiped by notification_clear */
	size_t token_len;
	uint8_t token_hash[TOKEN_HASH_LEN];
	char tunnel_id[NOTIFICATION_MAX_TUNNEL_ID + 1]; /* "" when absent */
	char services[TUNNEL_MAX_SERVICES][TUNNEL_MAX_SERVICE_ID + 1];
	size_t n_services;
	char endpoint[AGENT_MAX_ENDPOINT + 1]; /* the one to use: notified or configured */
	bool endpoint_notified;
	char key[NOTIFICATION_KEY_MAX];
	char label[NOTIFICATION_LABEL_MAX];
};

/* Decides. topic is the one the message arrived on; payload may be NULL
 * when len > NOTIFICATION_MAX_PAYLOAD (it is not looked at then). Returns
 * true with *out filled (call notification_clear after), or false with
 * why set (*out is then cleared and holds nothing). */
bool notification_decide(const struct agent_config *cfg, const char *topic, const char *payload,
			 size_t len, struct notification *out, char *why, size_t why_cap);

/* Wipes the token and frees it. Safe on a cleared notification. */
void notification_clear(struct notification *n);

/* "SSH,HTTP": the notified services for a log line. */
void notification_services_text(const struct notification *n, char *out, size_t cap);

#endif
