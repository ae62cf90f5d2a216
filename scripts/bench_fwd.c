/* bench_fwd - the least a forwarding process can do, for make bench's
 * round-trip reference: accept one TCP connection at a time on
 * 127.0.0.1:LISTEN, connect it to 127.0.0.1:TARGET and copy bytes both
 * ways with epoll_wait, read and write. No TLS, no framing, no buffering
 * beyond one read. Three of these in a chain cost what any path through
 * three processes must (their wake-ups and the loopback TCP between them),
 * which is what the tunnel has: source localproxy, relay, destination
 * localproxy.
 *
 * Usage: bench_fwd LISTEN_PORT TARGET_PORT
 * Built by scripts/bench.py into its temporary directory; not installed. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static int port_arg(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	return (*s && !*end && v > 0 && v < 65536) ? (int)v : -1;
}

static struct sockaddr_in loopback(int port)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

/* Writes all of buf (blocking socket). */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Copies between a and b until either side ends. */
static void copy_both_ways(int a, int b)
{
	static char buf[64 * 1024];
	int ep = epoll_create1(0);
	if (ep < 0) {
		perror("bench_fwd: epoll_create1");
		return;
	}
	struct epoll_event ev = { .events = EPOLLIN };
	ev.data.fd = a;
	int rc = epoll_ctl(ep, EPOLL_CTL_ADD, a, &ev);
	ev.data.fd = b;
	if (rc == 0)
		rc = epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev);
	if (rc < 0) {
		perror("bench_fwd: epoll_ctl");
		close(ep);
		return;
	}
	for (;;) {
		struct epoll_event got[2];
		int n = epoll_wait(ep, got, 2, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			perror("bench_fwd: epoll_wait");
			break;
		}
		for (int i = 0; i < n; i++) {
			int from = got[i].data.fd, to = from == a ? b : a;
			ssize_t k = read(from, buf, sizeof(buf));
			if (k <= 0 || write_all(to, buf, (size_t)k) < 0) {
				close(ep);
				return;
			}
		}
	}
	close(ep);
}

int main(int argc, char **argv)
{
	int lport = argc == 3 ? port_arg(argv[1]) : -1, tport = argc == 3 ? port_arg(argv[2]) : -1;
	if (lport < 0 || tport < 0) {
		fprintf(stderr, "usage: bench_fwd LISTEN_PORT TARGET_PORT (both on 127.0.0.1)\n");
		return 2;
	}
	int one = 1;
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in la = loopback(lport);
	if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(ls, (struct sockaddr *)&la, sizeof(la)) < 0 || listen(ls, 8) < 0) {
		fprintf(stderr, "bench_fwd: cannot listen on 127.0.0.1:%d: %s\n", lport, strerror(errno));
		return 1;
	}
	for (;;) {
		int in = accept(ls, NULL, NULL);
		if (in < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("bench_fwd: accept");
			return 1;
		}
		int out = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in ta = loopback(tport);
		if (out < 0 || connect(out, (struct sockaddr *)&ta, sizeof(ta)) < 0) {
			fprintf(stderr, "bench_fwd: cannot connect to 127.0.0.1:%d: %s\n", tport,
				strerror(errno));
		} else if (setsockopt(in, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
			   setsockopt(out, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
			perror("bench_fwd: TCP_NODELAY");
		} else {
			copy_both_ways(in, out);
		}
		close(in);
		if (out >= 0)
			close(out);
	}
}
