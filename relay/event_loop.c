#include "relay/event_loop.h"

#include <dlfcn.h>
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* lws 4.1 loads its event library back ends as plugins by this name from
 * its library directory; dlopen finds them there by the same search. */
#define EVLIB_PLUGIN "libwebsockets-evlib_ev.so"

struct relay_loop {
	struct ev_loop *ev;
	void *foreign[1];
	ev_signal sigint;
	ev_signal sigterm;
	int stopped_by;
	ev_prepare before_wait;
	void (*before_wait_cb)(void *arg);
	void *before_wait_arg;
};

/* lws_create_context would only say "plugin not found" at debug level:
 * look first, so the error names the package to install. */
static int evlib_plugin_present(char *err, size_t cap)
{
	void *h = dlopen(EVLIB_PLUGIN, RTLD_LAZY | RTLD_LOCAL);
	if (!h) {
		const char *why = dlerror();
		snprintf(err, cap, "libwebsockets' libev event library %s cannot be loaded (%s): "
			 "install the Debian package %s", EVLIB_PLUGIN, why ? why : "not found",
			 RELAY_EVLIB_PACKAGE);
		return -1;
	}
	dlclose(h);
	return 0;
}

struct relay_loop *relay_loop_new(char *err, size_t cap)
{
	if (evlib_plugin_present(err, cap))
		return NULL;
	struct relay_loop *loop = calloc(1, sizeof(*loop));
	if (!loop) {
		snprintf(err, cap, "out of memory");
		return NULL;
	}
	/* EVFLAG_NOENV: LIBEV_FLAGS in the environment must not pick poll()
	 * again behind our back. */
	loop->ev = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOENV);
	if (!loop->ev) {
		snprintf(err, cap, "cannot create the libev event loop");
		free(loop);
		return NULL;
	}
	loop->foreign[0] = loop->ev;
	return loop;
}

void **relay_loop_foreign(struct relay_loop *loop)
{
	return loop->foreign;
}

static void on_stop_signal(struct ev_loop *ev, ev_signal *w, int revents)
{
	struct relay_loop *loop = w->data;
	loop->stopped_by = w->signum;
	ev_break(ev, EVBREAK_ALL);
}

int relay_loop_run(struct relay_loop *loop)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN; /* a peer gone mid-write is an error return */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
	ev_signal_init(&loop->sigint, on_stop_signal, SIGINT);
	ev_signal_init(&loop->sigterm, on_stop_signal, SIGTERM);
	loop->sigint.data = loop;
	loop->sigterm.data = loop;
	ev_signal_start(loop->ev, &loop->sigint);
	ev_signal_start(loop->ev, &loop->sigterm);
	ev_run(loop->ev, 0);
	/* Later signals kill the process the default way: a second Ctrl-C
	 * during a slow stop still works. */
	ev_signal_stop(loop->ev, &loop->sigint);
	ev_signal_stop(loop->ev, &loop->sigterm);
	return loop->stopped_by;
}

void relay_loop_run_nowait(struct relay_loop *loop)
{
	ev_run(loop->ev, EVRUN_NOWAIT);
}

static void on_prepare(struct ev_loop *ev, ev_prepare *w, int revents)
{
	struct relay_loop *loop = w->data;
	loop->before_wait_cb(loop->before_wait_arg);
}

int relay_loop_before_wait(struct relay_loop *loop, void (*cb)(void *arg), void *arg)
{
	if (loop->before_wait_cb)
		return -1;
	loop->before_wait_cb = cb;
	loop->before_wait_arg = arg;
	ev_prepare_init(&loop->before_wait, on_prepare);
	loop->before_wait.data = loop;
	ev_prepare_start(loop->ev, &loop->before_wait);
	/* Not a reason to keep running: the loop still ends when nothing else is left. */
	ev_unref(loop->ev);
	return 0;
}

void relay_loop_free(struct relay_loop *loop)
{
	if (!loop)
		return;
	if (loop->before_wait_cb) {
		ev_ref(loop->ev);
		ev_prepare_stop(loop->ev, &loop->before_wait);
	}
	ev_loop_destroy(loop->ev);
	free(loop);
}

struct relay_fd_watch {
	ev_io io;
	struct ev_loop *ev;
	void (*cb)(void *arg);
	void (*cb_rw)(void *arg, bool readable, bool writable);
	void *arg;
};

static void on_fd_event(struct ev_loop *ev, ev_io *io, int revents)
{
	struct relay_fd_watch *w = io->data;
	if (w->cb_rw)
		w->cb_rw(w->arg, revents & EV_READ, revents & EV_WRITE);
	else
		w->cb(w->arg);
}

struct relay_fd_watch *relay_fd_watch_new(struct relay_loop *loop, int fd, bool write,
					  void (*cb)(void *arg), void *arg)
{
	struct relay_fd_watch *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	ev_io_init(&w->io, on_fd_event, fd, write ? EV_WRITE : EV_READ);
	w->io.data = w;
	w->ev = loop->ev;
	w->cb = cb;
	w->arg = arg;
	return w;
}

struct relay_fd_watch *relay_fd_watch_new_rw(struct relay_loop *loop, int fd,
					     void (*cb)(void *arg, bool readable, bool writable),
					     void *arg)
{
	struct relay_fd_watch *w = relay_fd_watch_new(loop, fd, false, NULL, arg);
	if (w)
		w->cb_rw = cb;
	return w;
}

void relay_fd_watch_set(struct relay_fd_watch *w, bool on)
{
	if (on)
		ev_io_start(w->ev, &w->io);
	else
		ev_io_stop(w->ev, &w->io);
}

void relay_fd_watch_want(struct relay_fd_watch *w, bool read, bool write)
{
	int events = (read ? EV_READ : 0) | (write ? EV_WRITE : 0);
	if (ev_is_active(&w->io) && (w->io.events & (EV_READ | EV_WRITE)) == events)
		return;
	ev_io_stop(w->ev, &w->io);
	if (!events)
		return;
	ev_io_modify(&w->io, events);
	ev_io_start(w->ev, &w->io);
}

void relay_fd_watch_free(struct relay_fd_watch *w)
{
	if (!w)
		return;
	ev_io_stop(w->ev, &w->io);
	free(w);
}
