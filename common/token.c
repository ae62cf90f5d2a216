#include "common/token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

#include "proto/wire.h"

int token_hash(const char *token, size_t len, uint8_t out[TOKEN_HASH_LEN])
{
	unsigned int out_len = 0;
	if (EVP_Digest(token, len, out, &out_len, EVP_sha256(), NULL) != 1 ||
	    out_len != TOKEN_HASH_LEN)
		return -1;
	return 0;
}

bool token_hash_equal(const uint8_t a[TOKEN_HASH_LEN], const uint8_t b[TOKEN_HASH_LEN])
{
	return CRYPTO_memcmp(a, b, TOKEN_HASH_LEN) == 0;
}

bool client_token_valid(const char *s, size_t len)
{
	if (len < TUNNEL_MIN_CLIENT_TOKEN || len > TUNNEL_MAX_CLIENT_TOKEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

bool access_token_valid(const char *s, size_t len)
{
	if (len == 0 || len > TUNNEL_MAX_ACCESS_TOKEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return false;
	return true;
}

int client_token_generate(char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[32];
	if (cap < 2 * sizeof(raw) + 1 || RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	for (size_t i = 0; i < sizeof(raw); i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[2 * sizeof(raw)] = '\0';
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

void secret_wipe(char *s)
{
	if (s)
		OPENSSL_cleanse(s, strlen(s));
}

int access_token_generate(char *out, size_t cap)
{
	unsigned char raw[32];
	unsigned char b64[48];
	if (cap < 44 || RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	int n = EVP_EncodeBlock(b64, raw, sizeof(raw)); /* 44 characters, one '=' */
	OPENSSL_cleanse(raw, sizeof(raw));
	if (n != 44)
		return -1;
	for (int i = 0; i < 43; i++)
		out[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : (char)b64[i];
	out[43] = '\0';
	OPENSSL_cleanse(b64, sizeof(b64));
	return 0;
}

size_t access_token_key(const char *id, char *key, size_t cap)
{
	size_t n = 0;
	if (cap < ACCESS_TOKEN_KEY_MAX + 1)
		return 0;
	while (n < ACCESS_TOKEN_KEY_MAX &&
	       ((id[n] >= 'a' && id[n] <= 'z') || (id[n] >= '0' && id[n] <= '9'))) {
		key[n] = id[n];
		n++;
	}
	key[n] = '\0';
	return n;
}

int access_token_generate_keyed(const char *id, char *out, size_t cap)
{
	if (cap < ACCESS_TOKEN_KEYED_MAX + 1)
		return -1;
	size_t n = access_token_key(id, out, cap);
	if (n)
		out[n++] = '.';
	return access_token_generate(out + n, cap - n);
}
