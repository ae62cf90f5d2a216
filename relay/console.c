/* The console: its state built and freed, and its requests routed to
 * the files that answer them (sign-in, things and tunnels, recordings,
 * static files, the audit page). */
#include "relay/console.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/log.h"
#include "common/text.h"
#include "relay/audit.h"
#include "relay/console_state.h"
#include "relay/password_worker.h"

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

/* "/console" as typed: to the console's page. */
static void redirect(void *arg, struct http_request *req)
{
	const struct http_header h[] = { { "location", "/console/" } };
	http_respond_with(req, 302, "text/plain", "", 0, h, 1);
}

int console_register(struct console *c, struct http_router *router)
{
	const struct http_route route = {
		.path = "/console/", .max_body = API_MAX_BODY, .handle = handle, .abort = handle_abort,
		.arg = c,
	};
	const struct http_route bare = { .path = "/console", .method = "GET", .handle = redirect };
	return http_router_add(router, &route) || http_router_add(router, &bare) ? -1 : 0;
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
	struct stat st;
	if (!stat(c->users_path, &st) && (st.st_mode & 077))
		log_warn("users file %s can be read by others (mode %03o): chmod 600 it", c->users_path,
			 (unsigned)(st.st_mode & 0777));
	log_info("console on /console/ for %zu user%s (%zu files from %s; sessions end after %lld s "
		 "idle; recordings %s)", c->users.n, c->users.n == 1 ? "" : "s", c->files.n, cfg->dir,
		 (long long)cfg->idle_s, c->recordings_dir[0] ? c->recordings_dir : "off");
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
