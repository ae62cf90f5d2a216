#include "relay/presence_payload.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/text.h"
#include "proto/message.h"
#include "relay/notify_payload.h"

int presence_filter_check(const char *filter, char *err, size_t err_cap)
{
	size_t len = strlen(filter);
	if (len == 0 || len > PRESENCE_MAX_FILTER) {
		textf(err, err_cap, "presence topic filter must be 1-%u characters", PRESENCE_MAX_FILTER);
		return -1;
	}
	int pluses = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)filter[i];
		if (c < 0x20 || c == 0x7f || c == '#') {
			textf(err, err_cap, "presence topic filter '%s' must not contain '#' or control "
			      "characters", filter);
			return -1;
		}
		if (c != '+')
			continue;
		/* '+' stands for a whole level. */
		if ((i > 0 && filter[i - 1] != '/') || (i + 1 < len && filter[i + 1] != '/')) {
			textf(err, err_cap, "presence topic filter '%s': '+' must be a whole level", filter);
			return -1;
		}
		pluses++;
	}
	if (pluses != 1) {
		textf(err, err_cap, "presence topic filter '%s' must have exactly one '+' level (the "
		      "thing name), e.g. " PRESENCE_DEFAULT_FILTER, filter);
		return -1;
	}
	return 0;
}

bool presence_topic_thing(const char *filter, const char *topic, char *thing)
{
	const char *plus = strchr(filter, '+');
	if (!plus)
		return false;
	size_t before = (size_t)(plus - filter);
	const char *after = plus + 1;
	size_t tlen = strlen(topic), alen = strlen(after);
	if (tlen < before + alen || strncmp(topic, filter, before) ||
	    strcmp(topic + tlen - alen, after))
		return false;
	size_t nlen = tlen - before - alen;
	if (nlen == 0 || nlen > REGISTRY_MAX_THING)
		return false;
	memcpy(thing, topic + before, nlen);
	thing[nlen] = '\0';
	/* A valid name has no '/', so it is exactly one level. */
	return notify_thing_valid(thing);
}

/* "YYYY-MM-DDTHH:MM:SSZ", exactly, into Unix seconds (> 0). */
static bool parse_time(const char *s, int64_t *out)
{
	int y, mo, d, h, mi, sec, n = 0;
	if (strlen(s) != 20 || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
	    n != 20 || y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || sec > 60 || h < 0 || mi < 0 || sec < 0)
		return false;
	struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
			.tm_min = mi, .tm_sec = sec};
	time_t t = timegm(&tm);
	if (t <= 0 || tm.tm_mday != d) /* 31 February */
		return false;
	*out = (int64_t)t;
	return true;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static int fail(char *why, size_t cap, const char *text)
{
	textf(why, cap, "%s", text);
	return -1;
}

static int parse_services(const cJSON *arr, struct thing_presence *p, char *why, size_t cap)
{
	if (!cJSON_IsArray(arr))
		return fail(why, cap, "services must be an array of service ids");
	int n = cJSON_GetArraySize(arr);
	if (n < 0 || n > THING_MAX_SERVICES)
		return fail(why, cap, "services: more than 32");
	p->n_services = 0;
	for (const cJSON *e = arr->child; e; e = e->next) {
		if (!cJSON_IsString(e) || !tunnel_service_id_valid(e->valuestring))
			return fail(why, cap, "services: each must match [A-Za-z0-9_:-]{1,128}");
		strcpy(p->services[p->n_services++], e->valuestring);
	}
	return 0;
}

/* An optional time member: 0 kept when absent. */
static int get_time(const cJSON *root, const char *key, int64_t *out, char *why, size_t cap)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, key);
	if (!it)
		return 0;
	if (!cJSON_IsString(it) || !parse_time(it->valuestring, out)) {
		textf(why, cap, "%s must be a time like 2026-11-26T16:00:00Z", key);
		return -1;
	}
	return 0;
}

static int parse_root(const cJSON *root, struct thing_presence *p, char *why, size_t cap)
{
	if (!cJSON_IsObject(root))
		return fail(why, cap, "not a JSON object");
	const cJSON *state = cJSON_GetObjectItemCaseSensitive(root, "state");
	if (cJSON_IsString(state) && !strcmp(state->valuestring, "online"))
		p->state = THING_ONLINE;
	else if (cJSON_IsString(state) && !strcmp(state->valuestring, "offline"))
		p->state = THING_OFFLINE;
	else
		return fail(why, cap, "state must be \"online\" or \"offline\"");
	const cJSON *services = cJSON_GetObjectItemCaseSensitive(root, "services");
	if (services && parse_services(services, p, why, cap))
		return -1;
	const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "agentVersion");
	if (version) {
		if (!cJSON_IsString(version) || strlen(version->valuestring) > THING_MAX_VERSION ||
		    !printable(version->valuestring))
			return fail(why, cap, "agentVersion must be text of at most 31 characters");
		strcpy(p->agent_version, version->valuestring);
	}
	const cJSON *max = cJSON_GetObjectItemCaseSensitive(root, "maxTunnels");
	if (max) {
		if (!cJSON_IsNumber(max) || max->valuedouble < 1 ||
		    max->valuedouble > PRESENCE_MAX_TUNNELS ||
		    max->valuedouble != (double)(int)max->valuedouble)
			return fail(why, cap, "maxTunnels must be a whole number from 1 to 1024");
		p->max_tunnels = max->valueint;
	}
	if (get_time(root, "since", &p->since, why, cap) ||
	    get_time(root, "bootTime", &p->boot_time, why, cap))
		return -1;
	return 0;
}

int presence_payload_parse(const char *payload, size_t len, struct thing_presence *p,
			   char *why, size_t why_cap)
{
	char name[sizeof(p->name)];
	memcpy(name, p->name, sizeof(name));
	memset(p, 0, sizeof(*p));
	memcpy(p->name, name, sizeof(name));
	if (!payload || len == 0)
		return fail(why, why_cap, "empty message");
	if (len > PRESENCE_MAX_PAYLOAD)
		return fail(why, why_cap, "message larger than 8192 bytes");
	if (memchr(payload, '\0', len))
		return fail(why, why_cap, "message holds a NUL byte");
	cJSON *root = cJSON_ParseWithLength(payload, len);
	if (!root)
		return fail(why, why_cap, "not JSON");
	int rc = parse_root(root, p, why, why_cap);
	cJSON_Delete(root);
	return rc;
}

static bool says_nothing_else(const struct thing_presence *p)
{
	return p->n_services == 0 && !p->agent_version[0] && !p->boot_time && !p->max_tunnels;
}

bool presence_merge(const struct thing_presence *old, struct thing_presence *msg, int64_t now)
{
	if (old && says_nothing_else(msg)) {
		memcpy(msg->services, old->services, sizeof(msg->services));
		msg->n_services = old->n_services;
		memcpy(msg->agent_version, old->agent_version, sizeof(msg->agent_version));
		msg->boot_time = old->boot_time;
		msg->max_tunnels = old->max_tunnels;
	}
	if (!msg->since)
		msg->since = old && old->state == msg->state && old->since ? old->since : now;
	return !old || memcmp(old, msg, sizeof(*msg)) != 0;
}
