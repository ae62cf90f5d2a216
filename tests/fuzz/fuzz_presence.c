/* The relay's reading of a presence message (relay/presence_payload.c):
 * the thing named by a topic under the default filter, the strict parse,
 * and the merge with what was kept.
 *
 * Input: the topic (first line), then the payload (the rest, not
 * NUL-terminated). Checked: an accepted message has state online or
 * offline, at most 32 valid service ids, a terminated version of at most
 * 31 characters, maxTunnels 0-1024; a refusal has a reason; a thing name
 * taken from a topic is a valid one; merging stamps a time. */
#include <stdlib.h>
#include <string.h>

#include "proto/message.h"
#include "relay/notify_payload.h"
#include "relay/presence_payload.h"
#include "tests/fuzz/fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input input = { data, size };
	char *topic = fuzz_line(&input);
	size_t len;
	char *payload = (char *)fuzz_rest(&input, &len);
	struct thing_presence p, old;
	memset(&p, 0, sizeof(p));
	if (topic && presence_topic_thing(PRESENCE_DEFAULT_FILTER, topic, p.name) &&
	    !notify_thing_valid(p.name))
		fuzz_fail("a topic gave an invalid thing name");
	char why[128] = "";
	if (presence_payload_parse(payload, len, &p, why, sizeof(why)) == 0) {
		if (p.state != THING_ONLINE && p.state != THING_OFFLINE)
			fuzz_fail("accepted with no state");
		if (p.n_services > THING_MAX_SERVICES ||
		    strnlen(p.agent_version, sizeof(p.agent_version)) > THING_MAX_VERSION ||
		    p.max_tunnels < 0 || p.max_tunnels > PRESENCE_MAX_TUNNELS || p.since < 0 ||
		    p.boot_time < 0)
			fuzz_fail("accepted out of bounds");
		for (size_t i = 0; i < p.n_services; i++)
			if (!tunnel_service_id_valid(p.services[i]))
				fuzz_fail("accepted an invalid service id");
		old = p;
		old.state = THING_ONLINE;
		old.since = 7;
		presence_merge(&old, &p, 1000);
		if (p.since <= 0)
			fuzz_fail("merged without a time");
	} else if (!why[0]) {
		fuzz_fail("refused without a reason");
	}
	free(topic);
	free(payload);
	return 0;
}
