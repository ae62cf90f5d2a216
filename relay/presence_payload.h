/* The pure half of the relay's presence feed: which thing a presence topic
 * names, what its message says, and what the relay keeps of it. Strict:
 * lengths bounded, thing names and service ids checked, unknown keys
 * ignored (a newer agent may say more). No I/O. */
#ifndef RELAY_PRESENCE_PAYLOAD_H
#define RELAY_PRESENCE_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay/things.h"

#define PRESENCE_DEFAULT_FILTER "tunnels/presence/+"
/* The largest message read (an agent's biggest is about 4.5 KiB). */
#define PRESENCE_MAX_PAYLOAD 8192u
#define PRESENCE_MAX_FILTER 512u
/* maxTunnels beyond this is not an agent's (agent/config.h allows 64). */
#define PRESENCE_MAX_TUNNELS 1024

/* A filter has exactly one '+' level (the thing name) and no '#' or
 * control characters, and is at most PRESENCE_MAX_FILTER long. Returns 0,
 * or -1 with the reason in err. */
int presence_filter_check(const char *filter, char *err, size_t err_cap);

/* Copies into thing (REGISTRY_MAX_THING + 1 bytes) the level of topic at
 * the filter's '+', if topic matches filter level by level and that level
 * is a valid thing name. */
bool presence_topic_thing(const char *filter, const char *topic, char *thing);

/* Parses a message into *p (all but name): {"state":"online"|"offline",
 * "since","services","agentVersion","bootTime","maxTunnels"}, all but state
 * optional; since 0 when absent. Returns 0, or -1 with the reason in why. */
int presence_payload_parse(const char *payload, size_t len, struct thing_presence *p,
			   char *why, size_t why_cap);

/* What the relay keeps once msg (just parsed, name set) arrives at time
 * now, given what it had (old, NULL if nothing): a message that says
 * nothing but its state (the last will; a lifecycle event republished by an
 * AWS IoT rule) keeps the services, version, boot time and maxTunnels last
 * said; a message without since is stamped now, unless
 * the state is unchanged (a retained message delivered again after a
 * reconnect keeps its first time). Returns true if *msg differs from old. */
bool presence_merge(const struct thing_presence *old, struct thing_presence *msg, int64_t now);

#endif
