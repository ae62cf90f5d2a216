/* tunnel-agent's config parser (agent/config.c agent_config_parse): the
 * JSON text only, no file is touched.
 *
 * Input: the config text (not NUL-terminated). Checked: a parsed config
 * keeps its limits (keepalive, maxTunnels, services) and every string in it
 * is terminated; a refusal is one line, with no line break in it. */
#include <stdlib.h>
#include <string.h>

#include "agent/config.h"
#include "tests/fuzz/fuzz_input.h"

static void terminated(const char *s, size_t cap)
{
	if (!memchr(s, '\0', cap))
		fuzz_fail("a config string is not terminated");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input input = { data, size };
	size_t len;
	char *text = (char *)fuzz_rest(&input, &len);
	struct agent_config *cfg = malloc(sizeof(*cfg));
	if (!cfg)
		fuzz_fail("out of memory");
	char err[512];
	err[0] = '\0';
	if (agent_config_parse(text, len, "agent.json", cfg, err, sizeof(err)) == 0) {
		if (cfg->keepalive_s < AGENT_MIN_KEEPALIVE || cfg->keepalive_s > AGENT_MAX_KEEPALIVE ||
		    cfg->max_tunnels < 1 || cfg->max_tunnels > AGENT_MAX_MAX_TUNNELS ||
		    cfg->n_services > AGENT_MAX_SERVICES)
			fuzz_fail("a parsed config out of its limits");
		terminated(cfg->thing_name, sizeof(cfg->thing_name));
		terminated(cfg->broker_uri, sizeof(cfg->broker_uri));
		terminated(cfg->notify_topic, sizeof(cfg->notify_topic));
		terminated(cfg->relay_endpoint, sizeof(cfg->relay_endpoint));
		terminated(cfg->localproxy, sizeof(cfg->localproxy));
		for (size_t i = 0; i < cfg->n_services; i++) {
			terminated(cfg->services[i].name, sizeof(cfg->services[i].name));
			terminated(cfg->services[i].target, sizeof(cfg->services[i].target));
			if (!agent_id_valid(cfg->services[i].name, AGENT_MAX_SERVICE))
				fuzz_fail("a parsed config with a bad service name");
		}
		if (!cfg->relay_endpoint[0] && !cfg->use_notified_endpoint)
			fuzz_fail("no relay endpoint and none to be notified");
	} else if (!err[0] || strpbrk(err, "\r\n")) {
		fuzz_fail("a refusal that is not one line");
	}
	free(cfg);
	free(text);
	return 0;
}
