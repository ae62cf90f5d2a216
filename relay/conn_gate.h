/* Whether the relay is full: counts accepted connections against the
 * number it may hold, and says when an episode of being full begins and
 * ends, so the server logs one line each way (not one per refused
 * connection) and counts episodes. Pure: the server does the I/O. */
#ifndef RELAY_CONN_GATE_H
#define RELAY_CONN_GATE_H

#include <stdbool.h>
#include <stddef.h>

enum gate_verdict {
	GATE_SAME,      /* nothing to say */
	GATE_FULL,      /* this connection filled the relay: an episode starts */
	GATE_RESUMED,   /* enough left: the episode is over */
};

struct conn_gate {
	size_t capacity;   /* connections lws may hold before it stops accepting */
	size_t open;
	bool full;
	size_t episodes;   /* times the relay became full */
};

void conn_gate_init(struct conn_gate *g, size_t capacity);
enum gate_verdict conn_gate_opened(struct conn_gate *g);
enum gate_verdict conn_gate_closed(struct conn_gate *g);

#endif
