/* Unit tests for agent/presence.c: the online and offline messages, their
 * times and what happens when they do not fit. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "agent/presence.h"

/* 2026-11-26T16:00:00Z and 2026-11-26T10:00:00Z */
#define NOW 1795708800
#define BOOT (NOW - 6 * 3600)

static void two_services(struct agent_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	strcpy(cfg->services[0].name, "SSH");
	strcpy(cfg->services[1].name, "HTTP");
	cfg->n_services = 2;
	cfg->max_tunnels = 4;
}

static void online_says_everything(void **state)
{
	struct agent_config cfg;
	two_services(&cfg);
	char out[PRESENCE_MAX_JSON];
	int len = presence_online(&cfg, "0.3.0", BOOT, NOW, out, sizeof(out));
	const char *want = "{\"state\":\"online\",\"agentVersion\":\"0.3.0\",\"services\":[\"SSH\","
			   "\"HTTP\"],\"bootTime\":\"2026-11-26T10:00:00Z\",\"since\":"
			   "\"2026-11-26T16:00:00Z\",\"maxTunnels\":4}";
	assert_string_equal(out, want);
	assert_int_equal(len, (int)strlen(want));
}

static void online_without_boot_time(void **state)
{
	struct agent_config cfg;
	two_services(&cfg);
	char out[PRESENCE_MAX_JSON];
	assert_true(presence_online(&cfg, "0.3.0", 0, NOW, out, sizeof(out)) > 0);
	assert_null(strstr(out, "bootTime"));
	assert_non_null(strstr(out, "\"since\":\"2026-11-26T16:00:00Z\""));
}

/* The largest config (32 names of 128 characters) fits the buffer the agent uses. */
static void largest_config_fits(void **state)
{
	static struct agent_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	for (size_t i = 0; i < AGENT_MAX_SERVICES; i++) {
		memset(cfg.services[i].name, 'a', AGENT_MAX_SERVICE);
		snprintf(cfg.services[i].name, 4, "%03zu", i);
		cfg.services[i].name[3] = 'a';
	}
	cfg.n_services = AGENT_MAX_SERVICES;
	cfg.max_tunnels = AGENT_MAX_MAX_TUNNELS;
	char out[PRESENCE_MAX_JSON];
	int len = presence_online(&cfg, "0.3.0-long-version", BOOT, NOW, out, sizeof(out));
	assert_true(len > 32 * 128);
	assert_non_null(strstr(out, "\"maxTunnels\":64}"));
}

static void too_small_is_an_error(void **state)
{
	struct agent_config cfg;
	two_services(&cfg);
	char out[40];
	assert_int_equal(presence_online(&cfg, "0.3.0", BOOT, NOW, out, sizeof(out)), -1);
	assert_string_equal(out, "");
	assert_int_equal(presence_offline(NOW, out, 10), -1);
	assert_string_equal(out, "");
}

static void offline_and_will(void **state)
{
	char out[128];
	int len = presence_offline(NOW, out, sizeof(out));
	assert_string_equal(out, "{\"state\":\"offline\",\"since\":\"2026-11-26T16:00:00Z\"}");
	assert_int_equal(len, (int)strlen(out));
	assert_string_equal(PRESENCE_WILL, "{\"state\":\"offline\"}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(online_says_everything),
		cmocka_unit_test(online_without_boot_time),
		cmocka_unit_test(largest_config_fits),
		cmocka_unit_test(too_small_is_an_error),
		cmocka_unit_test(offline_and_will),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
