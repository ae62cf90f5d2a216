/* The management API (JSON over HTTPS), as a function from a request to a
 * response. It validates, changes the registry, and says what the server
 * must do before answering: save a tunnel (the store answers later), notify
 * a device. It asks the data plane (through hooks) to close connections.
 * The HTTP, store and MQTT I/O stay in the server. */
#ifndef RELAY_API_H
#define RELAY_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay/registry.h"
#include "relay/tunnel_ops.h"

/* Largest request body the API reads. */
#define API_MAX_BODY (16u * 1024u)

struct api_request {
	const char *method;        /* "GET", "POST", "DELETE" */
	const char *path;          /* without the query */
	const char *query;         /* after '?', or NULL */
	const char *authorization; /* the Authorization header, or NULL */
	/* The caller has authorized the call itself (the console, for a
	 * signed-in user of the right role): the API key is not asked for,
	 * and the call works even when the key-based API is off. */
	bool trusted;
	const char *body;
	size_t body_len;
};

/* What a failed save turns a response into (see api_saved). */
enum api_save_failure { API_SAVE_OPEN = 1, API_SAVE_ROTATE, API_SAVE_CLOSE, API_SAVE_TAGS };

struct api_response {
	int status;
	char *body;                /* malloc'd JSON text */
	/* When set, the response may go out only once this tunnel is saved:
	 * the server saves it (if it persists tunnels at all), then calls
	 * api_saved with the outcome, before notifying. */
	struct registry_tunnel *save;
	enum api_save_failure save_failure;
	int64_t now;               /* the env's time of the call */
	/* When set, the server publishes the device notification for
	 * notify_tunnel with notify_token, then calls api_add_notification. */
	bool notify;
	struct registry_tunnel *notify_tunnel;
	char notify_token[API_TOKEN_LEN + 1];
	char log_line[400];        /* what to log about this call ("" = nothing) */
	const char *content_type;  /* NULL: application/json */
	/* The save failed: rewrite the response in the caller's dialect
	 * (NULL: /api/v1's 500 InternalError). */
	void (*on_save_failed)(struct api_response *res, const char *err);
};

struct cJSON;
/* Sets res's status and body to json (taken and freed), wiping any body it
 * had; oom_body when json cannot be printed. Both APIs answer through it. */
void api_set_json(struct api_response *res, int status, struct cJSON *json, const char *oom_body);
/* Sets res to {"error":{"code","message","field"}} (field may be NULL). */
void api_set_error(struct api_response *res, int status, const char *code, const char *field,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Wipes every string in a JSON tree (they may be tokens), then frees it. */
void api_delete_wiped(struct cJSON *json);

void api_handle(struct api_env *env, const struct api_request *req, struct api_response *res);
/* The save asked for by res->save is over: err is NULL when it succeeded,
 * else the store's reason, and the response becomes a 500 (no
 * notification; a tunnel that failed to save when opened is left closed,
 * since nobody got its tokens). */
void api_saved(struct api_response *res, const char *err);
/* Adds "notification":{"delivered":…,"detail":…} to the response body. */
int api_add_notification(struct api_response *res, bool delivered, const char *detail);
/* Adds "notification":{"delivered":false,"pending":true,"detail":…}: the
 * notification is kept and will be sent when the broker is back. */
int api_add_pending_notification(struct api_response *res, const char *detail);
/* Frees the body and wipes the token. */
void api_response_free(struct api_response *res);

/* Asks the server to save t before answering (see api_saved). */
void api_save_later(const struct api_env *env, struct registry_tunnel *t, enum api_save_failure failure,
		    struct api_response *res);
/* Asks the server to notify t's device with the destination token. */
void api_set_notify(struct api_response *res, struct registry_tunnel *t, const char *token);

/* Adds key: the time in ISO 8601 UTC, or null when t is 0. */
void api_add_time(struct cJSON *obj, const char *key, int64_t t);
/* Writes ISO 8601 UTC ("2026-11-22T03:50:00Z") of a Unix time. */
void api_format_time(int64_t t, char out[32]);

#endif
