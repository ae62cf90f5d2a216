/* The hand-over from Paho's threads to the agent's loop: a mutex-protected
 * queue of events and an eventfd that wakes the loop's poll(). Paho's
 * callbacks only ever push here; everything else belongs to the loop. */
#ifndef AGENT_EVQUEUE_H
#define AGENT_EVQUEUE_H

#include <pthread.h>
#include <stddef.h>

/* Messages beyond this many unprocessed ones are dropped (and counted);
 * connection events never are. */
#define EVQUEUE_MAX_MESSAGES 256u
#define EVQUEUE_TEXT 256u

enum agent_event_kind {
	AGENT_EV_CONNECTED,        /* text: Paho's cause */
	AGENT_EV_CONNECTION_LOST,  /* text: the cause, if any */
	AGENT_EV_CONNECT_FAILED,   /* code: Paho's code, text: TLS or Paho reason */
	AGENT_EV_SUBSCRIBED,       /* code: granted QoS */
	AGENT_EV_SUBSCRIBE_FAILED, /* code, text */
	AGENT_EV_MESSAGE,          /* topic, payload (NULL if oversize), payload_len */
};

struct agent_event {
	struct agent_event *next;
	enum agent_event_kind kind;
	int code;
	char text[EVQUEUE_TEXT];
	char *topic;
	char *payload;      /* holds a token: agent_event_free wipes it */
	size_t payload_len;
};

struct evqueue {
	pthread_mutex_t lock;
	struct agent_event *head, *tail;
	size_t messages;    /* AGENT_EV_MESSAGE events queued */
	size_t dropped;     /* messages dropped since the last take */
	int efd;            /* eventfd, non-blocking, close-on-exec */
};

/* Returns 0, or -1 (errno set) if the eventfd cannot be made. */
int evqueue_init(struct evqueue *q);
/* Frees whatever is still queued and closes the eventfd. */
void evqueue_destroy(struct evqueue *q);
/* Any thread: queues ev (taking ownership) and wakes the loop. */
void evqueue_push(struct evqueue *q, struct agent_event *ev);
/* Loop thread: resets the eventfd and takes every queued event, oldest
 * first. *dropped gets the number of messages dropped since last time. */
struct agent_event *evqueue_take_all(struct evqueue *q, size_t *dropped);
/* Wipes the payload, frees the event. NULL is fine. */
void agent_event_free(struct agent_event *ev);

#endif
