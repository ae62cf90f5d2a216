#include "relay/aws_keys.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/text.h"

static bool key_id_valid(const char *s)
{
	size_t len = strlen(s);
	if (len < 16 || len > SIGV4_MAX_KEY_ID)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]))
			return false;
	return true;
}

static bool secret_valid(const char *s)
{
	size_t len = strlen(s);
	if (len < 16 || len > SIGV4_MAX_SECRET)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isgraph((unsigned char)s[i]))
			return false;
	return true;
}

/* Cuts leading and trailing blanks of s in place. */
static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t len = strlen(s);
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
		s[--len] = '\0';
	return s;
}

/* Checks the section that ends at line `line`: both settings, a new id. */
static int close_section(struct aws_keys *keys, struct aws_key *cur, bool open, int line,
			 char *err, size_t err_cap)
{
	if (!open)
		return 0;
	if (!cur->id[0] || !cur->secret[0]) {
		errf(err, err_cap, "line %d: the section above lacks aws_access_key_id or aws_secret_access_key",
		     line);
		return -1;
	}
	for (size_t i = 0; i < keys->n; i++) {
		if (!strcmp(keys->key[i].id, cur->id)) {
			errf(err, err_cap, "line %d: access key id %s is listed twice", line, cur->id);
			return -1;
		}
	}
	if (keys->n == AWS_KEYS_MAX) {
		errf(err, err_cap, "line %d: more than %d keys", line, AWS_KEYS_MAX);
		return -1;
	}
	keys->key[keys->n++] = *cur;
	OPENSSL_cleanse(cur, sizeof(*cur));
	return 0;
}

static int parse_lines(char *text, struct aws_keys *keys, struct aws_key *cur, char *err, size_t err_cap)
{
	bool open = false;
	int line = 0;
	for (char *next = text; next;) {
		char *s = next;
		next = strchr(s, '\n');
		if (next)
			*next++ = '\0';
		line++;
		s = trim(s);
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			if (close_section(keys, cur, open, line, err, err_cap))
				return -1;
			open = true;
			continue;
		}
		char *eq = strchr(s, '=');
		if (!eq || !open) {
			errf(err, err_cap, "line %d: expected [section] or name = value", line);
			return -1;
		}
		*eq = '\0';
		char *name = trim(s), *value = trim(eq + 1);
		if (!strcmp(name, "aws_access_key_id")) {
			if (!key_id_valid(value)) {
				errf(err, err_cap, "line %d: aws_access_key_id must be 16-128 letters and digits", line);
				return -1;
			}
			strcpy(cur->id, value);
		} else if (!strcmp(name, "aws_secret_access_key")) {
			if (!secret_valid(value)) {
				errf(err, err_cap, "line %d: aws_secret_access_key must be 16-128 printable characters",
				     line);
				return -1;
			}
			strcpy(cur->secret, value);
		}
	}
	if (close_section(keys, cur, open, line + 1, err, err_cap))
		return -1;
	if (keys->n == 0) {
		errf(err, err_cap, "no [section] with aws_access_key_id and aws_secret_access_key");
		return -1;
	}
	return (int)keys->n;
}

int aws_keys_parse(const char *text, struct aws_keys *keys, char *err, size_t err_cap)
{
	memset(keys, 0, sizeof(*keys));
	char *copy = strdup(text);
	struct aws_key cur;
	memset(&cur, 0, sizeof(cur));
	if (!copy) {
		errf(err, err_cap, "out of memory");
		return -1;
	}
	int rc = parse_lines(copy, keys, &cur, err, err_cap);
	OPENSSL_cleanse(&cur, sizeof(cur));
	OPENSSL_cleanse(copy, strlen(text));
	free(copy);
	if (rc < 0)
		aws_keys_wipe(keys);
	return rc;
}

int aws_keys_load(const char *path, struct aws_keys *keys, char *err, size_t err_cap)
{
	memset(keys, 0, sizeof(*keys));
	FILE *f = fopen(path, "r");
	if (!f) {
		errf(err, err_cap, "%s: %s", path, strerror(errno));
		return -1;
	}
	char *text = malloc(AWS_KEYS_MAX_FILE + 1);
	size_t len = text ? fread(text, 1, AWS_KEYS_MAX_FILE + 1, f) : 0;
	bool bad = !text || ferror(f) || len > AWS_KEYS_MAX_FILE || memchr(text, '\0', len);
	fclose(f);
	if (bad) {
		errf(err, err_cap, "%s: cannot read it, or it is larger than %u bytes or binary", path,
		     AWS_KEYS_MAX_FILE);
		free(text);
		return -1;
	}
	text[len] = '\0';
	char why[200];
	int rc = aws_keys_parse(text, keys, why, sizeof(why));
	if (rc < 0)
		errf(err, err_cap, "%s: %s", path, why);
	OPENSSL_cleanse(text, len);
	free(text);
	return rc;
}

void aws_keys_wipe(struct aws_keys *keys)
{
	OPENSSL_cleanse(keys, sizeof(*keys));
}

bool aws_keys_secret(void *ctx, const char *key_id, char *secret, size_t cap)
{
	const struct aws_keys *keys = ctx;
	for (size_t i = 0; keys && i < keys->n; i++) {
		if (!strcmp(keys->key[i].id, key_id) && strlen(keys->key[i].secret) < cap) {
			strcpy(secret, keys->key[i].secret);
			return true;
		}
	}
	return false;
}
