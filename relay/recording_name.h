/* Names of terminal recordings: DIR/THING/YYYYmmddTHHMMSSZ-USER-TERMID.cast
 * (written by tunnel-term), and the ids the console gives them,
 * "THING.YYYYmmddTHHMMSSZ-USER-TERMID" (a thing name has no '.'). Strict:
 * nothing else is taken, so no id can name a file outside DIR. Pure. */
#ifndef RELAY_RECORDING_NAME_H
#define RELAY_RECORDING_NAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay/console_users.h"
#include "relay/registry.h"

#define RECORDING_MAX_TERMID 64

struct recording_name {
	char thing[REGISTRY_MAX_THING + 1];
	char user[CONSOLE_USER_MAX + 1];
	char term_id[RECORDING_MAX_TERMID + 1];
	int64_t started_at;        /* Unix s */
	char file[256];            /* the base name, with .cast */
};

/* A thing name as a directory: 1..128 of [A-Za-z0-9_:-]. */
bool recording_thing_valid(const char *thing);
/* Parses a base name (with .cast) of thing's directory. */
bool recording_parse_file(const char *thing, const char *file, struct recording_name *out);
/* Parses an id ("THING.STEM"). */
bool recording_parse_id(const char *id, struct recording_name *out);
/* The id of a recording into out. */
void recording_id(const struct recording_name *r, char *out, size_t cap);

#endif
