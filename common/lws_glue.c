#include "common/lws_glue.h"

#include "common/log.h"
#include "proto/frame.h"
#include "proto/wire.h"

#include <string.h>

static void log_from_lws(int lws_level, const char *line)
{
	/* lws drops a request whose headers overflow its buffer without any
	 * callback to us; this line is the only trace of it, so say it plainly. */
	if (strstr(line, "Ran out of header data space")) {
		log_msg(LOG_WARN, "rejected a request: its HTTP headers exceed %u bytes (connection closed)",
			TUNNEL_MAX_HTTP_REQUEST);
		return;
	}
	/* lws reports many routine events as errors; our own lines say what
	 * matters, so its lines are detail for -v 5 and 6. */
	enum log_level level = (lws_level & LLL_ERR) ? LOG_DEBUG : LOG_TRACE;
	size_t len = strlen(line);
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	log_msg(level, "lws: %.*s", (int)len, line);
}

void log_route_lws(void)
{
	int mask = 0;
	if (log_level() >= LOG_WARN)
		mask |= LLL_ERR; /* filtered in log_from_lws */
	if (log_level() >= LOG_TRACE)
		mask |= LLL_WARN | LLL_NOTICE;
	lws_set_log_level(mask, log_from_lws);
}
