/* The browser terminal's WebSocket, wss://HOST/console/term?id=ID with the
 * subprotocol tunnel-console-term.v1 (CONSOLE_SPEC §5): the upgrade's
 * checks (session cookie, Origin, the terminal is the user's and has no
 * socket yet) and the lws protocol that hands whole messages to
 * relay/terminals.c and writes what it queues. */
#ifndef RELAY_TERMINAL_WS_H
#define RELAY_TERMINAL_WS_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TERMINAL_WS_PROTOCOL "tunnel-console-term.v1"
#define TERMINAL_WS_PATH "/console/term"

struct terminals;
struct terminal;

/* Per connection. */
struct terminal_ws_session {
	struct terminal *terminal;  /* NULL once it let go */
	uint8_t *msg;               /* a message being reassembled from fragments */
	size_t len;
	bool too_long;
};

/* LWS_CALLBACK_HTTP_CONFIRM_UPGRADE for a path under /console/: 0 to go
 * on, 1 when a refusal was written. ts NULL: the console is off (404). */
int terminal_ws_confirm(struct terminals *ts, struct lws *wsi, const char *upgrade);

/* Fills the protocols table's entry. *ts is read on each event: the table
 * is made before the terminals are (NULL: the console is off). */
void terminal_ws_protocol(struct lws_protocols *p, struct terminals *const *ts);

#endif
