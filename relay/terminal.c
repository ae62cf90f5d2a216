#include "relay/terminal.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/things.h"

int terminal_next(enum terminal_state st, enum terminal_event ev)
{
	if (ev == TERMINAL_EV_CLOSE)
		return st == TERMINAL_CLOSED ? -1 : TERMINAL_CLOSING;
	switch (st) {
	case TERMINAL_OPENING_TUNNEL:
		if (ev == TERMINAL_EV_TUNNEL_OPENED)
			return TERMINAL_WAITING_SOCKET;
		if (ev == TERMINAL_EV_TUNNEL_FAILED)
			return TERMINAL_CLOSING;
		return -1;
	case TERMINAL_WAITING_SOCKET:
		return ev == TERMINAL_EV_SOCKET ? TERMINAL_WAITING_DEVICE : -1;
	case TERMINAL_WAITING_DEVICE:
		return ev == TERMINAL_EV_DEVICE ? TERMINAL_HELPER_RUNNING : -1;
	case TERMINAL_HELPER_RUNNING:
		return -1;
	case TERMINAL_CLOSING:
		/* A late open or failure while closing changes nothing. */
		if (ev == TERMINAL_EV_ALL_DONE)
			return TERMINAL_CLOSED;
		if (ev == TERMINAL_EV_TUNNEL_OPENED || ev == TERMINAL_EV_TUNNEL_FAILED)
			return TERMINAL_CLOSING;
		return -1;
	case TERMINAL_CLOSED:
		return -1;
	}
	return -1;
}

const char *terminal_state_name(enum terminal_state st)
{
	switch (st) {
	case TERMINAL_OPENING_TUNNEL: return "opening tunnel";
	case TERMINAL_WAITING_SOCKET: return "waiting for the browser";
	case TERMINAL_WAITING_DEVICE: return "waiting for the device";
	case TERMINAL_HELPER_RUNNING: return "running";
	case TERMINAL_CLOSING: return "closing";
	case TERMINAL_CLOSED: return "closed";
	}
	return "?";
}

bool terminal_browser_may_send(uint8_t type)
{
	return type == 'i' || type == 'r' || type == 'y' || type == 'a';
}

bool terminal_helper_may_send(uint8_t type)
{
	return type == 'o' || type == 'h' || type == 's' || type == 'e' || type == 'x';
}

bool terminal_fingerprint_valid(const char *fp)
{
	static const char prefix[] = "SHA256:";
	size_t n = strlen(fp);
	if (n <= sizeof(prefix) - 1 || n > TERMINAL_FINGERPRINT_MAX ||
	    strncmp(fp, prefix, sizeof(prefix) - 1))
		return false;
	for (const char *p = fp + sizeof(prefix) - 1; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || *p == '+' || *p == '/' || *p == '='))
			return false;
	return true;
}

/* The string member name of a JSON payload, or NULL. */
static const char *json_string(const cJSON *root, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

enum terminal_hostkey_verdict terminal_hostkey_from_helper(struct terminal_hostkey_watch *w,
							   uint8_t type, const uint8_t *payload,
							   size_t len)
{
	if (type != 'h' && type != 'e')
		return TERMINAL_HOSTKEY_NOTHING;
	cJSON *root = cJSON_ParseWithLength((const char *)payload, len);
	enum terminal_hostkey_verdict v = TERMINAL_HOSTKEY_NOTHING;
	if (type == 'h') {
		/* Any 'h' replaces the offer: only the key shown last may be accepted. */
		w->offered[0] = '\0';
		const char *fp = json_string(root, "fingerprint");
		const char *status = json_string(root, "status");
		if (fp && status && !strcmp(status, "new") && terminal_fingerprint_valid(fp))
			memcpy(w->offered, fp, strlen(fp) + 1);
	} else {
		const char *code = json_string(root, "code");
		if (code && !strcmp(code, "hostkey_changed")) {
			w->offered[0] = '\0';
			v = TERMINAL_HOSTKEY_REFUSED;
		}
	}
	cJSON_Delete(root);
	return v;
}

enum terminal_hostkey_verdict terminal_hostkey_from_browser(struct terminal_hostkey_watch *w,
							    uint8_t type, const char **fingerprint)
{
	if (type != 'y' || !w->offered[0])
		return TERMINAL_HOSTKEY_NOTHING;
	/* Taken once: a second 'y' accepts nothing more. */
	memcpy(w->accepted, w->offered, sizeof(w->accepted));
	w->offered[0] = '\0';
	*fingerprint = w->accepted;
	return TERMINAL_HOSTKEY_ACCEPTED;
}

int terminal_dimension(const char *text, int fallback)
{
	if (!text || !*text)
		return fallback;
	char *end = NULL;
	long v = strtol(text, &end, 10);
	if (*end || v < 1 || v > 1000)
		return fallback;
	return (int)v;
}

int terminal_admit(const struct thing_presence *presence, const char *thing, const char *service,
		   size_t open_tunnels, char *why, size_t why_cap)
{
	if (!presence || presence->state == THING_UNKNOWN)
		return 0;
	if (presence->state == THING_OFFLINE) {
		snprintf(why, why_cap, "%s is offline: its agent is not connected", thing);
		return 409;
	}
	if (presence->n_services) {
		bool mapped = false;
		for (size_t i = 0; i < presence->n_services && !mapped; i++)
			mapped = !strcmp(presence->services[i], service);
		if (!mapped) {
			snprintf(why, why_cap, "%s does not offer the service %s", thing, service);
			return 400;
		}
	}
	if (presence->max_tunnels > 0 && open_tunnels >= (size_t)presence->max_tunnels) {
		snprintf(why, why_cap, "%s already runs %zu tunnel%s, the most its agent allows "
			 "(maxTunnels in its agent.json); close one first", thing, open_tunnels,
			 open_tunnels == 1 ? "" : "s");
		return 429;
	}
	return 0;
}
