/* The SHA-256 hashes of the most recent access tokens the agent acted on,
 * to ignore a notification delivered twice (QoS 1 redelivery, a relay
 * retry). Tokens themselves are never kept. Pure; fixed size. */
#ifndef AGENT_SEEN_H
#define AGENT_SEEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/token.h"

/* Enough for far more tunnels than a device runs at once; the oldest hash
 * is forgotten first. */
#define SEEN_MAX 256u

struct seen_tokens {
	uint8_t hash[SEEN_MAX][TOKEN_HASH_LEN];
	size_t n;    /* how many slots hold a hash */
	size_t next; /* the slot the next hash goes to */
};

void seen_init(struct seen_tokens *s);
/* True if hash is one of the remembered ones (constant-time compares). */
bool seen_contains(const struct seen_tokens *s, const uint8_t hash[TOKEN_HASH_LEN]);
/* Remembers hash (once), forgetting the oldest when full. */
void seen_add(struct seen_tokens *s, const uint8_t hash[TOKEN_HASH_LEN]);

#endif
