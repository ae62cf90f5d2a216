/* Counters for GET /metrics, and their Prometheus text form. */
#ifndef RELAY_METRICS_H
#define RELAY_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define METRICS_MAX_REASONS 16

struct relay_metrics {
	uint64_t bytes_from[2];       /* frame bytes received from sources / destinations */
	uint64_t rejected_total;
	size_t n_reasons;
	const char *reason[METRICS_MAX_REASONS]; /* static labels */
	uint64_t rejected[METRICS_MAX_REASONS];
	uint64_t api_requests;
	uint64_t full_episodes;       /* times the relay stopped accepting: no descriptors left */
	uint64_t proxy_header_refused; /* --proxy-protocol: connections closed without a good header */
};

/* What the server knows at the moment of the scrape. */
struct metrics_gauges {
	size_t tunnels_open;
	size_t tunnels_closed;
	size_t peers_connected;
	size_t live_connections;
	size_t tunnel_websockets;   /* the data plane's WebSockets, closing ones included */
};

/* label: a static string such as "unknown_token". */
void metrics_count_rejection(struct relay_metrics *m, const char *label);
/* Returns malloc'd Prometheus text exposition, or NULL. */
char *metrics_render(const struct relay_metrics *m, const struct metrics_gauges *g);

#endif
