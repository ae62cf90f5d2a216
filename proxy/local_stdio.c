/* A local connection on two file descriptors (see local_stdio.h). Pipes are
 * not sockets: read() and write() on two watchers, one per direction. The
 * write watcher also carries the end (writable with nothing queued: close),
 * so a close never runs inside a caller's call. */
#include "proxy/local_stdio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/io.h"
#include "common/log.h"
#include "proxy/local_queue.h"

struct local_stdio {
	struct ev_io in, out;
	struct local_sock_handler h;
	struct local_queue queue;
	bool read_paused, ending;
	bool in_parked;            /* in hung up while not read: unwatched, or it would spin */
};

static uint8_t read_buf[LOCAL_SOCK_READ_MAX];

static void update_interest(struct local_stdio *s)
{
	unsigned in = !s->ending && !s->read_paused ? EV_READ : 0;
	unsigned out = s->ending || bytequeue_len(&s->queue.bytes) ? EV_WRITE : 0;
	if (s->in_parked && in) {
		s->in_parked = false;
		if (ev_io_start(s->in.loop, &s->in, s->in.fd, in, s->in.cb, s))
			log_warn("stdin: epoll: %s", strerror(errno));
	}
	if (ev_io_set(&s->in, in) || ev_io_set(&s->out, out))
		log_debug("stdio: epoll: %s", strerror(errno));
}

void local_stdio_free(struct local_stdio *s)
{
	if (!s)
		return;
	ev_io_stop(&s->in);
	ev_io_stop(&s->out);
	close(s->in.fd);
	close(s->out.fd);
	local_queue_free(&s->queue);
	free(s);
}

static void close_and_report(struct local_stdio *s)
{
	struct local_sock_handler h = s->h;
	local_stdio_free(s);
	h.on_closed(h.user);
}

int local_stdio_send(struct local_stdio *s, const uint8_t *data, size_t len)
{
	if (s->ending)
		return 0;
	if (local_queue_add(&s->queue, &s->h, data, len))
		return -1;
	update_interest(s);
	return 0;
}

void local_stdio_pause_read(struct local_stdio *s, bool pause)
{
	s->read_paused = pause;
	update_interest(s);
}

void local_stdio_end(struct local_stdio *s)
{
	s->ending = true;
	update_interest(s);
}

static void on_out(struct ev_io *w, unsigned events)
{
	struct local_stdio *s = w->user;
	size_t len = bytequeue_len(&s->queue.bytes);
	ssize_t n = len ? write(w->fd, bytequeue_peek(&s->queue.bytes), len) : 0;
	if (n < 0 && io_try_again(errno))
		return;
	if (n < 0 || ((events & EV_ERROR) && !(events & EV_WRITE))) {
		log_debug("stdout: %s", n < 0 ? strerror(errno) : "closed");
		close_and_report(s);
		return;
	}
	local_queue_written(&s->queue, &s->h, (size_t)n);
	if (s->ending && bytequeue_len(&s->queue.bytes) == 0) {
		close_and_report(s); /* flushed */
		return;
	}
	update_interest(s);
}

static void on_in(struct ev_io *w, unsigned events)
{
	struct local_stdio *s = w->user;
	if (s->ending || s->read_paused) {
		/* A hang-up is reported even without interest: park until read again. */
		if (events & EV_ERROR) {
			ev_io_stop(&s->in);
			s->in_parked = true;
		}
		return;
	}
	ssize_t n = read(w->fd, read_buf, s->h.read_max);
	if (n < 0 && io_try_again(errno))
		return;
	if (n <= 0) {
		/* The protocol has no half-close: the end of input ends it. */
		log_debug("stdin: %s", n < 0 ? strerror(errno) : "end of input");
		close_and_report(s);
		return;
	}
	s->h.on_data(s->h.user, read_buf, (size_t)n);
}

static int set_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);
	return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

struct local_stdio *local_stdio_open(struct ev_loop *loop, int in_fd, int out_fd,
				     const struct local_sock_handler *h)
{
	struct local_stdio *s = calloc(1, sizeof(*s));
	if (!s || set_nonblocking(in_fd) || set_nonblocking(out_fd)) {
		log_error("stdin/stdout: %s", s ? strerror(errno) : "out of memory");
		goto fail;
	}
	s->h = *h;
	if (s->h.read_max == 0 || s->h.read_max > LOCAL_SOCK_READ_MAX)
		s->h.read_max = LOCAL_SOCK_READ_MAX;
	local_queue_init(&s->queue);
	s->in.fd = s->out.fd = -1;
	/* epoll cannot watch a regular file: stdin must be a pipe, socket or tty. */
	if (ev_io_start(loop, &s->in, in_fd, EV_READ, on_in, s)) {
		log_error("cannot watch stdin (a pipe or socket is needed): %s", strerror(errno));
		goto fail;
	}
	if (ev_io_start(loop, &s->out, out_fd, 0, on_out, s)) {
		log_error("cannot watch stdout (a pipe or socket is needed): %s", strerror(errno));
		ev_io_stop(&s->in);
		goto fail;
	}
	return s;
fail:
	close(in_fd);
	close(out_fd);
	free(s);
	return NULL;
}
