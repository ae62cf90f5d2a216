#include "common/lws_glue.h"

#include "proto/frame.h"

#include <signal.h>
#include <string.h>

int ws_send_queued(struct lws *wsi, struct bytequeue *q, size_t max_message)
{
	size_t queued = bytequeue_len(q);
	if (queued == 0)
		return 0;
	/* Whole frames only, so the receiver never has to reassemble one
	 * (it can, but that costs it a copy and a 64 KiB buffer). */
	const uint8_t *head = bytequeue_peek(q);
	size_t len = 0, size;
	while ((size = frame_whole_size(head + len, queued - len)) && len + size <= max_message)
		len += size;
	if (len == 0) /* not frames after all: any cut is allowed */
		len = queued < max_message ? queued : max_message;
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
