/* Unit tests for the streaming frame decoder (proto/frame.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "proto/frame.h"
#include "proto/message.h"

static int dec_setup(void **state)
{
	struct frame_decoder *dec = malloc(sizeof(*dec));

	if (dec == NULL)
		return -1;
	frame_decoder_init(dec);
	*state = dec;
	return 0;
}

static int dec_teardown(void **state)
{
	frame_decoder_free(*state);
	free(*state);
	return 0;
}

/* Writes a frame with body bytes body[i] = (seed + i) into out. */
static size_t make_frame(uint8_t *out, size_t body_len, uint8_t seed)
{
	size_t i;

	out[0] = (uint8_t)(body_len >> 8);
	out[1] = (uint8_t)body_len;
	for (i = 0; i < body_len; i++)
		out[2 + i] = (uint8_t)(seed + i);
	return 2 + body_len;
}

static void check_frame(const struct frame *f, size_t body_len, uint8_t seed)
{
	size_t i;

	assert_int_equal(f->body_len, body_len);
	assert_int_equal(f->raw_len, body_len + 2);
	assert_ptr_equal(f->body, f->raw + 2);
	assert_int_equal(f->raw[0], (uint8_t)(body_len >> 8));
	assert_int_equal(f->raw[1], (uint8_t)body_len);
	for (i = 0; i < body_len; i++)
		assert_int_equal(f->body[i], (uint8_t)(seed + i));
}

static void test_whole_frame_zero_copy(void **state)
{
	struct frame_decoder *dec = *state;
	uint8_t chunk[16];
	size_t n = make_frame(chunk, 5, 0x40);
	const uint8_t *in = chunk;
	size_t in_len = n;
	struct frame f;

	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f), FRAME_READY);
	assert_ptr_equal(f.raw, chunk); /* not copied */
	check_frame(&f, 5, 0x40);
	assert_ptr_equal(in, chunk + n);
	assert_int_equal(in_len, 0);
	assert_true(frame_decoder_idle(dec));
	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f),
			 FRAME_NEED_MORE);
	assert_true(frame_decoder_idle(dec));
	/* Storage exists only while a frame straddles chunks (an idle
	 * connection holds none); release keeps it while a partial frame
	 * needs it. */
	assert_null(dec->buf);
	in = chunk;
	in_len = 3;
	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f), FRAME_NEED_MORE);
	assert_non_null(dec->buf);
	frame_decoder_release(dec);
	assert_non_null(dec->buf);
	in_len = n - 3;
	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f), FRAME_READY);
	check_frame(&f, 5, 0x40);
	frame_decoder_release(dec);
	assert_null(dec->buf);
}

static void test_prefix_split_one_plus_one(void **state)
{
	struct frame_decoder *dec = *state;
	uint8_t chunk[8];
	const uint8_t *in;
	size_t in_len;
	struct frame f;

	make_frame(chunk, 3, 7);
	in = chunk;
	in_len = 1;
	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f),
			 FRAME_NEED_MORE);
	assert_int_equal(in_len, 0);
	assert_false(frame_decoder_idle(dec));
	in = chunk + 1;
	in_len = 1;
	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f),
			 FRAME_NEED_MORE);
	assert_int_equal(in_len, 0);
	in = chunk + 2;
	in_len = 3;
	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f), FRAME_READY);
	assert_int_equal(in_len, 0);
	assert_ptr_equal(f.raw, dec->buf); /* reassembled copy */
	check_frame(&f, 3, 7);
	assert_true(frame_decoder_idle(dec));
}

static void test_body_one_byte_chunks(void **state)
{
	struct frame_decoder *dec = *state;
	static uint8_t chunk[2 + 300];
	size_t n = make_frame(chunk, 300, 200), i;
	struct frame f;

	for (i = 0; i < n; i++) {
		const uint8_t *in = chunk + i;
		size_t in_len = 1;
		enum frame_status st = frame_decoder_next(dec, &in, &in_len, &f);

		assert_int_equal(in_len, 0);
		if (i + 1 < n) {
			assert_int_equal(st, FRAME_NEED_MORE);
			assert_false(frame_decoder_idle(dec));
		} else {
			assert_int_equal(st, FRAME_READY);
		}
	}
	check_frame(&f, 300, 200);
	assert_true(frame_decoder_idle(dec));
}

static void test_several_frames_one_chunk(void **state)
{
	struct frame_decoder *dec = *state;
	uint8_t chunk[64];
	size_t n = 0, in_len;
	const uint8_t *in;
	struct frame f;

	n += make_frame(chunk + n, 4, 1);
	n += make_frame(chunk + n, 0, 0);
	n += make_frame(chunk + n, 10, 50);
	in = chunk;
	in_len = n;
	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f), FRAME_READY);
	assert_ptr_equal(f.raw, chunk);
	check_frame(&f, 4, 1);
	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f), FRAME_READY);
	assert_ptr_equal(f.raw, chunk + 6);
	check_frame(&f, 0, 0);
	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f), FRAME_READY);
	assert_ptr_equal(f.raw, chunk + 8);
	check_frame(&f, 10, 50);
	assert_int_equal(in_len, 0);
	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f),
			 FRAME_NEED_MORE);
	assert_true(frame_decoder_idle(dec));
}

/* frame1 + half of frame2 | rest of frame2 + frame3 + 1 byte of frame4 |
 * rest of frame4. */
static void test_frame_straddles_chunks(void **state)
{
	struct frame_decoder *dec = *state;
	uint8_t all[128];
	size_t f1 = make_frame(all, 6, 10);
	size_t f2 = make_frame(all + f1, 20, 20);
	size_t f3 = make_frame(all + f1 + f2, 2, 30);
	size_t f4 = make_frame(all + f1 + f2 + f3, 9, 40);
	size_t cut1 = f1 + f2 / 2, cut2 = f1 + f2 + f3 + 1;
	const uint8_t *in = all;
	size_t in_len = cut1;
	struct frame f;

	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f), FRAME_READY);
	check_frame(&f, 6, 10);
	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f),
			 FRAME_NEED_MORE);
	assert_int_equal(in_len, 0);
	assert_false(frame_decoder_idle(dec));

	in = all + cut1;
	in_len = cut2 - cut1;
	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f), FRAME_READY);
	assert_ptr_equal(f.raw, dec->buf);
	check_frame(&f, 20, 20);
	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f), FRAME_READY);
	assert_ptr_equal(f.raw, all + f1 + f2); /* back to zero-copy */
	check_frame(&f, 2, 30);
	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f),
			 FRAME_NEED_MORE);
	assert_false(frame_decoder_idle(dec));

	in = all + cut2;
	in_len = f1 + f2 + f3 + f4 - cut2;
	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f), FRAME_READY);
	check_frame(&f, 9, 40);
	assert_int_equal(in_len, 0);
	assert_true(frame_decoder_idle(dec));
}

/* Regression: a frame reassembled in dec->buf must reset the buffered state
 * when returned, or the next call hands out the same frame again (forever).
 * Frame A is split across two chunks; the second chunk also carries all of
 * frame B. The call after A must yield B, then FRAME_NEED_MORE. */
static void test_buffered_frame_then_next(void **state)
{
	struct frame_decoder *dec = *state;
	uint8_t all[64];
	size_t fa = make_frame(all, 10, 0x11);
	size_t fb = make_frame(all + fa, 7, 0x77);
	size_t cut = fa / 2;
	const uint8_t *in = all;
	size_t in_len = cut;
	struct frame f;

	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f),
			 FRAME_NEED_MORE);
	assert_int_equal(in_len, 0);
	assert_false(frame_decoder_idle(dec));

	in = all + cut;
	in_len = fa + fb - cut;
	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f), FRAME_READY);
	assert_ptr_equal(f.raw, dec->buf);
	check_frame(&f, 10, 0x11);
	assert_true(frame_decoder_idle(dec));
	assert_ptr_equal(in, all + fa);
	assert_int_equal(in_len, fb);

	/* Second frame, not the first one again. */
	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f), FRAME_READY);
	assert_ptr_equal(f.raw, all + fa);
	check_frame(&f, 7, 0x77);
	assert_int_equal(in_len, 0);

	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f),
			 FRAME_NEED_MORE);
	assert_true(frame_decoder_idle(dec));
}

static void test_zero_length_frame(void **state)
{
	struct frame_decoder *dec = *state;
	const uint8_t chunk[2] = {0, 0};
	const uint8_t *in = chunk;
	size_t in_len = 2;
	struct frame f;
	struct tunnel_msg m;

	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f), FRAME_READY);
	assert_int_equal(f.body_len, 0);
	assert_int_equal(f.raw_len, 2);
	assert_int_equal(in_len, 0);
	/* An empty Message is type UNKNOWN, not ignorable: a protocol error. */
	assert_int_equal(tunnel_msg_parse(f.body, f.body_len, &m),
			 TMSG_ERR_UNKNOWN_TYPE);
	tunnel_msg_free(&m);
}

static void test_max_body_ok(void **state)
{
	struct frame_decoder *dec = *state;
	uint8_t *chunk = malloc(TUNNEL_MAX_FRAME);
	size_t n, half;
	const uint8_t *in;
	size_t in_len;
	struct frame f;

	assert_non_null(chunk);
	n = make_frame(chunk, TUNNEL_MAX_FRAME_BODY, 3);
	assert_int_equal(n, TUNNEL_MAX_FRAME);

	in = chunk;
	in_len = n;
	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f), FRAME_READY);
	assert_ptr_equal(f.raw, chunk);
	check_frame(&f, TUNNEL_MAX_FRAME_BODY, 3);

	/* Same frame split in two: reassembled in the decoder's buffer. */
	half = n / 2;
	in = chunk;
	in_len = half;
	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f),
			 FRAME_NEED_MORE);
	in = chunk + half;
	in_len = n - half;
	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f), FRAME_READY);
	assert_ptr_equal(f.raw, dec->buf);
	check_frame(&f, TUNNEL_MAX_FRAME_BODY, 3);
	assert_true(frame_decoder_idle(dec));
	free(chunk);
}

static void test_body_too_big(void **state)
{
	struct frame_decoder *dec = *state;
	const size_t big = TUNNEL_MAX_FRAME_BODY + 1;
	const uint8_t prefix[2] = {(uint8_t)(big >> 8), (uint8_t)big};
	const uint8_t ffff[3] = {0xff, 0xff, 0x00};
	const uint8_t *in = prefix;
	size_t in_len = 2;
	struct frame f;

	/* Detected from the prefix alone, whole... */
	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f),
			 FRAME_ERR_TOO_BIG);
	/* ...and repeated if the caller insists. */
	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f),
			 FRAME_ERR_TOO_BIG);

	/* ...or split 1 + 1 across chunks. */
	frame_decoder_reset(dec);
	in = prefix;
	in_len = 1;
	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f),
			 FRAME_NEED_MORE);
	in = prefix + 1;
	in_len = 1;
	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f),
			 FRAME_ERR_TOO_BIG);
	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f),
			 FRAME_ERR_TOO_BIG);

	frame_decoder_reset(dec);
	in = ffff;
	in_len = sizeof(ffff);
	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f),
			 FRAME_ERR_TOO_BIG);
}

/* A too-big prefix right after a good frame in the same chunk. */
static void test_too_big_after_good_frame(void **state)
{
	struct frame_decoder *dec = *state;
	uint8_t chunk[16];
	size_t n = make_frame(chunk, 3, 0);
	const uint8_t *in = chunk;
	size_t in_len;
	struct frame f;

	chunk[n] = 0xfe;
	chunk[n + 1] = 0x01;
	in_len = n + 2;
	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f), FRAME_READY);
	check_frame(&f, 3, 0);
	assert_int_equal(frame_decoder_next(dec, &in, &in_len, &f),
			 FRAME_ERR_TOO_BIG);
}

static void test_ws_message_limit(void **state)
{
	struct frame_decoder *dec = *state;

	assert_int_equal(frame_decoder_account(dec, TUNNEL_MAX_WS_MESSAGE, true),
			 FRAME_NEED_MORE);
	assert_int_equal(frame_decoder_account(dec, 0, false), FRAME_NEED_MORE);
	assert_int_equal(frame_decoder_account(dec, 1, false),
			 FRAME_ERR_WS_MESSAGE_TOO_BIG);

	/* A new message resets the count. */
	assert_int_equal(frame_decoder_account(dec, 100, true), FRAME_NEED_MORE);
	assert_int_equal(frame_decoder_account(dec, TUNNEL_MAX_WS_MESSAGE - 100,
					       false),
			 FRAME_NEED_MORE);
	assert_int_equal(frame_decoder_account(dec, 1, false),
			 FRAME_ERR_WS_MESSAGE_TOO_BIG);

	/* Fragments summing to 131076 are fine, 131077 is not. */
	assert_int_equal(frame_decoder_account(dec, 131000, true),
			 FRAME_NEED_MORE);
	assert_int_equal(frame_decoder_account(dec, 76, false), FRAME_NEED_MORE);
	assert_int_equal(frame_decoder_account(dec, 65536, true),
			 FRAME_NEED_MORE);
	assert_int_equal(frame_decoder_account(dec, 65541, false),
			 FRAME_ERR_WS_MESSAGE_TOO_BIG);

	assert_int_equal(frame_decoder_account(dec, 131077, true),
			 FRAME_ERR_WS_MESSAGE_TOO_BIG);
	/* No wrap-around on absurd lengths. */
	assert_int_equal(frame_decoder_account(dec, 10, true), FRAME_NEED_MORE);
	assert_int_equal(frame_decoder_account(dec, SIZE_MAX, false),
			 FRAME_ERR_WS_MESSAGE_TOO_BIG);
	assert_int_equal(frame_decoder_account(dec, SIZE_MAX, true),
			 FRAME_ERR_WS_MESSAGE_TOO_BIG);
}

/* Many frames of random sizes, fed in random-sized chunks, come out intact
 * and in order. */
static void test_random_chunking(void **state)
{
	struct frame_decoder *dec = *state;
	enum { NFRAMES = 200 };
	static size_t lens[NFRAMES];
	size_t total = 0, pos = 0, got = 0, i;
	uint8_t *all;
	struct frame f;

	srand(12345);
	for (i = 0; i < NFRAMES; i++) {
		switch (rand() % 4) {
		case 0:
			lens[i] = 0;
			break;
		case 1:
			lens[i] = (size_t)rand() % 16;
			break;
		case 2:
			lens[i] = (size_t)rand() % 2000;
			break;
		default:
			lens[i] = TUNNEL_MAX_FRAME_BODY -
				  (size_t)rand() % 100;
		}
		total += 2 + lens[i];
	}
	all = malloc(total);
	assert_non_null(all);
	for (i = 0; i < NFRAMES; i++)
		pos += make_frame(all + pos, lens[i], (uint8_t)i);

	pos = 0;
	while (pos < total) {
		size_t chunk = 1 + (size_t)rand() % 70000;
		const uint8_t *in = all + pos;
		size_t in_len;
		enum frame_status st;

		if (chunk > total - pos)
			chunk = total - pos;
		in_len = chunk;
		while ((st = frame_decoder_next(dec, &in, &in_len, &f)) ==
		       FRAME_READY) {
			assert_true(got < NFRAMES);
			check_frame(&f, lens[got], (uint8_t)got);
			got++;
		}
		assert_int_equal(st, FRAME_NEED_MORE);
		assert_int_equal(in_len, 0);
		pos += chunk;
	}
	assert_int_equal(got, NFRAMES);
	assert_true(frame_decoder_idle(dec));
	free(all);
}

/* Random bytes in random chunks: never a crash, never an oversized READY,
 * every READY frame readable in full (ASan checks the reads). */
static void test_random_garbage(void **state)
{
	struct frame_decoder *dec = *state;
	static uint8_t buf[4096];
	unsigned long sum = 0;
	int iter, ready = 0, errors = 0;
	size_t i;

	srand(777);
	for (iter = 0; iter < 5000; iter++) {
		size_t len = (size_t)rand() % sizeof(buf);
		const uint8_t *in = buf;
		size_t in_len;
		bool failed = false;

		for (i = 0; i < len; i++)
			buf[i] = (uint8_t)rand();
		/* Random prefixes are mostly long: bias some toward short
		 * frames (that complete) and some toward too-big ones. */
		if (len > 1 && rand() % 3 == 0)
			buf[0] = 0;
		else if (len > 1 && rand() % 2 == 0)
			buf[0] = 0xff;
		/* Half the time start at a frame boundary, else carry on
		 * with whatever partial frame is pending. */
		if (rand() % 2)
			frame_decoder_reset(dec);
		while (len > 0 && !failed) {
			size_t chunk = 1 + (size_t)rand() % len;
			enum frame_status st;
			struct frame f;

			in_len = chunk;
			while ((st = frame_decoder_next(dec, &in, &in_len, &f)) ==
			       FRAME_READY) {
				assert_true(f.body_len <= TUNNEL_MAX_FRAME_BODY);
				assert_int_equal(f.raw_len, f.body_len + 2);
				for (i = 0; i < f.raw_len; i++)
					sum += f.raw[i];
				ready++;
			}
			if (st != FRAME_NEED_MORE) {
				assert_int_equal(st, FRAME_ERR_TOO_BIG);
				errors++;
				failed = true;
				frame_decoder_reset(dec);
			} else {
				assert_int_equal(in_len, 0);
			}
			len -= chunk;
		}
	}
	assert_true(ready > 100);
	assert_true(errors > 100);
	(void)sum;
}

/* Encoded messages survive the decoder byte by byte and parse back. */
static void test_decoder_with_messages(void **state)
{
	struct frame_decoder *dec = *state;
	uint8_t all[256];
	struct tunnel_msg m = {0};
	size_t n, i, got = 0;
	struct frame f;

	m.type = TMSG_DATA;
	m.stream_id = 4;
	m.connection_id = 2;
	m.service_id = "ssh";
	m.payload = (const uint8_t *)"hello";
	m.payload_len = 5;
	n = tunnel_msg_encode(&m, all, sizeof(all));
	assert_true(n > 2);
	m.type = TMSG_STREAM_RESET;
	m.payload = NULL;
	m.payload_len = 0;
	i = tunnel_msg_encode(&m, all + n, sizeof(all) - n);
	assert_true(i > 2);
	n += i;

	for (i = 0; i < n; i++) {
		const uint8_t *in = all + i;
		size_t in_len = 1;
		struct tunnel_msg p;

		if (frame_decoder_next(dec, &in, &in_len, &f) != FRAME_READY)
			continue;
		assert_int_equal(tunnel_msg_parse(f.body, f.body_len, &p),
				 TMSG_OK);
		assert_int_equal(p.type, got == 0 ? TMSG_DATA : TMSG_STREAM_RESET);
		assert_int_equal(p.stream_id, 4);
		assert_int_equal(p.connection_id, 2);
		assert_string_equal(p.service_id, "ssh");
		assert_int_equal(p.payload_len, got == 0 ? 5 : 0);
		tunnel_msg_free(&p);
		got++;
	}
	assert_int_equal(got, 2);
}

static void test_status_str(void **state)
{
	assert_string_equal(frame_status_str(FRAME_ERR_TOO_BIG),
			    "frame length prefix too big");
	assert_string_equal(frame_status_str(FRAME_ERR_WS_MESSAGE_TOO_BIG),
			    "WebSocket message too big");
	assert_string_not_equal(frame_status_str(FRAME_NEED_MORE),
				frame_status_str(FRAME_READY));
	assert_non_null(frame_status_str((enum frame_status)99));
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, dec_setup, dec_teardown)
	const struct CMUnitTest tests[] = {
		T(test_whole_frame_zero_copy),
		T(test_prefix_split_one_plus_one),
		T(test_body_one_byte_chunks),
		T(test_several_frames_one_chunk),
		T(test_frame_straddles_chunks),
		T(test_buffered_frame_then_next),
		T(test_zero_length_frame),
		T(test_max_body_ok),
		T(test_body_too_big),
		T(test_too_big_after_good_frame),
		T(test_ws_message_limit),
		T(test_random_chunking),
		T(test_random_garbage),
		T(test_decoder_with_messages),
		cmocka_unit_test(test_status_str),
	};
#undef T
	return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
