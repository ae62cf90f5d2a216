/* Unit tests for common/hostport.c: port and host:port parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hostport.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_port_parse),
		cmocka_unit_test(test_hostport_ok),
		cmocka_unit_test(test_hostport_bad),
		cmocka_unit_test(test_hostport_host_length),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
