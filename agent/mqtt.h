/* The agent's MQTT client: Paho MQTT C (async) over mutual TLS with the
 * device certificate, MQTT 3.1.1, clean session off (the broker keeps the
 * subscription and queues QoS 1 notifications while the device is away),
 * keep-alive from the config, automatic reconnect every 1..30 s.
 *
 * Threads: Paho calls back on its own threads; those callbacks only build
 * a struct agent_event and push it to the evqueue. Every function below is
 * for the agent's loop thread. */
#ifndef AGENT_MQTT_H
#define AGENT_MQTT_H

#include <stddef.h>

#include "agent/config.h"
#include "agent/evqueue.h"

#define AGENT_MQTT_RETRY_MIN_S 1
#define AGENT_MQTT_RETRY_MAX_S 30

struct agent_mqtt;

/* Creates the client and starts connecting in the background (an
 * unreachable broker is not an error: it keeps trying). The broker fields
 * of cfg are copied. Returns NULL with the reason in err. */
struct agent_mqtt *agent_mqtt_start(const struct agent_config *cfg, struct evqueue *q,
				    char *err, size_t err_cap);
/* Subscribes to the notification topic with QoS 1 (after every
 * AGENT_EV_CONNECTED). Returns 0, or -1 with the reason in err. */
int agent_mqtt_subscribe(struct agent_mqtt *m, char *err, size_t err_cap);
/* Text for a Paho return code. */
const char *agent_mqtt_strerror(int code);
/* Disconnects cleanly (waits up to about 2 s), stops reconnecting and
 * frees everything. The broker keeps the session. NULL is fine. */
void agent_mqtt_stop(struct agent_mqtt *m);

#endif
