/* Token helpers: hashing, constant-time comparison, syntax checks and
 * generation. Tokens are secrets: nothing here logs them. */
#ifndef COMMON_TOKEN_H
#define COMMON_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOKEN_HASH_LEN 32

/* SHA-256 of a token. Returns 0, or -1 if OpenSSL fails. */
int token_hash(const char *token, size_t len, uint8_t out[TOKEN_HASH_LEN]);
/* Constant-time equality of two hashes. */
bool token_hash_equal(const uint8_t a[TOKEN_HASH_LEN], const uint8_t b[TOKEN_HASH_LEN]);
/* Client token syntax: ^[a-zA-Z0-9-]{32,128}$ */
bool client_token_valid(const char *s, size_t len);
/* Access token syntax: 1..TUNNEL_MAX_ACCESS_TOKEN printable ASCII characters, no spaces. */
bool access_token_valid(const char *s, size_t len);
/* Writes a fresh random client token (64 hex characters + NUL) from the
 * OpenSSL CSPRNG. cap must be at least 65. Returns 0 or -1. */
int client_token_generate(char *out, size_t cap);
/* Writes a fresh access token: 32 random bytes as 43 base64url characters
 * (no padding) + NUL. cap must be at least 44. Returns 0 or -1. */
int access_token_generate(char *out, size_t cap);

/* A relay's tunnel tokens lead with a routing key, "RK.RANDOM", so that a
 * load balancer in front of several relay nodes can send both sides of a
 * tunnel to the same node by hashing RK alone (HAProxy: field(1,.) of the
 * access-token header). RK is the start of the tunnel id: not secret, and
 * never trusted (tokens are looked up by their hash). */
#define ACCESS_TOKEN_RANDOM_LEN 43
#define ACCESS_TOKEN_KEY_MAX 8
#define ACCESS_TOKEN_KEYED_MAX (ACCESS_TOKEN_KEY_MAX + 1 + ACCESS_TOKEN_RANDOM_LEN)
/* The routing key of id: its first characters of [a-z0-9], at most
 * ACCESS_TOKEN_KEY_MAX, up to the first other one. Writes it + NUL into key
 * (cap at least ACCESS_TOKEN_KEY_MAX + 1); returns its length (0: none). */
size_t access_token_key(const char *id, char *key, size_t cap);
/* Writes "KEY." (KEY = access_token_key(id); nothing when it is empty)
 * then a fresh access_token_generate token. cap must be at least
 * ACCESS_TOKEN_KEYED_MAX + 1. Returns 0 or -1. */
int access_token_generate_keyed(const char *id, char *out, size_t cap);
/* Overwrites a NUL-terminated secret in place (the compiler may not skip it). */
void secret_wipe(char *s);

#endif
