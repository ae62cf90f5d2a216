/* What to do with the device's host key: the relay remembers one per
 * thing and passes it with --known-host-key. Pure. */
#ifndef TERM_HOSTKEY_H
#define TERM_HOSTKEY_H

#include <stddef.h>

enum hostkey_verdict {
	HOSTKEY_NEW,      /* nothing remembered: show it, wait for acceptance */
	HOSTKEY_KNOWN,    /* the remembered key: go on */
	HOSTKEY_CHANGED,  /* another key: refuse (a device replaced, or a man in the middle) */
};

/* known: "" when nothing is remembered. */
enum hostkey_verdict hostkey_check(const char *known, const char *seen);
/* The refusal for a changed key, naming both fingerprints. */
void hostkey_changed_text(char *out, size_t cap, const char *known, const char *seen);

#endif
