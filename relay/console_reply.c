/* The console's answers: JSON bodies and errors with its security headers,
 * and a request's JSON body. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "common/token.h"
#include "relay/console_state.h"

const struct http_header console_security_headers[3] = {
	{ "content-security-policy",
	  "default-src 'self'; connect-src 'self' wss:; style-src 'self' 'unsafe-inline'" },
	{ "x-frame-options", "DENY" },
	{ "referrer-policy", "no-referrer" },
};

void console_respond_json(struct http_request *req, int status, const char *json_text)
{
	http_respond_with(req, status, "application/json", json_text, strlen(json_text),
			  console_security_headers, CONSOLE_N_SECURITY_HEADERS);
}

void console_respond_json_with(struct http_request *req, int status, const char *json_text,
			       const char *header, const char *value)
{
	struct http_header h[CONSOLE_N_SECURITY_HEADERS + 1];
	memcpy(h, console_security_headers, sizeof(console_security_headers));
	h[CONSOLE_N_SECURITY_HEADERS] = (struct http_header){ header, value };
	http_respond_with(req, status, "application/json", json_text, strlen(json_text), h,
			  CONSOLE_N_SECURITY_HEADERS + 1);
}

void console_respond_error(struct http_request *req, int status, const char *message)
{
	cJSON *o = cJSON_CreateObject();
	char *text = o && cJSON_AddStringToObject(o, "error", message) ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	console_respond_json(req, text ? status : 500, text ? text : "{\"error\":\"out of memory\"}");
	free(text);
}

void console_respond_tree(struct http_request *req, int status, cJSON *tree)
{
	char *text = tree ? cJSON_PrintUnformatted(tree) : NULL;
	api_delete_wiped(tree);
	if (!text) {
		console_respond_error(req, 500, "out of memory");
		return;
	}
	console_respond_json(req, status, text);
	secret_wipe(text);
	free(text);
}

cJSON *console_json_body(struct http_request *req)
{
	if (req->body_too_big) {
		console_respond_error(req, 413, "the request body is too large");
		return NULL;
	}
	cJSON *json = req->body ? cJSON_ParseWithLength(req->body, req->body_len) : NULL;
	if (!cJSON_IsObject(json)) {
		api_delete_wiped(json);
		console_respond_error(req, 400, "the body must be a JSON object");
		return NULL;
	}
	return json;
}
