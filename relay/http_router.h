/* Plain HTTP requests on the relay's listener, routed by path: a table of
 * routes (a path or a path prefix, a method, a handler) that the parts
 * serving HTTP register into (the management API and /metrics today; the
 * console's pages, JSON API and terminal later). The router reads the
 * request line, the query and a POST body up to the route's limit, calls
 * the handler, and writes the response whenever the handler gives it: at
 * once, or later from the event loop (after a save or an MQTT publish).
 * Anything no route takes gets a 400. */
#ifndef RELAY_HTTP_ROUTER_H
#define RELAY_HTTP_ROUTER_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>

/* One request, as a handler sees it. Valid until http_respond, or until
 * the route's abort is called. */
struct http_request {
	struct lws *wsi;           /* for headers (lws_hdr_copy) */
	char method[8];            /* "GET", "POST", "DELETE" or "OTHER" */
	char path[256];
	char query[512];           /* "" when none */
	char *body;                /* NUL-terminated; NULL when empty */
	size_t body_len;
	bool body_too_big;         /* longer than the route's max_body: not kept */
	void *handler_ctx;         /* the handler's own, for a deferred answer */
};

typedef void (*http_handler_fn)(void *arg, struct http_request *req);

struct http_route {
	const char *path;          /* ending in '/': a prefix; else the whole path */
	const char *method;        /* NULL: any method */
	size_t max_body;           /* POST body bytes kept (0: the body is not read) */
	http_handler_fn handle;    /* answers now or later with http_respond */
	/* The connection went away before the handler answered: drop what
	 * waits for req (NULL when the handler always answers at once). */
	http_handler_fn abort;
	void *arg;
};

#define HTTP_MAX_ROUTES 24

struct http_router;

struct http_router *http_router_new(void);
void http_router_free(struct http_router *r);
/* Adds a route (copied; its strings must outlive the router). The first
 * matching route wins. Returns 0, or -1 when the table is full. */
int http_router_add(struct http_router *r, const struct http_route *route);

/* The answer to req: copies text; the response goes out with
 * Cache-Control: no-store. Call once per request. */
void http_respond(struct http_request *req, int status, const char *content_type, const char *text);

/* A response header ("name" without the colon). */
struct http_header {
	const char *name;
	const char *value;
};
#define HTTP_MAX_EXTRA_HEADERS 8
/* http_respond with a body of len bytes (any bytes) and up to
 * HTTP_MAX_EXTRA_HEADERS more headers (copied; at most 2 KiB in all). */
void http_respond_with(struct http_request *req, int status, const char *content_type,
		       const void *body, size_t len, const struct http_header *headers, size_t n_headers);
/* Answers req with the file at path, streamed from the loop by lws (never
 * read whole), with the headers given. Returns 0, or -1 when the file
 * cannot be served (nothing was answered: the caller answers). */
int http_respond_file(struct http_request *req, const char *path, const char *content_type,
		      const struct http_header *headers, size_t n_headers);

/* The client's address ("127.0.0.1", "::1"; an IPv4 client of the
 * dual-stack socket without its "::ffff:"), "" when unknown. With
 * --proxy-protocol, the address the load balancer's PROXY header named
 * (relay/listener.h). Every log line, limit and audit record that names a
 * client takes it from here. */
void http_client_address(struct lws *wsi, char *out, size_t cap);

/* The "http" protocol's per-connection data size, and its callback for
 * every HTTP event (the server passes on what it does not handle itself). */
size_t http_router_session_size(void);
int http_router_callback(struct http_router *r, struct lws *wsi, enum lws_callback_reasons reason,
			 void *user, void *in, size_t len);

#endif
