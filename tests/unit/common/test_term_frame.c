/* Unit tests for common/term_frame.c: headers, and the incremental decoder
 * fed whole, byte by byte and with bad input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/term_frame.h"

static struct term_frame_decoder *new_decoder(void)
{
	struct term_frame_decoder *d = malloc(sizeof(*d));
	assert_non_null(d);
	term_frame_decoder_init(d);
	return d;
}

static void test_header(void **state)
{
	uint8_t h[TERM_FRAME_HEADER];
	(void)state;
	assert_int_equal(term_frame_header(h, 'o', 0x01020304 & 0xffff), 0);
	assert_memory_equal(h, "o\x00\x00\x03\x04", 5);
	assert_int_equal(term_frame_header(h, 'x', TERM_FRAME_MAX), 0);
	assert_memory_equal(h, "x\x00\x01\x00\x00", 5);
	assert_int_equal(term_frame_header(h, 'x', TERM_FRAME_MAX + 1), -1);
	assert_int_equal(term_frame_header(h, 'q', 1), -1);
	assert_true(term_frame_type_valid('i'));
	assert_false(term_frame_type_valid('I'));
	assert_false(term_frame_type_valid(0));
}

/* Two frames and the start of a third in one buffer, then the rest. */
static void test_decode_stream(void **state)
{
	(void)state;
	struct term_frame_decoder *d = new_decoder();
	const uint8_t in[] = "i\0\0\0\3abc" "y\0\0\0\0" "r\0\0\0\2{";
	size_t len = sizeof(in) - 1, used, pos = 0;
	assert_int_equal(term_frame_decode(d, in, len, &used), TERM_FRAME_READY);
	assert_int_equal(used, 8);
	assert_int_equal(d->type, 'i');
	assert_int_equal(d->len, 3);
	assert_memory_equal(d->payload, "abc", 3);
	pos += used;
	assert_int_equal(term_frame_decode(d, in + pos, len - pos, &used), TERM_FRAME_READY);
	assert_int_equal(used, 5);
	assert_int_equal(d->type, 'y');
	assert_int_equal(d->len, 0);
	pos += used;
	assert_int_equal(term_frame_decode(d, in + pos, len - pos, &used), TERM_FRAME_NEED_MORE);
	assert_int_equal(used, 6);
	assert_int_equal(term_frame_decode(d, (const uint8_t *)"}", 1, &used), TERM_FRAME_READY);
	assert_int_equal(d->type, 'r');
	assert_memory_equal(d->payload, "{}", 2);
	assert_int_equal(term_frame_decode(d, NULL, 0, &used), TERM_FRAME_NEED_MORE);
	assert_int_equal(used, 0);
	free(d);
}

/* Split at every byte: the same frame comes out once. */
static void test_decode_byte_by_byte(void **state)
{
	(void)state;
	struct term_frame_decoder *d = new_decoder();
	const uint8_t in[] = "o\0\0\0\5hello";
	int ready = 0;
	for (size_t i = 0; i < sizeof(in) - 1; i++) {
		size_t used;
		enum term_frame_result r = term_frame_decode(d, in + i, 1, &used);
		assert_int_equal(used, 1);
		if (r == TERM_FRAME_READY) {
			ready++;
			assert_int_equal(i, sizeof(in) - 2);
		} else {
			assert_int_equal(r, TERM_FRAME_NEED_MORE);
		}
	}
	assert_int_equal(ready, 1);
	assert_memory_equal(d->payload, "hello", 5);
	free(d);
}

static void test_decode_bad_type_stays_broken(void **state)
{
	(void)state;
	struct term_frame_decoder *d = new_decoder();
	size_t used;
	assert_int_equal(term_frame_decode(d, (const uint8_t *)"Z\0\0\0\1q", 6, &used),
			 TERM_FRAME_BAD_TYPE);
	assert_int_equal(term_frame_decode(d, (const uint8_t *)"i\0\0\0\0", 5, &used),
			 TERM_FRAME_BAD_TYPE);
	assert_int_equal(used, 0);
	free(d);
}

static void test_decode_oversize(void **state)
{
	(void)state;
	struct term_frame_decoder *d = new_decoder();
	size_t used;
	/* 65537: one above the limit, refused from its header alone. */
	assert_int_equal(term_frame_decode(d, (const uint8_t *)"o\0\1\0\1", 5, &used),
			 TERM_FRAME_TOO_LONG);
	assert_int_equal(term_frame_decode(d, (const uint8_t *)"x", 1, &used), TERM_FRAME_TOO_LONG);
	term_frame_decoder_init(d);
	assert_int_equal(term_frame_decode(d, (const uint8_t *)"o\xff\xff\xff\xff", 5, &used),
			 TERM_FRAME_TOO_LONG);
	/* Exactly the limit is fine. */
	term_frame_decoder_init(d);
	uint8_t *big = calloc(1, TERM_FRAME_HEADER + TERM_FRAME_MAX);
	assert_non_null(big);
	assert_int_equal(term_frame_header(big, 'o', TERM_FRAME_MAX), 0);
	assert_int_equal(term_frame_decode(d, big, TERM_FRAME_HEADER + TERM_FRAME_MAX, &used),
			 TERM_FRAME_READY);
	assert_int_equal(d->len, TERM_FRAME_MAX);
	free(big);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_decode_stream),
		cmocka_unit_test(test_decode_byte_by_byte),
		cmocka_unit_test(test_decode_bad_type_stays_broken),
		cmocka_unit_test(test_decode_oversize),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
