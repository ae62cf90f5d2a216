/* The tunnel frame decoder and message codec (proto/frame.c, proto/message.c).
 *
 * Input: one byte n, then n chunk-size bytes, then the byte stream. The
 * stream is fed to the decoder in chunks of those sizes (cycling; size byte
 * b gives (b & 0x7f) + 1 bytes, and a set top bit starts a new WebSocket
 * message), each chunk in its own exact-size allocation. Checked:
 *  - every frame out is the next piece of the stream, prefix and all,
 *    whatever the chunking (frames are consecutive, nothing is lost);
 *  - a stream decoded in one piece gives the same frames and the same end;
 *  - a body that parses re-encodes to a frame that parses to the same
 *    message, and encoding that again gives the same bytes;
 *  - tunnel_msg_parse (DATA read in place) gives protobuf-c's answer. */
#include <stdlib.h>
#include <string.h>

#include "proto/frame.h"
#include "proto/message.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/tunnel_msg_same.h"

/* The in-place reading of DATA answers as protobuf-c does. */
static void same_as_unpacked(const struct frame *f)
{
	struct tunnel_msg fast, ref;
	enum tunnel_msg_status a = tunnel_msg_parse(f->body, f->body_len, &fast);
	enum tunnel_msg_status b = tunnel_msg_parse_unpacked(f->body, f->body_len, &ref);
	if (a != b)
		fuzz_fail("tunnel_msg_parse and protobuf-c disagree on a body");
	if (a == TMSG_OK && !tunnel_msg_same(&fast, &ref))
		fuzz_fail("tunnel_msg_parse read a body differently from protobuf-c");
	tunnel_msg_free(&fast);
	tunnel_msg_free(&ref);
}

static void round_trip(const struct frame *f)
{
	struct tunnel_msg msg, again;
	if (tunnel_msg_parse(f->body, f->body_len, &msg) != TMSG_OK) {
		tunnel_msg_free(&msg);
		return;
	}
	size_t cap = tunnel_msg_encoded_size(&msg);
	uint8_t *enc = malloc(cap ? cap : 1), *enc2 = malloc(cap ? cap : 1);
	if (!enc || !enc2)
		fuzz_fail("out of memory");
	size_t n = tunnel_msg_encode(&msg, enc, cap);
	if (n == 0 || n > cap)
		fuzz_fail("a parsed message does not encode into its encoded_size");
	if (frame_whole_size(enc, n) != n)
		fuzz_fail("an encoded frame is not one whole frame");
	if (tunnel_msg_parse(enc + TUNNEL_FRAME_PREFIX, n - TUNNEL_FRAME_PREFIX, &again) != TMSG_OK)
		fuzz_fail("a re-encoded message does not parse");
	if (!tunnel_msg_same(&msg, &again))
		fuzz_fail("parse(encode(m)) != m");
	size_t n2 = tunnel_msg_encode(&again, enc2, cap);
	if (n2 != n || memcmp(enc, enc2, n))
		fuzz_fail("encoding is not stable");
	tunnel_msg_free(&again);
	tunnel_msg_free(&msg);
	free(enc);
	free(enc2);
}

/* Decodes the stream in one piece: the reference. Returns the final status
 * and sets *consumed to the bytes covered by whole frames. */
static enum frame_status decode_whole(const uint8_t *stream, size_t len, size_t *consumed)
{
	struct frame_decoder *dec = malloc(sizeof(*dec));
	if (!dec)
		fuzz_fail("out of memory");
	frame_decoder_init(dec);
	const uint8_t *in = stream;
	size_t left = len;
	struct frame f;
	enum frame_status st;
	*consumed = 0;
	while ((st = frame_decoder_next(dec, &in, &left, &f)) == FRAME_READY) {
		if (f.raw != stream + *consumed)
			fuzz_fail("a frame lying wholly in the input was copied or misplaced");
		*consumed += f.raw_len;
	}
	frame_decoder_free(dec);
	free(dec);
	return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input input = { data, size };
	uint8_t sizes[FUZZ_MAX_SIZES];
	size_t n_sizes = fuzz_sizes(&input, sizes);
	size_t len;
	uint8_t *stream = fuzz_rest(&input, &len);

	size_t whole_consumed;
	enum frame_status whole_end = decode_whole(stream, len, &whole_consumed);

	struct frame_decoder *dec = malloc(sizeof(*dec));
	if (!dec)
		fuzz_fail("out of memory");
	frame_decoder_init(dec);
	size_t pos = 0, consumed = 0, k = 0;
	bool ws_error = false;
	enum frame_status st = FRAME_NEED_MORE;
	while (pos < len && st == FRAME_NEED_MORE) {
		uint8_t b = n_sizes ? sizes[k++ % n_sizes] : 0xff;
		size_t chunk_len = n_sizes ? (size_t)(b & 0x7f) + 1 : len;
		if (chunk_len > len - pos)
			chunk_len = len - pos;
		uint8_t *chunk = fuzz_copy(stream + pos, chunk_len);
		pos += chunk_len;
		if (frame_decoder_account(dec, chunk_len, (b & 0x80) != 0) != FRAME_NEED_MORE) {
			ws_error = true;
			free(chunk);
			break;
		}
		const uint8_t *in = chunk;
		size_t left = chunk_len;
		struct frame f;
		while ((st = frame_decoder_next(dec, &in, &left, &f)) == FRAME_READY) {
			if (f.raw_len != f.body_len + TUNNEL_FRAME_PREFIX || f.body != f.raw + 2 ||
			    consumed + f.raw_len > len ||
			    memcmp(f.raw, stream + consumed, f.raw_len))
				fuzz_fail("a decoded frame is not the next piece of the stream");
			if (((size_t)f.raw[0] << 8 | f.raw[1]) != f.body_len)
				fuzz_fail("a frame's prefix disagrees with its body length");
			consumed += f.raw_len;
			same_as_unpacked(&f);
			round_trip(&f);
		}
		if (st == FRAME_NEED_MORE && left != 0)
			fuzz_fail("NEED_MORE with input left over");
		free(chunk);
	}
	if (!ws_error) {
		if (st != whole_end || consumed != whole_consumed)
			fuzz_fail("chunked decoding differs from decoding in one piece");
		if (st == FRAME_NEED_MORE && frame_decoder_idle(dec) != (consumed == len))
			fuzz_fail("idle disagrees with the bytes left in a partial frame");
	}
	frame_decoder_free(dec);
	free(dec);
	free(stream);
	return 0;
}
