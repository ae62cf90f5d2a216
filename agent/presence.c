#include "agent/presence.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

/* ISO 8601 UTC, as the relay's API writes times. False if t cannot be. */
static bool add_time(cJSON *obj, const char *key, int64_t t)
{
	char text[32];
	time_t tt = (time_t)t;
	struct tm tm;
	if (t <= 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return false;
	return cJSON_AddStringToObject(obj, key, text) != NULL;
}

/* Prints root into out and frees it. */
static int print(cJSON *root, bool ok, char *out, size_t cap)
{
	int len = -1;
	if (cap > 0)
		out[0] = '\0';
	if (ok && root != NULL && cap <= (size_t)INT32_MAX &&
	    cJSON_PrintPreallocated(root, out, (int)cap, 0))
		len = (int)strlen(out);
	cJSON_Delete(root);
	if (len < 0 && cap > 0)
		out[0] = '\0';
	return len;
}

int presence_online(const struct agent_config *cfg, const char *version, int64_t boot_time,
		    int64_t now, char *out, size_t cap)
{
	cJSON *root = cJSON_CreateObject();
	bool ok = root != NULL && cJSON_AddStringToObject(root, "state", "online") != NULL &&
		  cJSON_AddStringToObject(root, "agentVersion", version) != NULL;
	cJSON *services = ok ? cJSON_AddArrayToObject(root, "services") : NULL;
	ok = ok && services != NULL;
	for (size_t i = 0; ok && i < cfg->n_services; i++) {
		cJSON *name = cJSON_CreateString(cfg->services[i].name);
		ok = name != NULL && cJSON_AddItemToArray(services, name);
		if (!ok)
			cJSON_Delete(name);
	}
	if (ok && boot_time > 0)
		ok = add_time(root, "bootTime", boot_time);
	ok = ok && add_time(root, "since", now) &&
	     cJSON_AddNumberToObject(root, "maxTunnels", cfg->max_tunnels) != NULL;
	return print(root, ok, out, cap);
}

int presence_offline(int64_t now, char *out, size_t cap)
{
	cJSON *root = cJSON_CreateObject();
	bool ok = root != NULL && cJSON_AddStringToObject(root, "state", "offline") != NULL &&
		  add_time(root, "since", now);
	return print(root, ok, out, cap);
}
