/* The relay's browser terminals (CONSOLE_SPEC §5): each one's record and
 * its life (relay/terminal.h's states). A terminal opens its own tunnel
 * through http_api_run (as the API would), holds the source token until
 * it hands it to its tunnel-term helper (relay/terminal_helper.h), relays
 * frames between the browser's WebSocket and the helper's pipes with
 * bounded queues both ways, remembers accepted host keys, and on the end
 * kills the helper, closes the WebSocket and the tunnel, and audits it.
 * The HTTP routes (terminal_routes.c) and the WebSocket protocol
 * (terminal_ws.c) call in here. */
#ifndef RELAY_TERMINALS_H
#define RELAY_TERMINALS_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay/console_auth.h"
#include "relay/registry.h"
#include "relay/tunnel_ops.h"

struct http_api;
struct http_request;
struct host_keys;
struct relay_loop;
struct things;

/* The browser-terminal options of tunnel-relay (relay_options.h). */
struct terminal_options {
	const char *helper;         /* tunnel-term */
	const char *localproxy;
	const char *relay;          /* HOST:PORT the helper's localproxy dials */
	const char *ca;             /* CA verifying the relay for that dial */
	int lifetime_minutes;       /* of a terminal's tunnel */
	const char *recordings;     /* NULL: terminals are not recorded */
	bool verbose;               /* the helpers log debug lines */
};

struct terminals_deps {
	struct relay_loop *loop;
	struct http_api *api;
	struct registry *registry;
	struct host_keys *host_keys;
	struct console *console;    /* sign-in and audit */
	const struct things *things; /* presence; NULL: unknown for every thing */
	struct api_hooks plane;     /* the data plane: is the device's end connected? */
};

/* Random, 32 hex digits. */
#define TERMINAL_ID_LEN 32
/* The tunnel description that marks a terminal's tunnel (and finds those
 * a relay that died left open). */
#define TERMINAL_DESCRIPTION_PREFIX "console terminal for "

struct terminals;
struct terminal;

struct terminals *terminals_new(const struct terminal_options *opt, const struct terminals_deps *deps);
/* The relay stops: helpers are killed, tunnels closed, sockets forgotten
 * (lws closes them next). Call before lws_context_destroy. */
void terminals_shutdown(struct terminals *ts);
void terminals_free(struct terminals *ts);
/* Once a second: terminals whose browser never came are closed, helpers
 * that ignore SIGTERM are killed. */
void terminals_tick(struct terminals *ts, int64_t now);
/* At start-up: closes the open tunnels of terminals a previous run of the
 * relay left behind (by their description). Returns how many. */
size_t terminals_close_orphans(struct terminals *ts);
const struct terminals_deps *terminals_deps(const struct terminals *ts);

/* ---- for the HTTP routes ---- */

/* Opens a terminal for who to thing's service: opens its tunnel, then
 * answers req with {"terminalId","tunnelId"} or the API's refusal worded
 * for a person. */
void terminals_open(struct terminals *ts, const struct console_identity *who, const char *thing,
		    const char *service, struct http_request *req);
/* req's connection went away before the answer. */
void terminals_request_gone(struct terminals *ts, struct http_request *req);
/* Closes terminal id for who (its owner, or an admin). Returns 0, or 404
 * when there is no such terminal of theirs. */
int terminals_close(struct terminals *ts, const struct console_identity *who, const char *id);

/* ---- for the WebSocket ---- */

/* The upgrade of wsi for terminal id by user: refuses (returns the HTTP
 * status, *why set) unless it is user's, waiting for its socket and not
 * claimed yet; else remembers the claim for terminals_attach. */
int terminals_claim(struct terminals *ts, struct lws *wsi, const char *id, const char *user,
		    int cols, int rows, const char **why);
/* The claimed upgrade is established: spawns the helper. NULL when the
 * claim is lost or the helper cannot start (the socket closes). *slot
 * (the socket's pointer to the terminal) is set to NULL whenever the
 * terminal lets go of the socket, so that it never points at a freed one. */
struct terminal *terminals_attach(struct terminals *ts, struct lws *wsi, struct terminal **slot);
/* A whole browser message. Returns 0, or -1 to close the socket (a type
 * the browser may not send; lws_close_reason already set). */
int terminals_browser_message(struct terminal *t, const uint8_t *msg, size_t n);
/* The socket may write: sends one message. Returns -1 to close it. */
int terminals_writeable(struct terminal *t);
/* The socket closed (the browser left, or lws closed it). */
void terminals_browser_gone(struct terminal *t);

#endif
