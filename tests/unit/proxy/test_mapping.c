/* Unit tests for proxy/mapping.c: the -s / -d service mappings and their
 * matching against the services the relay announces. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "proxy/mapping.h"

/* Asserts that err holds a non-empty message containing needle. */
typedef int (*mapping_parser)(const char *text, struct mapping *m, char *err, size_t err_cap);

/* Every text must be refused, with a reason. */
static void expect_all_rejected(mapping_parser parse, const char *const *bad, size_t n)
{
	struct mapping m;
	for (size_t i = 0; i < n; i++) {
		char err[256] = "";
		if (parse(bad[i], &m, err, sizeof(err)) != -1)
			fail_msg("'%s' was accepted", bad[i]);
		if (err[0] == '\0')
			fail_msg("'%s' rejected without a reason", bad[i]);
	}
}

static void assert_err_has(const char *err, const char *needle)
{
	if (err[0] == '\0' || strstr(err, needle) == NULL)
		fail_msg("error message '%s' does not contain '%s'", err, needle);
}

/* ---- -s ---------------------------------------------------------------- */

static void test_source_single_port(void **state)
{
	struct mapping m;
	char err[256] = "";
	(void)state;
	assert_int_equal(mapping_parse_source("2222", &m, err, sizeof(err)), 0);
	assert_int_equal(m.n, 1);
	assert_string_equal(m.entry[0].service, "");
	assert_int_equal(m.entry[0].listen_port, 2222);
}

static void test_source_named(void **state)
{
	struct mapping m;
	char err[256] = "";
	(void)state;
	assert_int_equal(mapping_parse_source("SSH=2222,HTTP=8080", &m, err, sizeof(err)), 0);
	assert_int_equal(m.n, 2);
	assert_string_equal(m.entry[0].service, "SSH");
	assert_int_equal(m.entry[0].listen_port, 2222);
	assert_string_equal(m.entry[1].service, "HTTP");
	assert_int_equal(m.entry[1].listen_port, 8080);
}

static void test_source_three_entries(void **state)
{
	struct mapping m;
	char err[256] = "";
	(void)state;
	assert_int_equal(mapping_parse_source("a_b=1,c:d=65535,E-F=3", &m, err, sizeof(err)), 0);
	assert_int_equal(m.n, 3);
	assert_string_equal(m.entry[0].service, "a_b");
	assert_string_equal(m.entry[1].service, "c:d");
	assert_int_equal(m.entry[1].listen_port, 65535);
	assert_string_equal(m.entry[2].service, "E-F");
	assert_int_equal(m.entry[2].listen_port, 3);
}

static void test_source_duplicate_port(void **state)
{
	struct mapping m;
	char err[256] = "";
	(void)state;
	assert_int_equal(mapping_parse_source("SSH=2222,HTTP=2222", &m, err, sizeof(err)), -1);
	assert_err_has(err, "2222");
}

/* udp:PORT, unix:/path or /path, and - (stdin/stdout) */
static void test_source_other_kinds(void **state)
{
	struct mapping m;
	char err[256] = "";
	char text[MAPPING_TEXT_MAX];
	(void)state;
	assert_int_equal(mapping_parse_source("SSH=unix:/run/x.sock,DNS=udp:53,TCP=53", &m, err,
					      sizeof(err)), 0);
	assert_int_equal(m.n, 3);
	assert_int_equal(m.entry[0].kind, MAPPING_UNIX);
	assert_string_equal(m.entry[0].unix_path, "/run/x.sock");
	assert_string_equal(mapping_entry_text(&m.entry[0], text, sizeof(text)), "unix:/run/x.sock");
	assert_int_equal(m.entry[1].kind, MAPPING_UDP);
	assert_int_equal(m.entry[1].listen_port, 53);
	assert_string_equal(mapping_entry_text(&m.entry[1], text, sizeof(text)), "udp:53");
	/* The same port number over TCP is another socket. */
	assert_int_equal(m.entry[2].kind, MAPPING_TCP);
	assert_int_equal(m.entry[2].listen_port, 53);
	assert_int_equal(mapping_parse_source("WEB=/tmp/w,IN=-", &m, err, sizeof(err)), 0);
	assert_int_equal(m.entry[0].kind, MAPPING_UNIX);
	assert_string_equal(m.entry[0].unix_path, "/tmp/w");
	assert_int_equal(m.entry[1].kind, MAPPING_STDIO);
	assert_string_equal(mapping_entry_text(&m.entry[1], text, sizeof(text)), "stdin/stdout");

	static const char *const bad[] = {
		"A=-,B=-", "A=udp:53,B=udp:53", "A=/x,B=unix:/x", "unix:relative", "unix:",
		"udp:", "udp:0", "udp:host:53", "--", "-1", "tcp:22",
	};
	expect_all_rejected(mapping_parse_source, bad, sizeof(bad) / sizeof(bad[0]));
	char longpath[MAPPING_MAX_UNIX_PATH + 8] = "unix:/";
	memset(longpath + 6, 'p', MAPPING_MAX_UNIX_PATH);
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(mapping_parse_source(longpath, &m, err, sizeof(err)), -1);
	assert_err_has(err, "longer");
}

static void test_dest_other_kinds(void **state)
{
	struct mapping m;
	char err[256] = "";
	char text[MAPPING_TEXT_MAX];
	(void)state;
	assert_int_equal(mapping_parse_destination("DNS=udp:127.0.0.1:53,COAP=udp:5683,DB=unix:/run/db",
						   &m, err, sizeof(err)), 0);
	assert_int_equal(m.entry[0].kind, MAPPING_UDP);
	assert_string_equal(m.entry[0].target.host, "127.0.0.1");
	assert_int_equal(m.entry[0].target.port, 53);
	assert_string_equal(mapping_entry_text(&m.entry[0], text, sizeof(text)), "udp:127.0.0.1:53");
	assert_int_equal(m.entry[1].kind, MAPPING_UDP);
	assert_string_equal(m.entry[1].target.host, "127.0.0.1");
	assert_int_equal(m.entry[2].kind, MAPPING_UNIX);
	assert_string_equal(m.entry[2].unix_path, "/run/db");
	assert_string_equal(mapping_entry_text(&m.entry[2], text, sizeof(text)), "unix:/run/db");
	static const char *const bad[] = { "-", "SSH=-", "udp:", "udp:/run/x", "unix:run" };
	expect_all_rejected(mapping_parse_destination, bad, sizeof(bad) / sizeof(bad[0]));
}

static void test_source_duplicate_service(void **state)
{
	struct mapping m;
	char err[256] = "";
	(void)state;
	assert_int_equal(mapping_parse_source("SSH=2222,SSH=2223", &m, err, sizeof(err)), -1);
	assert_err_has(err, "SSH");
}

static void test_source_too_many(void **state)
{
	struct mapping m;
	char err[256] = "";
	(void)state;
	/* No '3' in the text: the reason must state the limit itself. */
	assert_int_equal(mapping_parse_source("A=1,B=2,C=4,D=5", &m, err, sizeof(err)), -1);
	assert_err_has(err, "3");
	err[0] = '\0';
	assert_int_equal(mapping_parse_destination("A=1,B=2,C=4,D=5", &m, err, sizeof(err)), -1);
	assert_err_has(err, "3");
}

static void test_source_unnamed_among_several(void **state)
{
	struct mapping m;
	char err[256] = "";
	(void)state;
	assert_int_equal(mapping_parse_source("SSH=2222,8080", &m, err, sizeof(err)), -1);
	assert_true(err[0] != '\0');
	err[0] = '\0';
	assert_int_equal(mapping_parse_source("2222,HTTP=8080", &m, err, sizeof(err)), -1);
	assert_true(err[0] != '\0');
	err[0] = '\0';
	assert_int_equal(mapping_parse_source("2222,8080", &m, err, sizeof(err)), -1);
	assert_true(err[0] != '\0');
}

static void test_source_bad_ports(void **state)
{
	static const char *const bad[] = {
		"0", "65536", "abc", "", "-1", "22a", "SSH=", "SSH=0", "SSH=65536", "SSH=x",
		" 22", "22 ", "100000",
	};
	(void)state;
	expect_all_rejected(mapping_parse_source, bad, sizeof(bad) / sizeof(bad[0]));
}

static void test_source_port_edges(void **state)
{
	struct mapping m;
	char err[256] = "";
	(void)state;
	assert_int_equal(mapping_parse_source("1", &m, err, sizeof(err)), 0);
	assert_int_equal(m.entry[0].listen_port, 1);
	assert_int_equal(mapping_parse_source("65535", &m, err, sizeof(err)), 0);
	assert_int_equal(m.entry[0].listen_port, 65535);
}

static void test_source_bad_service_names(void **state)
{
	char long_name[TUNNEL_MAX_SERVICE_ID + 2 + 8];
	static const char *const bad[] = {
		"=22", "S SH=22", "SS.H=22", "SSH!=22", "S/SH=22", "SSH=22,=80", "SÉ=22",
	};
	struct mapping m;
	char err[256];
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (mapping_parse_source(bad[i], &m, err, sizeof(err)) != -1)
			fail_msg("'%s' was accepted", bad[i]);
		if (err[0] == '\0')
			fail_msg("'%s' rejected without a reason", bad[i]);
	}
	/* 128 characters is the longest service id; 129 is too long. */
	memset(long_name, 'a', TUNNEL_MAX_SERVICE_ID);
	strcpy(long_name + TUNNEL_MAX_SERVICE_ID, "=22");
	assert_int_equal(mapping_parse_source(long_name, &m, err, sizeof(err)), 0);
	assert_int_equal(strlen(m.entry[0].service), TUNNEL_MAX_SERVICE_ID);
	memset(long_name, 'a', TUNNEL_MAX_SERVICE_ID + 1);
	strcpy(long_name + TUNNEL_MAX_SERVICE_ID + 1, "=22");
	err[0] = '\0';
	assert_int_equal(mapping_parse_source(long_name, &m, err, sizeof(err)), -1);
	assert_true(err[0] != '\0');
}

static void test_source_empty_entries(void **state)
{
	static const char *const bad[] = { "", ",", ",2222", "SSH=1,,HTTP=2" };
	(void)state;
	expect_all_rejected(mapping_parse_source, bad, sizeof(bad) / sizeof(bad[0]));
}

/* A reason never runs past err_cap (it is truncated and NUL-terminated). */
static void test_source_small_err_buffer(void **state)
{
	struct mapping m;
	char err[16];
	(void)state;
	memset(err, 'X', sizeof(err));
	assert_int_equal(mapping_parse_source("SSH=2222,HTTP=2222", &m, err, 4), -1);
	assert_int_equal(err[3], '\0');
	assert_int_equal(strlen(err), 3);
	for (size_t i = 4; i < sizeof(err); i++)
		assert_int_equal(err[i], 'X');
}

/* ---- -d ---------------------------------------------------------------- */

static void test_dest_bare_port(void **state)
{
	struct mapping m;
	char err[256] = "";
	(void)state;
	assert_int_equal(mapping_parse_destination("22", &m, err, sizeof(err)), 0);
	assert_int_equal(m.n, 1);
	assert_string_equal(m.entry[0].service, "");
	assert_string_equal(m.entry[0].target.host, "127.0.0.1");
	assert_int_equal(m.entry[0].target.port, 22);
	assert_string_equal(m.entry[0].unix_path, "");
}

static void test_dest_host_port(void **state)
{
	struct mapping m;
	char err[256] = "";
	(void)state;
	assert_int_equal(mapping_parse_destination("host:22", &m, err, sizeof(err)), 0);
	assert_int_equal(m.n, 1);
	assert_string_equal(m.entry[0].target.host, "host");
	assert_int_equal(m.entry[0].target.port, 22);
	assert_string_equal(m.entry[0].unix_path, "");
}

static void test_dest_ipv6(void **state)
{
	struct mapping m;
	char err[256] = "";
	(void)state;
	assert_int_equal(mapping_parse_destination("[::1]:22", &m, err, sizeof(err)), 0);
	assert_string_equal(m.entry[0].target.host, "::1");
	assert_int_equal(m.entry[0].target.port, 22);
}

static void test_dest_unix(void **state)
{
	struct mapping m;
	char err[256] = "";
	(void)state;
	assert_int_equal(mapping_parse_destination("/run/app.sock", &m, err, sizeof(err)), 0);
	assert_int_equal(m.n, 1);
	assert_string_equal(m.entry[0].unix_path, "/run/app.sock");
	assert_string_equal(m.entry[0].service, "");
	assert_int_equal(mapping_parse_destination("SSH=/run/ssh.sock,HTTP=80", &m, err, sizeof(err)), 0);
	assert_int_equal(m.n, 2);
	assert_string_equal(m.entry[0].unix_path, "/run/ssh.sock");
	assert_string_equal(m.entry[1].unix_path, "");
	assert_string_equal(m.entry[1].target.host, "127.0.0.1");
	assert_int_equal(m.entry[1].target.port, 80);
}

static void test_dest_named(void **state)
{
	struct mapping m;
	char err[256] = "";
	(void)state;
	assert_int_equal(mapping_parse_destination("SSH=22,HTTP=10.0.0.1:80", &m, err, sizeof(err)), 0);
	assert_int_equal(m.n, 2);
	assert_string_equal(m.entry[0].service, "SSH");
	assert_string_equal(m.entry[0].target.host, "127.0.0.1");
	assert_int_equal(m.entry[0].target.port, 22);
	assert_string_equal(m.entry[1].service, "HTTP");
	assert_string_equal(m.entry[1].target.host, "10.0.0.1");
	assert_int_equal(m.entry[1].target.port, 80);
}

static void test_dest_unix_path_length(void **state)
{
	char path[MAPPING_MAX_UNIX_PATH + 2];
	struct mapping m;
	char err[256] = "";
	(void)state;
	/* 107 characters fit in sun_path with the NUL; 108 do not. */
	path[0] = '/';
	memset(path + 1, 'p', MAPPING_MAX_UNIX_PATH - 2);
	path[MAPPING_MAX_UNIX_PATH - 1] = '\0';
	assert_int_equal(strlen(path), MAPPING_MAX_UNIX_PATH - 1);
	assert_int_equal(mapping_parse_destination(path, &m, err, sizeof(err)), 0);
	assert_string_equal(m.entry[0].unix_path, path);

	path[MAPPING_MAX_UNIX_PATH - 1] = 'p';
	path[MAPPING_MAX_UNIX_PATH] = '\0';
	assert_int_equal(strlen(path), MAPPING_MAX_UNIX_PATH);
	assert_int_equal(mapping_parse_destination(path, &m, err, sizeof(err)), -1);
	assert_err_has(err, "107");
}

static void test_dest_bad(void **state)
{
	static const char *const bad[] = {
		"host", "host:", "host:0", "host:65536", "[::1]", "[::1", "0", "",
		"SSH=22,HTTP=80,X=81,Y=82", "SSH=22,SSH=23", "SSH=22,80",
	};
	(void)state;
	expect_all_rejected(mapping_parse_destination, bad, sizeof(bad) / sizeof(bad[0]));
}

/* Destinations may share a port (different hosts, or even the same one). */
static void test_dest_same_port_twice_ok(void **state)
{
	struct mapping m;
	char err[256] = "";
	(void)state;
	assert_int_equal(mapping_parse_destination("A=h1:22,B=h2:22", &m, err, sizeof(err)), 0);
	assert_int_equal(m.n, 2);
}

/* ---- mapping_resolve ---------------------------------------------------- */

static void test_resolve_unnamed_one_service(void **state)
{
	struct mapping m;
	char err[256] = "";
	const char *services[] = { "SSH" };
	size_t entry_of[TUNNEL_MAX_SERVICES] = { 99, 99, 99 };
	(void)state;
	assert_int_equal(mapping_parse_source("2222", &m, err, sizeof(err)), 0);
	assert_int_equal(mapping_resolve(&m, services, 1, entry_of, err, sizeof(err)), 0);
	assert_int_equal(entry_of[0], 0);
}

static void test_resolve_unnamed_two_services(void **state)
{
	struct mapping m;
	char err[256] = "";
	const char *services[] = { "SSH", "HTTP" };
	size_t entry_of[TUNNEL_MAX_SERVICES];
	(void)state;
	assert_int_equal(mapping_parse_destination("22", &m, err, sizeof(err)), 0);
	assert_int_equal(mapping_resolve(&m, services, 2, entry_of, err, sizeof(err)), -1);
	assert_err_has(err, "2 services");
}

static void test_resolve_named_any_order(void **state)
{
	struct mapping m;
	char err[256] = "";
	const char *services[] = { "HTTP", "RDP", "SSH" };
	size_t entry_of[TUNNEL_MAX_SERVICES] = { 99, 99, 99 };
	(void)state;
	assert_int_equal(mapping_parse_source("SSH=2222,HTTP=8080,RDP=3389", &m, err, sizeof(err)), 0);
	assert_int_equal(mapping_resolve(&m, services, 3, entry_of, err, sizeof(err)), 0);
	assert_int_equal(entry_of[0], 1);
	assert_int_equal(entry_of[1], 2);
	assert_int_equal(entry_of[2], 0);
}

static void test_resolve_missing_service(void **state)
{
	struct mapping m;
	char err[256] = "";
	const char *services[] = { "SSH", "VNC" };
	size_t entry_of[TUNNEL_MAX_SERVICES];
	(void)state;
	assert_int_equal(mapping_parse_source("SSH=2222,HTTP=8080", &m, err, sizeof(err)), 0);
	assert_int_equal(mapping_resolve(&m, services, 2, entry_of, err, sizeof(err)), -1);
	assert_err_has(err, "VNC");
}

static void test_resolve_named_single_mismatch(void **state)
{
	struct mapping m;
	char err[256] = "";
	const char *services[] = { "HTTP" };
	size_t entry_of[TUNNEL_MAX_SERVICES];
	(void)state;
	assert_int_equal(mapping_parse_source("SSH=2222", &m, err, sizeof(err)), 0);
	assert_int_equal(mapping_resolve(&m, services, 1, entry_of, err, sizeof(err)), -1);
	assert_err_has(err, "HTTP");
}

static void test_resolve_extra_mapping_ok(void **state)
{
	struct mapping m;
	char err[256] = "";
	const char *services[] = { "HTTP" };
	size_t entry_of[TUNNEL_MAX_SERVICES] = { 99, 99, 99 };
	(void)state;
	assert_int_equal(mapping_parse_destination("SSH=22,HTTP=10.0.0.1:80", &m, err, sizeof(err)), 0);
	assert_int_equal(mapping_resolve(&m, services, 1, entry_of, err, sizeof(err)), 0);
	assert_int_equal(entry_of[0], 1);
}

static void test_resolve_no_services(void **state)
{
	struct mapping m;
	char err[256] = "";
	const char *services[] = { "SSH" };
	size_t entry_of[TUNNEL_MAX_SERVICES];
	(void)state;
	assert_int_equal(mapping_parse_source("2222", &m, err, sizeof(err)), 0);
	assert_int_equal(mapping_resolve(&m, services, 0, entry_of, err, sizeof(err)), -1);
	assert_true(err[0] != '\0');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_source_single_port),
		cmocka_unit_test(test_source_named),
		cmocka_unit_test(test_source_three_entries),
		cmocka_unit_test(test_source_duplicate_port),
		cmocka_unit_test(test_source_other_kinds),
		cmocka_unit_test(test_dest_other_kinds),
		cmocka_unit_test(test_source_duplicate_service),
		cmocka_unit_test(test_source_too_many),
		cmocka_unit_test(test_source_unnamed_among_several),
		cmocka_unit_test(test_source_bad_ports),
		cmocka_unit_test(test_source_port_edges),
		cmocka_unit_test(test_source_bad_service_names),
		cmocka_unit_test(test_source_empty_entries),
		cmocka_unit_test(test_source_small_err_buffer),
		cmocka_unit_test(test_dest_bare_port),
		cmocka_unit_test(test_dest_host_port),
		cmocka_unit_test(test_dest_ipv6),
		cmocka_unit_test(test_dest_unix),
		cmocka_unit_test(test_dest_named),
		cmocka_unit_test(test_dest_unix_path_length),
		cmocka_unit_test(test_dest_bad),
		cmocka_unit_test(test_dest_same_port_twice_ok),
		cmocka_unit_test(test_resolve_unnamed_one_service),
		cmocka_unit_test(test_resolve_unnamed_two_services),
		cmocka_unit_test(test_resolve_named_any_order),
		cmocka_unit_test(test_resolve_missing_service),
		cmocka_unit_test(test_resolve_named_single_mismatch),
		cmocka_unit_test(test_resolve_extra_mapping_ok),
		cmocka_unit_test(test_resolve_no_services),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
