/* Management API requests: method, URL and JSON body for each command. */
#include "tunnelctl/request.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tunnelctl/url.h"

#define API_TUNNELS "/api/v1/tunnels"
#define API_THINGS "/api/v1/things"

static char *open_body(const struct tctl_args *a)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *dest = cJSON_AddObjectToObject(root, "destinationConfig");
	cJSON *services = cJSON_AddArrayToObject(dest, "services");
	bool ok = root && dest && services && cJSON_AddStringToObject(dest, "thingName", a->thing);
	for (int i = 0; ok && i < a->n_services; i++) {
		cJSON *s = cJSON_CreateString(a->services[i]);
		ok = s && cJSON_AddItemToArray(services, s);
	}
	if (ok && a->lifetime) {
		cJSON *timeout = cJSON_AddObjectToObject(root, "timeoutConfig");
		ok = timeout &&
		     cJSON_AddNumberToObject(timeout, "maxLifetimeTimeoutMinutes", a->lifetime);
	}
	if (ok && a->description)
		ok = cJSON_AddStringToObject(root, "description", a->description) != NULL;
	char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
	cJSON_Delete(root);
	return text;
}

static char *rotate_body(const struct tctl_args *a)
{
	cJSON *root = cJSON_CreateObject();
	char *text = NULL;
	if (root && cJSON_AddStringToObject(root, "clientMode", a->mode))
		text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return text;
}

/* collection + "/" + escaped id + suffix */
static char *item_url(const char *base, const char *collection, const char *id,
		      const char *suffix)
{
	char *eid = url_escape(id);
	if (!eid)
		return NULL;
	size_t len = strlen(collection) + 1 + strlen(eid) + strlen(suffix) + 1;
	char *path = malloc(len);
	char *url = NULL;
	if (path) {
		snprintf(path, len, "%s/%s%s", collection, eid, suffix);
		url = url_join(base, path);
	}
	free(path);
	free(eid);
	return url;
}

static char *tunnel_url(const char *base, const char *id, const char *suffix)
{
	return item_url(base, API_TUNNELS, id, suffix);
}

int tctl_request_build(const struct tctl_args *a, struct tctl_request *req, char *err,
		       size_t err_cap)
{
	memset(req, 0, sizeof(*req));
	bool need_body = false;
	switch (a->cmd) {
	case CMD_OPEN:
		req->method = "POST";
		req->url = url_join(a->url, API_TUNNELS);
		req->body = open_body(a);
		need_body = true;
		break;
	case CMD_LIST:
		req->method = "GET";
		if (a->thing) {
			char *thing = url_escape(a->thing);
			if (thing) {
				size_t len = strlen(API_TUNNELS "?thingName=") + strlen(thing) + 1;
				char *path = malloc(len);
				if (path) {
					snprintf(path, len, API_TUNNELS "?thingName=%s", thing);
					req->url = url_join(a->url, path);
				}
				free(path);
			}
			free(thing);
		} else {
			req->url = url_join(a->url, API_TUNNELS);
		}
		break;
	case CMD_DESCRIBE:
		req->method = "GET";
		req->url = tunnel_url(a->url, a->id, "");
		break;
	case CMD_ROTATE:
		req->method = "POST";
		req->url = tunnel_url(a->url, a->id, "/rotate");
		req->body = rotate_body(a);
		need_body = true;
		break;
	case CMD_CLOSE:
		req->method = "DELETE";
		req->url = tunnel_url(a->url, a->id, "");
		break;
	case CMD_THINGS:
		req->method = "GET";
		req->url = a->thing ? item_url(a->url, API_THINGS, a->thing, "")
				    : url_join(a->url, API_THINGS);
		break;
	case CMD_NONE:
	default:
		snprintf(err, err_cap, "no command");
		return -1;
	}
	if (!req->url || (need_body && !req->body)) {
		snprintf(err, err_cap, "out of memory");
		tctl_request_free(req);
		return -1;
	}
	return 0;
}

void tctl_request_free(struct tctl_request *req)
{
	free(req->url);
	cJSON_free(req->body);
	req->url = NULL;
	req->body = NULL;
}
