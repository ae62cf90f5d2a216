/* The agent's presence messages (retained on its presence topic), as JSON
 * text. Pure: the caller gives the times and the version.
 *
 *   online:  {"state":"online","agentVersion":"0.3.0","services":["SSH"],
 *             "bootTime":"2026-11-26T10:00:00Z","since":"2026-11-26T16:00:00Z",
 *             "maxTunnels":4}
 *   offline: {"state":"offline","since":"..."}   (a clean stop)
 *   will:    {"state":"offline"}                 (the broker's; the relay stamps since) */
#ifndef AGENT_PRESENCE_H
#define AGENT_PRESENCE_H

#include <stddef.h>
#include <stdint.h>

#include "agent/config.h"

#define PRESENCE_WILL "{\"state\":\"offline\"}"
/* 32 service names of 128 characters and the rest fit. */
#define PRESENCE_MAX_JSON 8192

/* Writes the online message for cfg (its services in map order and
 * maxTunnels). boot_time 0: left out. Returns its length, or -1 if it does
 * not fit in cap (out is then ""). */
int presence_online(const struct agent_config *cfg, const char *version, int64_t boot_time,
		    int64_t now, char *out, size_t cap);

/* Writes the offline message of a clean stop. Returns its length or -1. */
int presence_offline(int64_t now, char *out, size_t cap);

#endif
