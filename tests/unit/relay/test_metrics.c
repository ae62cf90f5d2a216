/* Unit tests for relay/metrics.c: rejection counters and the Prometheus
 * text exposition. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/metrics.h"

/* Number of lines of text exactly equal to line. */
static int count_line(const char *text, const char *line)
{
	int n = 0;
	size_t len = strlen(line);
	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		if (l == len && !memcmp(p, line, len))
			n++;
		p = nl ? nl + 1 : NULL;
	}
	return n;
}

static void assert_line(const char *text, const char *line)
{
	if (count_line(text, line) != 1)
		fail_msg("want exactly one line \"%s\" in:\n%s", line, text);
}

/* Number of lines that start with prefix. */
static int count_prefix(const char *text, const char *prefix)
{
	int n = 0;
	size_t len = strlen(prefix);
	for (const char *p = text; p && *p;) {
		if (!strncmp(p, prefix, len))
			n++;
		const char *nl = strchr(p, '\n');
		p = nl ? nl + 1 : NULL;
	}
	return n;
}

/* Every sample line is "name{labels} value" or "name value", every other
 * line a # HELP or # TYPE comment, and the text ends with a newline. */
static void assert_well_formed(const char *text)
{
	size_t len = strlen(text);
	assert_true(len > 0);
	assert_int_equal(text[len - 1], '\n');
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		assert_non_null(nl);
		char line[512];
		size_t l = (size_t)(nl - p);
		assert_true(l > 0 && l < sizeof(line));
		memcpy(line, p, l);
		line[l] = '\0';
		if (line[0] == '#') {
			assert_true(!strncmp(line, "# HELP tunnel_relay_", 20) ||
				    !strncmp(line, "# TYPE tunnel_relay_", 20));
		} else {
			assert_true(!strncmp(line, "tunnel_relay_", 13));
			const char *sp = strrchr(line, ' ');
			assert_non_null(sp);
			char *end = NULL;
			strtoull(sp + 1, &end, 10);
			assert_true(end != sp + 1 && *end == '\0');
		}
		p = nl + 1;
	}
}

static void test_render_values(void **state)
{
	struct relay_metrics m;
	memset(&m, 0, sizeof(m));
	m.bytes_from[0] = 123456789012ULL;
	m.bytes_from[1] = 42;
	m.api_requests = 18446744073709551615ULL; /* UINT64_MAX */
	m.full_episodes = 2;
	m.proxy_header_refused = 9;
	metrics_count_rejection(&m, "unknown_token");
	metrics_count_rejection(&m, "unknown_token");
	metrics_count_rejection(&m, "bad_protocol");
	metrics_count_rejection(&m, "unknown_token");
	struct metrics_gauges g = {
		.tunnels_open = 3,
		.tunnels_closed = 11,
		.peers_connected = 5,
		.live_connections = 17,
		.tunnel_websockets = 4,
	};
	char *text = metrics_render(&m, &g);
	assert_non_null(text);
	assert_well_formed(text);

	assert_line(text, "tunnel_relay_tunnels{status=\"open\"} 3");
	assert_line(text, "tunnel_relay_tunnels{status=\"closed\"} 11");
	assert_line(text, "tunnel_relay_peers_connected 5");
	assert_line(text, "tunnel_relay_live_connections 17");
	assert_line(text, "tunnel_relay_tunnel_websockets 4");
	assert_line(text, "tunnel_relay_bytes_total{from=\"source\"} 123456789012");
	assert_line(text, "tunnel_relay_bytes_total{from=\"destination\"} 42");
	assert_line(text, "tunnel_relay_rejected_handshakes_total{reason=\"unknown_token\"} 3");
	assert_line(text, "tunnel_relay_rejected_handshakes_total{reason=\"bad_protocol\"} 1");
	assert_line(text, "tunnel_relay_api_requests_total 18446744073709551615");
	assert_line(text, "tunnel_relay_full_total 2");
	assert_line(text, "tunnel_relay_proxy_header_refused_total 9");
	assert_int_equal(count_prefix(text, "tunnel_relay_rejected_handshakes_total{"), 2);

	/* One TYPE per metric family, with the right kind. */
	assert_line(text, "# TYPE tunnel_relay_tunnels gauge");
	assert_line(text, "# TYPE tunnel_relay_peers_connected gauge");
	assert_line(text, "# TYPE tunnel_relay_live_connections gauge");
	assert_line(text, "# TYPE tunnel_relay_tunnel_websockets gauge");
	assert_line(text, "# TYPE tunnel_relay_bytes_total counter");
	assert_line(text, "# TYPE tunnel_relay_rejected_handshakes_total counter");
	assert_line(text, "# TYPE tunnel_relay_api_requests_total counter");
	assert_line(text, "# TYPE tunnel_relay_full_total counter");
	assert_line(text, "# TYPE tunnel_relay_proxy_header_refused_total counter");
	assert_int_equal(count_prefix(text, "# TYPE "), 9);
	assert_int_equal(count_prefix(text, "# HELP "), 9);
	/* Samples: 2 tunnels + peers + live + websockets + 2 bytes + 2 reasons + api + full + proxy. */
	assert_int_equal(count_prefix(text, "tunnel_relay_"), 12);
	free(text);
}

static void test_render_zero(void **state)
{
	struct relay_metrics m;
	memset(&m, 0, sizeof(m));
	struct metrics_gauges g = { 0, 0, 0, 0, 0 };
	char *text = metrics_render(&m, &g);
	assert_non_null(text);
	assert_well_formed(text);
	assert_line(text, "tunnel_relay_tunnels{status=\"open\"} 0");
	assert_line(text, "tunnel_relay_tunnels{status=\"closed\"} 0");
	assert_line(text, "tunnel_relay_peers_connected 0");
	assert_line(text, "tunnel_relay_live_connections 0");
	assert_line(text, "tunnel_relay_bytes_total{from=\"source\"} 0");
	assert_line(text, "tunnel_relay_bytes_total{from=\"destination\"} 0");
	assert_line(text, "tunnel_relay_api_requests_total 0");
	/* No reason yet: the family has its header but no sample. */
	assert_line(text, "# TYPE tunnel_relay_rejected_handshakes_total counter");
	assert_int_equal(count_prefix(text, "tunnel_relay_rejected_handshakes_total"), 0);
	free(text);
}

static void test_count_per_label(void **state)
{
	struct relay_metrics m;
	memset(&m, 0, sizeof(m));
	metrics_count_rejection(&m, "unknown_token");
	assert_int_equal(m.rejected_total, 1);
	assert_int_equal(m.n_reasons, 1);
	assert_string_equal(m.reason[0], "unknown_token");
	assert_int_equal(m.rejected[0], 1);

	metrics_count_rejection(&m, "token_reused");
	metrics_count_rejection(&m, "unknown_token");
	metrics_count_rejection(&m, "unknown_token");
	metrics_count_rejection(&m, "token_reused");
	metrics_count_rejection(&m, "bad_mode");
	assert_int_equal(m.rejected_total, 6);
	assert_int_equal(m.n_reasons, 3);
	assert_string_equal(m.reason[0], "unknown_token");
	assert_int_equal(m.rejected[0], 3);
	assert_string_equal(m.reason[1], "token_reused");
	assert_int_equal(m.rejected[1], 2);
	assert_string_equal(m.reason[2], "bad_mode");
	assert_int_equal(m.rejected[2], 1);

	/* Labels are matched by content, not by address. */
	static const char same[] = "token_reused";
	metrics_count_rejection(&m, same);
	assert_int_equal(m.n_reasons, 3);
	assert_int_equal(m.rejected[1], 3);
	assert_int_equal(m.rejected_total, 7);

	/* Rendered sum of the labels equals the total. */
	struct metrics_gauges g = { 0, 0, 0, 0, 0 };
	char *text = metrics_render(&m, &g);
	assert_non_null(text);
	assert_line(text, "tunnel_relay_rejected_handshakes_total{reason=\"unknown_token\"} 3");
	assert_line(text, "tunnel_relay_rejected_handshakes_total{reason=\"token_reused\"} 3");
	assert_line(text, "tunnel_relay_rejected_handshakes_total{reason=\"bad_mode\"} 1");
	free(text);
}

static void test_count_caps_labels(void **state)
{
	static const char *const labels[] = {
		"r00", "r01", "r02", "r03", "r04", "r05", "r06", "r07", "r08", "r09",
		"r10", "r11", "r12", "r13", "r14", "r15", "r16", "r17", "r18", "r19",
	};
	_Static_assert(sizeof(labels) / sizeof(labels[0]) > METRICS_MAX_REASONS,
		       "need more labels than the cap");
	struct relay_metrics m;
	memset(&m, 0, sizeof(m));
	size_t n = sizeof(labels) / sizeof(labels[0]);
	for (size_t i = 0; i < n; i++)
		metrics_count_rejection(&m, labels[i]);
	assert_int_equal(m.n_reasons, METRICS_MAX_REASONS);
	assert_int_equal(m.rejected_total, n);
	for (size_t i = 0; i < METRICS_MAX_REASONS; i++) {
		assert_string_equal(m.reason[i], labels[i]);
		assert_int_equal(m.rejected[i], 1);
	}

	/* Past the cap: new labels still count in the total only; known labels
	 * keep counting. */
	metrics_count_rejection(&m, labels[n - 1]);
	metrics_count_rejection(&m, "another");
	metrics_count_rejection(&m, labels[0]);
	metrics_count_rejection(&m, labels[METRICS_MAX_REASONS - 1]);
	assert_int_equal(m.n_reasons, METRICS_MAX_REASONS);
	assert_int_equal(m.rejected_total, n + 4);
	assert_int_equal(m.rejected[0], 2);
	assert_int_equal(m.rejected[METRICS_MAX_REASONS - 1], 2);

	struct metrics_gauges g = { 1, 2, 3, 4, 5 };
	char *text = metrics_render(&m, &g);
	assert_non_null(text);
	assert_well_formed(text);
	assert_int_equal(count_prefix(text, "tunnel_relay_rejected_handshakes_total{"),
			 METRICS_MAX_REASONS);
	assert_line(text, "tunnel_relay_rejected_handshakes_total{reason=\"r00\"} 2");
	assert_line(text, "tunnel_relay_rejected_handshakes_total{reason=\"r15\"} 2");
	assert_line(text, "tunnel_relay_rejected_handshakes_total{reason=\"r01\"} 1");
	assert_int_equal(count_line(text, "tunnel_relay_rejected_handshakes_total{reason=\"r16\"} 1"), 0);
	assert_null(strstr(text, "\"another\""));
	assert_null(strstr(text, "r19"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_values),
		cmocka_unit_test(test_render_zero),
		cmocka_unit_test(test_count_per_label),
		cmocka_unit_test(test_count_caps_labels),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
