#include "relay/conn_gate.h"

void conn_gate_init(struct conn_gate *g, size_t capacity)
{
	g->capacity = capacity;
	g->open = 0;
	g->full = false;
	g->episodes = 0;
}

/* An episode ends when 1/16 of the capacity (at least one) is free again:
 * clients retrying at the edge do not make one line per connection. */
static size_t resume_below(const struct conn_gate *g)
{
	size_t slack = g->capacity / 16;
	return g->capacity - (slack ? slack : 1);
}

enum gate_verdict conn_gate_opened(struct conn_gate *g)
{
	g->open++;
	if (g->full || g->open < g->capacity)
		return GATE_SAME;
	g->full = true;
	g->episodes++;
	return GATE_FULL;
}

enum gate_verdict conn_gate_closed(struct conn_gate *g)
{
	if (g->open)
		g->open--;
	if (!g->full || g->open > resume_below(g))
		return GATE_SAME;
	g->full = false;
	return GATE_RESUMED;
}
