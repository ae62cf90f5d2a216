/* The terminal's recording: an asciicast v2 file written as output comes
 * (format in term/asciicast.c). Output only: input is never recorded
 * (passwords typed at a sudo prompt would be). */
#ifndef TERM_RECORDING_H
#define TERM_RECORDING_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct recording {
	int fd;                /* -1: not recording */
	struct timespec start;
	uint8_t carry[4];      /* the start of a UTF-8 character cut by a read */
	size_t carry_len;
	char *line;            /* an event line's buffer */
	size_t line_cap;
};

/* Creates path (0600; missing directories 0700) and writes the header.
 * Returns 0, or -1 with the reason logged. */
int recording_open(struct recording *r, const char *path, int cols, int rows);
/* Records output bytes / a resize. Returns 0, or -1 (logged; the caller
 * stops recording). */
int recording_output(struct recording *r, const uint8_t *data, size_t n);
int recording_resize(struct recording *r, int cols, int rows);
void recording_close(struct recording *r);

#endif
