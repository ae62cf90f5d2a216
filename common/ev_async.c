/* The event loop's cross-thread wake-up: an eventfd that any thread may
 * write to; the loop reads it and calls the callback once. */
#include "common/ev_internal.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

static void on_readable(struct ev_io *w, unsigned events)
{
	struct ev_async *a = w->user;
	uint64_t count;
	/* Reading resets the counter: sends before this run become one call. */
	if (read(w->fd, &count, sizeof(count)) < 0 && errno != EAGAIN && errno != EINTR)
		return;
	a->cb(a);
}

int ev_async_start(struct ev_loop *loop, struct ev_async *a, ev_async_cb cb, void *user)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0)
		return -1;
	a->cb = cb;
	a->user = user;
	if (ev_io_start(loop, &a->io, fd, EV_READ, on_readable, a)) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return 0;
}

void ev_async_send(struct ev_async *a)
{
	uint64_t one = 1;
	/* Fails only when the counter is about to overflow: a wake-up is
	 * pending anyway. write() is async-signal-safe, so a signal handler
	 * may call this too. */
	ssize_t n = write(a->io.fd, &one, sizeof(one));
	(void)n;
}

void ev_async_stop(struct ev_async *a)
{
	if (!a->io.active)
		return;
	ev_io_stop(&a->io);
	close(a->io.fd);
	a->io.fd = -1;
}
