#include "relay/presence_feed.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "relay/presence_payload.h"
#include "relay/store.h"
#include "relay/things.h"

static void services_text(const struct thing_presence *p, char *out, size_t cap)
{
	out[0] = '\0';
	for (size_t i = 0, used = 0; i < p->n_services && used < cap; i++) {
		int n = snprintf(out + used, cap - used, "%s%s", i ? "," : "", p->services[i]);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

void presence_feed_message(void *arg, const char *topic, const char *payload, size_t len)
{
	struct presence_feed *feed = arg;
	struct thing_presence msg;
	memset(&msg, 0, sizeof(msg));
	if (!presence_topic_thing(feed->filter, topic, msg.name)) {
		log_warn("presence: ignored a message on %.200s: not a thing's presence topic (%s)",
			 topic, feed->filter);
		return;
	}
	char why[128];
	if (!payload) {
		log_warn("presence: ignored the message of thing %s: larger than %u bytes", msg.name,
			 PRESENCE_MAX_PAYLOAD);
		return;
	}
	if (presence_payload_parse(payload, len, &msg, why, sizeof(why))) {
		log_warn("presence: ignored the message of thing %s: %s", msg.name, why);
		return;
	}
	const struct thing_presence *old = things_find(feed->things, msg.name);
	bool was_online = old && old->state == THING_ONLINE;
	bool untimed = msg.since == 0; /* the broker's last will has no time */
	if (!presence_merge(old, &msg, (int64_t)time(NULL)))
		return;
	const struct thing_presence *kept = things_put(feed->things, &msg);
	if (!kept) {
		log_error("presence: thing %s not kept: out of memory or %d things known already",
			  msg.name, THINGS_MAX);
		return;
	}
	if (msg.state == THING_ONLINE) {
		char services[512];
		services_text(kept, services, sizeof(services));
		log_info("presence: thing %s online (agent %s, services %s, maxTunnels %d)", kept->name,
			 kept->agent_version[0] ? kept->agent_version : "?", services,
			 kept->max_tunnels);
	} else if (was_online || !old) {
		log_info("presence: thing %s offline (%s)", kept->name,
			 untimed ? "its last will: the connection ended without a goodbye"
				 : "its agent stopped");
	}
	store_save_thing_logged(feed->store, kept);
}

static int adopt(void *arg, const struct thing_presence *p)
{
	return things_put(arg, p) ? 0 : -1;
}

int presence_feed_load(struct presence_feed *feed, char *err, size_t err_cap)
{
	if (!feed->store)
		return 0;
	return store_load_things(feed->store, adopt, feed->things, err, err_cap);
}
