#include "common/bytequeue.h"

#include <stdlib.h>
#include <string.h>

/* Storage above this size is released once the queue drains; below it, kept
 * to spare a malloc/free pair (an mmap/munmap for big blocks) per frame. */
#define BYTEQUEUE_KEEP (160u * 1024u)
#define BYTEQUEUE_STEP_FROM (64u * 1024u)
#define BYTEQUEUE_STEP (16u * 1024u)

void bytequeue_init(struct bytequeue *q, size_t headroom)
{
	memset(q, 0, sizeof(*q));
	q->headroom = headroom;
	q->head = q->tail = headroom;
}

void bytequeue_free(struct bytequeue *q)
{
	free(q->data);
	bytequeue_init(q, q->headroom);
}

size_t bytequeue_len(const struct bytequeue *q)
{
	return q->tail - q->head;
}

uint8_t *bytequeue_reserve(struct bytequeue *q, size_t len)
{
	size_t used = q->tail - q->head;
	if (q->data && q->cap - q->tail >= len)
		return q->data + q->tail;
	/* Slide the unread bytes back to the front when that makes room. */
	if (q->data && q->cap - q->headroom - used >= len) {
		memmove(q->data + q->headroom, q->data + q->head, used);
		q->head = q->headroom;
		q->tail = q->head + used;
		return q->data + q->tail;
	}
	size_t want = q->headroom + used + len;
	/* Doubling while small; past 64 KiB only what is needed, in 16 KiB
	 * steps: a queue just over 128 KiB should not take 256 KiB. */
	size_t cap = q->cap ? q->cap : 1024;
	while (cap < want && cap < BYTEQUEUE_STEP_FROM)
		cap *= 2;
	if (cap < want)
		cap = (want + BYTEQUEUE_STEP - 1) / BYTEQUEUE_STEP * BYTEQUEUE_STEP;
	uint8_t *grown = malloc(cap);
	if (!grown)
		return NULL;
	if (used)
		memcpy(grown + q->headroom, q->data + q->head, used);
	free(q->data);
	q->data = grown;
	q->cap = cap;
	q->head = q->headroom;
	q->tail = q->head + used;
	return q->data + q->tail;
}

void bytequeue_commit(struct bytequeue *q, size_t len)
{
	q->tail += len;
}

int bytequeue_append(struct bytequeue *q, const void *data, size_t len)
{
	if (len == 0)
		return 0;
	uint8_t *dst = bytequeue_reserve(q, len);
	if (!dst)
		return -1;
	memcpy(dst, data, len);
	q->tail += len;
	return 0;
}

uint8_t *bytequeue_peek(struct bytequeue *q)
{
	return q->data ? q->data + q->head : NULL;
}

void bytequeue_consume(struct bytequeue *q, size_t len)
{
	if (len > q->tail - q->head)
		len = q->tail - q->head;
	q->head += len;
	if (q->head == q->tail) {
		if (q->cap > BYTEQUEUE_KEEP) {
			free(q->data);
			q->data = NULL;
			q->cap = 0;
		}
		q->head = q->tail = q->headroom;
	}
}
