/* The agent's MQTT client (common/mqtt_client.h): MQTT 3.1.1, so that it
 * works with AWS IoT Core and any broker; mutual TLS with the device
 * certificate; a persistent session (the broker keeps the subscription and
 * queues QoS 1 notifications while the device is away); keep-alive from
 * the config; a retained last will {"state":"offline"} on the presence
 * topic.
 *
 * Paho's threads wake the agent's poll loop through an eventfd
 * (agent_mqtt_fd); every function below is for the loop thread. */
#ifndef AGENT_MQTT_H
#define AGENT_MQTT_H

#include <stddef.h>

#include "agent/config.h"
#include "common/mqtt_client.h"

/* Notifications beyond this many unprocessed ones are dropped (and
 * counted); connection events never are. */
#define AGENT_MQTT_MAX_QUEUED 256u

struct agent_mqtt;

/* Creates the client and starts connecting in the background (an
 * unreachable broker is not an error: it keeps trying). The broker fields
 * of cfg are copied. Returns NULL with the reason in err. */
struct agent_mqtt *agent_mqtt_start(const struct agent_config *cfg, char *err, size_t err_cap);
/* Readable (POLLIN) when events wait. */
int agent_mqtt_fd(const struct agent_mqtt *m);
/* Takes every waiting event, oldest first (free each with mqtt_event_free);
 * *dropped gets the number of notifications dropped since last time. */
struct mqtt_event *agent_mqtt_take(struct agent_mqtt *m, size_t *dropped);
/* Subscribes to the notification topic with QoS 1 (after every
 * MQTT_EV_CONNECTED). Returns 0, or -1 with the reason in err. */
int agent_mqtt_subscribe(struct agent_mqtt *m, char *err, size_t err_cap);
/* Publishes payload retained with QoS 1 on the presence topic. Returns 0,
 * or -1 with the reason in err. The outcome comes as an event (under MQTT
 * 3.1.1 a publish the broker's ACL refuses still looks delivered). */
int agent_mqtt_publish_presence(struct agent_mqtt *m, const char *payload, char *err,
				size_t err_cap);
/* Disconnects cleanly (waits up to about 2 s, for a presence publish made
 * just before too; a clean disconnect discards the will), stops reconnecting and
 * frees everything, events not taken yet included. The broker keeps the
 * session. NULL is fine. */
void agent_mqtt_stop(struct agent_mqtt *m);

#endif
