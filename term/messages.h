/* The JSON payloads of tunnel-term's frames: built for s/h/e/x, parsed from
 * r/a. Pure (cJSON only): the pipe I/O is term/frames.c. */
#ifndef TERM_MESSAGES_H
#define TERM_MESSAGES_H

#include <stddef.h>
#include <stdint.h>

/* Auth methods tunnel-term can use, as a bit set. */
#define TERM_AUTH_PASSWORD 1u
#define TERM_AUTH_PUBLICKEY 2u

/* Each returns a heap string (free it) or NULL when memory runs out.
 * message may be NULL (left out). */
char *msg_status(const char *state, const char *message, unsigned methods);
char *msg_hostkey(const char *fingerprint, const char *key_type, const char *status);
char *msg_error(const char *code, const char *message);
char *msg_exit(int status);

/* {"cols":N,"rows":N}, each 1..1000. Returns 0 or -1. */
int msg_parse_resize(const uint8_t *p, size_t n, int *cols, int *rows);

#define TERM_USER_MAX 256

/* Credentials from an `a` frame: password, or key (PEM) with an optional
 * passphrase. The secrets are heap copies: creds_wipe() overwrites and
 * frees them. */
struct term_creds {
	char user[TERM_USER_MAX + 1];
	char *password;   /* NULL unless a password was given */
	char *key;        /* NULL unless a key was given */
	char *passphrase; /* NULL when none */
};

/* Parses an `a` payload. Returns 0, or -1 with a reason for the person in
 * err (never a secret). Whatever the result, call creds_wipe(). cJSON's own
 * copies of the strings are wiped before they are freed. */
int msg_parse_creds(const uint8_t *p, size_t n, struct term_creds *c, char *err, size_t cap);
void creds_wipe(struct term_creds *c);

#endif
