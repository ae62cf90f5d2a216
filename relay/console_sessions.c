#include "relay/console_sessions.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/token.h"

int console_sessions_init(struct console_sessions *s, size_t cap, int64_t idle_s)
{
	s->slot = calloc(cap ? cap : 1, sizeof(*s->slot));
	s->cap = s->slot ? (cap ? cap : 1) : 0;
	s->idle_s = idle_s;
	return s->slot ? 0 : -1;
}

void console_sessions_free(struct console_sessions *s)
{
	if (s->slot)
		OPENSSL_cleanse(s->slot, s->cap * sizeof(*s->slot));
	free(s->slot);
	s->slot = NULL;
	s->cap = 0;
}

static void wipe(struct console_session *sess)
{
	OPENSSL_cleanse(sess, sizeof(*sess));
}

static int expired(const struct console_sessions *s, const struct console_session *sess, int64_t now)
{
	return now - sess->last_used >= s->idle_s;
}

const struct console_session *console_sessions_open(struct console_sessions *s, const char *user,
						    enum console_role role, int64_t now)
{
	struct console_session *pick = &s->slot[0];
	for (size_t i = 0; i < s->cap; i++) {
		struct console_session *e = &s->slot[i];
		if (!e->id[0] || expired(s, e, now)) {
			pick = e;
			break;
		}
		if (e->last_used < pick->last_used)
			pick = e;
	}
	wipe(pick);
	if (access_token_generate(pick->id, sizeof(pick->id)) ||
	    access_token_generate(pick->csrf, sizeof(pick->csrf))) {
		wipe(pick);
		return NULL;
	}
	snprintf(pick->user, sizeof(pick->user), "%s", user);
	pick->role = role;
	pick->last_used = now;
	return pick;
}

static int secret_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	return la == CONSOLE_SECRET_LEN && lb == CONSOLE_SECRET_LEN && !CRYPTO_memcmp(a, b, la);
}

struct console_session *console_sessions_find(struct console_sessions *s, const char *id, int64_t now)
{
	if (!id || strlen(id) != CONSOLE_SECRET_LEN)
		return NULL;
	struct console_session *found = NULL;
	/* Every slot is compared, so the time does not depend on where (or
	 * whether) the id is. */
	for (size_t i = 0; i < s->cap; i++) {
		struct console_session *e = &s->slot[i];
		if (e->id[0] && secret_equal(e->id, id))
			found = e;
	}
	if (!found)
		return NULL;
	if (expired(s, found, now)) {
		wipe(found);
		return NULL;
	}
	found->last_used = now;
	return found;
}

int console_sessions_csrf_ok(const struct console_session *sess, const char *token)
{
	return token && secret_equal(sess->csrf, token);
}

void console_sessions_close(struct console_sessions *s, struct console_session *sess)
{
	(void)s;
	wipe(sess);
}

void console_sessions_close_user(struct console_sessions *s, const char *user)
{
	for (size_t i = 0; i < s->cap; i++)
		if (s->slot[i].id[0] && !strcmp(s->slot[i].user, user))
			wipe(&s->slot[i]);
}
