/* Terminal recordings in the console: the list of a thing's recordings,
 * a download (streamed by lws from the file, never read whole), and the
 * purge of those older than --recordings-keep-days, a few files per tick.
 * Operators see their own recordings only (the user is in the name). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/text.h"
#include "relay/console_state.h"
#include "relay/recording_name.h"

/* Entries of a thing's directory looked at per listing. */
#define LIST_MAX 2000
/* Directory entries the purge looks at per tick, and how long it rests
 * after a whole pass. */
#define PURGE_PER_TICK 16
#define PURGE_REST_S 3600

static bool may_see(const struct console_identity *id, const struct recording_name *r)
{
	return id->role == CONSOLE_ADMIN || !strcmp(id->user, r->user);
}

static int newest_first(const void *a, const void *b)
{
	const cJSON *const *x = a, *const *y = b;
	const char *ix = cJSON_GetObjectItemCaseSensitive(*x, "id")->valuestring;
	const char *iy = cJSON_GetObjectItemCaseSensitive(*y, "id")->valuestring;
	return strcmp(iy, ix);
}

static cJSON *recording_object(const struct recording_name *r, off_t bytes)
{
	char id[512], started[32];
	recording_id(r, id, sizeof(id));
	api_format_time(r->started_at, started);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "thing", r->thing);
	cJSON_AddStringToObject(o, "user", r->user);
	cJSON_AddStringToObject(o, "startedAt", started);
	cJSON_AddNumberToObject(o, "bytes", (double)bytes);
	return o;
}

/* GET /console/api/recordings?thing=NAME */
static void list(struct console *c, struct http_request *req, const struct console_identity *id)
{
	char buf[REGISTRY_MAX_THING + 16];
	const char *thing = lws_get_urlarg_by_name(req->wsi, "thing=", buf, sizeof(buf));
	if (!thing || !recording_thing_valid(thing)) {
		console_respond_error(req, 400, "want ?thing=NAME");
		return;
	}
	char dir[1024];
	textf(dir, sizeof(dir), "%s/%s", c->recordings_dir, thing);
	cJSON **rows = calloc(LIST_MAX, sizeof(*rows));
	if (!rows) {
		console_respond_error(req, 500, "out of memory");
		return;
	}
	size_t n = 0;
	DIR *d = opendir(dir); /* none yet: no recordings */
	struct dirent *e;
	for (size_t seen = 0; d && seen < LIST_MAX && (e = readdir(d)); seen++) {
		struct recording_name r;
		struct stat st;
		char path[1400];
		if (!recording_parse_file(thing, e->d_name, &r) || !may_see(id, &r))
			continue;
		textf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		rows[n] = recording_object(&r, st.st_size);
		if (rows[n])
			n++;
	}
	if (d)
		closedir(d);
	qsort(rows, n, sizeof(*rows), newest_first);
	cJSON *out = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(out, "recordings");
	for (size_t i = 0; i < n; i++)
		if (!arr || !cJSON_AddItemToArray(arr, rows[i]))
			cJSON_Delete(rows[i]);
	free(rows);
	console_respond_tree(req, arr ? 200 : 500, out);
}

/* GET /console/api/recordings/ID */
static void download(struct console *c, struct http_request *req, const struct console_identity *id,
		     const char *rid)
{
	struct recording_name r;
	if (!recording_parse_id(rid, &r)) {
		console_respond_error(req, 404, "no such recording");
		return;
	}
	if (!may_see(id, &r)) {
		console_respond_error(req, 403, "operators may download their own recordings only");
		return;
	}
	char path[1400], disposition[400];
	struct stat st;
	textf(path, sizeof(path), "%s/%s/%s", c->recordings_dir, r.thing, r.file);
	if (lstat(path, &st) || !S_ISREG(st.st_mode)) {
		console_respond_error(req, 404, "no such recording");
		return;
	}
	textf(disposition, sizeof(disposition), "attachment; filename=\"%s-%s\"", r.thing, r.file);
	struct http_header h[CONSOLE_N_SECURITY_HEADERS + 1];
	memcpy(h, console_security_headers, sizeof(console_security_headers));
	h[CONSOLE_N_SECURITY_HEADERS] = (struct http_header){ "content-disposition", disposition };
	if (http_respond_file(req, path, "application/x-asciicast", h, CONSOLE_N_SECURITY_HEADERS + 1))
		console_respond_error(req, 500, "cannot send the recording");
}

void console_recordings(struct console *c, struct http_request *req, const struct console_identity *id)
{
	if (!c->recordings_dir[0]) {
		console_respond_error(req, 404, "recordings are off (tunnel-relay --recordings)");
		return;
	}
	const char *rest = req->path + strlen("/console/api/recordings");
	if (!rest[0])
		list(c, req, id);
	else if (rest[0] == '/' && rest[1])
		download(c, req, id, rest + 1);
	else
		console_respond_error(req, 404, "no such console call");
}

/* ---- retention ---------------------------------------------------------------- */

/* Where the purge is: the top directory, and the thing directory in it. */
struct purge {
	DIR *top, *sub;
	char thing[REGISTRY_MAX_THING + 1];
	int64_t rest_until;
};

static void purge_entry(struct console *c, const char *thing, const char *file, int64_t now)
{
	struct recording_name r;
	struct stat st;
	char path[1400];
	if (!recording_parse_file(thing, file, &r))
		return;
	textf(path, sizeof(path), "%s/%s/%s", c->recordings_dir, thing, file);
	if (lstat(path, &st) || !S_ISREG(st.st_mode))
		return;
	if (now - (int64_t)st.st_mtime < (int64_t)c->cfg.keep_days * 86400)
		return;
	if (unlink(path))
		log_warn("recordings: cannot delete %s: %s", path, strerror(errno));
	else
		log_info("recordings: deleted %s/%s (older than %d days)", thing, file, c->cfg.keep_days);
}

void console_recordings_purge(struct console *c, int64_t now)
{
	struct purge *p = c->purge;
	if (!c->recordings_dir[0] || !p || now < p->rest_until)
		return;
	for (int budget = PURGE_PER_TICK; budget > 0; budget--) {
		if (!p->top && !(p->top = opendir(c->recordings_dir))) {
			p->rest_until = now + PURGE_REST_S; /* not made yet */
			return;
		}
		if (p->sub) {
			struct dirent *e = readdir(p->sub);
			if (e) {
				purge_entry(c, p->thing, e->d_name, now);
				continue;
			}
			closedir(p->sub);
			p->sub = NULL;
		}
		struct dirent *t = readdir(p->top);
		if (!t) {
			closedir(p->top);
			p->top = NULL;
			p->rest_until = now + PURGE_REST_S;
			return;
		}
		if (!recording_thing_valid(t->d_name))
			continue;
		char dir[1024];
		textf(dir, sizeof(dir), "%s/%s", c->recordings_dir, t->d_name);
		textf(p->thing, sizeof(p->thing), "%s", t->d_name);
		p->sub = opendir(dir);
	}
}

int console_recordings_start(struct console *c)
{
	c->purge = calloc(1, sizeof(*c->purge));
	return c->purge ? 0 : -1;
}

void console_recordings_stop(struct console *c)
{
	if (!c->purge)
		return;
	if (c->purge->sub)
		closedir(c->purge->sub);
	if (c->purge->top)
		closedir(c->purge->top);
	free(c->purge);
	c->purge = NULL;
}
