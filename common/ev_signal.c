/* The event loop's signals: blocked, then read from a signalfd, so their
 * callbacks run on the loop like any event (no async-signal-safety rules). */
#include "common/ev_internal.h"

#include <errno.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

static void on_readable(struct ev_io *w, unsigned events)
{
	struct ev_signal *s = w->user;
	struct signalfd_siginfo info;
	ssize_t n;
	while ((n = read(w->fd, &info, sizeof(info))) == (ssize_t)sizeof(info) && w->active)
		s->cb(s, (int)info.ssi_signo);
}

int ev_signal_start(struct ev_loop *loop, struct ev_signal *s, const int *signals, size_t n,
		    ev_signal_cb cb, void *user)
{
	sigset_t set;
	sigemptyset(&set);
	/* An ignored signal is dropped when sent, so it would never reach the
	 * signalfd (a shell starts background jobs with SIGINT ignored). */
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigemptyset(&dfl.sa_mask);
	for (size_t i = 0; i < n; i++)
		if (sigaddset(&set, signals[i]) || sigaction(signals[i], &dfl, NULL))
			return -1;
	int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -1;
	s->cb = cb;
	s->user = user;
	if (sigprocmask(SIG_BLOCK, &set, NULL) || ev_io_start(loop, &s->io, fd, EV_READ, on_readable, s)) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	s->mask = set;
	return 0;
}

void ev_signal_stop(struct ev_signal *s)
{
	if (!s->io.active)
		return;
	ev_io_stop(&s->io);
	close(s->io.fd);
	s->io.fd = -1;
	sigprocmask(SIG_UNBLOCK, &s->mask, NULL);
}
