/* Streaming frame decoder: WebSocket message payload chunks in, whole
 * length-prefixed frames out. Frames do not line up with WebSocket messages:
 * one message may hold several frames or part of one. Pure, no I/O. */
#ifndef TUNNEL_FRAME_H
#define TUNNEL_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/wire.h"

enum frame_status {
	FRAME_NEED_MORE = 0,      /* input consumed, no whole frame left */
	FRAME_READY,              /* *frame holds one whole frame */
	FRAME_ERR_TOO_BIG,        /* length prefix > TUNNEL_MAX_FRAME_BODY */
	FRAME_ERR_WS_MESSAGE_TOO_BIG, /* one WebSocket message > TUNNEL_MAX_WS_MESSAGE */
	FRAME_ERR_NO_MEMORY,      /* no storage for a partial frame */
};

/* buf (TUNNEL_MAX_FRAME bytes) is allocated only when a frame straddles
 * two chunks, and given back by frame_decoder_release once the decoder is
 * idle: an idle connection (the relay holds thousands) holds no buffer. */
struct frame_decoder {
	size_t ws_message_bytes;  /* bytes seen in the current WebSocket message */
	size_t have;              /* bytes of a partial frame held in buf */
	uint8_t *buf;             /* NULL until a partial frame needs it */
};

/* A whole frame: body points at the protobuf bytes (prefix excluded),
 * raw at the prefix (raw_len = 2 + body_len), for forwarding unchanged.
 * Both stay valid until the next call on the decoder or until the input
 * chunk is released, whichever is first. */
struct frame {
	const uint8_t *raw;
	size_t raw_len;
	const uint8_t *body;
	size_t body_len;
};

/* A new decoder, holding no storage. */
void frame_decoder_init(struct frame_decoder *dec);
/* Forgets any partial frame and message count (a new session), keeping
 * storage for reuse. */
void frame_decoder_reset(struct frame_decoder *dec);
/* Gives back the partial-frame storage when no partial frame is held
 * (call when the connection goes quiet). */
void frame_decoder_release(struct frame_decoder *dec);
/* Frees the storage; the decoder is as after frame_decoder_init. */
void frame_decoder_free(struct frame_decoder *dec);

/* Starts a WebSocket message of `len` bytes delivered in this chunk: adds
 * to the per-message byte count (reset when first_fragment is true) and
 * checks it against TUNNEL_MAX_WS_MESSAGE. Call once per received chunk,
 * before draining it with frame_decoder_next. Returns FRAME_NEED_MORE when
 * within the limit, else FRAME_ERR_WS_MESSAGE_TOO_BIG. */
enum frame_status frame_decoder_account(struct frame_decoder *dec,
					size_t len, bool first_fragment);

/* Takes bytes from *in, *in_len (advancing them) until one whole frame is
 * available (FRAME_READY, *out filled), the input is used up
 * (FRAME_NEED_MORE), or an error. Call repeatedly until it stops returning
 * FRAME_READY. A frame lying wholly inside the input is not copied.
 * An error means the peer broke the protocol: drop the connection and do not
 * reuse the decoder (further calls are memory-safe and repeat the error). */
enum frame_status frame_decoder_next(struct frame_decoder *dec,
				     const uint8_t **in, size_t *in_len,
				     struct frame *out);

/* The size (prefix included) of the frame starting at buf when all of it
 * is within len bytes, else 0. For walking a buffer of whole frames. */
size_t frame_whole_size(const uint8_t *buf, size_t len);

/* True when no partial frame is pending (a clean frame boundary). */
bool frame_decoder_idle(const struct frame_decoder *dec);

const char *frame_status_str(enum frame_status st);

#endif
