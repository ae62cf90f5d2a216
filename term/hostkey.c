#include "term/hostkey.h"

#include <stdio.h>
#include <string.h>

enum hostkey_verdict hostkey_check(const char *known, const char *seen)
{
	if (!known[0])
		return HOSTKEY_NEW;
	return strcmp(known, seen) ? HOSTKEY_CHANGED : HOSTKEY_KNOWN;
}

void hostkey_changed_text(char *out, size_t cap, const char *known, const char *seen)
{
	snprintf(out, cap,
		 "the device's host key has changed: it was %s and is now %s; refusing to connect "
		 "(if the device was reinstalled, an administrator must forget its old key)",
		 known, seen);
}
