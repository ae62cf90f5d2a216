/* The console's static files (HTML, CSS, JS, and xterm.js under
 * /console/vendor/), read into memory once at start-up so that serving
 * them never touches the disk from the event loop. Only files of known
 * types are taken; the tree and its size are bounded. */
#ifndef RELAY_CONSOLE_STATIC_H
#define RELAY_CONSOLE_STATIC_H

#include <stddef.h>

struct http_request;

#define CONSOLE_STATIC_MAX_FILES 512
#define CONSOLE_STATIC_MAX_BYTES (32u * 1024u * 1024u)

struct static_file {
	char *url;                 /* "/console/app.js", "/console/vendor/xterm/lib/xterm.js" */
	const char *type;          /* Content-Type */
	char *data;
	size_t len;
};

struct console_static {
	struct static_file *file;
	size_t n;
	size_t bytes;
};

/* Loads dir (its files) and dir/node_modules/@xterm/ (as /console/vendor/).
 * Returns 0, or -1 with a reason in err (a missing vendor directory says to
 * run make console-assets). */
int console_static_load(struct console_static *s, const char *dir, char *err, size_t err_cap);
/* The Content-Type for a file name by its extension; NULL: not served. */
const char *console_static_type(const char *name);
/* Answers a request for a static file (GET only; "/console/" is index.html). */
void console_static_serve(const struct console_static *s, struct http_request *req);
void console_static_free(struct console_static *s);

#endif
