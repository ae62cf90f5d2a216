/* Reconnect delays: exponential from 1 s up to 30 s, with jitter so that
 * many devices cut off together do not reconnect in lockstep. Pure. */
#ifndef PROXY_BACKOFF_H
#define PROXY_BACKOFF_H

#include <stdint.h>

#define BACKOFF_FIRST_MS 1000u
#define BACKOFF_MAX_MS 30000u

struct backoff {
	unsigned attempt;
};

void backoff_reset(struct backoff *b);
/* The delay before the next attempt, in ms; `random` picks the jitter
 * (the delay is scaled into [75%, 100%] of the nominal value). */
uint32_t backoff_next_ms(struct backoff *b, uint32_t random);

#endif
