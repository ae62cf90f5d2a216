/* A byte FIFO: append at the tail, consume from the head. Storage grows on
 * demand and shrinks back when drained, so an idle connection holds nothing.
 * Callers bound it themselves by checking bytequeue_len before appending
 * (backpressure), so this type has no hard cap of its own. */
#ifndef COMMON_BYTEQUEUE_H
#define COMMON_BYTEQUEUE_H

#include <stddef.h>
#include <stdint.h>

struct bytequeue {
	uint8_t *data;
	size_t head;   /* first unread byte */
	size_t tail;   /* one past the last byte */
	size_t cap;
	size_t headroom; /* bytes kept free before head for a protocol prefix (LWS_PRE) */
};

/* headroom: bytes that must precede bytequeue_peek()'s pointer, writable by
 * the caller (libwebsockets needs LWS_PRE bytes before a buffer it sends). */
void bytequeue_init(struct bytequeue *q, size_t headroom);
void bytequeue_free(struct bytequeue *q);
size_t bytequeue_len(const struct bytequeue *q);
/* Returns 0, or -1 when memory runs out (the queue is unchanged). */
int bytequeue_append(struct bytequeue *q, const void *data, size_t len);
/* Reserves len writable bytes at the tail; commit what was written. */
uint8_t *bytequeue_reserve(struct bytequeue *q, size_t len);
void bytequeue_commit(struct bytequeue *q, size_t len);
/* Pointer to the first unread byte; `headroom` bytes before it are writable. */
uint8_t *bytequeue_peek(struct bytequeue *q);
void bytequeue_consume(struct bytequeue *q, size_t len);

#endif
