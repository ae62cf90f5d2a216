/* tunnel-term's side of the pipe to the relay: frames in from stdin,
 * frames out to stdout, both non-blocking. Outgoing frames wait in a queue
 * that the caller bounds (term_pipe_backlog) by not producing more. */
#ifndef TERM_FRAMES_H
#define TERM_FRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/bytequeue.h"
#include "common/term_frame.h"

#define TERM_PIPE_READ_CHUNK 16384

struct term_pipe {
	int in_fd, out_fd;
	struct term_frame_decoder dec;
	uint8_t in[TERM_PIPE_READ_CHUNK]; /* read but not yet decoded: in[in_pos..in_len) */
	size_t in_pos, in_len;
	struct bytequeue out;
};

enum term_pipe_in {
	PIPE_FRAME,   /* p->dec.type / payload / len hold a frame */
	PIPE_WAIT,    /* nothing more until stdin is readable */
	PIPE_EOF,     /* the relay closed our stdin */
	PIPE_BROKEN,  /* read error or a malformed frame (logged) */
};

/* Makes both descriptors non-blocking. Returns 0 or -1. */
int term_pipe_init(struct term_pipe *p, int in_fd, int out_fd);
void term_pipe_free(struct term_pipe *p);

/* The next whole frame, reading stdin (once) when nothing is buffered. */
enum term_pipe_in term_pipe_next(struct term_pipe *p);
/* True when bytes already read wait to be decoded: term_pipe_next() has
 * work without stdin becoming readable again. */
bool term_pipe_buffered(const struct term_pipe *p);
/* Overwrites the last frame's payload and the raw bytes read so far (after
 * a credentials frame). */
void term_pipe_wipe_input(struct term_pipe *p);

/* Queues a frame and writes what stdout takes now. Returns 0 or -1 (out of
 * memory, or the payload is too long). */
int term_pipe_send(struct term_pipe *p, uint8_t type, const void *payload, size_t len);
/* Queues a JSON payload (NULL: out of memory) and frees it. */
int term_pipe_send_text(struct term_pipe *p, uint8_t type, char *json);
/* Writes queued bytes. Returns 0, or -1 when stdout is gone. */
int term_pipe_flush(struct term_pipe *p);
size_t term_pipe_backlog(const struct term_pipe *p);

#endif
