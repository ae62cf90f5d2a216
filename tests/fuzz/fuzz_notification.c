/* The agent's decision on a tunnel notification (agent/notification.c),
 * with a fixed agent config parsed afresh for every input.
 *
 * Input: a flags byte (bit 0: the message arrived on another topic, read
 * from the next line; bit 1: the config sets useNotifiedEndpoint), then the
 * payload (the rest, not NUL-terminated). Checked: an accepted notification
 * has a token of 1-4096 bytes and 1-3 services, each mapped in the config;
 * a refusal has a reason, and that reason does not hold the token (unless
 * the topic, which a reason quotes, holds the same text). */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "agent/config.h"
#include "agent/notification.h"
#include "tests/fuzz/fuzz_input.h"

#define CONFIG(notified)                                                                   \
	"{\"thingName\":\"nanopi-01\","                                                    \
	"\"broker\":{\"uri\":\"ssl://broker:8883\",\"ca\":\"/p/ca.pem\","                  \
	"\"cert\":\"/p/dev.pem\",\"key\":\"/p/dev.key\"},"                                 \
	"\"relay\":{\"endpoint\":\"relay.example:443\",\"ca\":\"/p/ca.pem\"},"             \
	"\"useNotifiedEndpoint\":" notified ","                                            \
	"\"services\":{\"SSH\":\"127.0.0.1:22\",\"HTTP\":\"127.0.0.1:80\","                \
	"\"RDP\":\"10.0.0.5:3389\",\"VNC\":\"5900\"}}"

/* The payload's clientAccessToken when it is a string found once in the
 * payload and long enough not to turn up in a reason by chance; else NULL. */
static char *distinct_token(const char *payload, size_t len)
{
	cJSON *root = cJSON_ParseWithLength(payload, len);
	const cJSON *tok = cJSON_GetObjectItemCaseSensitive(root, "clientAccessToken");
	char *copy = NULL;
	if (cJSON_IsString(tok) && strlen(tok->valuestring) >= 24) {
		const char *s = tok->valuestring;
		size_t n = strlen(s), seen = 0;
		for (const char *p = payload; p + n <= payload + len; p++)
			if (!memcmp(p, s, n))
				seen++;
		if (seen == 1)
			copy = strdup(s);
	}
	cJSON_Delete(root);
	return copy;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input input = { data, size };
	uint8_t flags = fuzz_byte(&input);
	char *other_topic = (flags & 1) ? fuzz_line(&input) : NULL;
	size_t len;
	char *payload = (char *)fuzz_rest(&input, &len);

	struct agent_config *cfg = malloc(sizeof(*cfg));
	char err[300];
	const char *text = (flags & 2) ? CONFIG("true") : CONFIG("false");
	if (!cfg || agent_config_parse(text, strlen(text), "agent.json", cfg, err, sizeof(err)))
		fuzz_fail("cannot parse the fixed config");

	struct notification n;
	char why[400];
	const char *topic = (flags & 1) ? other_topic : cfg->notify_topic;
	if (notification_decide(cfg, topic, payload, len, &n, why, sizeof(why))) {
		if (!n.token || n.token_len == 0 || n.token_len > TUNNEL_MAX_ACCESS_TOKEN ||
		    n.n_services == 0 || n.n_services > TUNNEL_MAX_SERVICES || !n.key[0])
			fuzz_fail("an accepted notification that breaks its rules");
		for (size_t i = 0; i < n.n_services; i++)
			if (!agent_config_service(cfg, n.services[i]))
				fuzz_fail("an accepted notification with an unmapped service");
		char services[TUNNEL_MAX_SERVICES * (TUNNEL_MAX_SERVICE_ID + 1) + 1];
		notification_services_text(&n, services, sizeof(services));
	} else {
		if (!why[0] || n.token)
			fuzz_fail("a refusal without a reason, or holding a token");
		char *token = distinct_token(payload, len);
		/* A topic quoted in the reason may hold the same text: not a leak. */
		if (token && strstr(why, token) && !strstr(topic ? topic : "", token))
			fuzz_fail("a refusal reason holds the access token");
		free(token);
	}
	notification_clear(&n);
	free(cfg);
	free(other_topic);
	free(payload);
	return 0;
}
