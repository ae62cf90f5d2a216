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

void relay_loop_free(struct relay_loop *loop)
{
	if (!loop)
		return;
	ev_loop_destroy(loop->ev);
	free(loop);
}

struct relay_fd_watch {
	ev_io io;
	struct ev_loop *ev;
	void (*cb)(void *arg);
	void *arg;
};

static void on_fd_event(struct ev_loop *ev, ev_io *io, int revents)
{
	struct relay_fd_watch *w = io->data;
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

void relay_fd_watch_set(struct relay_fd_watch *w, bool on)
{
	if (on)
		ev_io_start(w->ev, &w->io);
	else
		ev_io_stop(w->ev, &w->io);
}

void relay_fd_watch_free(struct relay_fd_watch *w)
{
	if (!w)
		return;
	ev_io_stop(w->ev, &w->io);
	free(w);
}
