#include "relay/console_static.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/text.h"
#include "relay/console_auth.h"
#include "relay/console_state.h"
#include "relay/http_router.h"

#define MAX_DEPTH 8

static const struct { const char *ext, *type; } types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".mjs", "text/javascript; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".json", "application/json" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".ico", "image/x-icon" },
	{ ".woff2", "font/woff2" },
	{ ".txt", "text/plain; charset=utf-8" },
};

const char *console_static_type(const char *name)
{
	size_t len = strlen(name);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t el = strlen(types[i].ext);
		if (len > el && !strcmp(name + len - el, types[i].ext))
			return types[i].type;
	}
	return NULL;
}

static int read_file(const char *path, size_t size, char **out, char *err, size_t err_cap)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		errf(err, err_cap, "console file %s: %s", path, strerror(errno));
		return -1;
	}
	char *data = malloc(size ? size : 1);
	if (!data || fread(data, 1, size, f) != size) {
		errf(err, err_cap, "console file %s: %s", path, data ? "short read" : "out of memory");
		free(data);
		fclose(f);
		return -1;
	}
	fclose(f);
	*out = data;
	return 0;
}

static int add_file(struct console_static *s, const char *path, const char *url, const char *type,
		    size_t size, char *err, size_t err_cap)
{
	if (s->n == CONSOLE_STATIC_MAX_FILES || s->bytes + size > CONSOLE_STATIC_MAX_BYTES) {
		errf(err, err_cap, "console files: more than %d files or %u bytes", CONSOLE_STATIC_MAX_FILES,
		     CONSOLE_STATIC_MAX_BYTES);
		return -1;
	}
	if (!s->file) {
		s->file = calloc(CONSOLE_STATIC_MAX_FILES, sizeof(*s->file));
		if (!s->file) {
			errf(err, err_cap, "out of memory");
			return -1;
		}
	}
	struct static_file *f = &s->file[s->n];
	f->url = strdup(url);
	if (!f->url || read_file(path, size, &f->data, err, err_cap)) {
		if (!f->url)
			errf(err, err_cap, "out of memory");
		free(f->url);
		f->url = NULL;
		return -1;
	}
	f->type = type;
	f->len = size;
	s->n++;
	s->bytes += size;
	return 0;
}

/* Adds the files under dir as url_prefix…, skipping node_modules (the
 * vendor tree is added on its own) and hidden names. */
static int walk(struct console_static *s, const char *dir, const char *url_prefix, int depth,
		char *err, size_t err_cap)
{
	if (depth > MAX_DEPTH)
		return 0;
	DIR *d = opendir(dir);
	if (!d) {
		errf(err, err_cap, "console directory %s: %s", dir, strerror(errno));
		return -1;
	}
	struct dirent *e;
	int rc = 0;
	while (!rc && (e = readdir(d))) {
		if (e->d_name[0] == '.' || !strcmp(e->d_name, "node_modules"))
			continue;
		char path[1024], url[1024];
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= sizeof(path) ||
		    (size_t)snprintf(url, sizeof(url), "%s%s", url_prefix, e->d_name) >= sizeof(url))
			continue;
		struct stat st;
		if (stat(path, &st))
			continue;
		if (S_ISDIR(st.st_mode)) {
			char sub[1024];
			if ((size_t)snprintf(sub, sizeof(sub), "%s/", url) < sizeof(sub))
				rc = walk(s, path, sub, depth + 1, err, err_cap);
			continue;
		}
		const char *type = console_static_type(e->d_name);
		if (S_ISREG(st.st_mode) && type)
			rc = add_file(s, path, url, type, (size_t)st.st_size, err, err_cap);
	}
	closedir(d);
	return rc;
}

int console_static_load(struct console_static *s, const char *dir, char *err, size_t err_cap)
{
	memset(s, 0, sizeof(*s));
	char vendor[1024];
	struct stat st;
	if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
		errf(err, err_cap, "console directory %s: not a directory (--console-dir)", dir);
		return -1;
	}
	textf(vendor, sizeof(vendor), "%s/node_modules/@xterm", dir);
	if (stat(vendor, &st) || !S_ISDIR(st.st_mode)) {
		errf(err, err_cap, "console directory %s has no node_modules/@xterm (xterm.js): run "
		     "make console-assets", dir);
		return -1;
	}
	if (walk(s, dir, "/console/", 0, err, err_cap) ||
	    walk(s, vendor, "/console/vendor/", 0, err, err_cap)) {
		console_static_free(s);
		return -1;
	}
	return 0;
}

void console_static_serve(const struct console_static *s, struct http_request *req)
{
	if (strcmp(req->method, "GET")) {
		console_respond_error(req, 400, "console files take GET only");
		return;
	}
	if (strstr(req->path, "..")) {
		console_respond_error(req, 400, "no .. in console paths");
		return;
	}
	const char *want = strcmp(req->path, "/console/") ? req->path : "/console/index.html";
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->file[i].url, want)) {
			http_respond_with(req, 200, s->file[i].type, s->file[i].data, s->file[i].len,
					  console_security_headers, CONSOLE_N_SECURITY_HEADERS);
			return;
		}
	console_respond_error(req, 404, "no such console file");
}

void console_static_free(struct console_static *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->file[i].url);
		free(s->file[i].data);
	}
	free(s->file);
	memset(s, 0, sizeof(*s));
}
