/* Unit tests for the pure helpers in common/: hostport.c, token.c and
 * bytequeue.c, and tcp_liveness.c's verdict. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/bytequeue.h"
#include "common/hostport.h"
#include "common/tcp_liveness.h"
#include "common/token.h"
#include "proto/wire.h"

/* ---- tcp_liveness_dead ---------------------------------------------------- */

static void test_liveness_verdict(void **state)
{
	(void)state;
	/* Data in flight, no ACK for the whole time: dead; a moment less: not yet. */
	struct tcp_liveness_view v = {.unacked = 3, .probes = 0, .last_ack_ms = 45000};
	assert_true(tcp_liveness_dead(&v, 45));
	v.last_ack_ms = 44999;
	assert_false(tcp_liveness_dead(&v, 45));
	/* Idle for hours with nothing outstanding: alive (keepalive's job). */
	struct tcp_liveness_view idle = {.unacked = 0, .probes = 0, .last_ack_ms = 7200000};
	assert_false(tcp_liveness_dead(&idle, 45));
	/* A frozen peer: window shut, one probe out, its answer on the way. */
	struct tcp_liveness_view frozen = {.unacked = 0, .probes = 1, .last_ack_ms = 110000};
	assert_false(tcp_liveness_dead(&frozen, 45));
	/* Two probes in a row unanswered, and long silence: dead. */
	struct tcp_liveness_view silent = {.unacked = 0, .probes = 2, .last_ack_ms = 60000};
	assert_true(tcp_liveness_dead(&silent, 45));
	silent.last_ack_ms = 1000;
	assert_false(tcp_liveness_dead(&silent, 45));
}

/* tcp_set_liveness on a real (unconnected) socket: the kernel keeps what we
 * set, and idle + interval * count stays within the budget. */
static void test_liveness_socket_options(void **state)
{
	(void)state;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(tcp_set_liveness(fd, 45), 0);
	int on = 0, idle = 0, intvl = 0, cnt = 0;
	socklen_t len = sizeof(int);
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, &len), 0);
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, &len), 0);
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, &len), 0);
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, &len), 0);
	assert_true(on);
	assert_true(idle >= 1 && intvl >= 1 && cnt >= 1);
	assert_true(idle + intvl * cnt <= 45);
	/* Nothing sent, nothing outstanding: not dead. */
	assert_false(tcp_path_dead(fd, 45));
	close(fd);
	/* A bad descriptor: an error, not a crash. */
	assert_int_equal(tcp_set_liveness(-1, 45), -1);
	assert_false(tcp_path_dead(-1, 45));
}

/* ---- port_parse --------------------------------------------------------- */

static void test_port_parse(void **state)
{
	(void)state;
	assert_int_equal(port_parse("1"), 1);
	assert_int_equal(port_parse("22"), 22);
	assert_int_equal(port_parse("65535"), 65535);
	assert_int_equal(port_parse("0"), -1);
	assert_int_equal(port_parse("00000"), -1);
	assert_int_equal(port_parse("65536"), -1);
	assert_int_equal(port_parse("99999"), -1);
	assert_int_equal(port_parse("100000"), -1);
	assert_int_equal(port_parse(""), -1);
	assert_int_equal(port_parse(NULL), -1);
	assert_int_equal(port_parse("12a"), -1);
	assert_int_equal(port_parse("a12"), -1);
	assert_int_equal(port_parse("-1"), -1);
	assert_int_equal(port_parse("+1"), -1);
	assert_int_equal(port_parse(" 1"), -1);
	assert_int_equal(port_parse("1 "), -1);
	assert_int_equal(port_parse("0x16"), -1);
	/* Leading zeros are plain decimal, but at most five digits in all. */
	assert_int_equal(port_parse("00022"), 22);
	assert_int_equal(port_parse("000022"), -1);
	assert_int_equal(port_parse("4294967318"), -1); /* 2^32 + 22 */
}

/* ---- hostport_parse ----------------------------------------------------- */

static void hp_ok(const char *text, int def, const char *host, int port)
{
	struct hostport hp;
	char err[256] = "";
	if (hostport_parse(text, def, &hp, err, sizeof(err)) != 0)
		fail_msg("'%s' rejected: %s", text, err);
	if (strcmp(hp.host, host) != 0 || hp.port != port)
		fail_msg("'%s' parsed as host '%s' port %d, want '%s' %d", text, hp.host, hp.port,
			 host, port);
}

static void hp_bad(const char *text, int def)
{
	struct hostport hp;
	char err[256] = "";
	if (hostport_parse(text, def, &hp, err, sizeof(err)) != -1)
		fail_msg("'%s' (default port %d) accepted as '%s' %d", text, def, hp.host, hp.port);
	if (err[0] == '\0')
		fail_msg("'%s' rejected without a reason", text);
}

static void test_hostport_ok(void **state)
{
	(void)state;
	hp_ok("h", 443, "h", 443);
	hp_ok("h:1", 443, "h", 1);
	hp_ok("h:1", 0, "h", 1);
	hp_ok("example.com:65535", 0, "example.com", 65535);
	hp_ok("[::1]:2", 0, "::1", 2);
	hp_ok("[::1]", 443, "::1", 443);
	hp_ok("[fe80::1%eth0]:22", 0, "fe80::1%eth0", 22);
	hp_ok("::1", 443, "::1", 443);
	hp_ok("2001:db8::2", 443, "2001:db8::2", 443);
	hp_ok(":5", 0, "", 5);
	hp_ok("1234", 0, "", 1234);
	hp_ok("1234", 443, "", 1234);
	hp_ok("10.0.0.1:80", 0, "10.0.0.1", 80);
}

static void test_hostport_bad(void **state)
{
	(void)state;
	hp_bad("", 443);
	hp_bad(NULL, 443);
	hp_bad("h", 0);          /* port mandatory */
	hp_bad("::1", 0);        /* bare IPv6, port mandatory */
	hp_bad("[::1]", 0);
	hp_bad("[::1", 443);     /* missing bracket */
	hp_bad("[::1]x", 443);
	hp_bad("[::1]:", 443);
	hp_bad("[]:22", 443);
	hp_bad("h:0", 443);
	hp_bad("h:65536", 443);
	hp_bad("h:", 443);
	hp_bad("h:x", 443);
	hp_bad(":0", 443);
	hp_bad(":", 443);
}

static void test_hostport_host_length(void **state)
{
	char text[HOSTPORT_MAX_HOST + 16];
	struct hostport hp;
	char err[256];
	(void)state;
	/* 255 characters fit. */
	memset(text, 'a', HOSTPORT_MAX_HOST - 1);
	strcpy(text + HOSTPORT_MAX_HOST - 1, ":80");
	assert_int_equal(hostport_parse(text, 0, &hp, err, sizeof(err)), 0);
	assert_int_equal(strlen(hp.host), HOSTPORT_MAX_HOST - 1);
	assert_int_equal(hp.port, 80);
	text[HOSTPORT_MAX_HOST - 1] = '\0';
	assert_int_equal(hostport_parse(text, 443, &hp, err, sizeof(err)), 0);
	assert_int_equal(strlen(hp.host), HOSTPORT_MAX_HOST - 1);
	assert_int_equal(hp.port, 443);
	/* 256 do not, with or without a port, bracketed or not. */
	memset(text, 'a', HOSTPORT_MAX_HOST);
	strcpy(text + HOSTPORT_MAX_HOST, ":80");
	err[0] = '\0';
	assert_int_equal(hostport_parse(text, 0, &hp, err, sizeof(err)), -1);
	assert_true(err[0] != '\0');
	text[HOSTPORT_MAX_HOST] = '\0';
	assert_int_equal(hostport_parse(text, 443, &hp, err, sizeof(err)), -1);
	text[0] = '[';
	strcpy(text + HOSTPORT_MAX_HOST + 1, "]:80"); /* 256 characters inside */
	memset(text + 1, 'a', HOSTPORT_MAX_HOST);
	assert_int_equal(hostport_parse(text, 0, &hp, err, sizeof(err)), -1);
}

/* ---- tokens -------------------------------------------------------------- */

static void test_client_token_valid(void **state)
{
	char buf[TUNNEL_MAX_CLIENT_TOKEN + 2];
	(void)state;
	memset(buf, 'a', sizeof(buf));
	assert_false(client_token_valid(buf, 31));
	assert_true(client_token_valid(buf, 32));
	assert_true(client_token_valid(buf, 128));
	assert_false(client_token_valid(buf, 129));
	assert_false(client_token_valid(buf, 0));
	memcpy(buf, "AZaz09-", 7);
	assert_true(client_token_valid(buf, 40));
	static const char bad[] = { '_', ' ', '.', '=', '+', '/', '\0', '\x80', '\xff', '~' };
	for (size_t i = 0; i < sizeof(bad); i++) {
		memset(buf, 'a', sizeof(buf));
		buf[17] = bad[i];
		if (client_token_valid(buf, 40))
			fail_msg("client token with byte 0x%02x accepted", (unsigned char)bad[i]);
	}
}

static void test_access_token_valid(void **state)
{
	char *buf = malloc(TUNNEL_MAX_ACCESS_TOKEN + 1);
	(void)state;
	assert_non_null(buf);
	memset(buf, 'x', TUNNEL_MAX_ACCESS_TOKEN + 1);
	assert_false(access_token_valid(buf, 0));
	assert_false(access_token_valid("", 0));
	assert_true(access_token_valid(buf, 1));
	assert_true(access_token_valid(buf, 4096));
	assert_false(access_token_valid(buf, 4097));
	assert_true(access_token_valid("!~AZaz09+/=._-", 14));
	static const char bad[] = { ' ', '\t', '\n', '\r', '\0', '\x7f', '\x80', '\xc3', '\xff', '\x01' };
	for (size_t i = 0; i < sizeof(bad); i++) {
		memset(buf, 'x', 64);
		buf[10] = bad[i];
		if (access_token_valid(buf, 64))
			fail_msg("access token with byte 0x%02x accepted", (unsigned char)bad[i]);
	}
	assert_false(access_token_valid("tok\xc3\xa9n", 6));
	free(buf);
}

static bool all_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static void test_client_token_generate(void **state)
{
	char a[65], b[128];
	char small[64];
	(void)state;
	memset(b, 'Z', sizeof(b));
	assert_int_equal(client_token_generate(a, sizeof(a)), 0);
	assert_int_equal(client_token_generate(b, sizeof(b)), 0);
	assert_int_equal(strlen(a), 64);
	assert_int_equal(strlen(b), 64);
	assert_true(all_lower_hex(a, 64));
	assert_true(all_lower_hex(b, 64));
	assert_string_not_equal(a, b);
	assert_true(client_token_valid(a, strlen(a)));
	assert_int_equal(b[65], 'Z'); /* nothing written past the NUL */
	memset(small, 'Q', sizeof(small));
	assert_int_equal(client_token_generate(small, sizeof(small)), -1);
	assert_int_equal(client_token_generate(small, 0), -1);
	for (size_t i = 0; i < sizeof(small); i++)
		assert_int_equal(small[i], 'Q');
}

static void test_token_hash(void **state)
{
	static const uint8_t abc[TOKEN_HASH_LEN] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde,
		0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
		0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
	};
	static const uint8_t empty[TOKEN_HASH_LEN] = {
		0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8,
		0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c,
		0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
	};
	uint8_t h[TOKEN_HASH_LEN];
	(void)state;
	assert_int_equal(token_hash("abc", 3, h), 0);
	assert_memory_equal(h, abc, TOKEN_HASH_LEN);
	/* Only len bytes count. */
	assert_int_equal(token_hash("abcdef", 3, h), 0);
	assert_memory_equal(h, abc, TOKEN_HASH_LEN);
	assert_int_equal(token_hash("", 0, h), 0);
	assert_memory_equal(h, empty, TOKEN_HASH_LEN);
}

static void test_token_hash_equal(void **state)
{
	uint8_t a[TOKEN_HASH_LEN], b[TOKEN_HASH_LEN];
	(void)state;
	assert_int_equal(token_hash("token-one", 9, a), 0);
	assert_int_equal(token_hash("token-one", 9, b), 0);
	assert_true(token_hash_equal(a, b));
	assert_int_equal(token_hash("token-two", 9, b), 0);
	assert_false(token_hash_equal(a, b));
	/* A difference in the first or last byte only. */
	memcpy(b, a, TOKEN_HASH_LEN);
	b[0] ^= 1;
	assert_false(token_hash_equal(a, b));
	memcpy(b, a, TOKEN_HASH_LEN);
	b[TOKEN_HASH_LEN - 1] ^= 0x80;
	assert_false(token_hash_equal(a, b));
}

static void test_secret_wipe(void **state)
{
	char s[] = "secret-token";
	(void)state;
	secret_wipe(s);
	for (size_t i = 0; i < sizeof(s); i++)
		assert_int_equal(s[i], '\0');
	secret_wipe(NULL); /* harmless */
}

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
		cmocka_unit_test(test_liveness_verdict),
		cmocka_unit_test(test_liveness_socket_options),
		cmocka_unit_test(test_port_parse),
		cmocka_unit_test(test_hostport_ok),
		cmocka_unit_test(test_hostport_bad),
		cmocka_unit_test(test_hostport_host_length),
		cmocka_unit_test(test_client_token_valid),
		cmocka_unit_test(test_access_token_valid),
		cmocka_unit_test(test_client_token_generate),
		cmocka_unit_test(test_token_hash),
		cmocka_unit_test(test_token_hash_equal),
		cmocka_unit_test(test_secret_wipe),
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
