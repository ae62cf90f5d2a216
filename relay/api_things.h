/* GET /api/v1/things and GET /api/v1/things/NAME: each device's presence
 * (relay/things.h) with its open tunnels counted from the registry. A
 * thing with tunnels but no presence message is listed as "unknown". */
#ifndef RELAY_API_THINGS_H
#define RELAY_API_THINGS_H

#include <stddef.h>

#include "relay/api.h"
#include "relay/things.h"

struct cJSON;

/* rest: what follows /api/v1/things ("", "/" or "/NAME"). */
void api_things_handle(struct api_env *env, const char *method, const char *rest,
		       struct api_response *res);

/* {"thingName","state","since","services","agentVersion","bootTime",
 * "maxTunnels","openTunnels"} for p (unknown fields null). The console
 * adds its own members to it. NULL when memory runs out. */
struct cJSON *api_thing_object(const struct thing_presence *p, size_t open_tunnels);

#endif
