#include "common/text.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void errf(char *err, size_t cap, const char *fmt, ...)
{
	if (err == NULL || cap == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(err, cap, fmt, ap);
	va_end(ap);
	if (n < 0)
		err[0] = '\0';
}

const char *openssl_error_reason(char *line)
{
	line[strcspn(line, "\r\n")] = '\0';
	/* The reason is the sixth ':'-separated field. */
	char *field = line;
	for (int i = 0; i < 5 && field != NULL; i++) {
		field = strchr(field, ':');
		if (field != NULL)
			field++;
	}
	if (field == NULL || *field == '\0')
		return line;
	char *end = strchr(field, ':');
	if (end != NULL)
		*end = '\0';
	return field;
}
