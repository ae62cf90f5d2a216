#include "common/hostport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int port_parse(const char *text)
{
	if (!text || !*text || strlen(text) > 5)
		return -1;
	int port = 0;
	for (const char *p = text; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		port = port * 10 + (*p - '0');
	}
	return (port >= 1 && port <= 65535) ? port : -1;
}

static int copy_host(struct hostport *out, const char *host, size_t len,
		     char *err, size_t err_cap)
{
	if (len == 0 || len >= sizeof(out->host)) {
		snprintf(err, err_cap, "host name is empty or longer than %zu characters",
			 sizeof(out->host) - 1);
		return -1;
	}
	memcpy(out->host, host, len);
	out->host[len] = '\0';
	return 0;
}

int hostport_parse(const char *text, int default_port, struct hostport *out,
		   char *err, size_t err_cap)
{
	memset(out, 0, sizeof(*out));
	if (!text || !*text) {
		snprintf(err, err_cap, "empty address");
		return -1;
	}
	const char *port_text = NULL;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close) {
			snprintf(err, err_cap, "'%s': missing ']' after IPv6 address", text);
			return -1;
		}
		if (copy_host(out, text + 1, (size_t)(close - text - 1), err, err_cap))
			return -1;
		if (close[1] == ':')
			port_text = close + 2;
		else if (close[1] != '\0') {
			snprintf(err, err_cap, "'%s': unexpected text after ']'", text);
			return -1;
		}
	} else {
		const char *colon = strrchr(text, ':');
		if (colon && strchr(text, ':') != colon) {
			/* Several colons and no brackets: a bare IPv6 address. */
			colon = NULL;
		}
		if (colon) {
			if (colon != text && copy_host(out, text, (size_t)(colon - text), err, err_cap))
				return -1;
			port_text = colon + 1;
		} else if (text[strspn(text, "0123456789")] == '\0') {
			port_text = text; /* all digits: a port, valid or not */
		} else if (copy_host(out, text, strlen(text), err, err_cap)) {
			return -1;
		}
	}
	if (port_text) {
		out->port = port_parse(port_text);
		if (out->port < 0) {
			snprintf(err, err_cap, "'%s': port must be a number from 1 to 65535", text);
			return -1;
		}
	} else if (default_port > 0) {
		out->port = default_port;
	} else {
		snprintf(err, err_cap, "'%s': a port is required", text);
		return -1;
	}
	return 0;
}
