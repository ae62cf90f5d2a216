/* The frames between the relay and tunnel-term (one per browser terminal),
 * over the helper's stdin/stdout: [type byte][u32 big-endian length][payload],
 * payload at most TERM_FRAME_MAX bytes. Pure: no I/O, no libssh, so that the
 * relay's side and the helper's share it. See docs/console.md (section 5 of
 * the console contract) for what each type carries. */
#ifndef COMMON_TERM_FRAME_H
#define COMMON_TERM_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TERM_FRAME_MAX 65536
#define TERM_FRAME_HEADER 5

enum term_frame_type {
	TERM_FRAME_INPUT = 'i',    /* browser -> helper: bytes for the shell */
	TERM_FRAME_OUTPUT = 'o',   /* helper -> browser: bytes from the shell */
	TERM_FRAME_RESIZE = 'r',   /* browser -> helper: {"cols":N,"rows":N} */
	TERM_FRAME_HOSTKEY = 'h',  /* helper -> browser: fingerprint, key type, new|known */
	TERM_FRAME_ACCEPT = 'y',   /* browser -> helper: accept the new host key */
	TERM_FRAME_CREDS = 'a',    /* browser -> helper: user + password or key */
	TERM_FRAME_STATUS = 's',   /* helper -> browser: connecting|hostkey|auth|ready|closed */
	TERM_FRAME_ERROR = 'e',    /* helper -> browser: {"code","message"} */
	TERM_FRAME_EXIT = 'x',     /* helper -> browser: {"status":N}, then it exits */
};

/* True for the nine type letters above. */
bool term_frame_type_valid(uint8_t type);

/* Writes the 5-byte header of a frame. Returns 0, or -1 for an unknown type
 * or a length above TERM_FRAME_MAX (nothing written). */
int term_frame_header(uint8_t out[TERM_FRAME_HEADER], uint8_t type, size_t len);

/* An incremental decoder: bytes go in as they arrive, split anywhere; a
 * frame comes out once whole. It holds one payload (TERM_FRAME_MAX bytes),
 * so embed it rather than putting it on a small stack. */
struct term_frame_decoder {
	uint8_t header[TERM_FRAME_HEADER];
	size_t header_have;
	uint32_t len;          /* payload length, once the header is whole */
	uint32_t have;         /* payload bytes so far */
	bool done;             /* the last call returned a frame: restart on the next */
	uint8_t type;
	uint8_t payload[TERM_FRAME_MAX];
};

enum term_frame_result {
	TERM_FRAME_NEED_MORE,  /* every byte given was taken; no frame yet */
	TERM_FRAME_READY,      /* d->type, d->payload, d->len hold a frame */
	TERM_FRAME_BAD_TYPE,   /* not a known type letter: the stream is broken */
	TERM_FRAME_TOO_LONG,   /* length above TERM_FRAME_MAX: the stream is broken */
};

void term_frame_decoder_init(struct term_frame_decoder *d);
/* Takes bytes from data[0..n) up to the end of one frame; *used says how
 * many. After READY the frame stays valid until the next call. After an
 * error the decoder stays broken (the peer is not speaking this protocol). */
enum term_frame_result term_frame_decode(struct term_frame_decoder *d, const uint8_t *data,
					 size_t n, size_t *used);

#endif
