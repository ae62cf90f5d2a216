#include "relay/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void metrics_count_rejection(struct relay_metrics *m, const char *label)
{
	m->rejected_total++;
	for (size_t i = 0; i < m->n_reasons; i++) {
		if (!strcmp(m->reason[i], label)) {
			m->rejected[i]++;
			return;
		}
	}
	if (m->n_reasons < METRICS_MAX_REASONS) {
		m->reason[m->n_reasons] = label;
		m->rejected[m->n_reasons++] = 1;
	}
}

char *metrics_render(const struct relay_metrics *m, const struct metrics_gauges *g)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return NULL;
	fprintf(f,
		"# HELP tunnel_relay_tunnels Tunnels known to the relay, by status.\n"
		"# TYPE tunnel_relay_tunnels gauge\n"
		"tunnel_relay_tunnels{status=\"open\"} %zu\n"
		"tunnel_relay_tunnels{status=\"closed\"} %zu\n"
		"# HELP tunnel_relay_peers_connected Connected localproxy peers (sources and destinations).\n"
		"# TYPE tunnel_relay_peers_connected gauge\n"
		"tunnel_relay_peers_connected %zu\n"
		"# HELP tunnel_relay_live_connections TCP connections carried by all tunnels.\n"
		"# TYPE tunnel_relay_live_connections gauge\n"
		"tunnel_relay_live_connections %zu\n"
		"# HELP tunnel_relay_tunnel_websockets Localproxy WebSocket connections held by the "
		"relay's data plane, closing ones included (each holds a descriptor).\n"
		"# TYPE tunnel_relay_tunnel_websockets gauge\n"
		"tunnel_relay_tunnel_websockets %zu\n"
		"# HELP tunnel_relay_bytes_total Frame bytes received, by the side that sent them.\n"
		"# TYPE tunnel_relay_bytes_total counter\n"
		"tunnel_relay_bytes_total{from=\"source\"} %llu\n"
		"tunnel_relay_bytes_total{from=\"destination\"} %llu\n"
		"# HELP tunnel_relay_rejected_handshakes_total WebSocket handshakes refused, by reason.\n"
		"# TYPE tunnel_relay_rejected_handshakes_total counter\n",
		g->tunnels_open, g->tunnels_closed, g->peers_connected, g->live_connections,
		g->tunnel_websockets,
		(unsigned long long)m->bytes_from[0], (unsigned long long)m->bytes_from[1]);
	for (size_t i = 0; i < m->n_reasons; i++)
		fprintf(f, "tunnel_relay_rejected_handshakes_total{reason=\"%s\"} %llu\n", m->reason[i],
			(unsigned long long)m->rejected[i]);
	fprintf(f,
		"# HELP tunnel_relay_api_requests_total Management API requests served.\n"
		"# TYPE tunnel_relay_api_requests_total counter\n"
		"tunnel_relay_api_requests_total %llu\n"
		"# HELP tunnel_relay_full_total Times the relay ran out of descriptors and paused accepting.\n"
		"# TYPE tunnel_relay_full_total counter\n"
		"tunnel_relay_full_total %llu\n"
		"# HELP tunnel_relay_proxy_header_refused_total Connections closed for want of a valid "
		"PROXY protocol header (--proxy-protocol).\n"
		"# TYPE tunnel_relay_proxy_header_refused_total counter\n"
		"tunnel_relay_proxy_header_refused_total %llu\n",
		(unsigned long long)m->api_requests, (unsigned long long)m->full_episodes,
		(unsigned long long)m->proxy_header_refused);
	if (fclose(f)) {
		free(text);
		return NULL;
	}
	return text;
}
