/* asciicast v2 lines (the format `asciinema play` reads): a JSON header,
 * then one JSON array per event. Pure: formatting only; term/recording.c
 * writes the lines to the file. */
#ifndef TERM_ASCIICAST_H
#define TERM_ASCIICAST_H

#include <stddef.h>
#include <stdint.h>

/* Room an event line for n data bytes can need: every byte may become a
 * six-character escape, plus the time, the code and the brackets. */
#define ASCIICAST_EVENT_CAP(n) (6 * (size_t)(n) + 64)

/* {"version": 2, "width": W, "height": H, "timestamp": T, "env": {"TERM": term}}\n
 * Returns the length written, or -1 if it does not fit in cap. */
int asciicast_header(char *out, size_t cap, int width, int height, int64_t timestamp,
		     const char *term);

/* How many leading bytes of data end on a whole UTF-8 character: the rest
 * (at most 3 bytes, the start of a character cut by a read) is held back
 * for the next chunk so that it is not recorded as two broken halves. */
size_t asciicast_utf8_whole(const uint8_t *data, size_t n);

/* [seconds, "code", "data"]\n with data JSON-escaped; bytes that are not
 * UTF-8 become U+FFFD (asciicast is JSON text). Returns the length written,
 * or -1 if it does not fit in cap (ASCIICAST_EVENT_CAP(n) always fits). */
int asciicast_event(char *out, size_t cap, double seconds, char code, const uint8_t *data,
		    size_t n);

#endif
