/* How both management APIs and the console's device list write a response:
 * JSON bodies that may hold fresh tokens (wiped before they are freed),
 * errors, and times. The leaf under api.c and api_things.c. */
#include "relay/api.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/token.h"

/* Response bodies may hold fresh tokens: wipe them before freeing. */
static void free_body(char *body)
{
	secret_wipe(body);
	free(body);
}

/* Wipes every string value in a tree: trees built for a response, or
 * parsed back from one, hold fresh tokens. */
static void wipe_strings(cJSON *list)
{
	for (cJSON *e = list; e; e = e->next) {
		if (cJSON_IsString(e) && e->valuestring)
			secret_wipe(e->valuestring);
		wipe_strings(e->child);
	}
}

void api_delete_wiped(cJSON *json)
{
	if (json) {
		if (cJSON_IsString(json) && json->valuestring)
			secret_wipe(json->valuestring);
		wipe_strings(json->child);
	}
	cJSON_Delete(json);
}

void api_set_json(struct api_response *res, int status, cJSON *json, const char *oom_body)
{
	res->status = status;
	free_body(res->body); /* a response rewritten after a failed save: it may hold tokens */
	res->body = json ? cJSON_PrintUnformatted(json) : NULL;
	api_delete_wiped(json);
	if (!res->body) {
		res->status = 500;
		res->body = strdup(oom_body);
	}
}

static void set_body(struct api_response *res, int status, cJSON *json)
{
	api_set_json(res, status, json,
		     "{\"error\":{\"code\":\"InternalError\",\"message\":\"out of memory\"}}");
}

void api_set_error(struct api_response *res, int status, const char *code,
		      const char *field, const char *fmt, ...)
{
	char message[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	cJSON *root = cJSON_CreateObject();
	cJSON *err = cJSON_AddObjectToObject(root, "error");
	if (err) {
		cJSON_AddStringToObject(err, "code", code);
		cJSON_AddStringToObject(err, "message", message);
		if (field)
			cJSON_AddStringToObject(err, "field", field);
	}
	set_body(res, status, root);
}

void api_format_time(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (t <= 0 || !gmtime_r(&tt, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		strcpy(out, "");
}

void api_add_time(cJSON *obj, const char *key, int64_t t)
{
	char text[32];
	api_format_time(t, text);
	if (text[0])
		cJSON_AddStringToObject(obj, key, text);
	else
		cJSON_AddNullToObject(obj, key);
}

void api_response_free(struct api_response *res)
{
	free_body(res->body);
	res->body = NULL;
	OPENSSL_cleanse(res->notify_token, sizeof(res->notify_token));
}
