#include "agent/notification.h"
#include "agent/json_type.h"

#include "common/hostport.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((format(printf, 3, 4)))
static bool refuse(char *why, size_t cap, const char *fmt, ...)
{
	if (why != NULL && cap > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, cap, fmt, ap);
		va_end(ap);
	}
	return false;
}

/* Copies untrusted text for a log line: at most max characters, control
 * and non-ASCII bytes as '?', "..." when cut. */
static void printable(char *out, size_t cap, const char *s, size_t max)
{
	size_t w = 0, i = 0;
	for (; s[i] != '\0' && i < max && w + 1 < cap; i++) {
		unsigned char ch = (unsigned char)s[i];
		out[w++] = (ch < 0x20 || ch >= 0x7f) ? '?' : (char)ch;
	}
	if (s[i] != '\0' && w + 4 < cap) {
		memcpy(out + w, "...", 3);
		w += 3;
	}
	out[w] = '\0';
}


static bool tunnel_id_valid(const char *s)
{
	size_t len = 0;
	for (; s[len] != '\0'; len++) {
		unsigned char ch = (unsigned char)s[len];
		bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
			  (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.' || ch == ':';
		if (!ok || len >= NOTIFICATION_MAX_TUNNEL_ID)
			return false;
	}
	return len > 0;
}

static bool endpoint_valid(const char *s)
{
	if (strlen(s) > AGENT_MAX_ENDPOINT)
		return false;
	for (const char *p = s; *p != '\0'; p++) {
		char ch = *p;
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      ch == '.' || ch == '-' || ch == '_' || ch == ':' || ch == '[' || ch == ']'))
			return false;
	}
	struct hostport hp;
	char err[64];
	return hostport_parse(s, 443, &hp, err, sizeof(err)) == 0 && hp.host[0] != '\0';
}

/* The service map's names, "SSH, HTTP", for a refusal. */
static void mapped_list(const struct agent_config *cfg, char *out, size_t cap)
{
	out[0] = '\0';
	for (size_t i = 0; i < cfg->n_services; i++) {
		size_t used = strlen(out);
		snprintf(out + used, cap - used, "%s%s", i ? ", " : "", cfg->services[i].name);
	}
}

static bool check_services(const struct agent_config *cfg, const cJSON *root,
			   struct notification *n, char *why, size_t cap)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "services");
	if (list == NULL)
		return refuse(why, cap, "no \"services\"");
	if (!cJSON_IsArray(list))
		return refuse(why, cap, "\"services\" is %s, not an array", json_type_name(list));
	int count = cJSON_GetArraySize(list);
	if (count == 0)
		return refuse(why, cap, "\"services\" is empty");
	if (count > (int)TUNNEL_MAX_SERVICES)
		return refuse(why, cap, "\"services\" lists %d services (at most %u)", count,
			      TUNNEL_MAX_SERVICES);
	int i = 0;
	for (const cJSON *it = list->child; it != NULL; it = it->next, i++) {
		if (!cJSON_IsString(it) || it->valuestring == NULL)
			return refuse(why, cap, "services[%d] is %s, not a string", i, json_type_name(it));
		char shown[80];
		printable(shown, sizeof(shown), it->valuestring, 64);
		if (!agent_id_valid(it->valuestring, TUNNEL_MAX_SERVICE_ID))
			return refuse(why, cap, "services[%d] '%s' is not a service id (1-%u of "
				      "[A-Za-z0-9_:-])", i, shown, TUNNEL_MAX_SERVICE_ID);
		for (size_t j = 0; j < n->n_services; j++)
			if (strcmp(n->services[j], it->valuestring) == 0)
				return refuse(why, cap, "service %s is listed twice", shown);
		if (agent_config_service(cfg, it->valuestring) == NULL) {
			char mapped[512];
			mapped_list(cfg, mapped, sizeof(mapped));
			return refuse(why, cap, "service %s is not in this device's service map "
				      "(mapped: %s)", shown, mapped);
		}
		strcpy(n->services[n->n_services++], it->valuestring);
	}
	return true;
}

static bool check_token(const cJSON *root, struct notification *n, char *why, size_t cap)
{
	const cJSON *tok = cJSON_GetObjectItemCaseSensitive(root, "clientAccessToken");
	if (tok == NULL)
		return refuse(why, cap, "no \"clientAccessToken\"");
	if (!cJSON_IsString(tok) || tok->valuestring == NULL)
		return refuse(why, cap, "\"clientAccessToken\" is %s, not a string", json_type_name(tok));
	size_t len = strlen(tok->valuestring);
	if (len == 0)
		return refuse(why, cap, "\"clientAccessToken\" is empty");
	if (len > TUNNEL_MAX_ACCESS_TOKEN)
		return refuse(why, cap, "\"clientAccessToken\" is %zu characters long (at most %u)",
			      len, TUNNEL_MAX_ACCESS_TOKEN);
	if (!access_token_valid(tok->valuestring, len))
		return refuse(why, cap, "\"clientAccessToken\" contains a character other than "
			      "printable ASCII (spaces and control characters are not allowed)");
	n->token = malloc(len + 1);
	if (n->token == NULL)
		return refuse(why, cap, "out of memory");
	memcpy(n->token, tok->valuestring, len + 1);
	n->token_len = len;
	if (token_hash(n->token, len, n->token_hash) != 0)
		return refuse(why, cap, "cannot hash the token (OpenSSL failed)");
	return true;
}

static bool check_endpoint(const struct agent_config *cfg, const cJSON *root,
			   struct notification *n, char *why, size_t cap)
{
	const cJSON *ep = cJSON_GetObjectItemCaseSensitive(root, "endpoint");
	if (cfg->use_notified_endpoint && ep != NULL) {
		if (!cJSON_IsString(ep) || ep->valuestring == NULL)
			return refuse(why, cap, "\"endpoint\" is %s, not \"HOST:PORT\"", json_type_name(ep));
		if (!endpoint_valid(ep->valuestring)) {
			char shown[80];
			printable(shown, sizeof(shown), ep->valuestring, 64);
			return refuse(why, cap, "\"endpoint\" '%s' is not HOST:PORT", shown);
		}
		strcpy(n->endpoint, ep->valuestring);
		n->endpoint_notified = true;
		return true;
	}
	if (cfg->relay_endpoint[0] == '\0')
		return refuse(why, cap, "the notification names no \"endpoint\" and relay.endpoint "
			      "is not configured");
	strcpy(n->endpoint, cfg->relay_endpoint);
	return true;
}

static bool decide(const struct agent_config *cfg, const cJSON *root, struct notification *n,
		   char *why, size_t cap)
{
	if (!cJSON_IsObject(root))
		return refuse(why, cap, "payload is %s, not a JSON object", json_type_name(root));
	/* The tunnel id first, so that every later refusal can name it. */
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "tunnelId");
	if (id != NULL) {
		if (!cJSON_IsString(id) || id->valuestring == NULL)
			return refuse(why, cap, "\"tunnelId\" is %s, not a string", json_type_name(id));
		if (!tunnel_id_valid(id->valuestring)) {
			char shown[80];
			printable(shown, sizeof(shown), id->valuestring, 64);
			return refuse(why, cap, "\"tunnelId\" '%s' is not a tunnel id (1-%u of "
				      "[A-Za-z0-9_.:-])", shown, NOTIFICATION_MAX_TUNNEL_ID);
		}
		strcpy(n->tunnel_id, id->valuestring);
		snprintf(n->label, sizeof(n->label), "tunnel %s", n->tunnel_id);
	}
	const cJSON *mode = cJSON_GetObjectItemCaseSensitive(root, "clientMode");
	if (mode == NULL)
		return refuse(why, cap, "no \"clientMode\" (want \"destination\")");
	if (!cJSON_IsString(mode) || mode->valuestring == NULL)
		return refuse(why, cap, "\"clientMode\" is %s, not \"destination\"", json_type_name(mode));
	if (strcmp(mode->valuestring, "destination") != 0) {
		char shown[48];
		printable(shown, sizeof(shown), mode->valuestring, 32);
		return refuse(why, cap, "\"clientMode\" is '%s', not 'destination'", shown);
	}
	if (!check_token(root, n, why, cap) || !check_services(cfg, root, n, why, cap) ||
	    !check_endpoint(cfg, root, n, why, cap))
		return false;
	if (n->tunnel_id[0] != '\0') {
		snprintf(n->key, sizeof(n->key), "%s", n->tunnel_id);
	} else {
		static const char hex[] = "0123456789abcdef";
		char h[2 * TOKEN_HASH_LEN + 1];
		for (size_t i = 0; i < TOKEN_HASH_LEN; i++) {
			h[2 * i] = hex[n->token_hash[i] >> 4];
			h[2 * i + 1] = hex[n->token_hash[i] & 15];
		}
		h[2 * TOKEN_HASH_LEN] = '\0';
		snprintf(n->key, sizeof(n->key), "sha256:%s", h);
		snprintf(n->label, sizeof(n->label), "tunnel (no id, token sha256 %.16s)", h);
	}
	return true;
}

/* cJSON keeps its own copy of every string: wipe the token's. */
static void wipe_tree_token(cJSON *root)
{
	cJSON *tok = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "clientAccessToken")
					  : NULL;
	if (cJSON_IsString(tok) && tok->valuestring != NULL)
		explicit_bzero(tok->valuestring, strlen(tok->valuestring));
}

bool notification_decide(const struct agent_config *cfg, const char *topic, const char *payload,
			 size_t len, struct notification *out, char *why, size_t why_cap)
{
	memset(out, 0, sizeof(*out));
	if (why != NULL && why_cap > 0)
		why[0] = '\0';
	if (topic == NULL || strcmp(topic, cfg->notify_topic) != 0) {
		char shown[220];
		printable(shown, sizeof(shown), topic ? topic : "", 200);
		return refuse(why, why_cap, "arrived on topic '%s', not %s", shown, cfg->notify_topic);
	}
	if (len > NOTIFICATION_MAX_PAYLOAD || payload == NULL)
		return refuse(why, why_cap, "payload of %zu bytes (at most %u)", len,
			      NOTIFICATION_MAX_PAYLOAD);
	if (len == 0)
		return refuse(why, why_cap, "empty payload");
	if (memchr(payload, '\0', len) != NULL)
		return refuse(why, why_cap, "payload is not JSON (it contains a NUL byte)");
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(payload, len, &end, 0);
	if (root == NULL) {
		size_t at = (end != NULL && end >= payload && end <= payload + len)
				    ? (size_t)(end - payload) : 0;
		return refuse(why, why_cap, "payload is not JSON (syntax error at byte %zu of %zu)",
			      at, len);
	}
	size_t pos = (size_t)(end - payload);
	while (pos < len && strchr(" \t\r\n", payload[pos]) != NULL)
		pos++;
	bool ok;
	if (pos < len)
		ok = refuse(why, why_cap, "payload is not JSON (unexpected text at byte %zu of %zu)",
			    pos, len);
	else
		ok = decide(cfg, root, out, why, why_cap);
	wipe_tree_token(root);
	cJSON_Delete(root);
	if (!ok) {
		/* Keep only what a refusal line may show. */
		char label[NOTIFICATION_LABEL_MAX];
		memcpy(label, out->label, sizeof(label));
		notification_clear(out);
		memcpy(out->label, label, sizeof(label));
	}
	return ok;
}

void notification_clear(struct notification *n)
{
	if (n->token != NULL) {
		explicit_bzero(n->token, n->token_len);
		free(n->token);
	}
	explicit_bzero(n, sizeof(*n));
}

void notification_services_text(const struct notification *n, char *out, size_t cap)
{
	if (cap == 0)
		return;
	out[0] = '\0';
	for (size_t i = 0; i < n->n_services; i++) {
		size_t used = strlen(out);
		snprintf(out + used, cap - used, "%s%s", i ? "," : "", n->services[i]);
	}
}
