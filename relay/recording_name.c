#include "relay/recording_name.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/text.h"

#define STAMP_LEN 16 /* YYYYmmddTHHMMSSZ */
#define SUFFIX ".cast"

bool recording_thing_valid(const char *thing)
{
	return text_is_name(thing, REGISTRY_MAX_THING, "_:-");
}

static bool term_id_valid(const char *s, size_t len)
{
	if (len == 0 || len > RECORDING_MAX_TERMID)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

/* "YYYYmmddTHHMMSSZ" → Unix seconds; -1 when not that. */
static int64_t parse_stamp(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	for (int i = 0; i < STAMP_LEN; i++) {
		bool digit = s[i] >= '0' && s[i] <= '9';
		if ((i == 8 && s[i] != 'T') || (i == 15 && s[i] != 'Z') || (i != 8 && i != 15 && !digit))
			return -1;
	}
	if (sscanf(s, "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
		   &tm.tm_min, &tm.tm_sec) != 6)
		return -1;
	if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
	    tm.tm_min > 59 || tm.tm_sec > 60)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

bool recording_parse_file(const char *thing, const char *file, struct recording_name *out)
{
	size_t len = strlen(file), sl = strlen(SUFFIX);
	if (!recording_thing_valid(thing) || len >= sizeof(out->file) || len < STAMP_LEN + 4 + sl ||
	    strcmp(file + len - sl, SUFFIX) || file[STAMP_LEN] != '-')
		return false;
	memset(out, 0, sizeof(*out));
	out->started_at = parse_stamp(file);
	if (out->started_at < 0)
		return false;
	const char *user = file + STAMP_LEN + 1;
	const char *end = file + len - sl;
	/* The terminal id has no '-'; the user name may. */
	const char *dash = end;
	while (dash > user && dash[-1] != '-')
		dash--;
	if (dash <= user + 1)
		return false;
	size_t ulen = (size_t)(dash - 1 - user), tlen = (size_t)(end - dash);
	if (ulen > CONSOLE_USER_MAX || !term_id_valid(dash, tlen))
		return false;
	memcpy(out->user, user, ulen);
	if (!console_user_name_valid(out->user))
		return false;
	memcpy(out->term_id, dash, tlen);
	snprintf(out->thing, sizeof(out->thing), "%s", thing);
	memcpy(out->file, file, len + 1);
	return true;
}

bool recording_parse_id(const char *id, struct recording_name *out)
{
	const char *dot = strchr(id, '.');
	char thing[REGISTRY_MAX_THING + 1], file[256];
	if (!dot || (size_t)(dot - id) > REGISTRY_MAX_THING)
		return false;
	memcpy(thing, id, (size_t)(dot - id));
	thing[dot - id] = '\0';
	if ((size_t)snprintf(file, sizeof(file), "%s" SUFFIX, dot + 1) >= sizeof(file))
		return false;
	return recording_parse_file(thing, file, out);
}

void recording_id(const struct recording_name *r, char *out, size_t cap)
{
	size_t stem = strlen(r->file) - strlen(SUFFIX);
	snprintf(out, cap, "%s.%.*s", r->thing, (int)stem, r->file);
}
