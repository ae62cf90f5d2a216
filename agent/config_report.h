/* How the agent's configuration code reports an error: one line,
 * "FILE: KEY: reason". */
#ifndef AGENT_CONFIG_REPORT_H
#define AGENT_CONFIG_REPORT_H

#include <stddef.h>

struct pctx {
	const char *name; /* the config file, first on every line */
	char *err;
	size_t err_cap;
};

/* "NAME: KEY: reason" (or "NAME: reason" when key is NULL), control
 * characters shown as '?'. Returns -1. */
int fail(const struct pctx *c, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
