#include "agent/config_report.h"

#include <stdarg.h>
#include <stdio.h>

int fail(const struct pctx *c, const char *key, const char *fmt, ...)
{
	char why[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (c->err != NULL && c->err_cap > 0) {
		if (key != NULL)
			snprintf(c->err, c->err_cap, "%s: %s: %s", c->name, key, why);
		else
			snprintf(c->err, c->err_cap, "%s: %s", c->name, why);
	}
	return -1;
}
