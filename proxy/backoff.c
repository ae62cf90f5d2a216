#include "proxy/backoff.h"

void backoff_reset(struct backoff *b)
{
	b->attempt = 0;
}

uint32_t backoff_next_ms(struct backoff *b, uint32_t random)
{
	uint32_t nominal = BACKOFF_FIRST_MS;
	for (unsigned i = 0; i < b->attempt && nominal < BACKOFF_MAX_MS; i++)
		nominal *= 2;
	if (nominal > BACKOFF_MAX_MS)
		nominal = BACKOFF_MAX_MS;
	if (b->attempt < 32)
		b->attempt++;
	uint32_t quarter = nominal / 4;
	return nominal - quarter + (quarter ? random % (quarter + 1) : 0);
}
