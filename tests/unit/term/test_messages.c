/* Unit tests for term/messages.c and term/hostkey.c: the frames' JSON and
 * the host key verdict. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "term/hostkey.h"
#include "term/messages.h"

#define U8(s) (const uint8_t *)(s), strlen(s)

static void test_built_payloads(void **state)
{
	(void)state;
	char *s = msg_status("auth", "wrong \"password\"", TERM_AUTH_PASSWORD | TERM_AUTH_PUBLICKEY);
	assert_string_equal(s, "{\"state\":\"auth\",\"message\":\"wrong \\\"password\\\"\","
			       "\"methods\":[\"password\",\"publickey\"]}");
	free(s);
	s = msg_status("ready", NULL, 0);
	assert_string_equal(s, "{\"state\":\"ready\"}");
	free(s);
	s = msg_hostkey("SHA256:abc", "ssh-ed25519", "new");
	assert_string_equal(s, "{\"fingerprint\":\"SHA256:abc\",\"keyType\":\"ssh-ed25519\",\"status\":\"new\"}");
	free(s);
	s = msg_exit(-1);
	assert_string_equal(s, "{\"status\":-1}");
	free(s);
	s = msg_error("ssh", "x");
	assert_string_equal(s, "{\"code\":\"ssh\",\"message\":\"x\"}");
	free(s);
}

static void test_resize(void **state)
{
	int c = 0, r = 0;
	(void)state;
	assert_int_equal(msg_parse_resize(U8("{\"cols\":100,\"rows\":40}"), &c, &r), 0);
	assert_int_equal(c, 100);
	assert_int_equal(r, 40);
	assert_int_equal(msg_parse_resize(U8("{\"cols\":0,\"rows\":40}"), &c, &r), -1);
	assert_int_equal(msg_parse_resize(U8("{\"cols\":1001,\"rows\":40}"), &c, &r), -1);
	assert_int_equal(msg_parse_resize(U8("{\"cols\":10.5,\"rows\":40}"), &c, &r), -1);
	assert_int_equal(msg_parse_resize(U8("{\"cols\":\"10\",\"rows\":40}"), &c, &r), -1);
	assert_int_equal(msg_parse_resize(U8("[1,2]"), &c, &r), -1);
	assert_int_equal(c, 100);
}

static void test_creds(void **state)
{
	struct term_creds c;
	char err[128];
	(void)state;
	assert_int_equal(msg_parse_creds(U8("{\"user\":\"pi\",\"password\":\"s3cret\"}"), &c, err,
					 sizeof(err)), 0);
	assert_string_equal(c.user, "pi");
	assert_string_equal(c.password, "s3cret");
	assert_null(c.key);
	creds_wipe(&c);
	assert_null(c.password);
	assert_int_equal(msg_parse_creds(U8("{\"user\":\"pi\",\"key\":\"PEM\",\"passphrase\":\"p\"}"),
					 &c, err, sizeof(err)), 0);
	assert_string_equal(c.key, "PEM");
	assert_string_equal(c.passphrase, "p");
	creds_wipe(&c);
	/* Both, neither, no user, wrong types, not JSON: refused, nothing leaks
	 * into the reason. */
	const char *bad[] = {
		"{\"user\":\"pi\",\"password\":\"s3cret\",\"key\":\"PEM\"}",
		"{\"user\":\"pi\"}",
		"{\"password\":\"s3cret\"}",
		"{\"user\":\"\",\"password\":\"s3cret\"}",
		"{\"user\":\"pi\",\"password\":7}",
		"s3cret",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(msg_parse_creds(U8(bad[i]), &c, err, sizeof(err)), -1);
		assert_null(strstr(err, "s3cret"));
		creds_wipe(&c);
	}
}

static void test_hostkey_verdict(void **state)
{
	char msg[512];
	(void)state;
	assert_int_equal(hostkey_check("", "SHA256:a"), HOSTKEY_NEW);
	assert_int_equal(hostkey_check("SHA256:a", "SHA256:a"), HOSTKEY_KNOWN);
	assert_int_equal(hostkey_check("SHA256:a", "SHA256:b"), HOSTKEY_CHANGED);
	hostkey_changed_text(msg, sizeof(msg), "SHA256:old", "SHA256:new");
	assert_non_null(strstr(msg, "SHA256:old"));
	assert_non_null(strstr(msg, "SHA256:new"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_built_payloads),
		cmocka_unit_test(test_resize),
		cmocka_unit_test(test_creds),
		cmocka_unit_test(test_hostkey_verdict),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
