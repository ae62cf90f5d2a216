/* Unit tests for common/token.c: access and client tokens, hashes, wiping secrets. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/token.h"
#include "proto/wire.h"

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

static bool all_base64url(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return false;
	return true;
}

static void test_access_token_key(void **state)
{
	char key[ACCESS_TOKEN_KEY_MAX + 1];
	(void)state;
	assert_int_equal(access_token_key("0f3a9c2e-1b2c-4d5e-8f90-123456789abc", key, sizeof(key)), 8);
	assert_string_equal(key, "0f3a9c2e");
	/* Up to the first character outside [a-z0-9], or 8. */
	assert_int_equal(access_token_key("abc-def", key, sizeof(key)), 3);
	assert_string_equal(key, "abc");
	assert_int_equal(access_token_key("tunnel0123456789", key, sizeof(key)), 8);
	assert_string_equal(key, "tunnel01");
	assert_int_equal(access_token_key("Upper", key, sizeof(key)), 0);
	assert_string_equal(key, "");
	assert_int_equal(access_token_key("", key, sizeof(key)), 0);
	assert_int_equal(access_token_key("abcdef", key, ACCESS_TOKEN_KEY_MAX), 0); /* too small */
}

static void test_access_token_generate_keyed(void **state)
{
	char a[ACCESS_TOKEN_KEYED_MAX + 1], b[ACCESS_TOKEN_KEYED_MAX + 8];
	char small[ACCESS_TOKEN_KEYED_MAX];
	(void)state;
	const char *id = "0f3a9c2e-1b2c-4d5e-8f90-123456789abc";
	memset(b, 'Z', sizeof(b));
	assert_int_equal(access_token_generate_keyed(id, a, sizeof(a)), 0);
	assert_int_equal(access_token_generate_keyed(id, b, sizeof(b)), 0);
	assert_int_equal(strlen(a), ACCESS_TOKEN_KEYED_MAX);
	assert_memory_equal(a, "0f3a9c2e.", 9);
	assert_memory_equal(b, "0f3a9c2e.", 9);
	assert_true(all_base64url(a + 9, ACCESS_TOKEN_RANDOM_LEN));
	assert_string_not_equal(a + 9, b + 9); /* the same key, fresh randomness */
	assert_true(access_token_valid(a, strlen(a)));
	assert_int_equal(b[ACCESS_TOKEN_KEYED_MAX + 1], 'Z'); /* nothing past the NUL */
	/* No key in the id: the random part alone, no dot. */
	assert_int_equal(access_token_generate_keyed("-x", a, sizeof(a)), 0);
	assert_int_equal(strlen(a), ACCESS_TOKEN_RANDOM_LEN);
	assert_true(all_base64url(a, ACCESS_TOKEN_RANDOM_LEN));
	/* A short key keeps its length. */
	assert_int_equal(access_token_generate_keyed("ab", a, sizeof(a)), 0);
	assert_int_equal(strlen(a), 3 + ACCESS_TOKEN_RANDOM_LEN);
	assert_memory_equal(a, "ab.", 3);
	memset(small, 'Q', sizeof(small));
	assert_int_equal(access_token_generate_keyed(id, small, sizeof(small)), -1);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_token_valid),
		cmocka_unit_test(test_access_token_valid),
		cmocka_unit_test(test_client_token_generate),
		cmocka_unit_test(test_access_token_key),
		cmocka_unit_test(test_access_token_generate_keyed),
		cmocka_unit_test(test_token_hash),
		cmocka_unit_test(test_token_hash_equal),
		cmocka_unit_test(test_secret_wipe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
