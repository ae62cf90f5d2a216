/* Local sockets (see local_sock.h). Each socket has one io watcher: read
 * interest unless paused or ending, write interest while bytes are queued,
 * a dial is in progress, or an end is pending (the write event then
 * flushes and closes, so a close never runs inside a caller's call). */
#include "proxy/local_sock.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/bytequeue.h"
#include "common/io.h"
#include "common/log.h"
#include "proxy/dial.h"
#include "proxy/local_queue.h"

/* Most bytes handed to one socket per write event. */
#define WRITE_CHUNK (64u * 1024u)

struct local_sock {
	struct ev_io io;
	struct local_sock_handler h;
	struct local_queue out;
	struct addrinfo *addrs, *next_addr; /* a TCP dial's addresses left to try */
	char why[128];
	bool connecting, read_paused, ending;
};

struct local_listener {
	struct ev_io io;
	char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* removed on close; "" = TCP */
	void (*on_accept)(void *user, int fd);
	void *user;
};

/* One read buffer for every socket: the loop runs one callback at a time. */
static uint8_t read_buf[LOCAL_SOCK_READ_MAX];

static void update_interest(struct local_sock *s)
{
	unsigned ev = 0;
	if (s->connecting || s->ending || bytequeue_len(&s->out.bytes))
		ev |= EV_WRITE;
	if (!s->connecting && !s->ending && !s->read_paused)
		ev |= EV_READ;
	if (ev_io_set(&s->io, ev))
		log_debug("local socket: epoll: %s", strerror(errno));
}

void local_sock_free(struct local_sock *s)
{
	if (!s)
		return;
	ev_io_stop(&s->io);
	if (s->io.fd >= 0)
		close(s->io.fd);
	if (s->addrs)
		freeaddrinfo(s->addrs);
	local_queue_free(&s->out);
	free(s);
}

static void close_and_report(struct local_sock *s)
{
	struct local_sock_handler h = s->h;
	local_sock_free(s);
	h.on_closed(h.user);
}

static void fail_dial(struct local_sock *s)
{
	struct local_sock_handler h = s->h;
	char why[sizeof(s->why)];
	snprintf(why, sizeof(why), "%s", s->why[0] ? s->why : "connection failed");
	local_sock_free(s);
	h.on_connect_failed(h.user, why);
}

/* send() without blocking: the bytes taken, 0 when the socket is full, -1
 * on an error (errno set). */
static ssize_t send_now(struct local_sock *s, const uint8_t *data, size_t len)
{
	ssize_t n = send(s->io.fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0 && io_try_again(errno))
		return 0;
	return n;
}

int local_sock_send(struct local_sock *s, const uint8_t *data, size_t len)
{
	if (s->ending)
		return 0;
	if (!s->connecting && bytequeue_len(&s->out.bytes) == 0) {
		/* Usually the socket takes it all now: no copy, no extra round.
		 * An error is left to the write event, which closes the socket. */
		ssize_t n = send_now(s, data, len);
		if (n > 0) {
			data += n;
			len -= (size_t)n;
		}
		if (len == 0)
			return 0;
	}
	if (local_queue_add(&s->out, &s->h, data, len))
		return -1;
	update_interest(s);
	return 0;
}

void local_sock_pause_read(struct local_sock *s, bool pause)
{
	s->read_paused = pause;
	update_interest(s);
}

void local_sock_end(struct local_sock *s)
{
	s->ending = true;
	update_interest(s);
}

/* Writes what the socket takes now. -1: the socket is done (closed and
 * reported). */
static int on_writable(struct local_sock *s)
{
	size_t len = bytequeue_len(&s->out.bytes);
	if (len > WRITE_CHUNK)
		len = WRITE_CHUNK;
	ssize_t n = len ? send_now(s, bytequeue_peek(&s->out.bytes), len) : 0;
	if (n < 0) {
		log_debug("local socket: write failed: %s", strerror(errno));
		close_and_report(s);
		return -1;
	}
	local_queue_written(&s->out, &s->h, (size_t)n);
	if (s->ending && bytequeue_len(&s->out.bytes) == 0) {
		close_and_report(s); /* flushed */
		return -1;
	}
	update_interest(s);
	return 0;
}

static int dial_next(struct local_sock *s);

/* The dial's outcome: connected, or try the next address. */
static void on_dial_event(struct local_sock *s)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(s->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == EINPROGRESS || err == EALREADY)
		return;
	if (err) {
		snprintf(s->why, sizeof(s->why), "%s", strerror(err));
		ev_io_stop(&s->io);
		close(s->io.fd);
		s->io.fd = -1;
		if (dial_next(s))
			fail_dial(s);
		return;
	}
	s->connecting = false;
	if (s->addrs)
		freeaddrinfo(s->addrs);
	s->addrs = s->next_addr = NULL;
	update_interest(s);
	s->h.on_connected(s->h.user);
}

static void on_event(struct ev_io *w, unsigned events)
{
	struct local_sock *s = w->user;
	if (s->connecting) {
		on_dial_event(s);
		return;
	}
	/* An error or hang-up with bytes to write: the write reports it. */
	bool write_now = (events & EV_WRITE) || ((events & EV_ERROR) && (s->io.events & EV_WRITE));
	if (write_now && on_writable(s))
		return;
	if (!(events & (EV_READ | EV_ERROR)) || s->ending || s->read_paused)
		return;
	ssize_t n = recv(s->io.fd, read_buf, s->h.read_max, MSG_DONTWAIT);
	if (n < 0 && io_try_again(errno))
		return;
	if (n <= 0) {
		if (n < 0)
			log_debug("local socket: read failed: %s", strerror(errno));
		close_and_report(s);
		return;
	}
	s->h.on_data(s->h.user, read_buf, (size_t)n);
}

static struct local_sock *sock_new(const struct local_sock_handler *h)
{
	struct local_sock *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->h = *h;
	if (s->h.read_max == 0 || s->h.read_max > LOCAL_SOCK_READ_MAX)
		s->h.read_max = LOCAL_SOCK_READ_MAX;
	s->io.fd = -1;
	local_queue_init(&s->out);
	return s;
}

struct local_sock *local_sock_adopt(struct ev_loop *loop, int fd, const struct local_sock_handler *h)
{
	struct local_sock *s = sock_new(h);
	if (!s || ev_io_start(loop, &s->io, fd, EV_READ, on_event, s)) {
		close(fd);
		free(s);
		return NULL;
	}
	return s;
}

/* Starts a non-blocking connect to the next address. -1 when none is left. */
static int dial_next(struct local_sock *s)
{
	while (s->next_addr) {
		struct addrinfo *a = s->next_addr;
		s->next_addr = a->ai_next;
		int fd = dial_start(a, s->why, sizeof(s->why));
		if (fd < 0)
			continue;
		if (ev_io_start(s->io.loop, &s->io, fd, EV_WRITE, on_event, s)) {
			snprintf(s->why, sizeof(s->why), "epoll: %s", strerror(errno));
			close(fd);
			continue;
		}
		return 0;
	}
	return -1;
}

struct local_sock *local_sock_dial(struct ev_loop *loop, const char *host, int port,
				   const char *unix_path, const struct local_sock_handler *h,
				   char *why, size_t why_cap)
{
	struct local_sock *s = sock_new(h);
	if (!s) {
		snprintf(why, why_cap, "out of memory");
		return NULL;
	}
	s->io.loop = loop;
	s->connecting = true;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct addrinfo unix_addr = {
		.ai_family = AF_UNIX, .ai_socktype = SOCK_STREAM,
		.ai_addr = (struct sockaddr *)&sun, .ai_addrlen = sizeof(sun),
	};
	if (unix_path[0]) {
		if (strlen(unix_path) >= sizeof(sun.sun_path)) {
			snprintf(why, why_cap, "Unix socket path too long");
			local_sock_free(s);
			return NULL;
		}
		memcpy(sun.sun_path, unix_path, strlen(unix_path) + 1);
		s->next_addr = &unix_addr; /* tried here, at once: not kept */
	} else {
		char service[16];
		snprintf(service, sizeof(service), "%d", port);
		struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
					  .ai_flags = AI_NUMERICSERV };
		/* Blocking, as lws resolved too: targets are local names. */
		int rc = getaddrinfo(host, service, &hints, &s->addrs);
		if (rc) {
			snprintf(why, why_cap, "cannot resolve %s: %s", host, gai_strerror(rc));
			s->addrs = NULL;
			local_sock_free(s);
			return NULL;
		}
		s->next_addr = s->addrs;
	}
	if (dial_next(s)) {
		snprintf(why, why_cap, "%s", s->why[0] ? s->why : "connection failed");
		local_sock_free(s);
		return NULL;
	}
	if (unix_path[0])
		s->next_addr = NULL;
	return s;
}

/* ---- listeners ----------------------------------------------------------- */

static void on_acceptable(struct ev_io *w, unsigned events)
{
	struct local_listener *l = w->user;
	int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (!io_try_again(errno) && errno != ECONNABORTED)
			log_warn("accept failed: %s", strerror(errno));
		return;
	}
	int one = 1;
	if (!l->unix_path[0] && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		log_debug("TCP_NODELAY: %s", strerror(errno));
	l->on_accept(l->user, fd);
}

/* Binds a new listening socket to addr. The fd, or -1. */
static int listen_on(int family, const struct sockaddr *addr, socklen_t addr_len)
{
	int one = 1;
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 && ((family != AF_UNIX && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) ||
			bind(fd, addr, addr_len) < 0 || listen(fd, SOMAXCONN) < 0)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Watches a listening fd. NULL on error (fd closed). */
static struct local_listener *listener_start(struct ev_loop *loop, int fd, const char *unix_path,
					     void (*on_accept)(void *user, int fd), void *user)
{
	struct local_listener *l = calloc(1, sizeof(*l));
	if (l) {
		l->on_accept = on_accept;
		l->user = user;
		snprintf(l->unix_path, sizeof(l->unix_path), "%s", unix_path);
		if (ev_io_start(loop, &l->io, fd, EV_READ, on_acceptable, l) == 0)
			return l;
		free(l);
	}
	close(fd);
	return NULL;
}

struct local_listener *local_listener_open(struct ev_loop *loop, const char *bind_address, int port,
					   void (*on_accept)(void *user, int fd), void *user)
{
	const char *host = !bind_address[0] || !strcmp(bind_address, "localhost") ? "127.0.0.1" : bind_address;
	char service[16];
	snprintf(service, sizeof(service), "%d", port);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *a = NULL;
	int fd = -1;
	if (getaddrinfo(host, service, &hints, &a) == 0) {
		fd = listen_on(a->ai_family, a->ai_addr, a->ai_addrlen);
		freeaddrinfo(a);
	}
	struct local_listener *l = fd >= 0 ? listener_start(loop, fd, "", on_accept, user) : NULL;
	if (!l)
		log_error("cannot listen on %s:%d (port in use or address not local?)", host, port);
	return l;
}

struct local_listener *local_listener_open_unix(struct ev_loop *loop, const char *path,
						void (*on_accept)(void *user, int fd), void *user)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_error("cannot listen on %s: path too long", path);
		return NULL;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	/* A socket left by an earlier run would make bind fail; anything
	 * else at that path is not ours to remove. */
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) && unlink(path) < 0)
		log_warn("cannot remove the old socket %s: %s", path, strerror(errno));
	int fd = listen_on(AF_UNIX, (struct sockaddr *)&sun, sizeof(sun));
	if (fd < 0) {
		log_error("cannot listen on %s: %s", path, strerror(errno));
		return NULL;
	}
	struct local_listener *l = listener_start(loop, fd, path, on_accept, user);
	if (!l) {
		log_error("cannot listen on %s: out of memory", path);
		if (unlink(path) < 0)
			log_debug("unlink %s: %s", path, strerror(errno));
	}
	return l;
}

void local_listener_close(struct local_listener *l)
{
	if (!l)
		return;
	ev_io_stop(&l->io);
	close(l->io.fd);
	if (l->unix_path[0] && unlink(l->unix_path) < 0)
		log_debug("unlink %s: %s", l->unix_path, strerror(errno));
	free(l);
}
