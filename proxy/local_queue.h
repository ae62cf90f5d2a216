/* What a local end (socket, stdio) still has to write, and the crossing
 * of its handler's high and low marks (local_sock.h), reported as it
 * happens. No I/O. */
#ifndef PROXY_LOCAL_QUEUE_H
#define PROXY_LOCAL_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/bytequeue.h"
#include "proxy/local_sock.h"

struct local_queue {
	struct bytequeue bytes;
	bool over_high;
};

void local_queue_init(struct local_queue *q);
void local_queue_free(struct local_queue *q);
/* Queues len bytes; on_queue_mark(true) when that crosses queue_high.
 * -1 when memory runs out (nothing queued). */
int local_queue_add(struct local_queue *q, const struct local_sock_handler *h,
		    const uint8_t *data, size_t len);
/* Drops n written bytes; on_queue_mark(false) when below queue_low again. */
void local_queue_written(struct local_queue *q, const struct local_sock_handler *h, size_t n);

#endif
