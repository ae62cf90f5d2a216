/* Where the system keeps its CA certificates, for a localproxy given no -c.
 * A static build carries the OpenSSL of the distribution that built it, whose
 * default paths (Debian's /usr/lib/ssl) may not exist where it runs: RHEL,
 * Fedora, openSUSE, Alpine and Arch keep their bundles elsewhere. */
#ifndef PROXY_CA_BUNDLE_H
#define PROXY_CA_BUNDLE_H

#include <stdbool.h>

/* The bundle files looked for, in order, NULL-terminated. */
extern const char *const ca_bundle_candidates[];

/* The first of candidates that exists (exists() says), or NULL. Pure. */
const char *ca_bundle_pick(const char *const *candidates, bool (*exists)(const char *path));

#endif
