/* Unit tests for relay/proxy_header.c: PROXY protocol v1 and v2 headers,
 * whole, cut short, too long, and not headers at all. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "relay/proxy_header.h"

static struct proxy_header parse(const void *buf, size_t len)
{
	struct proxy_header h;
	proxy_header_parse(buf, len, &h);
	return h;
}

static struct proxy_header parse_text(const char *s)
{
	return parse(s, strlen(s));
}

/* Every shorter prefix of a whole header asks for more, never too much. */
static void assert_prefixes_need_more(const uint8_t *buf, size_t len)
{
	for (size_t k = 0; k < len; k++) {
		struct proxy_header h = parse(buf, k);
		assert_int_equal(h.verdict, PROXY_NEED_MORE);
		assert_true(h.need >= 1 && k + h.need <= len);
	}
}

static void test_v1_tcp4(void **state)
{
	(void)state;
	const char *line = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n";
	char with_tls[128];
	snprintf(with_tls, sizeof(with_tls), "%s\x16\x03\x01", line);
	struct proxy_header h = parse_text(with_tls);
	assert_int_equal(h.verdict, PROXY_DONE);
	assert_int_equal(h.length, strlen(line)); /* not the TLS bytes after it */
	assert_string_equal(h.address, "192.0.2.7");
	assert_int_equal(h.port, 56324);
	assert_prefixes_need_more((const uint8_t *)line, strlen(line));
	h = parse_text("PROXY TCP4 255.255.255.255 0.0.0.0 65535 0\r\n");
	assert_int_equal(h.verdict, PROXY_DONE);
	assert_string_equal(h.address, "255.255.255.255");
}

static void test_v1_tcp6(void **state)
{
	(void)state;
	struct proxy_header h = parse_text("PROXY TCP6 2001:DB8::7 2001:db8::1 1024 8443\r\n");
	assert_int_equal(h.verdict, PROXY_DONE);
	assert_string_equal(h.address, "2001:db8::7");
	assert_int_equal(h.port, 1024);
	/* An IPv4 client of a dual-stack socket is written as IPv4. */
	h = parse_text("PROXY TCP6 ::ffff:c000:207 ::1 1 2\r\n");
	assert_int_equal(h.verdict, PROXY_DONE);
	assert_string_equal(h.address, "192.0.2.7");
	/* The longest line the spec allows. */
	const char *longest = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
			      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	assert_int_equal(strlen(longest), 104);
	assert_int_equal(parse_text(longest).verdict, PROXY_DONE);
}

static void test_v1_unknown(void **state)
{
	(void)state;
	struct proxy_header h = parse_text("PROXY UNKNOWN\r\nGET");
	assert_int_equal(h.verdict, PROXY_DONE);
	assert_int_equal(h.length, 15);
	assert_string_equal(h.address, ""); /* the socket's peer */
	const char *worst = "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
			    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	assert_int_equal(strlen(worst), PROXY_V1_MAX);
	h = parse_text(worst);
	assert_int_equal(h.verdict, PROXY_DONE);
	assert_int_equal(h.length, PROXY_V1_MAX);
	assert_string_equal(h.address, "");
	assert_int_equal(parse_text("PROXY UNKNOWNX\r\n").verdict, PROXY_INVALID);
}

static void test_v1_invalid(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",         /* a field missing */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",     /* one too many */
		"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",      /* two spaces */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",      /* trailing space */
		"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",      /* a leading zero */
		"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 ::1 5.6.7.8 1 2\r\n",           /* family mismatch */
		"PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
		"PROXY TCP6 ::ffff:1.2.3.4 ::1 1 2\r\n",    /* no dotted tail in v1 */
		"PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",         /* LF alone */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",        /* CR alone */
		"PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n",
		"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct proxy_header h = parse_text(bad[i]);
		if (h.verdict != PROXY_INVALID)
			fail_msg("accepted: %s", bad[i]);
		assert_non_null(h.why);
	}
}

static void test_v1_no_crlf_in_107_bytes(void **state)
{
	(void)state;
	char line[200];
	memset(line, 'x', sizeof(line));
	memcpy(line, "PROXY UNKNOWN ", 14);
	assert_int_equal(parse(line, PROXY_V1_MAX - 2).verdict, PROXY_NEED_MORE);
	/* 106 bytes and no CR: a CRLF can no longer end within 107. */
	assert_int_equal(parse(line, PROXY_V1_MAX - 1).verdict, PROXY_INVALID);
	struct proxy_header h = parse(line, PROXY_V1_MAX);
	assert_int_equal(h.verdict, PROXY_INVALID);
	assert_non_null(strstr(h.why, "107"));
	assert_int_equal(parse(line, sizeof(line)).verdict, PROXY_INVALID);
	/* The CRLF one byte too late. */
	memcpy(line + PROXY_V1_MAX - 1, "\r\n", 2);
	assert_int_equal(parse(line, PROXY_V1_MAX + 1).verdict, PROXY_INVALID);
}

static const uint8_t sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

/* A v2 header: command, family byte, then alen bytes of address block. */
static size_t v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const uint8_t *addr, size_t alen)
{
	memcpy(out, sig, 12);
	out[12] = ver_cmd;
	out[13] = fam;
	out[14] = (uint8_t)(alen >> 8);
	out[15] = (uint8_t)alen;
	if (alen)
		memcpy(out + 16, addr, alen);
	return 16 + alen;
}

static void test_v2_tcp4(void **state)
{
	(void)state;
	uint8_t buf[600];
	const uint8_t addr[12] = { 127, 0, 0, 7, 127, 0, 0, 1, 0xc3, 0x50, 0x20, 0xfb };
	size_t n = v2(buf, 0x21, 0x11, addr, sizeof(addr));
	buf[n] = 0x16; /* TLS after it */
	struct proxy_header h = parse(buf, n + 1);
	assert_int_equal(h.verdict, PROXY_DONE);
	assert_int_equal(h.length, 28);
	assert_string_equal(h.address, "127.0.0.7");
	assert_int_equal(h.port, 50000);
	assert_prefixes_need_more(buf, n);
	/* TLVs after the addresses are skipped. */
	uint8_t with_tlv[12 + 7];
	memcpy(with_tlv, addr, 12);
	memcpy(with_tlv + 12, "\x01\x00\x04h2ab", 7);
	n = v2(buf, 0x21, 0x11, with_tlv, sizeof(with_tlv));
	h = parse(buf, n);
	assert_int_equal(h.verdict, PROXY_DONE);
	assert_int_equal(h.length, n);
	assert_string_equal(h.address, "127.0.0.7");
}

static void test_v2_tcp6(void **state)
{
	(void)state;
	uint8_t buf[64], addr[36] = { 0 };
	addr[0] = 0x20, addr[1] = 0x01, addr[2] = 0x0d, addr[3] = 0xb8, addr[15] = 9;
	addr[31] = 1;
	addr[32] = 0x01, addr[33] = 0xbb;
	size_t n = v2(buf, 0x21, 0x21, addr, sizeof(addr));
	struct proxy_header h = parse(buf, n);
	assert_int_equal(h.verdict, PROXY_DONE);
	assert_int_equal(h.length, 52);
	assert_string_equal(h.address, "2001:db8::9");
	assert_int_equal(h.port, 443);
	/* UDP says where from just as well. */
	v2(buf, 0x21, 0x22, addr, sizeof(addr));
	assert_string_equal(parse(buf, n).address, "2001:db8::9");
}

static void test_v2_local_and_unspec(void **state)
{
	(void)state;
	uint8_t buf[300], addr[216] = { 1, 2, 3, 4 };
	/* LOCAL (HAProxy's health checks): no address, even with a block. */
	size_t n = v2(buf, 0x20, 0x00, NULL, 0);
	struct proxy_header h = parse(buf, n);
	assert_int_equal(h.verdict, PROXY_DONE);
	assert_int_equal(h.length, 16);
	assert_string_equal(h.address, "");
	n = v2(buf, 0x20, 0x11, addr, 12);
	h = parse(buf, n);
	assert_int_equal(h.verdict, PROXY_DONE);
	assert_int_equal(h.length, 28);
	assert_string_equal(h.address, "");
	/* PROXY with UNSPEC or UNIX: no IP address either. */
	n = v2(buf, 0x21, 0x00, addr, 4);
	h = parse(buf, n);
	assert_int_equal(h.verdict, PROXY_DONE);
	assert_string_equal(h.address, "");
	n = v2(buf, 0x21, 0x31, addr, 216);
	h = parse(buf, n);
	assert_int_equal(h.verdict, PROXY_DONE);
	assert_int_equal(h.length, 232);
	assert_string_equal(h.address, "");
}

static void test_v2_invalid(void **state)
{
	(void)state;
	uint8_t buf[16 + PROXY_HEADER_MAX], addr[36] = { 0 };
	size_t n = v2(buf, 0x11, 0x11, addr, 12); /* version 1 in binary */
	assert_int_equal(parse(buf, n).verdict, PROXY_INVALID);
	n = v2(buf, 0x22, 0x11, addr, 12);        /* command 2 */
	assert_int_equal(parse(buf, n).verdict, PROXY_INVALID);
	n = v2(buf, 0x21, 0x41, addr, 12);        /* family 4 */
	assert_int_equal(parse(buf, n).verdict, PROXY_INVALID);
	n = v2(buf, 0x21, 0x13, addr, 12);        /* transport 3 */
	assert_int_equal(parse(buf, n).verdict, PROXY_INVALID);
	n = v2(buf, 0x21, 0x11, addr, 11);        /* IPv4 block cut short */
	assert_int_equal(parse(buf, n).verdict, PROXY_INVALID);
	n = v2(buf, 0x21, 0x21, addr, 35);        /* IPv6 block cut short */
	assert_int_equal(parse(buf, n).verdict, PROXY_INVALID);
	/* Too long: refused from its head, before the bytes come. */
	memset(buf, 0, sizeof(buf));
	v2(buf, 0x21, 0x11, NULL, 0);
	buf[14] = (PROXY_HEADER_MAX - 16 + 1) >> 8;
	buf[15] = (PROXY_HEADER_MAX - 16 + 1) & 0xff;
	struct proxy_header h = parse(buf, 16);
	assert_int_equal(h.verdict, PROXY_INVALID);
	assert_non_null(strstr(h.why, "536"));
	buf[15]--; /* exactly the most: fine */
	h = parse(buf, 16);
	assert_int_equal(h.verdict, PROXY_NEED_MORE);
	assert_int_equal(h.need, PROXY_HEADER_MAX - 16);
	buf[14] = buf[15] = 0xff;
	assert_int_equal(parse(buf, 16).verdict, PROXY_INVALID);
	/* A wrong signature byte anywhere. */
	for (size_t i = 0; i < 12; i++) {
		v2(buf, 0x21, 0x11, addr, 12);
		buf[i] ^= 0x40;
		assert_int_equal(parse(buf, 28).verdict, PROXY_INVALID);
		assert_int_equal(parse(buf, i + 1).verdict, PROXY_INVALID); /* at once */
	}
}

static void test_not_a_header(void **state)
{
	(void)state;
	/* A TLS ClientHello, plain HTTP, garbage: refused on the first byte. */
	static const uint8_t hello[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01 };
	struct proxy_header h = parse(hello, sizeof(hello));
	assert_int_equal(h.verdict, PROXY_INVALID);
	assert_string_equal(h.why, "no PROXY header");
	assert_int_equal(parse(hello, 1).verdict, PROXY_INVALID);
	assert_int_equal(parse_text("GET / HTTP/1.1\r\n").verdict, PROXY_INVALID);
	assert_int_equal(parse_text("PROXX").verdict, PROXY_INVALID);
	assert_int_equal(parse("\0\0\0", 3).verdict, PROXY_INVALID);
	/* Nothing yet: more. */
	h = parse("", 0);
	assert_int_equal(h.verdict, PROXY_NEED_MORE);
	assert_true(h.need >= 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v1_tcp4),
		cmocka_unit_test(test_v1_tcp6),
		cmocka_unit_test(test_v1_unknown),
		cmocka_unit_test(test_v1_invalid),
		cmocka_unit_test(test_v1_no_crlf_in_107_bytes),
		cmocka_unit_test(test_v2_tcp4),
		cmocka_unit_test(test_v2_tcp6),
		cmocka_unit_test(test_v2_local_and_unspec),
		cmocka_unit_test(test_v2_invalid),
		cmocka_unit_test(test_not_a_header),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
