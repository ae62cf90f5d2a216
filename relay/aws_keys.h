/* The access keys the relay accepts on its AWS-compatible API, read from a
 * file in AWS's own credentials format (the one ~/.aws/credentials uses):
 *
 *   [operator]
 *   aws_access_key_id = AKIA...
 *   aws_secret_access_key = ...
 *
 * one section per key; other settings are ignored. Secrets never appear in
 * error messages. */
#ifndef RELAY_AWS_KEYS_H
#define RELAY_AWS_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "relay/sigv4.h"

#define AWS_KEYS_MAX 64
#define AWS_KEYS_MAX_FILE (64u * 1024u)

struct aws_key {
	char id[SIGV4_MAX_KEY_ID + 1];
	char secret[SIGV4_MAX_SECRET + 1];
};

struct aws_keys {
	size_t n;
	struct aws_key key[AWS_KEYS_MAX];
};

/* Parses the text of a credentials file into keys. Every section must hold
 * both settings; ids are 16..128 of [A-Za-z0-9], unique; secrets 16..128
 * printable characters. Returns the number of keys (at least 1), or -1 with
 * a reason naming the line ("line 4: ...") in err. */
int aws_keys_parse(const char *text, struct aws_keys *keys, char *err, size_t err_cap);
/* Reads and parses a file (at most AWS_KEYS_MAX_FILE bytes); err names it. */
int aws_keys_load(const char *path, struct aws_keys *keys, char *err, size_t err_cap);
/* Wipes the secrets. */
void aws_keys_wipe(struct aws_keys *keys);
/* A sigv4_secret_fn over a struct aws_keys. */
bool aws_keys_secret(void *keys, const char *key_id, char *secret, size_t cap);

#endif
