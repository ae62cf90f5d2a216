#include "term/recording.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/term_frame.h"
#include "term/asciicast.h"

/* mkdir -p of path's directory, new directories 0700 (recordings are
 * private to the relay's user). */
static int make_parents(const char *path)
{
	char dir[4096];
	if (strlen(path) >= sizeof(dir))
		return -1;
	strcpy(dir, path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(dir, 0700) != 0 && errno != EEXIST)
				return -1;
			if (c == '\0')
				break;
			*p = c;
		}
	}
	return 0;
}

static int write_all(struct recording *r, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(r->fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_error("writing the recording: %s", n < 0 ? strerror(errno) : "no progress");
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static double elapsed(const struct recording *r)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - r->start.tv_sec) + (now.tv_nsec - r->start.tv_nsec) / 1e9;
}

int recording_open(struct recording *r, const char *path, int cols, int rows)
{
	memset(r, 0, sizeof(*r));
	r->fd = -1;
	if (make_parents(path)) {
		log_error("cannot make the recording's directory for %s: %s", path, strerror(errno));
		return -1;
	}
	r->line_cap = ASCIICAST_EVENT_CAP(TERM_FRAME_MAX + sizeof(r->carry));
	r->line = malloc(r->line_cap);
	if (!r->line) {
		log_error("out of memory");
		return -1;
	}
	r->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (r->fd < 0) {
		log_error("cannot create the recording %s: %s", path, strerror(errno));
		recording_close(r);
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	int n = asciicast_header(r->line, r->line_cap, cols, rows, (int64_t)time(NULL),
				 "xterm-256color");
	if (n < 0 || write_all(r, r->line, (size_t)n)) {
		recording_close(r);
		return -1;
	}
	return 0;
}

int recording_output(struct recording *r, const uint8_t *data, size_t n)
{
	if (r->fd < 0 || n == 0)
		return 0;
	/* The held-back bytes first, then as much as ends on a whole
	 * character; a new tail is held back for the next chunk. */
	uint8_t joined[TERM_FRAME_MAX + sizeof(r->carry)];
	if (n > TERM_FRAME_MAX)
		return -1;
	memcpy(joined, r->carry, r->carry_len);
	memcpy(joined + r->carry_len, data, n);
	size_t total = r->carry_len + n;
	size_t whole = asciicast_utf8_whole(joined, total);
	r->carry_len = total - whole;
	memcpy(r->carry, joined + whole, r->carry_len);
	if (whole == 0)
		return 0;
	int len = asciicast_event(r->line, r->line_cap, elapsed(r), 'o', joined, whole);
	return len < 0 ? -1 : write_all(r, r->line, (size_t)len);
}

int recording_resize(struct recording *r, int cols, int rows)
{
	if (r->fd < 0)
		return 0;
	char size[32];
	int n = snprintf(size, sizeof(size), "%dx%d", cols, rows);
	int len = asciicast_event(r->line, r->line_cap, elapsed(r), 'r', (const uint8_t *)size,
				  (size_t)n);
	return len < 0 ? -1 : write_all(r, r->line, (size_t)len);
}

void recording_close(struct recording *r)
{
	if (r->fd >= 0 && r->carry_len) {
		/* A character cut at the very end: record what there is. */
		int len = asciicast_event(r->line, r->line_cap, elapsed(r), 'o', r->carry,
					  r->carry_len);
		if (len > 0)
			(void)write_all(r, r->line, (size_t)len);
	}
	if (r->fd >= 0 && close(r->fd))
		log_error("closing the recording: %s", strerror(errno));
	r->fd = -1;
	free(r->line);
	r->line = NULL;
}
