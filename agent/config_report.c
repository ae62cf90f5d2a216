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
		/* Keys and values from the file are quoted in the line: a control
		 * character in one (cJSON lets raw CR/LF through in strings) must
		 * not break the one line into several in the log. */
		for (char *p = c->err; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
	}
	return -1;
}
