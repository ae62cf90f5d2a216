#include "proxy/local_queue.h"

void local_queue_init(struct local_queue *q)
{
	bytequeue_init(&q->bytes, 0);
	q->over_high = false;
}

void local_queue_free(struct local_queue *q)
{
	bytequeue_free(&q->bytes);
}

int local_queue_add(struct local_queue *q, const struct local_sock_handler *h,
		    const uint8_t *data, size_t len)
{
	if (bytequeue_append(&q->bytes, data, len))
		return -1;
	if (!q->over_high && bytequeue_len(&q->bytes) > h->queue_high) {
		q->over_high = true;
		h->on_queue_mark(h->user, true);
	}
	return 0;
}

void local_queue_written(struct local_queue *q, const struct local_sock_handler *h, size_t n)
{
	bytequeue_consume(&q->bytes, n);
	if (q->over_high && bytequeue_len(&q->bytes) < h->queue_low) {
		q->over_high = false;
		h->on_queue_mark(h->user, false);
	}
}
