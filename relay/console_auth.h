/* What other parts of the relay (the terminal WebSocket, termws) need from
 * the console: who signed in for a request, its JSON answers with the
 * console's security headers, and the audit log. */
#ifndef RELAY_CONSOLE_AUTH_H
#define RELAY_CONSOLE_AUTH_H

#include <libwebsockets.h>
#include <stdbool.h>

struct http_request;
struct audit;

enum console_role { CONSOLE_OPERATOR = 1, CONSOLE_ADMIN = 2 };

struct console_identity {
	char user[64];
	enum console_role role;
	char from[64];             /* the client's address */
};

/* The console's state: users, sessions, sign-in throttle, audit. */
struct console;

/* The signed-in user of a request, from its session cookie (this refreshes
 * the session's idle timer). With csrf, the X-CSRF-Token header must match
 * the session's token too. Returns 0 with *id filled, else the HTTP status
 * to refuse with (401: not signed in or expired; 403: CSRF) and *why a
 * sentence ready for console_respond_error. NULL c (the console is off):
 * 404. */
int console_authenticate(struct console *c, struct lws *wsi, bool csrf, struct console_identity *id,
			 const char **why);

/* A console JSON body / {"error":message}, with the console's security
 * headers (CSP, X-Frame-Options, Referrer-Policy, no-store). */
void console_respond_json(struct http_request *req, int status, const char *json_text);
void console_respond_error(struct http_request *req, int status, const char *message);

/* The description of the tunnels the console opens, followed by the user's
 * name: the device list shows it as "openedBy" (and "terminal": true for
 * the terminal's own tunnels, which termws opens with the second). */
#define CONSOLE_TUNNEL_DESCRIPTION "console: opened by "
#define CONSOLE_TERMINAL_DESCRIPTION "console terminal for "

/* "admin" / "operator". */
const char *console_role_name(enum console_role role);

/* Where terminals are recorded (DIR/THING/YYYYmmddTHHMMSSZ-USER-TERMID.cast,
 * TERMID of [A-Za-z0-9_]); NULL: recording is off. */
const char *console_recordings_dir(const struct console *c);

/* For audit_record (NULL when the console is off: log lines only). */
struct audit *console_audit(struct console *c);

#endif
