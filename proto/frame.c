/* Streaming frame decoder: see frame.h.
 *
 * A frame lying wholly inside the caller's chunk is returned in place; only a
 * frame that straddles chunks is gathered in dec->buf, which can hold the
 * largest legal frame (allocated the first time it is needed). An oversized length prefix is reported as soon as both
 * prefix bytes are known, before any body byte is buffered.
 *
 * Errors are fatal for the connection: the decoder is not meant to be used
 * afterwards. Calling it again stays memory-safe and returns the same error
 * (the bad prefix is left in place, unconsumed or buffered). */
#include "proto/frame.h"

#include <stdlib.h>
#include <string.h>

static size_t prefix_len(const uint8_t *p)
{
	return ((size_t)p[0] << 8) | p[1];
}

void frame_decoder_init(struct frame_decoder *dec)
{
	dec->ws_message_bytes = 0;
	dec->have = 0;
	dec->buf = NULL;
}

void frame_decoder_reset(struct frame_decoder *dec)
{
	dec->ws_message_bytes = 0;
	dec->have = 0;
}

void frame_decoder_release(struct frame_decoder *dec)
{
	if (dec->have)
		return;
	free(dec->buf);
	dec->buf = NULL;
}

void frame_decoder_free(struct frame_decoder *dec)
{
	free(dec->buf);
	frame_decoder_init(dec);
}

enum frame_status frame_decoder_account(struct frame_decoder *dec,
					size_t len, bool first_fragment)
{
	if (first_fragment)
		dec->ws_message_bytes = 0;
	/* Compare before adding so a huge len cannot wrap the counter. */
	if (len > TUNNEL_MAX_WS_MESSAGE - dec->ws_message_bytes) {
		dec->ws_message_bytes = TUNNEL_MAX_WS_MESSAGE + 1;
		return FRAME_ERR_WS_MESSAGE_TOO_BIG;
	}
	dec->ws_message_bytes += len;
	return FRAME_NEED_MORE;
}

/* Returns 0, or -1 when there is no storage for the bytes. */
static int take(struct frame_decoder *dec, const uint8_t **in,
		size_t *in_len, size_t n)
{
	if (n == 0)
		return 0; /* *in may be NULL with nothing to copy */
	/* Kept until frame_decoder_release: a busy stream straddles chunks
	 * often, and should not pay a malloc/free pair each time. */
	if (!dec->buf && !(dec->buf = malloc(TUNNEL_MAX_FRAME)))
		return -1;
	memcpy(dec->buf + dec->have, *in, n);
	dec->have += n;
	*in += n;
	*in_len -= n;
	return 0;
}

static void fill(struct frame *out, const uint8_t *raw, size_t body_len)
{
	out->raw = raw;
	out->raw_len = TUNNEL_FRAME_PREFIX + body_len;
	out->body = raw + TUNNEL_FRAME_PREFIX;
	out->body_len = body_len;
}

enum frame_status frame_decoder_next(struct frame_decoder *dec,
				     const uint8_t **in, size_t *in_len,
				     struct frame *out)
{
	size_t len, want;

	if (dec->have == 0) {
		if (*in_len < TUNNEL_FRAME_PREFIX) {
			if (take(dec, in, in_len, *in_len))
				return FRAME_ERR_NO_MEMORY;
			return FRAME_NEED_MORE;
		}
		len = prefix_len(*in);
		if (len > TUNNEL_MAX_FRAME_BODY)
			return FRAME_ERR_TOO_BIG;
		if (*in_len >= TUNNEL_FRAME_PREFIX + len) {
			/* Zero-copy: the whole frame is in the chunk. */
			fill(out, *in, len);
			*in += TUNNEL_FRAME_PREFIX + len;
			*in_len -= TUNNEL_FRAME_PREFIX + len;
			return FRAME_READY;
		}
		/* Partial frame: fits in buf since len <= TUNNEL_MAX_FRAME_BODY. */
		if (take(dec, in, in_len, *in_len))
			return FRAME_ERR_NO_MEMORY;
		return FRAME_NEED_MORE;
	}

	if (dec->have < TUNNEL_FRAME_PREFIX) {
		want = TUNNEL_FRAME_PREFIX - dec->have;
		if (take(dec, in, in_len, *in_len < want ? *in_len : want))
			return FRAME_ERR_NO_MEMORY;
		if (dec->have < TUNNEL_FRAME_PREFIX)
			return FRAME_NEED_MORE;
	}
	len = prefix_len(dec->buf);
	if (len > TUNNEL_MAX_FRAME_BODY)
		return FRAME_ERR_TOO_BIG;
	want = TUNNEL_FRAME_PREFIX + len - dec->have;
	if (take(dec, in, in_len, *in_len < want ? *in_len : want))
		return FRAME_ERR_NO_MEMORY;
	if (dec->have < TUNNEL_FRAME_PREFIX + len)
		return FRAME_NEED_MORE;
	/* buf stays intact until the next call, which may overwrite it. */
	fill(out, dec->buf, len);
	dec->have = 0;
	return FRAME_READY;
}

size_t frame_whole_size(const uint8_t *buf, size_t len)
{
	if (len < TUNNEL_FRAME_PREFIX)
		return 0;
	size_t size = TUNNEL_FRAME_PREFIX + ((size_t)buf[0] << 8 | buf[1]);
	return size <= len ? size : 0;
}

bool frame_decoder_idle(const struct frame_decoder *dec)
{
	return dec->have == 0;
}

const char *frame_status_str(enum frame_status st)
{
	switch (st) {
	case FRAME_NEED_MORE:
		return "need more bytes";
	case FRAME_READY:
		return "frame ready";
	case FRAME_ERR_TOO_BIG:
		return "frame length prefix too big";
	case FRAME_ERR_WS_MESSAGE_TOO_BIG:
		return "WebSocket message too big";
	case FRAME_ERR_NO_MEMORY:
		return "out of memory for a partial frame";
	}
	return "invalid frame status";
}
