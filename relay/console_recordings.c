/* Terminal recordings: listing, download, retention. */
#include <stdlib.h>
#include <string.h>

#include "relay/console_state.h"

void console_recordings(struct console *c, struct http_request *req, const struct console_identity *id)
{
	console_respond_error(req, 404, "not yet");
}

void console_recordings_purge(struct console *c, int64_t now)
{
}
