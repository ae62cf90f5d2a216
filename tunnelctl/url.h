/* Small pure URL helpers for tunnelctl. */
#ifndef TUNNELCTL_URL_H
#define TUNNELCTL_URL_H

#include <stddef.h>

/* The localproxy endpoint (-e) for an https:// API URL: "host:port", with
 * port 443 when the URL has none and IPv6 literals kept in brackets. The
 * user-info part, path, query and fragment are dropped. Returns 0, or -1
 * when the URL is not https:// with a host and a valid port. */
int url_endpoint(const char *url, char *out, size_t cap);

/* base (trailing slashes removed) + path; malloc'd, NULL when out of memory. */
char *url_join(const char *base, const char *path);

/* Percent-encodes everything but RFC 3986 unreserved characters; malloc'd. */
char *url_escape(const char *text);

#endif
