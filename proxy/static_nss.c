/* Linked into the static localproxy only (make static). glibc looks host
 * names up through the modules /etc/nsswitch.conf names; "files" and "dns"
 * are inside libc itself (glibc 2.34 and later), but others (resolve, mdns,
 * myhostname on Fedora and Ubuntu) are shared libraries of the running
 * system's glibc, which a static binary cannot load safely. So it uses the
 * two built-in ones whatever the system's nsswitch.conf says: /etc/hosts,
 * then the servers of /etc/resolv.conf. */
#include <nss.h>
#include <stdio.h>

static void hosts_from_files_and_dns(void) __attribute__((constructor));

static void hosts_from_files_and_dns(void)
{
	if (__nss_configure_lookup("hosts", "files dns") != 0)
		fputs("localproxy: cannot limit host lookups to /etc/hosts and DNS; names may not "
		      "resolve\n", stderr);
}
