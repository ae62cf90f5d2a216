#include "relay/http_router.h"

#include <openssl/crypto.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "relay/listener.h"

/* A body announced as larger than the route takes is still read and
 * dropped up to this size, so the client is not reset mid-send and sees
 * the handler's answer (413); beyond it the answer goes out at once and
 * the connection closes. */
#define HTTP_DRAIN_MAX (1024 * 1024)

struct http_router {
	size_t n;
	struct http_route route[HTTP_MAX_ROUTES];
};

enum http_phase { HP_READING, HP_HANDLING, HP_HEADERS, HP_BODY, HP_DONE };

/* Per-connection state, allocated zeroed by lws. */
struct http_session {
	struct http_request req;
	enum http_phase phase;
	const struct http_route *route; /* NULL: no route took it */
	bool close_after;           /* do not read what else the client sent */
	int status;
	const char *content_type;
	char *out;                  /* LWS_PRE headroom + response body */
	size_t out_len;
	/* Extra headers, "name:\0value\0" pairs in one block. */
	char *headers;
	size_t n_headers;
	bool file_failed;           /* lws_serve_http_file said to close */
};

#define HTTP_EXTRA_HEADERS_MAX 2048

struct http_router *http_router_new(void)
{
	return calloc(1, sizeof(struct http_router));
}

void http_router_free(struct http_router *r)
{
	free(r);
}

int http_router_add(struct http_router *r, const struct http_route *route)
{
	if (r->n >= HTTP_MAX_ROUTES)
		return -1;
	r->route[r->n++] = *route;
	return 0;
}

size_t http_router_session_size(void)
{
	return sizeof(struct http_session);
}

static const struct http_route *find_route(const struct http_router *r, const char *method,
					   const char *path)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct http_route *rt = &r->route[i];
		size_t len = strlen(rt->path);
		bool prefix = len && rt->path[len - 1] == '/';
		if (prefix ? strncmp(path, rt->path, len) : strcmp(path, rt->path))
			continue;
		if (rt->method && strcmp(method, rt->method))
			continue;
		return rt;
	}
	return NULL;
}

/* Copies headers into s as "name:\0value\0" pairs; -1 when too long. */
static int keep_headers(struct http_session *s, const struct http_header *headers, size_t n)
{
	free(s->headers);
	s->headers = NULL;
	s->n_headers = 0;
	if (!n)
		return 0;
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += strlen(headers[i].name) + strlen(headers[i].value) + 3;
	if (n > HTTP_MAX_EXTRA_HEADERS || total > HTTP_EXTRA_HEADERS_MAX)
		return -1;
	char *p = s->headers = malloc(total);
	if (!p)
		return -1;
	for (size_t i = 0; i < n; i++) {
		size_t nl = strlen(headers[i].name), vl = strlen(headers[i].value);
		memcpy(p, headers[i].name, nl);
		p[nl] = ':';
		p[nl + 1] = '\0';
		p += nl + 2;
		memcpy(p, headers[i].value, vl + 1);
		p += vl + 1;
	}
	s->n_headers = n;
	return 0;
}

void http_respond_with(struct http_request *req, int status, const char *content_type,
		       const void *body, size_t len, const struct http_header *headers, size_t n_headers)
{
	struct http_session *s = lws_container_of(req, struct http_session, req);
	if (s->out)
		OPENSSL_cleanse(s->out, LWS_PRE + s->out_len);
	free(s->out);
	s->out = malloc(LWS_PRE + len + 1);
	s->out_len = s->out ? len : 0;
	if (s->out && len)
		memcpy(s->out + LWS_PRE, body, len);
	s->status = s->out ? status : 500;
	if (keep_headers(s, headers, n_headers)) {
		log_error("HTTP %s %s: response headers too long or out of memory", req->method, req->path);
		s->status = 500;
	}
	s->content_type = content_type;
	s->phase = HP_HEADERS;
	lws_callback_on_writable(req->wsi);
}

void http_respond(struct http_request *req, int status, const char *content_type, const char *text)
{
	http_respond_with(req, status, content_type, text, text ? strlen(text) : 0, NULL, 0);
}

/* Adds s's extra headers; nonzero when they do not fit. */
static int add_extra_headers(const struct http_session *s, struct lws *wsi, uint8_t **p, uint8_t *end)
{
	const char *h = s->headers;
	for (size_t i = 0; i < s->n_headers; i++) {
		const char *value = h + strlen(h) + 1;
		if (lws_add_http_header_by_name(wsi, (const unsigned char *)h, (const unsigned char *)value,
						(int)strlen(value), p, end))
			return -1;
		h = value + strlen(value) + 1;
	}
	return 0;
}

int http_respond_file(struct http_request *req, const char *path, const char *content_type,
		      const struct http_header *headers, size_t n_headers)
{
	struct http_session *s = lws_container_of(req, struct http_session, req);
	uint8_t buf[HTTP_EXTRA_HEADERS_MAX + 256], *p = buf, *end = buf + sizeof(buf) - 1;
	if (keep_headers(s, headers, n_headers) || add_extra_headers(s, req->wsi, &p, end) ||
	    lws_add_http_header_by_name(req->wsi, (const unsigned char *)"cache-control:",
					(const unsigned char *)"no-store", 8, &p, end))
		return -1;
	int rc = lws_serve_http_file(req->wsi, path, content_type, (const char *)buf, (int)(p - buf));
	/* From here lws answers (or has closed): the router stays out of it. */
	s->phase = HP_DONE;
	s->file_failed = rc < 0;
	return 0;
}

void http_client_address(struct lws *wsi, char *out, size_t cap)
{
	/* Behind a load balancer: the client its PROXY header named. */
	const char *proxied = listener_client_address(wsi);
	if (proxied) {
		snprintf(out, cap, "%s", proxied);
		return;
	}
	out[0] = '\0';
	lws_get_peer_simple(wsi, out, cap);
	if (!strncmp(out, "::ffff:", 7) && strchr(out, '.'))
		memmove(out, out + 7, strlen(out + 7) + 1);
}

static void dispatch(struct http_session *s)
{
	s->phase = HP_HANDLING;
	s->route->handle(s->route->arg, &s->req);
}

/* Releases what a request holds; safe to call more than once. */
static void release(struct http_session *s)
{
	if (s->phase == HP_HANDLING && s->route && s->route->abort)
		s->route->abort(s->route->arg, &s->req);
	if (s->phase == HP_HANDLING)
		s->phase = HP_DONE;
	free(s->req.body);
	free(s->headers);
	s->headers = NULL;
	s->n_headers = 0;
	if (s->out)
		OPENSSL_cleanse(s->out, LWS_PRE + s->out_len); /* may hold new tokens */
	free(s->out);
	s->req.body = s->out = NULL;
}

static int on_request(struct http_router *r, struct http_session *s, struct lws *wsi, const char *uri)
{
	if (s->req.wsi)
		release(s); /* a keep-alive connection's previous request */
	memset(s, 0, sizeof(*s));
	struct http_request *req = &s->req;
	req->wsi = wsi;
	snprintf(req->path, sizeof(req->path), "%s", uri ? uri : "");
	if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI))
		strcpy(req->method, "GET");
	else if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI))
		strcpy(req->method, "POST");
	else if (lws_hdr_total_length(wsi, WSI_TOKEN_DELETE_URI))
		strcpy(req->method, "DELETE");
	else
		strcpy(req->method, "OTHER");
	if (lws_hdr_copy(wsi, req->query, sizeof(req->query), WSI_TOKEN_HTTP_URI_ARGS) < 0) {
		http_respond(req, 400, "text/plain", "query string too long\n");
		return 0;
	}
	s->route = find_route(r, req->method, req->path);
	if (!s->route) {
		log_warn("rejected HTTP %s %s: not an API path (WebSocket clients use /tunnel)",
			 req->method, req->path);
		http_respond(req, 400, "text/plain",
			     "this server speaks WebSocket on /tunnel and JSON on /api/v1\n");
		return 0;
	}
	if (!strcmp(req->method, "POST") && s->route->max_body) {
		char cl[24] = "";
		long long length = 0;
		if (lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
			length = atoll(cl);
		if (length > (long long)s->route->max_body) {
			req->body_too_big = true;
			if (length <= HTTP_DRAIN_MAX)
				return 0;
			s->close_after = true;
			dispatch(s);
			return 0;
		}
		if (length > 0)
			return 0; /* wait for the body */
	}
	dispatch(s);
	return s->file_failed ? -1 : 0;
}

static void on_body(struct http_session *s, const char *in, size_t len)
{
	struct http_request *req = &s->req;
	if (len == 0 || s->phase != HP_READING || !s->route)
		return; /* lws may report an empty chunk with no buffer */
	if (req->body_too_big || req->body_len + len > s->route->max_body) {
		req->body_too_big = true;
		return;
	}
	char *grown = realloc(req->body, req->body_len + len + 1);
	if (!grown) {
		req->body_too_big = true;
		return;
	}
	req->body = grown;
	memcpy(req->body + req->body_len, in, len);
	req->body_len += len;
	req->body[req->body_len] = '\0';
}

static int on_writeable(struct http_session *s, struct lws *wsi)
{
	if (s->phase == HP_HEADERS) {
		uint8_t buf[LWS_PRE + HTTP_EXTRA_HEADERS_MAX + 512], *start = buf + LWS_PRE, *p = start,
			*end = buf + sizeof(buf) - 1;
		if (lws_add_http_common_headers(wsi, (unsigned int)s->status, s->content_type,
						s->out_len, &p, end) ||
		    lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
						(const unsigned char *)"no-store", 8, &p, end) ||
		    add_extra_headers(s, wsi, &p, end) ||
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
		release(s); /* the request is over: release it now */
		if (n < 0 || close_after || lws_http_transaction_completed(wsi))
			return -1;
	}
	return 0;
}

/* libwebsockets drops a connection whose request line or headers it cannot
 * parse (a %00 in the URL, a header past its limits) before any handler
 * sees it, without a word; by then its TLS session is gone too, so no
 * answer can be sent. Such a connection never had a session bound, and
 * neither has one a client closed without sending a request (a probe):
 * the two look the same from here, so the line says both. */
static void log_unread_request(struct lws *wsi)
{
	char peer[INET6_ADDRSTRLEN] = "";
	struct sockaddr_storage addr;
	socklen_t alen = sizeof(addr);
	int fd = lws_get_socket_fd(wsi);
	/* Our own getpeername: the client may be gone already. */
	if (fd >= 0 && !getpeername(fd, (struct sockaddr *)&addr, &alen)) {
		const void *ip = addr.ss_family == AF_INET6 ?
			(const void *)&((const struct sockaddr_in6 *)&addr)->sin6_addr :
			(const void *)&((const struct sockaddr_in *)&addr)->sin_addr;
		if (!inet_ntop(addr.ss_family, ip, peer, sizeof(peer)))
			peer[0] = '\0';
	}
	log_info("HTTP connection%s%s closed without a request the relay could read: none was sent, "
		 "or libwebsockets could not parse it (e.g. %%00 in the URL, headers too long or too "
		 "many) and dropped it unanswered", peer[0] ? " from " : "", peer);
}

int http_router_callback(struct http_router *r, struct lws *wsi, enum lws_callback_reasons reason,
			 void *user, void *in, size_t len)
{
	struct http_session *s = user;
	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return on_request(r, s, wsi, in);
	case LWS_CALLBACK_HTTP_BODY:
		on_body(s, in, len);
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (s->phase == HP_READING && s->route) /* not answered already (413) */
			dispatch(s);
		return 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return s ? on_writeable(s, wsi) : 0;
	case LWS_CALLBACK_CLOSED_HTTP:
		if (!s)
			log_unread_request(wsi);
		else
			release(s);
		return 0;
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (s)
			release(s);
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}
