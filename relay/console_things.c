/* The console's devices and tunnels: the things list (presence joined with
 * the registry's tunnels and the data plane's connected sides), and the
 * tunnel operations of admins, which go through the API's own steps
 * (http_api_run) and are audited. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "relay/console_state.h"

void console_things(struct console *c, struct http_request *req, const struct console_identity *id)
{
	console_respond_error(req, 404, "not yet");
}

void console_tunnel_op(struct console *c, struct http_request *req, const struct console_identity *id)
{
	console_respond_error(req, 404, "not yet");
}

void console_tunnel_abort(struct console *c, struct http_request *req)
{
}
