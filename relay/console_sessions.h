/* Signed-in console sessions: each has a 256-bit random id (the cookie),
 * a CSRF token of its own, its user and role, and the time it was last
 * used; one idle longer than the limit is gone. At most `cap` sessions:
 * a new one past that replaces the one used longest ago. Secrets are
 * compared in constant time. Pure apart from the random bytes; time is
 * passed in. */
#ifndef RELAY_CONSOLE_SESSIONS_H
#define RELAY_CONSOLE_SESSIONS_H

#include <stddef.h>
#include <stdint.h>

#include "relay/console_auth.h"

#define CONSOLE_SECRET_LEN 43      /* 32 random bytes, base64url, no padding */
#define CONSOLE_SESSIONS_DEFAULT 1024

struct console_session {
	char id[CONSOLE_SECRET_LEN + 1];   /* "" = free slot */
	char csrf[CONSOLE_SECRET_LEN + 1];
	char user[64];
	enum console_role role;
	int64_t last_used;
};

struct console_sessions {
	struct console_session *slot;
	size_t cap;
	int64_t idle_s;
};

int console_sessions_init(struct console_sessions *s, size_t cap, int64_t idle_s);
/* Wipes every secret. */
void console_sessions_free(struct console_sessions *s);
/* A new session for user. NULL when randomness fails. */
const struct console_session *console_sessions_open(struct console_sessions *s, const char *user,
						    enum console_role role, int64_t now);
/* The live session with this id (its idle timer restarted), else NULL (an
 * expired one is wiped on the way). */
struct console_session *console_sessions_find(struct console_sessions *s, const char *id, int64_t now);
/* True when token is the session's CSRF token. */
int console_sessions_csrf_ok(const struct console_session *sess, const char *token);
void console_sessions_close(struct console_sessions *s, struct console_session *sess);
/* Ends every session of user (removed from the users file, or its role
 * changed). */
void console_sessions_close_user(struct console_sessions *s, const char *user);

#endif
