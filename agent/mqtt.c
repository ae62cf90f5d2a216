#include "agent/mqtt.h"

#include "agent/notification.h"
#include "agent/presence.h"
#include "common/text.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct agent_mqtt {
	struct mqtt_client *client;
	int efd; /* eventfd: Paho's threads write, the poll loop reads */
	char topic[AGENT_MAX_TOPIC];
	char presence_topic[AGENT_MAX_TOPIC];
};

/* Any thread (Paho's): wake the poll loop. */
static void wake(void *arg)
{
	struct agent_mqtt *m = arg;
	uint64_t one = 1;
	/* EAGAIN only if the counter is about to overflow: the loop is awake
	 * then anyway. */
	while (write(m->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

struct agent_mqtt *agent_mqtt_start(const struct agent_config *cfg, char *err, size_t err_cap)
{
	struct agent_mqtt *m = calloc(1, sizeof(*m));
	if (m == NULL) {
		textf(err, err_cap, "out of memory");
		return NULL;
	}
	m->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (m->efd < 0) {
		textf(err, err_cap, "cannot create an eventfd: %s", strerror(errno));
		free(m);
		return NULL;
	}
	textf(m->topic, sizeof(m->topic), "%s", cfg->notify_topic);
	textf(m->presence_topic, sizeof(m->presence_topic), "%s", cfg->presence_topic);
	const struct mqtt_client_config mc = {
		.protocol = MQTT_PROTOCOL_3_1_1,
		.uri = cfg->broker_uri,
		.client_id = cfg->client_id,
		.ca = cfg->broker_ca,
		.cert = cfg->broker_cert,
		.key = cfg->broker_key,
		.keepalive_s = cfg->keepalive_s,
		.max_messages = AGENT_MQTT_MAX_QUEUED,
		.max_payload = NOTIFICATION_MAX_PAYLOAD,
		.wake = wake,
		.wake_arg = m,
		.will_topic = m->presence_topic,
		.will_payload = PRESENCE_WILL,
		.will_retained = true,
	};
	m->client = mqtt_client_start(&mc, err, err_cap);
	if (m->client == NULL) {
		close(m->efd);
		free(m);
		return NULL;
	}
	return m;
}

int agent_mqtt_fd(const struct agent_mqtt *m)
{
	return m->efd;
}

struct mqtt_event *agent_mqtt_take(struct agent_mqtt *m, size_t *dropped)
{
	uint64_t count;
	while (read(m->efd, &count, sizeof(count)) < 0 && errno == EINTR)
		;
	return mqtt_client_take(m->client, dropped);
}

int agent_mqtt_subscribe(struct agent_mqtt *m, char *err, size_t err_cap)
{
	int rc = mqtt_client_subscribe(m->client, m->topic, 1);
	if (rc != 0) {
		textf(err, err_cap, "%s", mqtt_client_strerror(rc));
		return -1;
	}
	return 0;
}

int agent_mqtt_publish_presence(struct agent_mqtt *m, const char *payload, char *err,
				size_t err_cap)
{
	struct mqtt_sent sent;
	int rc = mqtt_client_publish_retained(m->client, m->presence_topic, payload, strlen(payload),
					      &sent);
	if (rc != 0) {
		textf(err, err_cap, "%s", mqtt_client_strerror(rc));
		return -1;
	}
	return 0;
}

void agent_mqtt_stop(struct agent_mqtt *m)
{
	if (m == NULL)
		return;
	struct mqtt_event *ev = mqtt_client_stop(m->client);
	while (ev != NULL) {
		struct mqtt_event *next = ev->next;
		mqtt_event_free(ev);
		ev = next;
	}
	close(m->efd);
	free(m);
}
