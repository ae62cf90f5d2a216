/* One HTTPS request with libcurl: method, URL, bearer key, CA file, JSON
 * body -> status + body. TLS verification is always on. */
#ifndef TUNNELCTL_HTTP_H
#define TUNNELCTL_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_MAX_RESPONSE (1024 * 1024) /* bytes of response body */
#define HTTP_CONNECT_TIMEOUT 10         /* seconds */
#define HTTP_TOTAL_TIMEOUT 30           /* seconds */

struct http_request {
	const char *method;  /* "GET", "POST", "DELETE", ... */
	const char *url;     /* https:// only */
	const char *api_key; /* sent as "Authorization: Bearer KEY" */
	const char *ca_file; /* NULL: the system CAs */
	const char *body;    /* JSON, or NULL */
	bool verbose;        /* request/response lines and TLS info on stderr, key redacted */
};

struct http_response {
	long status;
	char *body; /* NUL-terminated, malloc'd (never NULL after success) */
	size_t len;
};

/* Once per process, before and after any http_perform. */
int http_global_init(char *err, size_t err_cap);
void http_global_cleanup(void);

/* Returns 0 when the server answered (any HTTP status), or -1 when it could
 * not be reached or its answer was unusable, with curl's error text in err. */
int http_perform(const struct http_request *req, struct http_response *resp, char *err,
		 size_t err_cap);
void http_response_free(struct http_response *resp);

#endif
