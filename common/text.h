/* Small text helpers shared by the programs. Pure. */
#ifndef COMMON_TEXT_H
#define COMMON_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* snprintf that truncates quietly (every text it makes is a bounded log or
 * error line); does nothing if dst is NULL or cap 0. */
void textf(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same, for an error message. */
void errf(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* True when s is 1..max characters of [A-Za-z0-9] and those in punct (the
 * shape of every name the relay takes: ids, things, node ids). */
bool text_is_name(const char *s, size_t max, const char *punct);

/* The reason field of an OpenSSL error line
 * ("...:error:0A000086:SSL routines::certificate verify failed" →
 * "certificate verify failed"): cuts line in place and returns a pointer
 * into it, or line itself when it has no such field. */
const char *openssl_error_reason(char *line);

#endif
