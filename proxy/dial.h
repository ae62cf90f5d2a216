/* The first step of every outgoing connection localproxy makes (to the
 * relay, to a destination's service): a non-blocking connect. */
#ifndef PROXY_DIAL_H
#define PROXY_DIAL_H

#include <netdb.h>
#include <stddef.h>

/* Starts connecting to a (TCP sockets get TCP_NODELAY). The fd, non-blocking,
 * with the connect under way or done; -1 with why filled. */
int dial_start(const struct addrinfo *a, char *why, size_t why_cap);

#endif
