#include "agent/seen.h"

#include <string.h>

void seen_init(struct seen_tokens *s)
{
	memset(s, 0, sizeof(*s));
}

bool seen_contains(const struct seen_tokens *s, const uint8_t hash[TOKEN_HASH_LEN])
{
	bool found = false;
	for (size_t i = 0; i < s->n; i++)
		found |= token_hash_equal(s->hash[i], hash);
	return found;
}

void seen_add(struct seen_tokens *s, const uint8_t hash[TOKEN_HASH_LEN])
{
	if (seen_contains(s, hash))
		return;
	memcpy(s->hash[s->next], hash, TOKEN_HASH_LEN);
	s->next = (s->next + 1) % SEEN_MAX;
	if (s->n < SEEN_MAX)
		s->n++;
}
