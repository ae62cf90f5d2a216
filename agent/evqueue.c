#include "agent/evqueue.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

int evqueue_init(struct evqueue *q)
{
	memset(q, 0, sizeof(*q));
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->efd < 0)
		return -1;
	pthread_mutex_init(&q->lock, NULL);
	return 0;
}

void agent_event_free(struct agent_event *ev)
{
	if (ev == NULL)
		return;
	if (ev->payload != NULL) {
		explicit_bzero(ev->payload, ev->payload_len);
		free(ev->payload);
	}
	free(ev->topic);
	free(ev);
}

void evqueue_destroy(struct evqueue *q)
{
	size_t dropped;
	struct agent_event *ev = evqueue_take_all(q, &dropped);
	while (ev != NULL) {
		struct agent_event *next = ev->next;
		agent_event_free(ev);
		ev = next;
	}
	if (q->efd >= 0)
		close(q->efd);
	q->efd = -1;
	pthread_mutex_destroy(&q->lock);
}

void evqueue_push(struct evqueue *q, struct agent_event *ev)
{
	ev->next = NULL;
	pthread_mutex_lock(&q->lock);
	if (ev->kind == AGENT_EV_MESSAGE && q->messages >= EVQUEUE_MAX_MESSAGES) {
		q->dropped++;
		pthread_mutex_unlock(&q->lock);
		agent_event_free(ev);
		return;
	}
	if (ev->kind == AGENT_EV_MESSAGE)
		q->messages++;
	if (q->tail != NULL)
		q->tail->next = ev;
	else
		q->head = ev;
	q->tail = ev;
	pthread_mutex_unlock(&q->lock);
	uint64_t one = 1;
	/* EAGAIN only if the counter is about to overflow: the loop is
	 * awake then anyway. */
	while (write(q->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

struct agent_event *evqueue_take_all(struct evqueue *q, size_t *dropped)
{
	uint64_t count;
	while (read(q->efd, &count, sizeof(count)) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&q->lock);
	struct agent_event *ev = q->head;
	q->head = q->tail = NULL;
	q->messages = 0;
	*dropped = q->dropped;
	q->dropped = 0;
	pthread_mutex_unlock(&q->lock);
	return ev;
}
