#include "common/text.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 3, 0)))
static void vtextf(char *dst, size_t cap, const char *fmt, va_list ap)
{
	if (dst == NULL || cap == 0)
		return;
	if (vsnprintf(dst, cap, fmt, ap) < 0)
		dst[0] = '\0';
}

void textf(char *dst, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vtextf(dst, cap, fmt, ap);
	va_end(ap);
}

void errf(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vtextf(err, cap, fmt, ap);
	va_end(ap);
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

bool text_is_name(const char *s, size_t max, const char *punct)
{
	size_t len = strnlen(s, max + 1);
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr(punct, c)))
			return false;
	}
	return true;
}
