#include "relay/terminal_ws.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/term_frame.h"
#include "relay/console_auth.h"
#include "relay/handshake.h"
#include "relay/http_router.h"
#include "relay/terminal.h"
#include "relay/terminals.h"

/* The largest browser message: a type byte and a frame's payload. */
#define MAX_MESSAGE (1 + TERM_FRAME_MAX)

static int refuse(struct lws *wsi, int status, const char *why)
{
	char addr[64];
	http_client_address(wsi, addr, sizeof(addr));
	log_warn("refused a terminal WebSocket from %s: HTTP %d: %s", addr, status, why);
	return handshake_write_refusal(wsi, status, why);
}

/* A browser sends the page's origin; the page is ours only when it is
 * https:// and the Host it asked. No CSRF header can ride on a WebSocket
 * upgrade: this is what stops another site's page from opening one with
 * the user's cookie. */
static bool origin_is_ours(struct lws *wsi)
{
	char origin[300], host[256], want[300];
	if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) <= 0 ||
	    lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) <= 0)
		return false;
	int n = snprintf(want, sizeof(want), "https://%s", host);
	return n > 0 && (size_t)n < sizeof(want) && !strcasecmp(origin, want);
}

/* The query's name= value in buf, or NULL. */
static const char *url_arg(struct lws *wsi, const char *name, char *buf, int cap)
{
	return lws_get_urlarg_by_name(wsi, name, buf, cap);
}

int terminal_ws_confirm(struct terminals *ts, struct lws *wsi, const char *upgrade)
{
	char path[128] = "", protocols[256] = "";
	if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) < 0)
		path[0] = '\0';
	if (strcasecmp(upgrade, "websocket"))
		return refuse(wsi, 400, "only WebSocket upgrades are served");
	if (!ts || strcmp(path, TERMINAL_WS_PATH))
		return refuse(wsi, 404, "no WebSocket here (the terminal's is /console/term)");
	if (lws_hdr_copy(wsi, protocols, sizeof(protocols), WSI_TOKEN_PROTOCOL) <= 0 ||
	    !strstr(protocols, TERMINAL_WS_PROTOCOL))
		return refuse(wsi, 400, "the terminal speaks the subprotocol " TERMINAL_WS_PROTOCOL);
	if (!origin_is_ours(wsi))
		return refuse(wsi, 403, "the page's Origin is not this relay's");
	struct console_identity who;
	const char *why = NULL;
	int status = console_authenticate(terminals_deps(ts)->console, wsi, false, &who, &why);
	if (status)
		return refuse(wsi, status, why ? why : "not signed in");
	/* Each buffer must hold the longest argument: lws copies every one
	 * into it while looking for the name, and stops at one that does not fit. */
	char idbuf[256], colbuf[256], rowbuf[256];
	const char *id = url_arg(wsi, "id=", idbuf, sizeof(idbuf));
	const char *cols = url_arg(wsi, "cols=", colbuf, sizeof(colbuf));
	const char *rows = url_arg(wsi, "rows=", rowbuf, sizeof(rowbuf));
	if (!id || strlen(id) != TERMINAL_ID_LEN)
		return refuse(wsi, 404, "no such terminal of yours");
	status = terminals_claim(ts, wsi, id, who.user, terminal_dimension(cols, 80),
				 terminal_dimension(rows, 24), &why);
	if (status)
		return refuse(wsi, status, why);
	return 0;
}

static void drop_message(struct terminal_ws_session *s)
{
	if (s->msg)
		OPENSSL_cleanse(s->msg, s->len); /* credentials pass here */
	free(s->msg);
	s->msg = NULL;
	s->len = 0;
	s->too_long = false;
}

/* A fragment of a browser message; the whole one goes on. */
static int receive(struct lws *wsi, struct terminal_ws_session *s, const void *in, size_t len)
{
	if (lws_is_first_fragment(wsi))
		drop_message(s);
	if (!s->too_long && s->len + len <= MAX_MESSAGE) {
		uint8_t *grown = realloc(s->msg, s->len + len + 1);
		if (!grown)
			return -1;
		s->msg = grown;
		memcpy(s->msg + s->len, in, len);
		s->len += len;
	} else {
		s->too_long = true;
	}
	if (!lws_is_final_fragment(wsi))
		return 0;
	int rc = 0;
	if (!lws_frame_is_binary(wsi) || s->too_long) {
		static const char reason[] = "binary frames of at most 64 KiB only";
		lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)reason,
				 sizeof(reason) - 1);
		rc = -1;
	} else if (s->terminal) {
		rc = terminals_browser_message(s->terminal, s->msg, s->len);
	}
	drop_message(s);
	return rc;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		    size_t len)
{
	const struct lws_protocols *proto = lws_get_protocol(wsi);
	struct terminals *const *slot = proto ? proto->user : NULL;
	struct terminals *ts = slot ? *slot : NULL;
	struct terminal_ws_session *s = user;
	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		memset(s, 0, sizeof(*s));
		if (!ts || !terminals_attach(ts, wsi, &s->terminal))
			return -1;
		return 0;
	case LWS_CALLBACK_RECEIVE:
		return receive(wsi, s, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return s->terminal ? terminals_writeable(s->terminal) : -1;
	case LWS_CALLBACK_CLOSED:
		drop_message(s);
		if (s->terminal)
			terminals_browser_gone(s->terminal);
		s->terminal = NULL;
		return 0;
	default:
		return 0;
	}
}

void terminal_ws_protocol(struct lws_protocols *p, struct terminals *const *ts)
{
	memset(p, 0, sizeof(*p));
	p->name = TERMINAL_WS_PROTOCOL;
	p->callback = callback;
	p->per_session_data_size = sizeof(struct terminal_ws_session);
	p->rx_buffer_size = 16 * 1024;
	p->user = (void *)ts;
}
