/* When each tunnel's next event is due: its expiry (an open tunnel with a
 * lifetime) or its purge (a closed one, --keep-closed after closing). A
 * min-heap by due time, so the once-a-second tick looks at the tunnels
 * that are due and nothing else (it used to scan every tunnel). Pure: the
 * server closes and purges, this only says which and when.
 *
 * One entry per tunnel at a time. A tunnel closed early (by the API) keeps
 * its expiry entry; when that comes due the tunnel is found closed and its
 * purge is scheduled then, so it is purged at the later of its expiry and
 * closed_at + keep. */
#ifndef RELAY_TUNNEL_TIMERS_H
#define RELAY_TUNNEL_TIMERS_H

#include <stddef.h>
#include <stdint.h>

struct registry_tunnel;

enum timer_action { TIMER_NONE, TIMER_EXPIRE, TIMER_PURGE };

struct timer_entry {
	int64_t due;                    /* Unix seconds */
	struct registry_tunnel *tunnel;
	enum timer_action action;
};

struct tunnel_timers {
	struct timer_entry *heap;
	size_t n, cap;
	int64_t keep_closed;            /* seconds a closed tunnel stays listed */
};

void tunnel_timers_init(struct tunnel_timers *tt, int64_t keep_closed);
void tunnel_timers_free(struct tunnel_timers *tt);
/* Schedules t's next event from its state (nothing for an open tunnel
 * without expiry). Returns 0, or -1 when memory runs out. */
int tunnel_timers_schedule(struct tunnel_timers *tt, struct registry_tunnel *t);
/* Pops the earliest entry due at now: TIMER_NONE when none is. The caller
 * acts on it (an expiry may find the tunnel closed already: then it only
 * schedules again) and calls tunnel_timers_schedule after an expiry. */
enum timer_action tunnel_timers_next_due(struct tunnel_timers *tt, int64_t now,
					 struct registry_tunnel **t);

#endif
