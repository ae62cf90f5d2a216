#include "relay/refusal_log.h"

#include <string.h>

bool refusal_log_note(struct refusal_log *l, uint64_t key, int status, int64_t now_ms,
		      uint32_t *left_out)
{
	*left_out = 0;
	if (key == 0)
		return true;
	struct refusal_slot *s = &l->slot[key % REFUSAL_SLOTS];
	bool same = s->key == key && s->status == status;
	if (same && now_ms - s->last_ms <= REFUSAL_QUIET_MS) {
		s->last_ms = now_ms;
		if (s->left_out < UINT32_MAX)
			s->left_out++;
		return false;
	}
	/* A new episode: of this key (after a quiet gap), or of another key
	 * taking the slot over. */
	*left_out = same ? s->left_out : 0;
	s->key = key;
	s->status = status;
	s->last_ms = now_ms;
	s->left_out = 0;
	return true;
}
