#include "proxy/dial.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"

int dial_start(const struct addrinfo *a, char *why, size_t why_cap)
{
	int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
	if (fd < 0) {
		snprintf(why, why_cap, "socket: %s", strerror(errno));
		return -1;
	}
	if (a->ai_family == AF_INET || a->ai_family == AF_INET6) {
		/* Small messages (keystrokes) must not wait for the previous one's ACK. */
		int one = 1;
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
			log_debug("TCP_NODELAY: %s", strerror(errno));
	}
	if (connect(fd, a->ai_addr, a->ai_addrlen) < 0 && errno != EINPROGRESS) {
		snprintf(why, why_cap, "%s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}
