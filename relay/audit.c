#include "relay/audit.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/text.h"

/* One event of the ring: its JSON text and whose it is (for operators,
 * who see only their own). */
struct audit_entry {
	char *line;
	char who[64];
};

struct audit {
	int fd;                    /* -1: no file */
	char path[256];
	bool failing;              /* the last write failed: said once per episode */
	size_t cap, n, next;       /* ring: next is where the next event goes */
	struct audit_entry *ring;
};

struct audit *audit_open(const char *path, size_t ring_cap, char *err, size_t err_cap)
{
	struct audit *a = calloc(1, sizeof(*a));
	if (ring_cap == 0)
		ring_cap = 1;
	if (a)
		a->ring = calloc(ring_cap, sizeof(*a->ring));
	if (!a || !a->ring) {
		free(a);
		errf(err, err_cap, "out of memory");
		return NULL;
	}
	a->cap = ring_cap;
	a->fd = -1;
	if (path) {
		textf(a->path, sizeof(a->path), "%s", path);
		a->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (a->fd < 0) {
			errf(err, err_cap, "cannot open the audit log %s: %s", path, strerror(errno));
			free(a->ring);
			free(a);
			return NULL;
		}
	}
	return a;
}

void audit_close(struct audit *a)
{
	if (!a)
		return;
	if (a->fd >= 0 && close(a->fd))
		log_error("closing the audit log %s: %s", a->path, strerror(errno));
	for (size_t i = 0; i < a->cap; i++)
		free(a->ring[i].line);
	free(a->ring);
	free(a);
}

static void add_field(cJSON *o, const char *key, const char *value)
{
	if (value && *value)
		cJSON_AddStringToObject(o, key, value);
}

static char *event_line(const struct audit_event *ev, int64_t now)
{
	char when[32];
	time_t t = (time_t)now;
	struct tm tm;
	if (!gmtime_r(&t, &tm) || !strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm))
		when[0] = '\0';
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	add_field(o, "time", when);
	add_field(o, "who", ev->who);
	add_field(o, "role", ev->role);
	add_field(o, "from", ev->from);
	add_field(o, "action", ev->action);
	add_field(o, "thing", ev->thing);
	add_field(o, "tunnelId", ev->tunnel_id);
	add_field(o, "detail", ev->detail);
	char *line = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return line;
}

/* One write per line, so that lines of several writers (or a rotation by
 * logrotate's copytruncate) never interleave mid-line. */
static void append(struct audit *a, const char *line)
{
	size_t len = strlen(line);
	char *buf = malloc(len + 1);
	ssize_t n = -1;
	int e = ENOMEM;
	if (buf) {
		memcpy(buf, line, len);
		buf[len] = '\n';
		n = write(a->fd, buf, len + 1);
		e = errno;
		free(buf);
	}
	if (n == (ssize_t)(len + 1)) {
		if (a->failing)
			log_info("audit log %s: writing again", a->path);
		a->failing = false;
		return;
	}
	if (!a->failing)
		log_error("audit log %s: cannot append an event (%s); events go to this log only until "
			  "it works again", a->path, n < 0 ? strerror(e) : "short write");
	a->failing = true;
}

void audit_record_at(struct audit *a, const struct audit_event *ev, int64_t now)
{
	char *line = event_line(ev, now);
	if (!line) {
		log_error("audit: out of memory; event %s by %s not recorded", ev->action ? ev->action : "?",
			  ev->who ? ev->who : "?");
		return;
	}
	log_info("audit: %s", line);
	if (!a) {
		free(line);
		return;
	}
	if (a->fd >= 0)
		append(a, line);
	struct audit_entry *e = &a->ring[a->next];
	free(e->line);
	e->line = line;
	textf(e->who, sizeof(e->who), "%s", ev->who ? ev->who : "");
	a->next = (a->next + 1) % a->cap;
	if (a->n < a->cap)
		a->n++;
}

void audit_record(struct audit *a, const struct audit_event *ev)
{
	audit_record_at(a, ev, (int64_t)time(NULL));
}

char *audit_events_json(const struct audit *a, const char *only_who, size_t limit)
{
	/* The lines are JSON objects already: joined, not parsed again. */
	size_t total = 16, taken = 0;
	for (size_t k = 0; a && k < a->n && taken < limit; k++) {
		const struct audit_entry *e = &a->ring[(a->next + a->cap - 1 - k) % a->cap];
		if (only_who && strcmp(e->who, only_who))
			continue;
		total += strlen(e->line) + 1;
		taken++;
	}
	char *out = malloc(total);
	if (!out)
		return NULL;
	size_t len = (size_t)sprintf(out, "{\"events\":[");
	taken = 0;
	for (size_t k = 0; a && k < a->n && taken < limit; k++) {
		const struct audit_entry *e = &a->ring[(a->next + a->cap - 1 - k) % a->cap];
		if (only_who && strcmp(e->who, only_who))
			continue;
		if (taken++)
			out[len++] = ',';
		size_t l = strlen(e->line);
		memcpy(out + len, e->line, l);
		len += l;
	}
	memcpy(out + len, "]}", 3);
	return out;
}
