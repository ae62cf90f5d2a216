#include "common/term_frame.h"

#include <string.h>

bool term_frame_type_valid(uint8_t type)
{
	switch (type) {
	case TERM_FRAME_INPUT: case TERM_FRAME_OUTPUT: case TERM_FRAME_RESIZE:
	case TERM_FRAME_HOSTKEY: case TERM_FRAME_ACCEPT: case TERM_FRAME_CREDS:
	case TERM_FRAME_STATUS: case TERM_FRAME_ERROR: case TERM_FRAME_EXIT:
		return true;
	default:
		return false;
	}
}

int term_frame_header(uint8_t out[TERM_FRAME_HEADER], uint8_t type, size_t len)
{
	if (!term_frame_type_valid(type) || len > TERM_FRAME_MAX)
		return -1;
	out[0] = type;
	out[1] = (uint8_t)(len >> 24);
	out[2] = (uint8_t)(len >> 16);
	out[3] = (uint8_t)(len >> 8);
	out[4] = (uint8_t)len;
	return 0;
}

void term_frame_decoder_init(struct term_frame_decoder *d)
{
	d->header_have = 0;
	d->len = 0;
	d->have = 0;
	d->done = false;
	d->type = 0;
}

enum term_frame_result term_frame_decode(struct term_frame_decoder *d, const uint8_t *data,
					 size_t n, size_t *used)
{
	*used = 0;
	if (d->done) {
		d->header_have = 0;
		d->have = 0;
		d->done = false;
	}
	if (d->header_have == TERM_FRAME_HEADER && !term_frame_type_valid(d->type))
		return TERM_FRAME_BAD_TYPE;
	if (d->header_have == TERM_FRAME_HEADER && d->len > TERM_FRAME_MAX)
		return TERM_FRAME_TOO_LONG;
	size_t pos = 0;
	while (d->header_have < TERM_FRAME_HEADER && pos < n)
		d->header[d->header_have++] = data[pos++];
	*used = pos;
	if (d->header_have < TERM_FRAME_HEADER)
		return TERM_FRAME_NEED_MORE;
	if (pos > 0) { /* the header just became whole: check it once */
		d->type = d->header[0];
		d->len = (uint32_t)d->header[1] << 24 | (uint32_t)d->header[2] << 16 |
			 (uint32_t)d->header[3] << 8 | d->header[4];
		if (!term_frame_type_valid(d->type))
			return TERM_FRAME_BAD_TYPE;
		if (d->len > TERM_FRAME_MAX)
			return TERM_FRAME_TOO_LONG;
	}
	size_t take = d->len - d->have;
	if (take > n - pos)
		take = n - pos;
	if (take)
		memcpy(d->payload + d->have, data + pos, take);
	d->have += (uint32_t)take;
	*used = pos + take;
	if (d->have < d->len)
		return TERM_FRAME_NEED_MORE;
	d->done = true;
	return TERM_FRAME_READY;
}
