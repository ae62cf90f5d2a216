#include "relay/console.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/text.h"
#include "common/token.h"
#include "relay/audit.h"
#include "relay/console_state.h"
#include "relay/password_worker.h"

#define CONSOLE_COOKIE "tc_session"

const struct http_header console_security_headers[3] = {
	{ "content-security-policy",
	  "default-src 'self'; connect-src 'self' wss:; style-src 'self' 'unsafe-inline'" },
	{ "x-frame-options", "DENY" },
	{ "referrer-policy", "no-referrer" },
};

void console_respond_json(struct http_request *req, int status, const char *json_text)
{
	http_respond_with(req, status, "application/json", json_text, strlen(json_text),
			  console_security_headers, CONSOLE_N_SECURITY_HEADERS);
}

void console_respond_error(struct http_request *req, int status, const char *message)
{
	cJSON *o = cJSON_CreateObject();
	char *text = o && cJSON_AddStringToObject(o, "error", message) ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	console_respond_json(req, text ? status : 500, text ? text : "{\"error\":\"out of memory\"}");
	free(text);
}

void console_respond_tree(struct http_request *req, int status, cJSON *tree)
{
	char *text = tree ? cJSON_PrintUnformatted(tree) : NULL;
	api_delete_wiped(tree);
	if (!text) {
		console_respond_error(req, 500, "out of memory");
		return;
	}
	console_respond_json(req, status, text);
	secret_wipe(text);
	free(text);
}

cJSON *console_json_body(struct http_request *req)
{
	if (req->body_too_big) {
		console_respond_error(req, 413, "the request body is too large");
		return NULL;
	}
	cJSON *json = req->body ? cJSON_ParseWithLength(req->body, req->body_len) : NULL;
	if (!cJSON_IsObject(json)) {
		api_delete_wiped(json);
		console_respond_error(req, 400, "the body must be a JSON object");
		return NULL;
	}
	return json;
}

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

/* GET /console/api/audit?limit=N */
static void audit_events(struct console *c, struct http_request *req, const struct console_identity *id)
{
	long limit = 100;
	char buf[32];
	const char *value = lws_get_urlarg_by_name(req->wsi, "limit=", buf, sizeof(buf));
	if (value) {
		char *end;
		limit = strtol(value, &end, 10);
		if (*end || limit < 1 || limit > AUDIT_RING_DEFAULT) {
			console_respond_error(req, 400, "limit must be 1-1000");
			return;
		}
	}
	char *text = audit_events_json(c->cfg.audit, id->role == CONSOLE_ADMIN ? NULL : id->user,
				       (size_t)limit);
	if (!text) {
		console_respond_error(req, 500, "out of memory");
		return;
	}
	console_respond_json(req, 200, text);
	free(text);
}

static bool is(const struct http_request *req, const char *method, const char *path)
{
	return !strcmp(req->method, method) && !strcmp(req->path, path);
}

static bool under(const struct http_request *req, const char *prefix)
{
	return !strncmp(req->path, prefix, strlen(prefix));
}

/* The signed-in requests: who asks, then what. */
static void signed_in(struct console *c, struct http_request *req)
{
	bool post = !strcmp(req->method, "POST") || !strcmp(req->method, "DELETE");
	struct console_identity id;
	const char *why = NULL;
	int status = console_authenticate(c, req->wsi, post, &id, &why);
	if (status) {
		console_respond_error(req, status, why);
		return;
	}
	if (is(req, "POST", "/console/api/logout"))
		console_logout(c, req);
	else if (is(req, "GET", "/console/api/things"))
		console_things(c, req, &id);
	else if (post && under(req, "/console/api/tunnels"))
		console_tunnel_op(c, req, &id);
	else if (is(req, "GET", "/console/api/audit"))
		audit_events(c, req, &id);
	else if (!strcmp(req->method, "GET") && under(req, "/console/api/recordings"))
		console_recordings(c, req, &id);
	else
		console_respond_error(req, 404, "no such console call");
}

static void handle(void *arg, struct http_request *req)
{
	struct console *c = arg;
	if (!under(req, "/console/api/")) {
		console_static_serve(&c->files, req);
		return;
	}
	if (is(req, "POST", "/console/api/login"))
		console_login(c, req);
	else if (is(req, "GET", "/console/api/me"))
		console_me(c, req);
	else
		signed_in(c, req);
}

static void handle_abort(void *arg, struct http_request *req)
{
	console_login_abort(arg, req);
	console_tunnel_abort(arg, req);
}

int console_register(struct console *c, struct http_router *router)
{
	const struct http_route route = {
		.path = "/console/", .max_body = API_MAX_BODY, .handle = handle, .abort = handle_abort,
		.arg = c,
	};
	return http_router_add(router, &route);
}

struct console *console_new(const struct console_config *cfg, char *err, size_t err_cap)
{
	struct console *c = calloc(1, sizeof(*c));
	if (!c) {
		errf(err, err_cap, "out of memory");
		return NULL;
	}
	c->cfg = *cfg;
	textf(c->users_path, sizeof(c->users_path), "%s", cfg->users_path);
	if (cfg->recordings_dir)
		textf(c->recordings_dir, sizeof(c->recordings_dir), "%s", cfg->recordings_dir);
	if (console_users_load(&c->users, cfg->users_path, err, err_cap))
		goto fail;
	c->users.checked_at = time(NULL);
	if (console_sessions_init(&c->sessions, CONSOLE_SESSIONS_DEFAULT, cfg->idle_s) ||
	    signin_throttle_init(&c->throttle, THROTTLE_DEFAULT_SLOTS)) {
		errf(err, err_cap, "out of memory");
		goto fail;
	}
	if (console_static_load(&c->files, cfg->dir, err, err_cap))
		goto fail;
	if (console_recordings_start(c)) {
		errf(err, err_cap, "out of memory");
		goto fail;
	}
	c->passwords = password_worker_start(PASSWORD_WORKER_MAX_JOBS, err, err_cap);
	if (!c->passwords)
		goto fail;
	if (c->users.n == 0)
		log_warn("users file %s names no user: nobody can sign in to the console", c->users_path);
	log_info("console on https://…/console/ for %zu user%s (files from %s; idle sessions end "
		 "after %lld s)", c->users.n, c->users.n == 1 ? "" : "s", cfg->dir, (long long)cfg->idle_s);
	return c;
fail:
	console_free(c);
	return NULL;
}

void console_set_waker(struct console *c, void (*wake)(void *arg), void *arg)
{
	if (c)
		password_worker_set_waker(c->passwords, wake, arg);
}

void console_poll(struct console *c)
{
	if (c)
		password_worker_poll(c->passwords);
}

void console_tick(struct console *c, int64_t now)
{
	if (c)
		console_recordings_purge(c, now);
}

void console_free(struct console *c)
{
	if (!c)
		return;
	password_worker_stop(c->passwords);
	console_ops_free(c);
	console_recordings_stop(c);
	console_static_free(&c->files);
	signin_throttle_free(&c->throttle);
	console_sessions_free(&c->sessions);
	console_users_free(&c->users);
	free(c);
}
