/* Unit tests for common/bytequeue.c: the growable byte queue. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytequeue.h"

/* ---- bytequeue ----------------------------------------------------------- */

static void test_bq_empty(void **state)
{
	struct bytequeue q;
	(void)state;
	bytequeue_init(&q, 16);
	assert_int_equal(bytequeue_len(&q), 0);
	assert_null(bytequeue_peek(&q));
	bytequeue_consume(&q, 10); /* nothing to consume: no effect */
	assert_int_equal(bytequeue_len(&q), 0);
	assert_int_equal(bytequeue_append(&q, "x", 0), 0);
	assert_int_equal(bytequeue_len(&q), 0);
	bytequeue_free(&q);
	bytequeue_free(&q); /* twice is fine */
	assert_int_equal(q.headroom, 16);
}

static void test_bq_order_across_growth(void **state)
{
	struct bytequeue q;
	uint8_t chunk[700];
	(void)state;
	bytequeue_init(&q, 0);
	/* 100 chunks of 700 bytes: many reallocations. */
	for (int c = 0; c < 100; c++) {
		for (size_t i = 0; i < sizeof(chunk); i++)
			chunk[i] = (uint8_t)(c * 31 + i);
		assert_int_equal(bytequeue_append(&q, chunk, sizeof(chunk)), 0);
		assert_int_equal(bytequeue_len(&q), (size_t)(c + 1) * sizeof(chunk));
	}
	const uint8_t *p = bytequeue_peek(&q);
	assert_non_null(p);
	for (int c = 0; c < 100; c++)
		for (size_t i = 0; i < sizeof(chunk); i++)
			if (p[c * sizeof(chunk) + i] != (uint8_t)(c * 31 + i))
				fail_msg("byte %zu of chunk %d is wrong", i, c);
	/* Consume part, check the new head. */
	bytequeue_consume(&q, 1000);
	assert_int_equal(bytequeue_len(&q), 100 * sizeof(chunk) - 1000);
	p = bytequeue_peek(&q);
	assert_int_equal(p[0], (uint8_t)(1 * 31 + 300));
	bytequeue_free(&q);
}

static void test_bq_headroom(void **state)
{
	enum { HEADROOM = 16 };
	struct bytequeue q;
	uint8_t buf[3000];
	size_t written = 0, read = 0;
	(void)state;
	bytequeue_init(&q, HEADROOM);
	for (int round = 0; round < 200; round++) {
		size_t n = (size_t)(round * 37 % 2900) + 1;
		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)((written + i) * 7);
		assert_int_equal(bytequeue_append(&q, buf, n), 0);
		written += n;
		uint8_t *p = bytequeue_peek(&q);
		size_t len = bytequeue_len(&q);
		assert_non_null(p);
		assert_int_equal(len, written - read);
		assert_true(p - HEADROOM >= q.data);
		assert_true(p + len <= q.data + q.cap);
		/* The headroom is writable (ASan catches an out-of-bounds write)
		 * and writing it does not disturb the queued bytes. */
		memset(p - HEADROOM, 0xEE, HEADROOM);
		for (size_t k = 0; k < len; k++)
			if (p[k] != (uint8_t)((read + k) * 7))
				fail_msg("round %d: byte %zu is wrong", round, k);
		size_t c = n / 2 + 1;
		bytequeue_consume(&q, c);
		read += c > len ? len : c;
	}
	bytequeue_free(&q);
}

/* Headroom larger than the initial allocation. */
static void test_bq_big_headroom(void **state)
{
	enum { HEADROOM = 5000 };
	struct bytequeue q;
	(void)state;
	bytequeue_init(&q, HEADROOM);
	assert_int_equal(bytequeue_append(&q, "hello", 5), 0);
	uint8_t *p = bytequeue_peek(&q);
	memset(p - HEADROOM, 0, HEADROOM);
	assert_memory_equal(p, "hello", 5);
	bytequeue_free(&q);
}

static void test_bq_reserve_commit(void **state)
{
	struct bytequeue q;
	(void)state;
	bytequeue_init(&q, 8);
	assert_int_equal(bytequeue_append(&q, "ab", 2), 0);
	uint8_t *w = bytequeue_reserve(&q, 5000);
	assert_non_null(w);
	memset(w, 'z', 5000); /* all 5000 bytes writable */
	memcpy(w, "cde", 3);
	assert_int_equal(bytequeue_len(&q), 2); /* not yet committed */
	bytequeue_commit(&q, 3);
	assert_int_equal(bytequeue_len(&q), 5);
	assert_memory_equal(bytequeue_peek(&q), "abcde", 5);
	/* Reserve without commit changes nothing visible. */
	w = bytequeue_reserve(&q, 10);
	assert_non_null(w);
	assert_int_equal(bytequeue_len(&q), 5);
	bytequeue_commit(&q, 0);
	assert_memory_equal(bytequeue_peek(&q), "abcde", 5);
	bytequeue_free(&q);
}

/* Reserve on a queue whose head has advanced slides the bytes back rather
 * than growing. */
static void test_bq_reserve_slides(void **state)
{
	struct bytequeue q;
	uint8_t buf[1000];
	(void)state;
	bytequeue_init(&q, 4);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)i;
	assert_int_equal(bytequeue_append(&q, buf, sizeof(buf)), 0);
	size_t cap = q.cap;
	bytequeue_consume(&q, 900);
	uint8_t *w = bytequeue_reserve(&q, cap - 4 - 100);
	assert_non_null(w);
	assert_int_equal(q.cap, cap);
	assert_memory_equal(bytequeue_peek(&q), buf + 900, 100);
	memset(w, 0xAB, cap - 4 - 100);
	bytequeue_commit(&q, cap - 4 - 100);
	assert_int_equal(bytequeue_len(&q), cap - 4);
	bytequeue_free(&q);
}

static void test_bq_consume_too_much(void **state)
{
	struct bytequeue q;
	(void)state;
	bytequeue_init(&q, 0);
	assert_int_equal(bytequeue_append(&q, "0123456789", 10), 0);
	bytequeue_consume(&q, 3);
	assert_int_equal(bytequeue_len(&q), 7);
	bytequeue_consume(&q, 1000);
	assert_int_equal(bytequeue_len(&q), 0);
	bytequeue_consume(&q, SIZE_MAX);
	assert_int_equal(bytequeue_len(&q), 0);
	/* Still usable. */
	assert_int_equal(bytequeue_append(&q, "xyz", 3), 0);
	assert_memory_equal(bytequeue_peek(&q), "xyz", 3);
	bytequeue_consume(&q, SIZE_MAX);
	assert_int_equal(bytequeue_len(&q), 0);
	bytequeue_free(&q);
}

static void test_bq_drain_releases_big_storage(void **state)
{
	struct bytequeue q;
	size_t big = 161 * 1024;
	uint8_t *buf = calloc(1, big);
	(void)state;
	assert_non_null(buf);
	bytequeue_init(&q, 16);
	assert_int_equal(bytequeue_append(&q, buf, big), 0);
	assert_true(q.cap > 160 * 1024);
	bytequeue_consume(&q, big - 1);
	assert_true(q.cap > 0); /* not drained yet */
	bytequeue_consume(&q, 1);
	assert_int_equal(q.cap, 0);
	assert_null(q.data);
	assert_null(bytequeue_peek(&q));
	/* Small storage is kept for reuse. */
	assert_int_equal(bytequeue_append(&q, buf, 100), 0);
	size_t cap = q.cap;
	assert_true(cap > 0 && cap <= 160 * 1024);
	bytequeue_consume(&q, 100);
	assert_int_equal(q.cap, cap);
	assert_int_equal(q.head, q.headroom);
	assert_int_equal(q.tail, q.headroom);
	bytequeue_free(&q);
	free(buf);
}

/* xorshift32: deterministic pseudo-random numbers. */
static uint32_t rnd_next(uint32_t *s)
{
	uint32_t x = *s;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

static void test_bq_random_against_reference(void **state)
{
	enum { TOTAL = 1 << 20, HEADROOM = 10 };
	struct bytequeue q;
	uint8_t *ref = malloc(TOTAL); /* everything ever written */
	uint8_t chunk[70000];
	size_t written = 0, read = 0;
	uint32_t seed = 0x12345678u;
	(void)state;
	assert_non_null(ref);
	for (size_t i = 0; i < TOTAL; i++)
		ref[i] = (uint8_t)rnd_next(&seed);
	bytequeue_init(&q, HEADROOM);
	while (read < TOTAL) {
		uint32_t r = rnd_next(&seed);
		/* Mostly small operations, sometimes big ones. */
		size_t n = (r >> 8) % ((r & 7) == 0 ? sizeof(chunk) : 3000);
		switch ((r >> 4) % 3) {
		case 0: /* append */
			if (n > TOTAL - written)
				n = TOTAL - written;
			assert_int_equal(bytequeue_append(&q, ref + written, n), 0);
			written += n;
			break;
		case 1: { /* reserve + partial commit */
			if (n > TOTAL - written)
				n = TOTAL - written;
			uint8_t *w = bytequeue_reserve(&q, n + 1);
			assert_non_null(w);
			memcpy(w, ref + written, n);
			bytequeue_commit(&q, n);
			written += n;
			break;
		}
		default: { /* check and consume */
			size_t len = bytequeue_len(&q);
			assert_int_equal(len, written - read);
			if (len) {
				uint8_t *p = bytequeue_peek(&q);
				assert_non_null(p);
				if (memcmp(p, ref + read, len) != 0)
					fail_msg("queue content differs from reference at offset %zu", read);
				memset(p - HEADROOM, 0, HEADROOM);
			}
			bytequeue_consume(&q, n); /* clamped to len when n > len */
			read += n > len ? len : n;
			break;
		}
		}
		assert_int_equal(bytequeue_len(&q), written - read);
	}
	assert_int_equal(written, TOTAL);
	assert_int_equal(bytequeue_len(&q), 0);
	bytequeue_free(&q);
	free(ref);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bq_empty),
		cmocka_unit_test(test_bq_order_across_growth),
		cmocka_unit_test(test_bq_headroom),
		cmocka_unit_test(test_bq_big_headroom),
		cmocka_unit_test(test_bq_reserve_commit),
		cmocka_unit_test(test_bq_reserve_slides),
		cmocka_unit_test(test_bq_consume_too_much),
		cmocka_unit_test(test_bq_drain_releases_big_storage),
		cmocka_unit_test(test_bq_random_against_reference),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
