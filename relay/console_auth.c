/* Who a console request comes from: its session cookie, and the CSRF
 * token of state-changing requests (relay/console_auth.h). */
#include <openssl/crypto.h>
#include <string.h>
#include <time.h>

#include "common/text.h"
#include "relay/console_state.h"

#define CONSOLE_COOKIE "tc_session"

struct audit *console_audit(struct console *c)
{
	return c ? c->cfg.audit : NULL;
}

/* The session cookie's value ("" when absent or malformed). */
static void session_cookie(struct lws *wsi, char out[CONSOLE_SECRET_LEN + 1])
{
	char buf[CONSOLE_SECRET_LEN + 2];
	size_t max = sizeof(buf);
	out[0] = '\0';
	if (lws_http_cookie_get(wsi, CONSOLE_COOKIE, buf, &max) == 0 && max == CONSOLE_SECRET_LEN)
		memcpy(out, buf, CONSOLE_SECRET_LEN + 1);
	OPENSSL_cleanse(buf, sizeof(buf));
}

struct console_session *console_session_of(struct console *c, struct lws *wsi)
{
	char id[CONSOLE_SECRET_LEN + 1];
	session_cookie(wsi, id);
	struct console_session *sess = id[0] ? console_sessions_find(&c->sessions, id, time(NULL)) : NULL;
	OPENSSL_cleanse(id, sizeof(id));
	if (!sess)
		return NULL;
	/* A user removed from the users file (or given another role) is
	 * signed out: the file is the authority. */
	console_users_refresh(&c->users, c->users_path, time(NULL));
	const struct console_user *u = console_users_find(&c->users, sess->user);
	if (!u || u->role != sess->role) {
		console_sessions_close_user(&c->sessions, sess->user);
		return NULL;
	}
	return sess;
}

int console_authenticate(struct console *c, struct lws *wsi, bool csrf, struct console_identity *id,
			 const char **why)
{
	if (!c) {
		*why = "the console is off (tunnel-relay --users)";
		return 404;
	}
	struct console_session *sess = console_session_of(c, wsi);
	if (!sess) {
		*why = "not signed in, or the session expired";
		return 401;
	}
	if (csrf) {
		char token[CONSOLE_SECRET_LEN + 2] = "";
		int n = (int)strlen("x-csrf-token:");
		int len = lws_hdr_custom_length(wsi, "x-csrf-token:", n);
		bool ok = len == CONSOLE_SECRET_LEN &&
			  lws_hdr_custom_copy(wsi, token, sizeof(token), "x-csrf-token:", n) >= 0 &&
			  console_sessions_csrf_ok(sess, token);
		OPENSSL_cleanse(token, sizeof(token));
		if (!ok) {
			*why = "missing or wrong CSRF token";
			return 403;
		}
	}
	memset(id, 0, sizeof(*id));
	textf(id->user, sizeof(id->user), "%s", sess->user);
	id->role = sess->role;
	http_client_address(wsi, id->from, sizeof(id->from));
	return 0;
}

const char *console_recordings_dir(const struct console *c)
{
	return c && c->recordings_dir[0] ? c->recordings_dir : NULL;
}
