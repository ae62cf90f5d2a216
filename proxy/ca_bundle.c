#include "proxy/ca_bundle.h"

#include <stddef.h>

const char *const ca_bundle_candidates[] = {
	"/etc/ssl/certs/ca-certificates.crt",               /* Debian, Ubuntu, Alpine, Arch, Gentoo */
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", /* RHEL, Fedora, CentOS */
	"/etc/pki/tls/certs/ca-bundle.crt",                 /* RHEL, Fedora (older) */
	"/etc/ssl/ca-bundle.pem",                           /* openSUSE */
	"/etc/ssl/cert.pem",                                /* Alpine, Arch, Void */
	NULL,
};

const char *ca_bundle_pick(const char *const *candidates, bool (*exists)(const char *path))
{
	for (; *candidates; candidates++)
		if (exists(*candidates))
			return *candidates;
	return NULL;
}
