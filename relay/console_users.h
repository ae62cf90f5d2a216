/* The console's users file: one user per line, NAME:ROLE:HASH (ROLE admin
 * or operator, HASH a crypt(3) string such as yescrypt's $y$…), '#'
 * comments and blank lines allowed. Parsing is strict and all or nothing:
 * any bad line makes the whole file refused, with its line number. The
 * file is read again when its modification time changes (looked at, at
 * most once a second, when someone signs in). */
#ifndef RELAY_CONSOLE_USERS_H
#define RELAY_CONSOLE_USERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "relay/console_auth.h"

#define CONSOLE_USER_MAX 63      /* characters in a name */
#define CONSOLE_HASH_MAX 255     /* characters in a hash */
#define CONSOLE_USERS_MAX 1000   /* users in a file */
#define CONSOLE_USERS_FILE_MAX (256u * 1024u)

struct console_user {
	char name[CONSOLE_USER_MAX + 1];
	enum console_role role;
	char hash[CONSOLE_HASH_MAX + 1];
};

struct console_users {
	struct console_user *user;
	size_t n;
	/* What was read, to notice a change. */
	struct timespec mtime;
	off_t size;
	int64_t checked_at;         /* last look at the file (Unix s) */
};

/* A user name: 1..63 of [A-Za-z0-9._@-]. */
bool console_user_name_valid(const char *name);
/* "admin" / "operator" → the role; 0 when neither. */
enum console_role console_role_parse(const char *text);
const char *console_role_name(enum console_role role);

/* Parses a whole file's text into *out (replacing nothing: out is filled
 * only on success). Returns 0, or -1 with "line N: …" in err. */
int console_users_parse(const char *text, size_t len, struct console_users *out, char *err,
			size_t err_cap);
/* Reads path into u. Returns 0, or -1 with the reason in err (u unchanged). */
int console_users_load(struct console_users *u, const char *path, char *err, size_t err_cap);
/* At sign-in: reads path again if a second has passed since the last look
 * and its mtime or size changed. A file that became bad keeps the users
 * read before (the error is logged once per change). */
void console_users_refresh(struct console_users *u, const char *path, int64_t now);
const struct console_user *console_users_find(const struct console_users *u, const char *name);
/* Frees and wipes the hashes. */
void console_users_free(struct console_users *u);

#endif
