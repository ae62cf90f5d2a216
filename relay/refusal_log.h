/* Which refused handshakes get a log line. A client that retries a dead
 * token for ever (AWS IoT Device Client does, after its tunnel was closed
 * or rotated) must cost one WARN line per episode, not one per attempt.
 * An episode is a run of refusals of one token with one status and no
 * gap longer than REFUSAL_QUIET_MS; the line that opens the next episode
 * says how many were left out. Pure: the caller gives the time. */
#ifndef RELAY_REFUSAL_LOG_H
#define RELAY_REFUSAL_LOG_H

#include <stdbool.h>
#include <stdint.h>

#define REFUSAL_SLOTS 256u
#define REFUSAL_QUIET_MS (10 * 60 * 1000)

struct refusal_slot {
	uint64_t key;        /* from the token's hash; 0 = free */
	int status;
	int64_t last_ms;     /* the episode's latest refusal */
	uint32_t left_out;   /* refusals not logged in this episode */
};

/* A fixed table: a busy relay forgets the oldest episodes' keys first
 * (a slot is shared by keys with the same low bits), which at worst logs a
 * line again. */
struct refusal_log {
	struct refusal_slot slot[REFUSAL_SLOTS];
};

/* Notes a refusal of key (nonzero) with status at now_ms. True when it opens
 * an episode and is to be logged; *left_out is then the number of refusals
 * of the same key and status that the previous episode left out (0 if
 * none). */
bool refusal_log_note(struct refusal_log *l, uint64_t key, int status, int64_t now_ms,
		      uint32_t *left_out);

#endif
