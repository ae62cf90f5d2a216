#include "common/lws_glue.h"

#include <signal.h>
#include <string.h>

int ws_send_queued(struct lws *wsi, struct bytequeue *q, size_t max_message)
{
	size_t len = bytequeue_len(q);
	if (len == 0)
		return 0;
	if (len > max_message)
		len = max_message;
	/* lws writes the WebSocket header into the LWS_PRE bytes before p. */
	uint8_t *p = bytequeue_peek(q);
	if (lws_write(wsi, p, len, LWS_WRITE_BINARY) < (int)len)
		return -1;
	bytequeue_consume(q, len);
	return 0;
}

/* volatile: read by the signal handler, cleared before the context dies. */
static struct lws_context *volatile signal_ctx;
static volatile sig_atomic_t signal_seen;

static void on_stop_signal(int sig)
{
	signal_seen = sig;
	struct lws_context *ctx = signal_ctx; /* read once */
	if (ctx)
		lws_cancel_service(ctx);
}

void stop_signals_install(struct lws_context *ctx)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	signal_ctx = ctx;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

void stop_signals_detach(void)
{
	signal_ctx = NULL;
}

bool stop_requested(void)
{
	return signal_seen != 0;
}

int stop_signal(void)
{
	return signal_seen;
}
