/* Sign-in, sign-out and "who am I" of the console. A password is checked
 * on the password thread; the request waits, and is answered when the
 * verdict comes back to the loop. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/text.h"
#include "relay/audit.h"
#include "relay/console_state.h"
#include "relay/password_hash.h"
#include "relay/password_worker.h"

#define COOKIE_ATTRIBUTES "; HttpOnly; Secure; SameSite=Strict; Path=/console/"

/* A sign-in waiting for its password check. */
struct signin {
	struct console *c;
	struct http_request *req;
	struct signin *next;
	char user[CONSOLE_USER_MAX + 1];   /* "" when the name given is not a valid one */
	char from[64];
};

static void unlink_signin(struct console *c, struct signin *s)
{
	for (struct signin **p = &c->signins; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			return;
		}
}

static void record(struct console *c, const char *action, const char *user, const char *role,
		   const char *from, const char *detail)
{
	struct audit_event ev = {
		.who = user[0] ? user : "(not a user name)", .role = role, .from = from,
		.action = action, .detail = detail,
	};
	audit_record(c->cfg.audit, &ev);
}

/* 200 {"user","role","csrf"} with the session cookie. */
static void signed_in(struct http_request *req, const struct console_session *sess)
{
	char cookie[128];
	textf(cookie, sizeof(cookie), "tc_session=%s" COOKIE_ATTRIBUTES, sess->id);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "user", sess->user);
	cJSON_AddStringToObject(o, "role", console_role_name(sess->role));
	cJSON_AddStringToObject(o, "csrf", sess->csrf);
	char *text = o ? cJSON_PrintUnformatted(o) : NULL;
	api_delete_wiped(o);
	if (text)
		console_respond_json_with(req, 200, text, "set-cookie", cookie);
	else
		console_respond_error(req, 500, "out of memory");
	OPENSSL_cleanse(cookie, sizeof(cookie));
	if (text)
		OPENSSL_cleanse(text, strlen(text));
	free(text);
}

static void on_checked(void *ctx, bool match)
{
	struct signin *s = ctx;
	struct console *c = s->c;
	unlink_signin(c, s);
	int64_t now = time(NULL);
	/* The user may have gone from the file while the check ran. */
	const struct console_user *u = s->user[0] ? console_users_find(&c->users, s->user) : NULL;
	const struct console_session *sess = NULL;
	if (match && u) {
		signin_throttle_succeeded(&c->throttle, s->user);
		sess = console_sessions_open(&c->sessions, u->name, u->role, now);
		if (!sess) {
			log_error("console: no randomness for a session id; %s not signed in", s->user);
			console_respond_error(s->req, 500, "cannot make a session");
		} else {
			record(c, "signin", s->user, console_role_name(u->role), s->from, NULL);
			signed_in(s->req, sess);
		}
	} else {
		signin_throttle_failed(&c->throttle, s->user, s->from, now);
		record(c, "signin.failed", s->user, NULL, s->from,
		       u ? "wrong password" : "no such user");
		console_respond_error(s->req, 401, "wrong user name or password");
	}
	s->req->handler_ctx = NULL;
	free(s);
}

/* 429 or 503 with Retry-After. */
static void refuse_for(struct http_request *req, int status, int64_t seconds, const char *message)
{
	char retry[24], body[256];
	textf(retry, sizeof(retry), "%" PRId64, seconds);
	cJSON *o = cJSON_CreateObject();
	char *text = o && cJSON_AddStringToObject(o, "error", message) ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	textf(body, sizeof(body), "%s", text ? text : "{\"error\":\"try again later\"}");
	free(text);
	console_respond_json_with(req, status, body, "retry-after", retry);
}

void console_login(struct console *c, struct http_request *req)
{
	cJSON *body = console_json_body(req);
	if (req->body)
		OPENSSL_cleanse(req->body, req->body_len); /* the password: parsed, not needed again */
	if (!body)
		return;
	const cJSON *user = cJSON_GetObjectItemCaseSensitive(body, "user");
	const cJSON *password = cJSON_GetObjectItemCaseSensitive(body, "password");
	if (!cJSON_IsString(user) || !cJSON_IsString(password) || !password->valuestring[0]) {
		api_delete_wiped(body);
		console_respond_error(req, 400, "want {\"user\":…,\"password\":…}");
		return;
	}
	if (strlen(password->valuestring) > PASSWORD_MAX_LEN) {
		api_delete_wiped(body);
		console_respond_error(req, 400, "the password is too long");
		return;
	}
	struct signin *s = calloc(1, sizeof(*s));
	if (!s) {
		api_delete_wiped(body);
		console_respond_error(req, 500, "out of memory");
		return;
	}
	s->c = c;
	s->req = req;
	if (console_user_name_valid(user->valuestring))
		textf(s->user, sizeof(s->user), "%s", user->valuestring);
	http_client_address(req->wsi, s->from, sizeof(s->from));
	int64_t now = time(NULL);
	int64_t wait = signin_throttle_wait(&c->throttle, s->user, s->from, now);
	if (wait > 0) {
		api_delete_wiped(body);
		log_info("console: sign-in as %s from %s refused for %" PRId64 " s after repeated failures",
			 s->user[0] ? s->user : "(not a user name)", s->from, wait);
		char message[160];
		textf(message, sizeof(message), "too many failed sign-ins; try again in %" PRId64 " s", wait);
		refuse_for(req, 429, wait, message);
		free(s);
		return;
	}
	console_users_refresh(&c->users, c->users_path, now);
	const struct console_user *u = s->user[0] ? console_users_find(&c->users, s->user) : NULL;
	/* No such user: the check still costs one hash (against a dummy). */
	int rc = password_worker_check(c->passwords, password->valuestring, u ? u->hash : NULL,
				       on_checked, s);
	api_delete_wiped(body);
	if (rc) {
		log_warn("console: sign-in as %s from %s refused: %d password checks already waiting",
			 s->user[0] ? s->user : "(not a user name)", s->from, PASSWORD_WORKER_MAX_JOBS);
		refuse_for(req, 503, 1, "too many sign-ins at once; try again in a moment");
		free(s);
		return;
	}
	req->handler_ctx = s;
	s->next = c->signins;
	c->signins = s;
}

void console_login_abort(struct console *c, struct http_request *req)
{
	for (struct signin *s = c->signins; s; s = s->next)
		if (s->req == req) {
			password_worker_forget(c->passwords, s);
			unlink_signin(c, s);
			free(s);
			return;
		}
}

void console_logout(struct console *c, struct http_request *req)
{
	struct console_session *sess = console_session_of(c, req->wsi);
	if (sess) {
		char from[64];
		http_client_address(req->wsi, from, sizeof(from));
		record(c, "signout", sess->user, console_role_name(sess->role), from, NULL);
		console_sessions_close(&c->sessions, sess);
	}
	console_respond_json_with(req, 200, "{}", "set-cookie", "tc_session=; Max-Age=0" COOKIE_ATTRIBUTES);
}

void console_me(struct console *c, struct http_request *req)
{
	struct console_session *sess = console_session_of(c, req->wsi);
	if (!sess) {
		console_respond_error(req, 401, "not signed in, or the session expired");
		return;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "user", sess->user);
	cJSON_AddStringToObject(o, "role", console_role_name(sess->role));
	cJSON_AddStringToObject(o, "csrf", sess->csrf);
	cJSON_AddNumberToObject(o, "idleMinutes", (double)c->sessions.idle_s / 60.0);
	console_respond_tree(req, 200, o);
}
