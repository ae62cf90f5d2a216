/* A browser terminal's life, as pure decisions: the states and the events
 * that move it, which frame types each side may send (CONSOLE_SPEC §5), and
 * what the relay must do about host keys seeing the frames pass. No I/O:
 * relay/terminals.c acts on the verdicts. */
#ifndef RELAY_TERMINAL_H
#define RELAY_TERMINAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Each state's comment names the states it may go to next. */
enum terminal_state {
	/* The relay is opening the terminal's own tunnel (http_api_run):
	 * → WAITING_SOCKET (opened), → CLOSING (failed, or closed meanwhile). */
	TERMINAL_OPENING_TUNNEL,
	/* The tunnel is open; the browser's WebSocket has not come yet:
	 * → WAITING_DEVICE (socket), → CLOSING (closed, or no socket in time). */
	TERMINAL_WAITING_SOCKET,
	/* The socket is up; the device's agent has not connected its end of
	 * the tunnel yet (the relay would reset an SSH stream sent before):
	 * → HELPER_RUNNING (device), → CLOSING (closed, or no device in time). */
	TERMINAL_WAITING_DEVICE,
	/* tunnel-term runs and frames pass both ways:
	 * → CLOSING (helper exit, browser gone, close asked). */
	TERMINAL_HELPER_RUNNING,
	/* Ending: the socket closes, the helper is reaped, the tunnel closes:
	 * → CLOSED once all three are done. */
	TERMINAL_CLOSING,
	/* Nothing left: the record goes. No next state. */
	TERMINAL_CLOSED,
};

enum terminal_event {
	TERMINAL_EV_TUNNEL_OPENED,
	TERMINAL_EV_TUNNEL_FAILED,
	TERMINAL_EV_SOCKET,        /* the browser's WebSocket is up */
	TERMINAL_EV_DEVICE,        /* the device's end is connected: spawn the helper */
	TERMINAL_EV_CLOSE,         /* helper exit, browser gone, close asked, timeout */
	TERMINAL_EV_ALL_DONE,      /* socket, helper and tunnel are all finished */
};

/* The state after ev in st; -1 when ev cannot happen in st (a bug, or a
 * browser that connects twice: the caller refuses it). */
int terminal_next(enum terminal_state st, enum terminal_event ev);
const char *terminal_state_name(enum terminal_state st);

/* Frame types each side may send (§5): browser i r y a; helper o h s e x. */
bool terminal_browser_may_send(uint8_t type);
bool terminal_helper_may_send(uint8_t type);

/* Host keys as seen from the frames that pass. The relay remembers a key
 * only when the helper showed it as new and the browser answered 'y'. */
#define TERMINAL_FINGERPRINT_MAX 100

struct terminal_hostkey_watch {
	char offered[TERMINAL_FINGERPRINT_MAX + 1];  /* the last new key shown, "" if none */
	char accepted[TERMINAL_FINGERPRINT_MAX + 1]; /* the offer the browser took */
};

enum terminal_hostkey_verdict {
	TERMINAL_HOSTKEY_NOTHING,
	TERMINAL_HOSTKEY_ACCEPTED,  /* remember *fingerprint for the thing; audit hostkey.accept */
	TERMINAL_HOSTKEY_REFUSED,   /* the key changed: audit hostkey.refused */
};

/* A helper frame (type, payload) passing to the browser. */
enum terminal_hostkey_verdict terminal_hostkey_from_helper(struct terminal_hostkey_watch *w,
							   uint8_t type, const uint8_t *payload,
							   size_t len);
/* A browser frame passing to the helper; on ACCEPTED, *fingerprint points
 * into w (valid until the next call). */
enum terminal_hostkey_verdict terminal_hostkey_from_browser(struct terminal_hostkey_watch *w,
							    uint8_t type, const char **fingerprint);

/* "SHA256:" and base64 characters, at most TERMINAL_FINGERPRINT_MAX. */
bool terminal_fingerprint_valid(const char *fp);

/* May a terminal to thing's service open now? presence NULL: the thing
 * never said (an agent without presence: allowed); open_tunnels: its open
 * tunnels now. Returns 0, or the HTTP status to refuse with and a sentence
 * for a person in why. */
struct thing_presence;
int terminal_admit(const struct thing_presence *presence, const char *thing, const char *service,
		   size_t open_tunnels, char *why, size_t why_cap);

/* --cols/--rows from the WebSocket's query: 1..1000, else the default. */
int terminal_dimension(const char *text, int fallback);

#endif
