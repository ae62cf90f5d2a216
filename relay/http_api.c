/* Plain HTTP on the relay's listener: the management API under /api/v1,
 * GET /metrics, and a 400 for anything else. Requests are answered from the
 * event loop; a call that notifies a device waits for the MQTT result. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "relay/notify.h"
#include "relay/server_state.h"

enum http_phase { HP_READING, HP_NOTIFYING, HP_HEADERS, HP_BODY, HP_DONE };

struct http_session {
	struct lws *wsi;
	struct relay_server *srv;
	enum http_phase phase;
	char method[8];
	char path[256];
	char query[512];
	char *body;                 /* request body, at most API_MAX_BODY bytes */
	size_t body_len;
	bool body_too_big;
	bool close_after;           /* do not read what else the client sent */
	struct api_response res;
	const char *content_type;
	char *out;                  /* LWS_PRE headroom + response body */
	size_t out_len;
};

size_t http_session_size(void)
{
	return sizeof(struct http_session);
}

/* Queues a response: text is copied (or taken over when owned). */
static void respond(struct http_session *s, int status, const char *content_type, const char *text)
{
	size_t len = text ? strlen(text) : 0;
	if (s->out)
		OPENSSL_cleanse(s->out, LWS_PRE + s->out_len);
	free(s->out);
	s->out = malloc(LWS_PRE + len + 1);
	s->out_len = s->out ? len : 0;
	if (s->out && len)
		memcpy(s->out + LWS_PRE, text, len);
	s->res.status = s->out ? status : 500;
	s->content_type = content_type;
	s->phase = HP_HEADERS;
	lws_callback_on_writable(s->wsi);
}

static void respond_api(struct http_session *s)
{
	if (s->res.log_line[0])
		log_info("%s", s->res.log_line);
	log_debug("API %s %s -> %d", s->method, s->path, s->res.status);
	respond(s, s->res.status, "application/json", s->res.body);
}

static void on_notified(void *arg, bool delivered, const char *detail)
{
	struct http_session *s = arg;
	if (api_add_notification(&s->res, delivered, detail))
		log_error("cannot add the notification result to the response");
	if (!delivered)
		log_warn("tunnel %s: device %s not notified: %s", s->res.notify_tunnel->id,
			 s->res.notify_tunnel->thing, detail);
	else
		log_info("tunnel %s: notified device %s over MQTT", s->res.notify_tunnel->id,
			 s->res.notify_tunnel->thing);
	respond_api(s);
}

static void run_api(struct http_session *s)
{
	char auth[512] = "";
	if (lws_hdr_copy(s->wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION) < 0)
		auth[0] = '\0';
	struct api_env env;
	relay_api_env(s->srv, &env);
	struct api_request req = {
		.method = s->method,
		.path = s->path,
		.query = s->query[0] ? s->query : NULL,
		.authorization = auth[0] ? auth : NULL,
		.body = s->body,
		.body_len = s->body_too_big ? API_MAX_BODY + 1 : s->body_len,
	};
	api_handle(&env, &req, &s->res);
	OPENSSL_cleanse(auth, sizeof(auth));
	s->srv->metrics.api_requests++;
	if (!s->res.notify) {
		respond_api(s);
		return;
	}
	const struct registry_tunnel *t = s->res.notify_tunnel;
	const char *services[TUNNEL_MAX_SERVICES];
	for (size_t i = 0; i < t->n_services; i++)
		services[i] = t->services[i];
	if (!s->srv->notifier) {
		on_notified(s, false, "MQTT notification is not configured (tunnel-relay --mqtt-uri)");
		return;
	}
	s->phase = HP_NOTIFYING;
	if (notifier_publish(s->srv->notifier, t->thing, t->id, s->res.notify_token, services,
			     t->n_services, on_notified, s))
		on_notified(s, false, "could not queue the MQTT notification");
	OPENSSL_cleanse(s->res.notify_token, sizeof(s->res.notify_token));
}

static void on_closed(struct http_session *s);

static int on_request(struct http_session *s, struct lws *wsi, const char *uri)
{
	if (s->wsi)
		on_closed(s); /* a keep-alive connection's previous request */
	memset(s, 0, sizeof(*s));
	s->wsi = wsi;
	s->srv = lws_context_user(lws_get_context(wsi));
	snprintf(s->path, sizeof(s->path), "%s", uri ? uri : "");
	if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI))
		strcpy(s->method, "GET");
	else if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI))
		strcpy(s->method, "POST");
	else if (lws_hdr_total_length(wsi, WSI_TOKEN_DELETE_URI))
		strcpy(s->method, "DELETE");
	else
		strcpy(s->method, "OTHER");
	if (lws_hdr_copy(wsi, s->query, sizeof(s->query), WSI_TOKEN_HTTP_URI_ARGS) < 0) {
		respond(s, 400, "text/plain", "query string too long\n");
		return 0;
	}

	if (!strcmp(s->path, "/metrics") && !strcmp(s->method, "GET")) {
		struct metrics_gauges g;
		relay_gauges(s->srv, &g);
		char *text = metrics_render(&s->srv->metrics, &g);
		respond(s, text ? 200 : 500, "text/plain; version=0.0.4", text ? text : "out of memory\n");
		free(text);
		return 0;
	}
	if (strncmp(s->path, "/api/", 5)) {
		log_warn("rejected HTTP %s %s: not an API path (WebSocket clients use /tunnel)", s->method, s->path);
		respond(s, 400, "text/plain", "this server speaks WebSocket on /tunnel and JSON on /api/v1\n");
		return 0;
	}
	if (!strcmp(s->method, "POST")) {
		char cl[24] = "";
		long long length = 0;
		if (lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
			length = atoll(cl);
		if (length > (long long)API_MAX_BODY) {
			s->body_too_big = true;
			/* Up to 1 MiB is read and dropped, so the client is not
			 * reset mid-send and sees the 413; beyond that we answer
			 * at once and close. */
			if (length <= 1024 * 1024)
				return 0;
			s->close_after = true;
			run_api(s);
			return 0;
		}
		if (length > 0)
			return 0; /* wait for the body */
	}
	run_api(s);
	return 0;
}

static void on_body(struct http_session *s, const char *in, size_t len)
{
	if (len == 0 || s->phase != HP_READING)
		return; /* lws may report an empty chunk with no buffer */
	if (s->body_too_big || s->body_len + len > API_MAX_BODY) {
		s->body_too_big = true;
		return;
	}
	char *grown = realloc(s->body, s->body_len + len + 1);
	if (!grown) {
		s->body_too_big = true;
		return;
	}
	s->body = grown;
	memcpy(s->body + s->body_len, in, len);
	s->body_len += len;
	s->body[s->body_len] = '\0';
}

static int on_writeable(struct http_session *s, struct lws *wsi)
{
	if (s->phase == HP_HEADERS) {
		uint8_t buf[LWS_PRE + 512], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
		if (lws_add_http_common_headers(wsi, (unsigned int)s->res.status, s->content_type,
						s->out_len, &p, end) ||
		    lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
						(const unsigned char *)"no-store", 8, &p, end) ||
		    lws_finalize_write_http_header(wsi, start, &p, end))
			return -1;
		s->phase = HP_BODY;
		lws_callback_on_writable(wsi);
		return 0;
	}
	if (s->phase == HP_BODY) {
		s->phase = HP_DONE;
		int n = lws_write(wsi, (uint8_t *)s->out + LWS_PRE, s->out_len, LWS_WRITE_HTTP_FINAL);
		bool close_after = s->close_after;
		on_closed(s); /* the request is over: release it now */
		if (n < 0 || close_after || lws_http_transaction_completed(wsi))
			return -1;
	}
	return 0;
}

/* Releases what a request holds; safe to call more than once. */
static void on_closed(struct http_session *s)
{
	if (s->phase == HP_NOTIFYING && s->srv && s->srv->notifier)
		notifier_forget(s->srv->notifier, s);
	if (s->phase == HP_NOTIFYING)
		s->phase = HP_DONE;
	api_response_free(&s->res);
	free(s->body);
	if (s->out)
		OPENSSL_cleanse(s->out, LWS_PRE + s->out_len); /* may hold new tokens */
	free(s->out);
	s->body = s->out = NULL;
}

int http_api_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		      void *in, size_t len)
{
	struct http_session *s = user;
	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return on_request(s, wsi, in);
	case LWS_CALLBACK_HTTP_BODY:
		on_body(s, in, len);
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (s->phase == HP_READING) /* not answered already (413) */
			run_api(s);
		return 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return s ? on_writeable(s, wsi) : 0;
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (s)
			on_closed(s);
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}
