#include "relay/notify_payload.h"

#include "proto/wire.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

/* [A-Za-z0-9_:-]{1,max}: thing names and service ids share this charset. */
static bool id_valid(const char *s, size_t max)
{
	if (s == NULL)
		return false;
	size_t len = 0;
	for (; s[len] != '\0'; len++) {
		unsigned char c = (unsigned char)s[len];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			  (c >= '0' && c <= '9') || c == '_' || c == ':' || c == '-';
		if (!ok || len >= max)
			return false;
	}
	return len > 0;
}

bool notify_thing_valid(const char *thing)
{
	return id_valid(thing, NOTIFY_MAX_THING);
}

static const char *template_or_default(const char *tmpl)
{
	return tmpl != NULL ? tmpl : NOTIFY_DEFAULT_TOPIC_TEMPLATE;
}

/* Length of tmpl with each {thing} replaced by a name of thing_len chars. */
static size_t expanded_len(const char *tmpl, size_t thing_len, size_t *placeholders)
{
	const size_t ph_len = strlen(NOTIFY_THING_PLACEHOLDER);
	size_t len = 0, count = 0;
	for (const char *p = tmpl; *p != '\0';) {
		if (strncmp(p, NOTIFY_THING_PLACEHOLDER, ph_len) == 0) {
			len += thing_len;
			count++;
			p += ph_len;
		} else {
			len++;
			p++;
		}
	}
	if (placeholders != NULL)
		*placeholders = count;
	return len;
}

int notify_topic_template_check(const char *tmpl, char *err, size_t err_cap)
{
	tmpl = template_or_default(tmpl);
	const char *why = NULL;
	size_t placeholders = 0;
	if (tmpl[0] == '\0') {
		why = "is empty";
	} else if (strpbrk(tmpl, "+#") != NULL) {
		why = "contains an MQTT wildcard ('+' or '#')";
	} else {
		for (const char *p = tmpl; *p != '\0'; p++) {
			if ((unsigned char)*p < 0x20 || *p == 0x7f) {
				why = "contains a control character";
				break;
			}
		}
	}
	if (why == NULL) {
		size_t len = expanded_len(tmpl, NOTIFY_MAX_THING, &placeholders);
		if (placeholders == 0)
			why = "does not contain " NOTIFY_THING_PLACEHOLDER;
		else if (len >= NOTIFY_MAX_TOPIC)
			why = "is too long";
	}
	if (why == NULL)
		return 0;
	if (err != NULL && err_cap > 0)
		snprintf(err, err_cap, "MQTT topic template %s: '%.100s%s'", why, tmpl,
			 strlen(tmpl) > 100 ? "..." : "");
	return -1;
}

int notify_topic(char *out, size_t out_cap, const char *tmpl, const char *thing)
{
	if (out != NULL && out_cap > 0)
		out[0] = '\0';
	tmpl = template_or_default(tmpl);
	if (out == NULL || !notify_thing_valid(thing) ||
	    notify_topic_template_check(tmpl, NULL, 0) != 0)
		return -1;
	const size_t ph_len = strlen(NOTIFY_THING_PLACEHOLDER);
	const size_t thing_len = strlen(thing);
	size_t len = expanded_len(tmpl, thing_len, NULL);
	if (len >= out_cap)
		return -1;
	char *w = out;
	for (const char *p = tmpl; *p != '\0';) {
		if (strncmp(p, NOTIFY_THING_PLACEHOLDER, ph_len) == 0) {
			memcpy(w, thing, thing_len);
			w += thing_len;
			p += ph_len;
		} else {
			*w++ = *p++;
		}
	}
	*w = '\0';
	return (int)len;
}

char *notify_payload(const struct notify_message *m)
{
	if (m == NULL || m->token == NULL || m->token[0] == '\0' || m->tunnel_id == NULL ||
	    m->tunnel_id[0] == '\0' || m->services == NULL || m->n_services == 0 ||
	    m->n_services > TUNNEL_MAX_SERVICES)
		return NULL;
	for (size_t i = 0; i < m->n_services; i++) {
		if (!id_valid(m->services[i], TUNNEL_MAX_SERVICE_ID))
			return NULL;
	}
	const char *region = (m->region != NULL && m->region[0] != '\0') ? m->region
									  : NOTIFY_DEFAULT_REGION;
	cJSON *root = cJSON_CreateObject();
	if (root == NULL)
		return NULL;
	cJSON *services = NULL;
	bool ok = cJSON_AddStringToObject(root, "clientAccessToken", m->token) != NULL &&
		  cJSON_AddStringToObject(root, "clientMode", "destination") != NULL &&
		  cJSON_AddStringToObject(root, "region", region) != NULL &&
		  (services = cJSON_AddArrayToObject(root, "services")) != NULL;
	for (size_t i = 0; ok && i < m->n_services; i++) {
		cJSON *s = cJSON_CreateString(m->services[i]);
		ok = s != NULL && cJSON_AddItemToArray(services, s);
		if (!ok)
			cJSON_Delete(s);
	}
	ok = ok && cJSON_AddStringToObject(root, "tunnelId", m->tunnel_id) != NULL;
	if (ok && m->endpoint != NULL && m->endpoint[0] != '\0')
		ok = cJSON_AddStringToObject(root, "endpoint", m->endpoint) != NULL;
	char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
	/* The tree holds a copy of the token too: wipe it before freeing. */
	cJSON *tok = cJSON_GetObjectItemCaseSensitive(root, "clientAccessToken");
	if (cJSON_IsString(tok) && tok->valuestring != NULL)
		explicit_bzero(tok->valuestring, strlen(tok->valuestring));
	cJSON_Delete(root);
	return text;
}
