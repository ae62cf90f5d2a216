#include "term/asciicast.h"

#include <stdio.h>
#include <string.h>

int asciicast_header(char *out, size_t cap, int width, int height, int64_t timestamp,
		     const char *term)
{
	/* term is ours (a constant), never the device's: no escaping needed,
	 * but refuse anything that would need it rather than write bad JSON. */
	for (const char *p = term; *p; p++)
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
			return -1;
	int n = snprintf(out, cap,
			 "{\"version\": 2, \"width\": %d, \"height\": %d, \"timestamp\": %lld, "
			 "\"env\": {\"TERM\": \"%s\"}}\n",
			 width, height, (long long)timestamp, term);
	return n > 0 && (size_t)n < cap ? n : -1;
}

/* Length of the UTF-8 character starting at p (n bytes available): 1-4 if
 * it is whole and valid, 0 if it is a valid start cut short, -1 if invalid. */
static int utf8_char_len(const uint8_t *p, size_t n)
{
	uint8_t c = p[0];
	int len;
	uint32_t min;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		min = 0x10000;
	} else {
		return -1;
	}
	uint32_t cp = c & (0x7f >> len);
	for (int i = 1; i < len; i++) {
		if ((size_t)i >= n)
			return 0;
		if ((p[i] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (p[i] & 0x3f);
		/* Reject overlong forms, surrogates and code points above
		 * U+10FFFF as soon as the second byte shows them. */
		if (i == 1) {
			if (len == 3 && c == 0xe0 && p[1] < 0xa0)
				return -1;
			if (len == 3 && c == 0xed && p[1] >= 0xa0)
				return -1;
			if (len == 4 && c == 0xf0 && p[1] < 0x90)
				return -1;
			if (len == 4 && c == 0xf4 && p[1] >= 0x90)
				return -1;
		}
	}
	return cp >= min ? len : -1;
}

size_t asciicast_utf8_whole(const uint8_t *data, size_t n)
{
	/* Only the last three bytes can start a character cut short. */
	size_t from = n > 3 ? n - 3 : 0;
	for (size_t i = from; i < n; i++)
		if ((data[i] & 0xc0) == 0xc0 && utf8_char_len(data + i, n - i) == 0)
			return i;
	return n;
}

int asciicast_event(char *out, size_t cap, double seconds, char code, const uint8_t *data,
		    size_t n)
{
	if (code == '"' || code == '\\' || (unsigned char)code < 0x20)
		return -1;
	int head = snprintf(out, cap, "[%.6f, \"%c\", \"", seconds, code);
	if (head < 0 || (size_t)head >= cap)
		return -1;
	size_t o = (size_t)head;
	for (size_t i = 0; i < n;) {
		char esc[8];
		const uint8_t *src;
		size_t len;
		int clen = utf8_char_len(data + i, n - i);
		if (clen > 1) {
			src = data + i;
			len = (size_t)clen;
			i += (size_t)clen;
		} else if (clen <= 0) {
			memcpy(esc, "\\ufffd", 6);
			src = (const uint8_t *)esc;
			len = 6;
			i++;
		} else {
			uint8_t c = data[i++];
			src = (const uint8_t *)esc;
			if (c == '"' || c == '\\') {
				esc[0] = '\\';
				esc[1] = (char)c;
				len = 2;
			} else if (c < 0x20 || c == 0x7f) {
				snprintf(esc, sizeof(esc), "\\u%04x", c);
				len = 6;
			} else {
				esc[0] = (char)c;
				len = 1;
			}
		}
		if (o + len + 4 > cap) /* the data, then "]\n and the NUL */
			return -1;
		memcpy(out + o, src, len);
		o += len;
	}
	if (o + 4 > cap)
		return -1;
	memcpy(out + o, "\"]\n", 4);
	return (int)(o + 3);
}
