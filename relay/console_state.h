/* The console's state, shared by its own files (console*.c) only. */
#ifndef RELAY_CONSOLE_STATE_H
#define RELAY_CONSOLE_STATE_H

#include "relay/console.h"
#include "relay/console_sessions.h"
#include "relay/console_static.h"
#include "relay/console_users.h"
#include "relay/http_router.h"
#include "relay/signin_throttle.h"

struct password_worker;
struct signin;
struct purge;

struct console {
	struct console_config cfg;
	char users_path[512];
	char recordings_dir[512];
	struct console_users users;
	struct console_sessions sessions;
	struct signin_throttle throttle;
	struct password_worker *passwords;
	struct console_static files;
	struct signin *signins;         /* sign-ins waiting for the password thread */
	struct console_op *ops;         /* tunnel operations in flight */
	struct purge *purge;            /* where the recordings purge goes on */
};

/* The console's security headers (CSP, X-Frame-Options, Referrer-Policy). */
extern const struct http_header console_security_headers[3];
#define CONSOLE_N_SECURITY_HEADERS 3

/* The live session of a request's cookie (idle timer restarted), else NULL. */
struct console_session *console_session_of(struct console *c, struct lws *wsi);
/* A body that is a JSON object, parsed; NULL after answering 400. */
struct cJSON *console_json_body(struct http_request *req);
/* console_respond_json with one more header (Set-Cookie, Retry-After). */
void console_respond_json_with(struct http_request *req, int status, const char *json_text,
			       const char *header, const char *value);
/* Sends a cJSON tree as the answer (and frees it; strings wiped). */
void console_respond_tree(struct http_request *req, int status, struct cJSON *tree);

/* The handlers (console_signin.c, console_things.c, console_recordings.c). */
void console_login(struct console *c, struct http_request *req);
void console_login_abort(struct console *c, struct http_request *req);
void console_logout(struct console *c, struct http_request *req);
void console_me(struct console *c, struct http_request *req);
void console_things(struct console *c, struct http_request *req, const struct console_identity *id);
void console_tunnel_op(struct console *c, struct http_request *req, const struct console_identity *id);
void console_tunnel_abort(struct console *c, struct http_request *req);
/* Drops the tunnel operations in flight (the console is stopping). */
void console_ops_free(struct console *c);
void console_recordings(struct console *c, struct http_request *req, const struct console_identity *id);
void console_recordings_purge(struct console *c, int64_t now);
int console_recordings_start(struct console *c);
void console_recordings_stop(struct console *c);

#endif
