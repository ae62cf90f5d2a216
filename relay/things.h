/* The devices (things) the relay has heard of through their presence
 * messages (agent/presence.h): the last state each reported, by name.
 * In memory, a hash by name; loaded from the store at start-up and saved
 * through it on every change (relay/presence_feed.c). Pure, loop thread
 * only. The web console reads it through things_find and things_each. */
#ifndef RELAY_THINGS_H
#define RELAY_THINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/wire.h"
#include "relay/registry.h"

/* An agent maps at most 32 services (agent/config.h AGENT_MAX_SERVICES). */
#define THING_MAX_SERVICES 32
#define THING_MAX_VERSION 31
/* Things kept at most: past this, presence of new ones is ignored (logged). */
#define THINGS_MAX 65536

enum thing_state { THING_UNKNOWN, THING_ONLINE, THING_OFFLINE };

struct thing_presence {
	char name[REGISTRY_MAX_THING + 1];
	enum thing_state state;
	int64_t since;                /* Unix seconds; 0: not known */
	char services[THING_MAX_SERVICES][TUNNEL_MAX_SERVICE_ID + 1];
	size_t n_services;
	char agent_version[THING_MAX_VERSION + 1]; /* "" not said */
	int64_t boot_time;            /* Unix seconds; 0: not said */
	int max_tunnels;              /* the agent's maxTunnels; 0: not said */
};

struct things;

struct things *things_new(void);
void things_free(struct things *t);

/* Stores a copy of p under p->name, replacing what was there. Returns the
 * stored entry, or NULL when memory runs out or THINGS_MAX things are kept
 * already (then nothing changed). */
const struct thing_presence *things_put(struct things *t, const struct thing_presence *p);
const struct thing_presence *things_find(const struct things *t, const char *name);
/* Calls fn for every thing, in the order they were first stored. */
void things_each(const struct things *t, void (*fn)(void *arg, const struct thing_presence *),
		 void *arg);
size_t things_count(const struct things *t);

/* "online", "offline", "unknown". */
const char *thing_state_name(enum thing_state s);

#endif
