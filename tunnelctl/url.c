/* Pure URL helpers: endpoint extraction, joining and escaping. */
#include "tunnelctl/url.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int url_endpoint(const char *url, char *out, size_t cap)
{
	static const char scheme[] = "https://";
	if (!url || strncasecmp(url, scheme, sizeof(scheme) - 1) != 0)
		return -1;
	const char *auth = url + sizeof(scheme) - 1;
	size_t len = strcspn(auth, "/?#");
	/* Drop user-info: everything up to the last '@' of the authority. */
	for (size_t i = len; i > 0; i--)
		if (auth[i - 1] == '@') {
			auth += i;
			len -= i;
			break;
		}

	size_t host_len;
	const char *port = NULL;
	if (len > 0 && auth[0] == '[') {
		const char *close = memchr(auth, ']', len);
		if (!close || close == auth + 1)
			return -1;
		host_len = (size_t)(close - auth) + 1; /* with the brackets */
		if (host_len < len) {
			if (auth[host_len] != ':')
				return -1;
			port = auth + host_len + 1;
		}
	} else {
		const char *colon = memchr(auth, ':', len);
		host_len = colon ? (size_t)(colon - auth) : len;
		if (colon)
			port = colon + 1;
	}
	if (host_len == 0)
		return -1;

	long port_num = 443;
	if (port) {
		size_t port_len = len - (size_t)(port - auth);
		if (port_len == 0 || port_len > 5)
			return -1;
		port_num = 0;
		for (size_t i = 0; i < port_len; i++) {
			if (!isdigit((unsigned char)port[i]))
				return -1;
			port_num = port_num * 10 + (port[i] - '0');
		}
		if (port_num < 1 || port_num > 65535)
			return -1;
	}
	int n = snprintf(out, cap, "%.*s:%ld", (int)host_len, auth, port_num);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

char *url_join(const char *base, const char *path)
{
	size_t blen = strlen(base);
	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	size_t plen = strlen(path);
	char *s = malloc(blen + plen + 1);
	if (!s)
		return NULL;
	memcpy(s, base, blen);
	memcpy(s + blen, path, plen + 1);
	return s;
}

char *url_escape(const char *text)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = strlen(text);
	char *out = malloc(3 * len + 1), *p = out;
	if (!out)
		return NULL;
	for (const unsigned char *s = (const unsigned char *)text; *s; s++) {
		if (isalnum(*s) || *s == '-' || *s == '.' || *s == '_' || *s == '~') {
			*p++ = (char)*s;
		} else {
			*p++ = '%';
			*p++ = hex[*s >> 4];
			*p++ = hex[*s & 15];
		}
	}
	*p = '\0';
	return out;
}
