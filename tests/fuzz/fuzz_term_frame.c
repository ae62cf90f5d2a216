/* The relay <-> tunnel-term frame decoder (common/term_frame.c) and the
 * asciicast event line of each frame's payload (term/asciicast.c).
 *
 * Input: one byte n, n chunk-size bytes ((b & 0x7f) + 1, cycling), then
 * the byte stream, fed to term_frame_decode in chunks, each in its own
 * exact-size allocation. Checked: NEED_MORE takes the whole chunk, a
 * frame's header encodes back to the same bytes, an error repeats on every
 * later call and takes nothing, and an event line always fits
 * ASCIICAST_EVENT_CAP. */
#include <stdlib.h>
#include <string.h>

#include "common/term_frame.h"
#include "term/asciicast.h"
#include "tests/fuzz/fuzz_input.h"

static struct term_frame_decoder dec;
static char line[ASCIICAST_EVENT_CAP(TERM_FRAME_MAX)];

static void check_frame(void)
{
	uint8_t header[TERM_FRAME_HEADER];
	if (term_frame_header(header, dec.type, dec.len) || memcmp(header, dec.header, sizeof(header)))
		fuzz_fail("a decoded frame's header does not encode back");
	size_t whole = asciicast_utf8_whole(dec.payload, dec.len);
	if (whole > dec.len || dec.len - whole > 3)
		fuzz_fail("more than 3 bytes held back as a cut character");
	int n = asciicast_event(line, sizeof(line), 1.25, 'o', dec.payload, whole);
	if (n < 0 || (size_t)n >= sizeof(line) || line[n - 1] != '\n')
		fuzz_fail("an event line does not fit its cap");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input input = {data, size};
	uint8_t sizes[FUZZ_MAX_SIZES];
	size_t n_sizes = fuzz_sizes(&input, sizes);
	size_t len;
	uint8_t *stream = fuzz_rest(&input, &len);
	term_frame_decoder_init(&dec);
	enum term_frame_result broken = TERM_FRAME_NEED_MORE;
	for (size_t pos = 0, k = 0; pos < len;) {
		size_t chunk_len = n_sizes ? (size_t)(sizes[k++ % n_sizes] & 0x7f) + 1 : len;
		if (chunk_len > len - pos)
			chunk_len = len - pos;
		uint8_t *chunk = fuzz_copy(stream + pos, chunk_len);
		pos += chunk_len;
		size_t off = 0;
		while (off < chunk_len) {
			size_t used;
			enum term_frame_result r = term_frame_decode(&dec, chunk + off, chunk_len - off,
								     &used);
			if (used > chunk_len - off)
				fuzz_fail("took more than it was given");
			if (broken != TERM_FRAME_NEED_MORE && (r != broken || used))
				fuzz_fail("a broken stream did not stay broken");
			off += used;
			if (r == TERM_FRAME_READY) {
				check_frame();
			} else if (r == TERM_FRAME_NEED_MORE) {
				if (off != chunk_len)
					fuzz_fail("NEED_MORE with input left over");
			} else {
				broken = r;
				break;
			}
		}
		free(chunk);
		if (broken != TERM_FRAME_NEED_MORE)
			break;
	}
	free(stream);
	return 0;
}
