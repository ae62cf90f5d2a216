/* Unit tests for the WebSocket / HTTP CONNECT client codec (proto/ws_codec.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/ws_codec.h"

/* ---- helpers ------------------------------------------------------------- */

static size_t count_substr(const char *hay, const char *needle)
{
	size_t n = 0, nl = strlen(needle);
	const char *p = hay;

	while ((p = strstr(p, needle)) != NULL) {
		n++;
		p += nl;
	}
	return n;
}

/* A small deterministic generator (fixed seed in each test). */
static uint32_t lcg_next(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

/* Writes one unmasked server frame (RSV bits clear). */
static size_t srv_frame(uint8_t *out, bool fin, unsigned op, const uint8_t *payload,
			uint64_t len)
{
	size_t n = 0;
	int shift;

	out[n++] = (uint8_t)((fin ? 0x80 : 0) | (op & 0x0F));
	if (len < 126) {
		out[n++] = (uint8_t)len;
	} else if (len <= 0xFFFF) {
		out[n++] = 126;
		out[n++] = (uint8_t)(len >> 8);
		out[n++] = (uint8_t)len;
	} else {
		out[n++] = 127;
		for (shift = 56; shift >= 0; shift -= 8)
			out[n++] = (uint8_t)(len >> shift);
	}
	if (payload != NULL && len > 0)
		memcpy(out + n, payload, (size_t)len);
	return n + (size_t)len;
}

/* ---- the opening handshake ----------------------------------------------- */

static void test_accept_rfc_example(void **state)
{
	char accept[WS_ACCEPT_LEN + 1];

	(void)state;
	memset(accept, 'x', sizeof(accept));
	assert_int_equal(ws_accept_for_key("dGhlIHNhbXBsZSBub25jZQ==", accept), 0);
	assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	/* A key longer than a real one is refused. */
	assert_int_equal(ws_accept_for_key("dGhlIHNhbXBsZSBub25jZQ==AAAA", accept), -1);
}

static void test_key_from_nonce(void **state)
{
	uint8_t nonce[WS_NONCE_LEN];
	char key[WS_KEY_LEN + 1];
	size_t i;

	(void)state;
	for (i = 0; i < WS_NONCE_LEN; i++)
		nonce[i] = (uint8_t)(i + 1);
	memset(key, 'x', sizeof(key));
	ws_key_from_nonce(nonce, key);
	assert_string_equal(key, "AQIDBAUGBwgJCgsMDQ4PEA==");
	assert_int_equal(strlen(key), WS_KEY_LEN);
}

static const struct ws_request base_request = {
	.host = "tunnel.example.com",
	.path = "/tunnel?local-proxy-mode=source",
	.subprotocol = "aws.iot.securetunneling-3.0",
	.key = "AQIDBAUGBwgJCgsMDQ4PEA==",
	.access_token = "AQGAAXiVzSmRL1VrYiGm",
	.client_token = "",
};

static void check_header_once(const char *req, const char *line)
{
	char name[128], full[512];
	const char *colon = strchr(line, ':');

	assert_non_null(colon);
	snprintf(name, sizeof(name), "\r\n%.*s:", (int)(colon - line), line);
	snprintf(full, sizeof(full), "\r\n%s\r\n", line);
	assert_int_equal(count_substr(req, name), 1);
	assert_int_equal(count_substr(req, full), 1);
}

static void test_request_build(void **state)
{
	char out[1024];
	struct ws_request r = base_request;
	size_t n;

	(void)state;
	n = ws_request_build(&r, out, sizeof(out));
	assert_true(n > 0);
	assert_int_equal(n, strlen(out));
	assert_int_equal(strncmp(out, "GET /tunnel?local-proxy-mode=source HTTP/1.1\r\n", 46), 0);
	assert_int_equal(count_substr(out, "GET "), 1);
	assert_int_equal(count_substr(out, "HTTP/1.1"), 1);
	check_header_once(out, "Host: tunnel.example.com");
	check_header_once(out, "Upgrade: websocket");
	check_header_once(out, "Connection: Upgrade");
	check_header_once(out, "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==");
	check_header_once(out, "Sec-WebSocket-Version: 13");
	check_header_once(out, "Sec-WebSocket-Protocol: aws.iot.securetunneling-3.0");
	check_header_once(out, "access-token: AQGAAXiVzSmRL1VrYiGm");
	assert_null(strstr(out, "client-token"));
	assert_true(n >= 4);
	assert_memory_equal(out + n - 4, "\r\n\r\n", 4);
	assert_int_equal(count_substr(out, "\r\n\r\n"), 1);

	r.client_token = "ct-123";
	n = ws_request_build(&r, out, sizeof(out));
	assert_true(n > 0);
	assert_int_equal(n, strlen(out));
	check_header_once(out, "client-token: ct-123");
	check_header_once(out, "access-token: AQGAAXiVzSmRL1VrYiGm");
	assert_memory_equal(out + n - 4, "\r\n\r\n", 4);
	assert_int_equal(count_substr(out, "\r\n\r\n"), 1);
}

static void test_request_build_cap(void **state)
{
	char out[1024], small[1024];
	struct ws_request r = base_request;
	size_t n;

	(void)state;
	r.client_token = "ct-123";
	n = ws_request_build(&r, out, sizeof(out));
	assert_true(n > 0);
	/* Exactly fits (with its NUL). */
	assert_int_equal(ws_request_build(&r, small, n + 1), n);
	assert_string_equal(small, out);
	/* One byte short. */
	assert_int_equal(ws_request_build(&r, small, n), 0);
	assert_int_equal(ws_request_build(&r, small, 1), 0);
}

static void test_request_build_crlf(void **state)
{
	char out[1024];
	const char *bad[] = { "a\rb", "a\nb", "\r\n", "x\r\nEvil: 1" };
	size_t f, b;

	(void)state;
	for (f = 0; f < 6; f++) {
		for (b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
			struct ws_request r = base_request;
			const char **field[] = { &r.host, &r.path, &r.subprotocol, &r.key,
						 &r.access_token, &r.client_token };

			r.client_token = "ct";
			*field[f] = bad[b];
			assert_int_equal(ws_request_build(&r, out, sizeof(out)), 0);
		}
	}
}

static void test_connect_build(void **state)
{
	char out[256];
	size_t n;
	const char *want = "CONNECT proxy.example.com:443 HTTP/1.1\r\n"
			   "Host: proxy.example.com:443\r\n\r\n";
	const char *want6 = "CONNECT [2001:db8::1]:8443 HTTP/1.1\r\n"
			    "Host: [2001:db8::1]:8443\r\n\r\n";

	(void)state;
	n = http_connect_build("proxy.example.com", 443, out, sizeof(out));
	assert_int_equal(n, strlen(want));
	assert_string_equal(out, want);

	n = http_connect_build("2001:db8::1", 8443, out, sizeof(out));
	assert_int_equal(n, strlen(want6));
	assert_string_equal(out, want6);

	/* Too small by one, and a line break. */
	assert_int_equal(http_connect_build("2001:db8::1", 8443, out, strlen(want6)), 0);
	assert_int_equal(http_connect_build("2001:db8::1", 8443, out, strlen(want6) + 1),
			 strlen(want6));
	assert_int_equal(http_connect_build("a\r\nb", 80, out, sizeof(out)), 0);
}

/* ---- response heads ---------------------------------------------------------- */

static void test_head_length(void **state)
{
	const char *head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
	char buf[256];
	size_t hl = strlen(head), i;

	(void)state;
	assert_int_equal(http_head_length((const uint8_t *)"", 0), 0);
	/* Every proper prefix is incomplete. */
	for (i = 0; i < hl; i++)
		assert_int_equal(http_head_length((const uint8_t *)head, i), 0);
	assert_int_equal(http_head_length((const uint8_t *)head, hl), hl);
	/* Trailing bytes (the first frame) after the head. */
	snprintf(buf, sizeof(buf), "%s\x82\x03" "abc\r\n\r\n", head);
	assert_int_equal(http_head_length((const uint8_t *)buf, strlen(buf)), hl);
	/* A lone LF LF is not the end of the head; CR LF CR alone neither. */
	assert_int_equal(http_head_length((const uint8_t *)"HTTP/1.1 200 OK\n\n", 17), 0);
	assert_int_equal(http_head_length((const uint8_t *)"HTTP/1.1 200 OK\r\n\r", 18), 0);
	assert_int_equal(http_head_length((const uint8_t *)"HTTP/1.1 200 OK\n\r\n", 18), 0);
	assert_int_equal(http_head_length((const uint8_t *)"HTTP/1.1 200 OK\r\n\n\n", 19), 0);
	/* The first blank line ends the head. */
	assert_int_equal(http_head_length((const uint8_t *)"A\r\n\r\nB\r\n\r\n", 10), 5);
}

static void test_head_status(void **state)
{
	const char *ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
	const char *forbidden = "HTTP/1.0 403 Forbidden";

	(void)state;
	assert_int_equal(http_head_status(ok, strlen(ok)), 101);
	assert_int_equal(http_head_status(forbidden, strlen(forbidden)), 403);
	assert_int_equal(http_head_status("HTTP/1.1 200\r\n\r\n", 16), 200);
	assert_int_equal(http_head_status("HTTP/1.1 200", 12), 200);
	assert_int_equal(http_head_status("HTTP/2 200\r\n\r\n", 14), -1);
	assert_int_equal(http_head_status("HTTP/2 200", 10), -1);
	assert_int_equal(http_head_status("garbage garbage garbage", 23), -1);
	assert_int_equal(http_head_status("HTTP/1.1 10", 11), -1);
	assert_int_equal(http_head_status("HTTP/1.1", 8), -1);
	assert_int_equal(http_head_status("", 0), -1);
	assert_int_equal(http_head_status("HTTP/1.1 1x1 Odd\r\n", 18), -1);
	assert_int_equal(http_head_status("HTTP/1.1 1010 Odd\r\n", 19), -1);
	assert_int_equal(http_head_status("HTTP/1.1  101 Odd\r\n", 19), -1);
	assert_int_equal(http_head_status("HTTP/1.1_101 Odd\r\n", 18), -1);
	assert_int_equal(http_head_status("HTTP/1.1 101_Odd\r\n", 18), -1);
	assert_int_equal(http_head_status("HTTPS1.1 101 Odd\r\n", 18), -1);
	/* len is honoured: the status is cut off. */
	assert_int_equal(http_head_status(ok, 11), -1);
}

static void test_head_header(void **state)
{
	const char *head = "HTTP/1.1 101 Switching Protocols\r\n"
			   "Upgrade-Insecure-Requests: 1\r\n"
			   "upgrade:   WebSocket \t\r\n"
			   "X-Empty:\r\n"
			   "X-Tight:v\r\n"
			   "Sec-WebSocket-Accept: abc=\r\n"
			   "\r\n";
	size_t len = strlen(head);
	const char *v = NULL;
	size_t vl = 0;

	(void)state;
	assert_true(http_head_header(head, len, "Upgrade", &v, &vl));
	assert_int_equal(vl, 9);
	assert_memory_equal(v, "WebSocket", 9);

	assert_true(http_head_header(head, len, "UPGRADE-insecure-REQUESTS", &v, &vl));
	assert_int_equal(vl, 1);
	assert_memory_equal(v, "1", 1);

	assert_true(http_head_header(head, len, "sec-websocket-accept", &v, &vl));
	assert_int_equal(vl, 4);
	assert_memory_equal(v, "abc=", 4);

	assert_true(http_head_header(head, len, "X-Tight", &v, &vl));
	assert_int_equal(vl, 1);
	assert_memory_equal(v, "v", 1);

	assert_true(http_head_header(head, len, "x-empty", &v, &vl));
	assert_int_equal(vl, 0);

	assert_false(http_head_header(head, len, "Connection", &v, &vl));
	/* A prefix of a header name is not that header. */
	assert_false(http_head_header(head, len, "Sec-WebSocket", &v, &vl));
	assert_false(http_head_header(head, len, "X", &v, &vl));
	/* The status line is not a header. */
	assert_false(http_head_header(head, len, "HTTP/1.1 101 Switching Protocols", &v, &vl));

	/* Only the longer header is present: "Upgrade" must not match it. */
	{
		const char *h2 = "HTTP/1.1 101 Switching Protocols\r\n"
				 "Upgrade-Insecure-Requests: 1\r\n\r\n";
		assert_false(http_head_header(h2, strlen(h2), "Upgrade", &v, &vl));
	}
	/* Headers beyond len are not seen. */
	{
		size_t cut = (size_t)(strstr(head, "Sec-WebSocket-Accept") - head);
		assert_false(http_head_header(head, cut, "Sec-WebSocket-Accept", &v, &vl));
	}
}

/* ---- the upgrade check --------------------------------------------------------- */

#define TEST_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define TEST_PROTO "aws.iot.securetunneling-3.0"

static enum ws_upgrade_result run_check(const char *head, int *status, char *err, size_t cap)
{
	memset(err, 0, cap);
	*status = -12345;
	return ws_upgrade_check(head, strlen(head), TEST_KEY, TEST_PROTO, status, err, cap);
}

static void test_upgrade_ok(void **state)
{
	char accept[WS_ACCEPT_LEN + 1], head[1024], err[128];
	int status;

	(void)state;
	assert_int_equal(ws_accept_for_key(TEST_KEY, accept), 0);

	snprintf(head, sizeof(head),
		 "HTTP/1.1 101 Switching Protocols\r\n"
		 "Upgrade: websocket\r\n"
		 "Connection: Upgrade\r\n"
		 "Sec-WebSocket-Accept: %s\r\n"
		 "Sec-WebSocket-Protocol: " TEST_PROTO "\r\n\r\n", accept);
	assert_int_equal(run_check(head, &status, err, sizeof(err)), WS_UPGRADE_OK);
	assert_int_equal(status, 101);

	/* Case-insensitive names and tokens, Connection as a list. */
	snprintf(head, sizeof(head),
		 "HTTP/1.1 101 Switching Protocols\r\n"
		 "upgrade: WebSocket\r\n"
		 "connection: keep-alive, Upgrade\r\n"
		 "sec-websocket-accept:%s\r\n"
		 "sec-websocket-protocol: " TEST_PROTO "\r\n\r\n", accept);
	assert_int_equal(run_check(head, &status, err, sizeof(err)), WS_UPGRADE_OK);
	assert_int_equal(status, 101);
}

static void test_upgrade_refused(void **state)
{
	char err[128];
	int status;

	(void)state;
	assert_int_equal(run_check("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", &status,
				   err, sizeof(err)),
			 WS_UPGRADE_REFUSED);
	assert_int_equal(status, 403);
	assert_int_equal(run_check("HTTP/1.1 200 OK\r\n\r\n", &status, err, sizeof(err)),
			 WS_UPGRADE_REFUSED);
	assert_int_equal(status, 200);

	/* Not HTTP at all. */
	assert_int_equal(run_check("SSH-2.0-OpenSSH\r\n\r\n", &status, err, sizeof(err)),
			 WS_UPGRADE_INVALID);
	assert_int_equal(status, -1);
	assert_true(err[0] != '\0');
}

static void check_invalid(const char *upgrade, const char *connection, const char *accept,
			  const char *proto, const char *extra)
{
	char head[1024], err[128];
	int status;
	size_t n = 0;

	n += (size_t)snprintf(head + n, sizeof(head) - n, "HTTP/1.1 101 Switching Protocols\r\n");
	if (upgrade)
		n += (size_t)snprintf(head + n, sizeof(head) - n, "Upgrade: %s\r\n", upgrade);
	if (connection)
		n += (size_t)snprintf(head + n, sizeof(head) - n, "Connection: %s\r\n", connection);
	if (accept)
		n += (size_t)snprintf(head + n, sizeof(head) - n, "Sec-WebSocket-Accept: %s\r\n",
				      accept);
	if (proto)
		n += (size_t)snprintf(head + n, sizeof(head) - n, "Sec-WebSocket-Protocol: %s\r\n",
				      proto);
	if (extra)
		n += (size_t)snprintf(head + n, sizeof(head) - n, "%s\r\n", extra);
	snprintf(head + n, sizeof(head) - n, "\r\n");
	assert_int_equal(run_check(head, &status, err, sizeof(err)), WS_UPGRADE_INVALID);
	assert_int_equal(status, 101);
	assert_true(err[0] != '\0');
}

static void test_upgrade_invalid(void **state)
{
	char accept[WS_ACCEPT_LEN + 1], wrong[WS_ACCEPT_LEN + 1];

	(void)state;
	assert_int_equal(ws_accept_for_key(TEST_KEY, accept), 0);
	assert_int_equal(ws_accept_for_key("AQIDBAUGBwgJCgsMDQ4PEA==", wrong), 0);
	assert_string_not_equal(accept, wrong);

	/* Sanity: the builder gives OK with every field right. */
	{
		char head[1024], err[128];
		int status;

		snprintf(head, sizeof(head),
			 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
			 "Sec-WebSocket-Protocol: %s\r\n\r\n", accept, TEST_PROTO);
		assert_int_equal(run_check(head, &status, err, sizeof(err)), WS_UPGRADE_OK);
	}
	/* Wrong accept, missing accept, accept in another case. */
	check_invalid("websocket", "Upgrade", wrong, TEST_PROTO, NULL);
	check_invalid("websocket", "Upgrade", NULL, TEST_PROTO, NULL);
	{
		char lower[WS_ACCEPT_LEN + 1];
		size_t i;

		for (i = 0; accept[i]; i++)
			lower[i] = (char)((accept[i] >= 'A' && accept[i] <= 'Z') ? accept[i] + 32
										  : accept[i]);
		lower[i] = '\0';
		if (strcmp(lower, accept) != 0)
			check_invalid("websocket", "Upgrade", lower, TEST_PROTO, NULL);
	}
	/* Missing or wrong Upgrade; only Upgrade-Insecure-Requests present. */
	check_invalid(NULL, "Upgrade", accept, TEST_PROTO, NULL);
	check_invalid("h2c", "Upgrade", accept, TEST_PROTO, NULL);
	check_invalid(NULL, "Upgrade", accept, TEST_PROTO, "Upgrade-Insecure-Requests: websocket");
	/* Missing Connection, or without the upgrade token. */
	check_invalid("websocket", NULL, accept, TEST_PROTO, NULL);
	check_invalid("websocket", "keep-alive", accept, TEST_PROTO, NULL);
	check_invalid("websocket", "keep-alive, Upgraded", accept, TEST_PROTO, NULL);
	/* Wrong or missing subprotocol. */
	check_invalid("websocket", "Upgrade", accept, "aws.iot.securetunneling-2.0", NULL);
	check_invalid("websocket", "Upgrade", accept, NULL, NULL);
	check_invalid("websocket", "Upgrade", accept, TEST_PROTO "x", NULL);
	/* An extension we did not offer. */
	check_invalid("websocket", "Upgrade", accept, TEST_PROTO,
		      "Sec-WebSocket-Extensions: permessage-deflate");
}

/* ---- frames we send ---------------------------------------------------------- */

static void test_frame_header(void **state)
{
	static const uint8_t mask[4] = { 0xA1, 0xB2, 0xC3, 0xD4 };
	static const struct {
		uint64_t len;
		size_t hdr;
	} cases[] = {
		{ 0, 6 }, { 1, 6 }, { 125, 6 }, { 126, 8 }, { 65535, 8 },
		{ 65536, 14 }, { 131076, 14 }, { 0x0123456789ABCDEFull, 14 },
	};
	uint8_t out[WS_MAX_HEADER];
	size_t c, n, i;

	(void)state;
	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		uint64_t len = cases[c].len;

		memset(out, 0x5A, sizeof(out));
		n = ws_frame_header(out, WS_OP_BINARY, len, mask);
		assert_int_equal(n, cases[c].hdr);
		assert_int_equal(out[0], 0x82);
		assert_int_equal(out[1] & 0x80, 0x80);
		if (n == 6) {
			assert_int_equal(out[1] & 0x7F, len);
		} else if (n == 8) {
			assert_int_equal(out[1] & 0x7F, 126);
			assert_int_equal(out[2], (uint8_t)(len >> 8));
			assert_int_equal(out[3], (uint8_t)len);
		} else {
			assert_int_equal(out[1] & 0x7F, 127);
			for (i = 0; i < 8; i++)
				assert_int_equal(out[2 + i], (uint8_t)(len >> (56 - 8 * i)));
		}
		assert_memory_equal(out + n - 4, mask, 4);
	}

	/* Explicit bytes for two lengths. */
	n = ws_frame_header(out, WS_OP_BINARY, 65535, mask);
	assert_int_equal(n, 8);
	{
		static const uint8_t want[8] = { 0x82, 0xFE, 0xFF, 0xFF, 0xA1, 0xB2, 0xC3, 0xD4 };
		assert_memory_equal(out, want, 8);
	}
	n = ws_frame_header(out, WS_OP_BINARY, 131076, mask);
	assert_int_equal(n, 14);
	{
		static const uint8_t want[14] = { 0x82, 0xFF, 0, 0, 0, 0, 0, 0x02, 0x00, 0x04,
						  0xA1, 0xB2, 0xC3, 0xD4 };
		assert_memory_equal(out, want, 14);
	}

	/* Other opcodes. */
	n = ws_frame_header(out, WS_OP_CLOSE, 2, mask);
	assert_int_equal(n, 6);
	assert_int_equal(out[0], 0x88);
	assert_int_equal(out[1], 0x82);
	n = ws_frame_header(out, WS_OP_PONG, 0, mask);
	assert_int_equal(out[0], 0x8A);
	assert_int_equal(out[1], 0x80);
	n = ws_frame_header(out, WS_OP_TEXT, 125, mask);
	assert_int_equal(out[0], 0x81);
	assert_int_equal(out[1], 0xFD);
}

static void test_mask_copy(void **state)
{
	static const uint8_t mask[4] = { 0x12, 0x34, 0xAB, 0xF0 };
	uint8_t src_buf[96], dst_buf[96], ref[96], back[96], inplace[96];
	size_t len, so, d, i;
	uint32_t seed = 42;

	(void)state;
	for (len = 0; len <= 70; len++) {
		for (so = 0; so <= 7; so++) {
			for (d = 0; d <= 7; d++) {
				uint8_t *src = src_buf + so, *dst = dst_buf + d;

				for (i = 0; i < sizeof(src_buf); i++)
					src_buf[i] = (uint8_t)lcg_next(&seed);
				memset(dst_buf, 0xEE, sizeof(dst_buf));
				for (i = 0; i < len; i++)
					ref[i] = src[i] ^ mask[i % 4];

				ws_mask_copy(dst, src, len, mask);
				assert_memory_equal(dst, ref, len);
				/* Nothing written outside dst[0..len). */
				for (i = 0; i < d; i++)
					assert_int_equal(dst_buf[i], 0xEE);
				for (i = d + len; i < sizeof(dst_buf); i++)
					assert_int_equal(dst_buf[i], 0xEE);

				/* Twice restores. */
				memset(back, 0, sizeof(back));
				ws_mask_copy(back + d, dst, len, mask);
				assert_memory_equal(back + d, src, len);

				/* In place, at offset so. */
				memcpy(inplace, src_buf, sizeof(inplace));
				ws_mask_copy(inplace + so, inplace + so, len, mask);
				assert_memory_equal(inplace + so, ref, len);
				assert_memory_equal(inplace, src_buf, so);
				assert_memory_equal(inplace + so + len, src_buf + so + len,
						    sizeof(inplace) - so - len);
				ws_mask_copy(inplace + so, inplace + so, len, mask);
				assert_memory_equal(inplace, src_buf, sizeof(inplace));
			}
		}
	}
}

/* ---- the server-frame parser ----------------------------------------------- */

static void assert_none(struct ws_parser *p, const uint8_t **in, size_t *len)
{
	struct ws_event ev = ws_parser_next(p, in, len);

	assert_int_equal(ev.type, WS_EV_NONE);
}

static void test_parser_whole_frame(void **state)
{
	uint8_t buf[64], payload[10];
	struct ws_parser p;
	struct ws_event ev;
	const uint8_t *in = buf;
	size_t len, i;

	(void)state;
	for (i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(0xC0 + i);
	len = srv_frame(buf, true, WS_OP_BINARY, payload, sizeof(payload));
	ws_parser_init(&p);
	ev = ws_parser_next(&p, &in, &len);
	assert_int_equal(ev.type, WS_EV_DATA);
	assert_int_equal(ev.opcode, WS_OP_BINARY);
	assert_true(ev.first);
	assert_true(ev.last);
	assert_ptr_equal(ev.data, buf + 2);
	assert_int_equal(ev.len, sizeof(payload));
	assert_memory_equal(ev.data, payload, sizeof(payload));
	assert_int_equal(len, 0);
	assert_ptr_equal(in, buf + 12);
	assert_none(&p, &in, &len);

	/* A text message, then two messages in one input. */
	in = buf;
	len = srv_frame(buf, true, WS_OP_TEXT, (const uint8_t *)"hi", 2);
	len += srv_frame(buf + len, true, WS_OP_BINARY, (const uint8_t *)"xyz", 3);
	ev = ws_parser_next(&p, &in, &len);
	assert_int_equal(ev.type, WS_EV_DATA);
	assert_int_equal(ev.opcode, WS_OP_TEXT);
	assert_true(ev.first && ev.last);
	assert_int_equal(ev.len, 2);
	assert_memory_equal(ev.data, "hi", 2);
	ev = ws_parser_next(&p, &in, &len);
	assert_int_equal(ev.type, WS_EV_DATA);
	assert_int_equal(ev.opcode, WS_OP_BINARY);
	assert_true(ev.first && ev.last);
	assert_ptr_equal(ev.data, buf + 6);
	assert_int_equal(ev.len, 3);
	assert_memory_equal(ev.data, "xyz", 3);
	assert_none(&p, &in, &len);
}

/* Feeds data in chunks (sizes from the generator, 1..max_chunk; 1 = byte
 * at a time) and reassembles a single message. Checks first/last flags. */
static void feed_and_reassemble(const uint8_t *frames, size_t total, uint8_t *out,
				size_t *out_len, enum ws_opcode want_op, size_t max_chunk,
				uint32_t seed)
{
	struct ws_parser p;
	size_t off = 0, got = 0, events = 0;
	bool seen_last = false;

	ws_parser_init(&p);
	while (off < total) {
		size_t chunk = max_chunk == 1 ? 1 : 1 + lcg_next(&seed) % max_chunk;
		const uint8_t *in;
		size_t len;

		if (chunk > total - off)
			chunk = total - off;
		in = frames + off;
		len = chunk;
		for (;;) {
			const uint8_t *before = in;
			struct ws_event ev = ws_parser_next(&p, &in, &len);

			if (ev.type == WS_EV_NONE) {
				assert_int_equal(len, 0);
				break;
			}
			assert_int_equal(ev.type, WS_EV_DATA);
			assert_int_equal(ev.opcode, want_op);
			assert_false(seen_last);
			assert_int_equal(ev.first, events == 0);
			/* Zero copy: the data lies in this chunk. */
			assert_true(ev.data >= before && ev.data + ev.len <= frames + off + chunk);
			memcpy(out + got, ev.data, ev.len);
			got += ev.len;
			events++;
			if (ev.last) {
				seen_last = true;
				assert_int_equal(off + chunk, total);
				assert_int_equal(len, 0);
			}
		}
		off += chunk;
	}
	assert_true(seen_last);
	*out_len = got;
}

static void test_parser_byte_at_a_time(void **state)
{
	uint8_t buf[300], payload[200], out[300];
	size_t n, got, i;

	(void)state;
	for (i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + 3);
	/* 200 bytes: the 16-bit length form. */
	n = srv_frame(buf, true, WS_OP_BINARY, payload, sizeof(payload));
	assert_int_equal(n, 4 + sizeof(payload));
	feed_and_reassemble(buf, n, out, &got, WS_OP_BINARY, 1, 0);
	assert_int_equal(got, sizeof(payload));
	assert_memory_equal(out, payload, sizeof(payload));

	/* 10 bytes: the 7-bit form, text. */
	n = srv_frame(buf, true, WS_OP_TEXT, payload, 10);
	feed_and_reassemble(buf, n, out, &got, WS_OP_TEXT, 1, 0);
	assert_int_equal(got, 10);
	assert_memory_equal(out, payload, 10);
}

static void test_parser_big_random_chunks(void **state)
{
	const size_t plen = 70000;
	uint8_t *payload = malloc(plen), *buf = malloc(plen + 20), *out = malloc(plen);
	size_t n, got, i;
	uint32_t seed = 0x1234567;

	(void)state;
	assert_non_null(payload);
	assert_non_null(buf);
	assert_non_null(out);
	for (i = 0; i < plen; i++)
		payload[i] = (uint8_t)lcg_next(&seed);
	n = srv_frame(buf, true, WS_OP_BINARY, payload, plen);
	assert_int_equal(n, 10 + plen);
	assert_int_equal(buf[1], 127);

	feed_and_reassemble(buf, n, out, &got, WS_OP_BINARY, 5000, 20240601);
	assert_int_equal(got, plen);
	assert_memory_equal(out, payload, plen);

	/* Small chunks, so the 8-byte length is split. */
	memset(out, 0, plen);
	feed_and_reassemble(buf, n, out, &got, WS_OP_BINARY, 7, 99);
	assert_int_equal(got, plen);
	assert_memory_equal(out, payload, plen);

	/* Whole. */
	memset(out, 0, plen);
	feed_and_reassemble(buf, n, out, &got, WS_OP_BINARY, n, 1);
	assert_int_equal(got, plen);
	assert_memory_equal(out, payload, plen);
	free(payload);
	free(buf);
	free(out);
}

/* BINARY fin=0 "abc", CONT fin=0 "de", PING "hi", CONT fin=1 "fgh". */
static size_t fragmented_with_ping(uint8_t *buf)
{
	size_t n = 0;

	n += srv_frame(buf + n, false, WS_OP_BINARY, (const uint8_t *)"abc", 3);
	n += srv_frame(buf + n, false, WS_OP_CONTINUATION, (const uint8_t *)"de", 2);
	n += srv_frame(buf + n, true, WS_OP_PING, (const uint8_t *)"hi", 2);
	n += srv_frame(buf + n, true, WS_OP_CONTINUATION, (const uint8_t *)"fgh", 3);
	return n;
}

static void test_parser_fragmented_whole(void **state)
{
	uint8_t buf[64];
	struct ws_parser p;
	struct ws_event ev;
	const uint8_t *in = buf;
	size_t len = fragmented_with_ping(buf);

	(void)state;
	ws_parser_init(&p);
	ev = ws_parser_next(&p, &in, &len);
	assert_int_equal(ev.type, WS_EV_DATA);
	assert_int_equal(ev.opcode, WS_OP_BINARY);
	assert_true(ev.first);
	assert_false(ev.last);
	assert_int_equal(ev.len, 3);
	assert_memory_equal(ev.data, "abc", 3);

	ev = ws_parser_next(&p, &in, &len);
	assert_int_equal(ev.type, WS_EV_DATA);
	assert_int_equal(ev.opcode, WS_OP_BINARY);
	assert_false(ev.first);
	assert_false(ev.last);
	assert_int_equal(ev.len, 2);
	assert_memory_equal(ev.data, "de", 2);

	ev = ws_parser_next(&p, &in, &len);
	assert_int_equal(ev.type, WS_EV_CONTROL);
	assert_int_equal(ev.opcode, WS_OP_PING);
	assert_int_equal(ev.len, 2);
	assert_memory_equal(ev.data, "hi", 2);

	ev = ws_parser_next(&p, &in, &len);
	assert_int_equal(ev.type, WS_EV_DATA);
	assert_int_equal(ev.opcode, WS_OP_BINARY);
	assert_false(ev.first);
	assert_true(ev.last);
	assert_int_equal(ev.len, 3);
	assert_memory_equal(ev.data, "fgh", 3);

	assert_none(&p, &in, &len);
	assert_int_equal(len, 0);

	/* A new message can follow. */
	in = buf;
	len = srv_frame(buf, true, WS_OP_BINARY, (const uint8_t *)"z", 1);
	ev = ws_parser_next(&p, &in, &len);
	assert_int_equal(ev.type, WS_EV_DATA);
	assert_true(ev.first && ev.last);
}

static void test_parser_fragmented_bytes(void **state)
{
	uint8_t buf[64], data[16];
	struct ws_parser p;
	size_t total = fragmented_with_ping(buf), off, got = 0, firsts = 0, lasts = 0, pings = 0;

	(void)state;
	ws_parser_init(&p);
	for (off = 0; off < total; off++) {
		const uint8_t *in = buf + off;
		size_t len = 1;
		struct ws_event ev;

		while ((ev = ws_parser_next(&p, &in, &len)).type != WS_EV_NONE) {
			if (ev.type == WS_EV_CONTROL) {
				assert_int_equal(ev.opcode, WS_OP_PING);
				assert_int_equal(ev.len, 2);
				assert_memory_equal(ev.data, "hi", 2);
				/* The ping comes between "de" and "fgh". */
				assert_int_equal(got, 5);
				pings++;
				continue;
			}
			assert_int_equal(ev.type, WS_EV_DATA);
			assert_int_equal(ev.opcode, WS_OP_BINARY);
			assert_int_equal(lasts, 0);
			if (ev.first) {
				assert_int_equal(got, 0);
				firsts++;
			}
			if (ev.last) {
				lasts++;
				assert_int_equal(off, total - 1);
			}
			assert_true(got + ev.len <= sizeof(data));
			memcpy(data + got, ev.data, ev.len);
			got += ev.len;
		}
		assert_int_equal(len, 0);
	}
	assert_int_equal(pings, 1);
	assert_int_equal(firsts, 1);
	assert_int_equal(lasts, 1);
	assert_int_equal(got, 8);
	assert_memory_equal(data, "abcdefgh", 8);
}

static void test_parser_close_frame(void **state)
{
	static const uint8_t payload[5] = { 0x03, 0xE8, 'b', 'y', 'e' };
	uint8_t buf[16];
	struct ws_parser p;
	struct ws_event ev;
	const uint8_t *in = buf;
	size_t len = srv_frame(buf, true, WS_OP_CLOSE, payload, 5), total = len, off;

	(void)state;
	ws_parser_init(&p);
	ev = ws_parser_next(&p, &in, &len);
	assert_int_equal(ev.type, WS_EV_CONTROL);
	assert_int_equal(ev.opcode, WS_OP_CLOSE);
	assert_int_equal(ev.len, 5);
	assert_memory_equal(ev.data, payload, 5);
	assert_int_equal((ev.data[0] << 8) | ev.data[1], 1000);
	assert_int_equal(len, 0);
	assert_none(&p, &in, &len);

	/* Byte at a time: one CONTROL event, after the last byte. */
	ws_parser_init(&p);
	for (off = 0; off < total; off++) {
		in = buf + off;
		len = 1;
		ev = ws_parser_next(&p, &in, &len);
		if (off + 1 < total) {
			assert_int_equal(ev.type, WS_EV_NONE);
		} else {
			assert_int_equal(ev.type, WS_EV_CONTROL);
			assert_int_equal(ev.opcode, WS_OP_CLOSE);
			assert_int_equal(ev.len, 5);
			assert_memory_equal(ev.data, payload, 5);
		}
		assert_int_equal(len, 0);
	}

	/* An empty pong and a 125-byte ping. */
	{
		uint8_t big[WS_MAX_CONTROL], fb[WS_MAX_CONTROL + 8];
		size_t i;

		for (i = 0; i < sizeof(big); i++)
			big[i] = (uint8_t)(255 - i);
		len = srv_frame(fb, true, WS_OP_PONG, NULL, 0);
		len += srv_frame(fb + len, true, WS_OP_PING, big, sizeof(big));
		in = fb;
		ws_parser_init(&p);
		ev = ws_parser_next(&p, &in, &len);
		assert_int_equal(ev.type, WS_EV_CONTROL);
		assert_int_equal(ev.opcode, WS_OP_PONG);
		assert_int_equal(ev.len, 0);
		ev = ws_parser_next(&p, &in, &len);
		assert_int_equal(ev.type, WS_EV_CONTROL);
		assert_int_equal(ev.opcode, WS_OP_PING);
		assert_int_equal(ev.len, sizeof(big));
		assert_memory_equal(ev.data, big, sizeof(big));
		assert_none(&p, &in, &len);
	}

	/* Two pings in a row: each carries only its own payload. */
	{
		uint8_t fb[32];

		len = srv_frame(fb, true, WS_OP_PING, (const uint8_t *)"one", 3);
		len += srv_frame(fb + len, true, WS_OP_PING, (const uint8_t *)"two!", 4);
		in = fb;
		ws_parser_init(&p);
		ev = ws_parser_next(&p, &in, &len);
		assert_int_equal(ev.type, WS_EV_CONTROL);
		assert_int_equal(ev.len, 3);
		assert_memory_equal(ev.data, "one", 3);
		ev = ws_parser_next(&p, &in, &len);
		assert_int_equal(ev.type, WS_EV_CONTROL);
		assert_int_equal(ev.opcode, WS_OP_PING);
		assert_int_equal(ev.len, 4);
		assert_memory_equal(ev.data, "two!", 4);
		assert_none(&p, &in, &len);
	}
}

static void test_parser_empty_message(void **state)
{
	uint8_t buf[8];
	struct ws_parser p;
	struct ws_event ev;
	const uint8_t *in = buf;
	size_t len = srv_frame(buf, true, WS_OP_BINARY, NULL, 0);

	(void)state;
	assert_int_equal(len, 2);
	ws_parser_init(&p);
	ev = ws_parser_next(&p, &in, &len);
	assert_int_equal(ev.type, WS_EV_DATA);
	assert_int_equal(ev.opcode, WS_OP_BINARY);
	assert_true(ev.first);
	assert_true(ev.last);
	assert_int_equal(ev.len, 0);
	assert_int_equal(len, 0);
	assert_none(&p, &in, &len);

	/* Fed a byte at a time: still exactly one event. */
	ws_parser_init(&p);
	in = buf;
	len = 1;
	assert_none(&p, &in, &len);
	assert_int_equal(len, 0);
	len = 1;
	ev = ws_parser_next(&p, &in, &len);
	assert_int_equal(ev.type, WS_EV_DATA);
	assert_true(ev.first && ev.last);
	assert_int_equal(ev.len, 0);
	assert_none(&p, &in, &len);
}

/* Feeds input whole, then byte at a time; either way, after any DATA events
 * listed as allowed, the parser must report ERROR 1002 and keep doing so. */
static void expect_error(const uint8_t *frames, size_t total, size_t data_events_before)
{
	int pass;

	for (pass = 0; pass < 2; pass++) {
		struct ws_parser p;
		struct ws_event ev;
		size_t off = 0, data_events = 0;
		bool errored = false;

		ws_parser_init(&p);
		while (off < total && !errored) {
			const uint8_t *in = frames + off;
			size_t chunk = pass == 0 ? total : 1, len = chunk;

			while ((ev = ws_parser_next(&p, &in, &len)).type != WS_EV_NONE) {
				if (ev.type == WS_EV_ERROR) {
					errored = true;
					break;
				}
				assert_int_equal(ev.type, WS_EV_DATA);
				data_events++;
			}
			off += chunk;
		}
		assert_true(errored);
		assert_int_equal(ev.close_code, WS_CLOSE_PROTOCOL_ERROR);
		assert_non_null(ev.error);
		if (pass == 0)
			assert_int_equal(data_events, data_events_before);
		/* Every later call repeats the error, with or without input. */
		{
			static const uint8_t good[3] = { 0x82, 0x01, 'x' };
			const uint8_t *in = good;
			size_t len = sizeof(good);
			const char *why = ev.error;
			int k;

			for (k = 0; k < 3; k++) {
				ev = ws_parser_next(&p, &in, &len);
				assert_int_equal(ev.type, WS_EV_ERROR);
				assert_int_equal(ev.close_code, WS_CLOSE_PROTOCOL_ERROR);
				assert_non_null(ev.error);
				assert_string_equal(ev.error, why);
			}
			len = 0;
			ev = ws_parser_next(&p, &in, &len);
			assert_int_equal(ev.type, WS_EV_ERROR);
			assert_int_equal(ev.close_code, WS_CLOSE_PROTOCOL_ERROR);
		}
	}
}

static void test_parser_errors(void **state)
{
	(void)state;
	{ /* masked server frame */
		static const uint8_t f[] = { 0x82, 0x81, 1, 2, 3, 4, 'a' ^ 1 };
		expect_error(f, sizeof(f), 0);
	}
	{ /* RSV1, RSV2, RSV3 */
		static const uint8_t f1[] = { 0xC2, 0x01, 'a' };
		static const uint8_t f2[] = { 0xA2, 0x01, 'a' };
		static const uint8_t f3[] = { 0x92, 0x01, 'a' };
		expect_error(f1, sizeof(f1), 0);
		expect_error(f2, sizeof(f2), 0);
		expect_error(f3, sizeof(f3), 0);
	}
	{ /* unknown opcodes */
		static const uint8_t f3[] = { 0x83, 0x00 };
		static const uint8_t fb[] = { 0x8B, 0x00 };
		expect_error(f3, sizeof(f3), 0);
		expect_error(fb, sizeof(fb), 0);
	}
	{ /* control frame with fin=0 */
		static const uint8_t f[] = { 0x09, 0x01, 'p' };
		expect_error(f, sizeof(f), 0);
	}
	{ /* ping with a 126-byte (16-bit) length */
		uint8_t f[4 + 126];
		memset(f, 'p', sizeof(f));
		f[0] = 0x89;
		f[1] = 126;
		f[2] = 0;
		f[3] = 126;
		expect_error(f, sizeof(f), 0);
	}
	{ /* continuation with no open message */
		static const uint8_t f[] = { 0x80, 0x01, 'c' };
		expect_error(f, sizeof(f), 0);
	}
	{ /* continuation after a message has ended */
		static const uint8_t f[] = { 0x82, 0x01, 'a', 0x80, 0x01, 'c' };
		expect_error(f, sizeof(f), 1);
	}
	{ /* a new BINARY (and TEXT) while a fragmented message is open */
		static const uint8_t fb[] = { 0x02, 0x01, 'a', 0x82, 0x01, 'b' };
		static const uint8_t ft[] = { 0x02, 0x01, 'a', 0x81, 0x01, 'b' };
		expect_error(fb, sizeof(fb), 1);
		expect_error(ft, sizeof(ft), 1);
	}
	{ /* a 64-bit length with its top bit set */
		static const uint8_t f[] = { 0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0x01, 'a' };
		expect_error(f, sizeof(f), 0);
	}
}

static void test_close_code_valid(void **state)
{
	(void)state;
	static const int ok[] = { 1000, 1001, 1002, 1003, 1007, 1008, 1011, 1014, 3000, 4000, 4999 };
	static const int bad[] = { -1, 0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535 };
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_true(ws_close_code_valid(ok[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(ws_close_code_valid(bad[i]));
}

/* ---- the server's side: clients' masked frames ------------------------- */

/* A client frame (masked with mask) of payload into out; returns its length. */
static size_t client_frame(uint8_t *out, enum ws_opcode op, bool fin, const uint8_t *payload,
			   size_t len, const uint8_t mask[4])
{
	size_t n = ws_frame_header(out, op, len, mask);
	if (!fin)
		out[0] &= 0x7F;
	ws_mask_copy(out + n, payload, len, mask);
	return n + len;
}

static void test_server_frame_header(void **state)
{
	uint8_t out[WS_MAX_HEADER];
	(void)state;
	assert_int_equal(ws_frame_header(out, WS_OP_BINARY, 125, NULL), 2);
	assert_int_equal(out[0], 0x82);
	assert_int_equal(out[1], 125);
	assert_int_equal(ws_frame_header(out, WS_OP_PONG, 65535, NULL), 4);
	assert_int_equal(out[1], 126);
	assert_int_equal(ws_frame_header(out, WS_OP_BINARY, 131076, NULL), 10);
	static const uint8_t want[10] = { 0x82, 0x7F, 0, 0, 0, 0, 0, 0x02, 0x00, 0x04 };
	assert_memory_equal(out, want, 10);
}

/* Two fragments of a binary message, a ping between them and a 70,000-byte
 * message, fed in chunks of every size from 1 to 9 and in one piece: the
 * parser hands back the payload as sent, whatever the cut. */
static void test_server_unmasks_any_cut(void **state)
{
	static const uint8_t mask1[4] = { 0x3C, 0xA5, 0x01, 0xFE }, mask2[4] = { 0x77, 0x00, 0x9B, 0x42 };
	static const uint8_t ping[5] = { 'h', 'e', 'l', 'l', 'o' };
	enum { BIG = 70000 };
	uint8_t *payload = malloc(BIG), *wire = malloc(BIG + 2000), *got = malloc(BIG + 2000);
	assert_non_null(payload);
	assert_non_null(wire);
	assert_non_null(got);
	(void)state;
	for (size_t i = 0; i < BIG; i++)
		payload[i] = (uint8_t)(i * 7 + (i >> 9));
	size_t n = 0;
	n += client_frame(wire + n, WS_OP_BINARY, false, payload, 1001, mask1);
	n += client_frame(wire + n, WS_OP_PING, true, ping, sizeof(ping), mask2);
	n += client_frame(wire + n, WS_OP_CONTINUATION, true, payload + 1001, 3, mask2);
	n += client_frame(wire + n, WS_OP_BINARY, true, payload, BIG, mask1);
	uint8_t *copy = malloc(n);
	assert_non_null(copy);
	for (size_t chunk = 1; chunk <= 10; chunk++) {
		size_t step = chunk == 10 ? n : chunk;
		memcpy(copy, wire, n);
		struct ws_parser p;
		ws_parser_init_server(&p);
		size_t have = 0, messages = 0, pings = 0;
		for (size_t off = 0; off < n; off += step) {
			uint8_t *in = copy + off;
			size_t len = n - off < step ? n - off : step;
			struct ws_event ev;
			while ((ev = ws_parser_next_unmask(&p, &in, &len)).type != WS_EV_NONE) {
				assert_int_not_equal(ev.type, WS_EV_ERROR);
				if (ev.type == WS_EV_CONTROL) {
					assert_int_equal(ev.opcode, WS_OP_PING);
					assert_int_equal(ev.len, sizeof(ping));
					assert_memory_equal(ev.data, ping, sizeof(ping));
					pings++;
					continue;
				}
				assert_int_equal(ev.opcode, WS_OP_BINARY);
				if (ev.first)
					have = 0;
				memcpy(got + have, ev.data, ev.len);
				have += ev.len;
				if (!ev.last)
					continue;
				if (messages++ == 0) {
					assert_int_equal(have, 1004);
				} else {
					assert_int_equal(have, BIG);
				}
				assert_memory_equal(got, payload, have);
			}
		}
		assert_int_equal(messages, 2);
		assert_int_equal(pings, 1);
	}
	free(copy);
	free(payload);
	free(wire);
	free(got);
}

static void test_server_refuses_unmasked(void **state)
{
	uint8_t frame[16];
	(void)state;
	size_t n = ws_frame_header(frame, WS_OP_BINARY, 3, NULL);
	memcpy(frame + n, "abc", 3);
	struct ws_parser p;
	ws_parser_init_server(&p);
	uint8_t *in = frame;
	size_t len = n + 3;
	struct ws_event ev = ws_parser_next_unmask(&p, &in, &len);
	assert_int_equal(ev.type, WS_EV_ERROR);
	assert_int_equal(ev.close_code, WS_CLOSE_PROTOCOL_ERROR);
	assert_string_equal(ev.error, "the client sent an unmasked frame");

	/* And the client's parser still refuses a masked frame. */
	static const uint8_t mask[4] = { 1, 2, 3, 4 };
	n = client_frame(frame, WS_OP_BINARY, true, (const uint8_t *)"abc", 3, mask);
	ws_parser_init(&p);
	const uint8_t *cin = frame;
	len = n;
	ev = ws_parser_next(&p, &cin, &len);
	assert_int_equal(ev.type, WS_EV_ERROR);
	assert_string_equal(ev.error, "the server masked a frame");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_close_code_valid),
		cmocka_unit_test(test_accept_rfc_example),
		cmocka_unit_test(test_key_from_nonce),
		cmocka_unit_test(test_request_build),
		cmocka_unit_test(test_request_build_cap),
		cmocka_unit_test(test_request_build_crlf),
		cmocka_unit_test(test_connect_build),
		cmocka_unit_test(test_head_length),
		cmocka_unit_test(test_head_status),
		cmocka_unit_test(test_head_header),
		cmocka_unit_test(test_upgrade_ok),
		cmocka_unit_test(test_upgrade_refused),
		cmocka_unit_test(test_upgrade_invalid),
		cmocka_unit_test(test_frame_header),
		cmocka_unit_test(test_mask_copy),
		cmocka_unit_test(test_parser_whole_frame),
		cmocka_unit_test(test_parser_byte_at_a_time),
		cmocka_unit_test(test_parser_big_random_chunks),
		cmocka_unit_test(test_parser_fragmented_whole),
		cmocka_unit_test(test_parser_fragmented_bytes),
		cmocka_unit_test(test_parser_close_frame),
		cmocka_unit_test(test_parser_empty_message),
		cmocka_unit_test(test_parser_errors),
		cmocka_unit_test(test_server_frame_header),
		cmocka_unit_test(test_server_unmasks_any_cut),
		cmocka_unit_test(test_server_refuses_unmasked),
	};

	return cmocka_run_group_tests_name("ws_codec", tests, NULL, NULL);
}
