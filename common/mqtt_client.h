/* Our one way of using Paho MQTT C (async): mutual TLS, a persistent session,
 * automatic reconnect, no on-disk persistence (payloads hold tokens), and
 * every outcome turned into an event for the program's own loop.
 *
 * Threads: Paho calls back on its own threads. Those callbacks only queue a
 * struct mqtt_event (under a lock) and call the program's wake function,
 * which must only nudge the loop (an eventfd write, lws_cancel_service).
 * Everything else here is for the loop thread, which takes the events with
 * mqtt_client_take() and owns them from then on. */
#ifndef COMMON_MQTT_CLIENT_H
#define COMMON_MQTT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MQTT_EVENT_TEXT 256u
#define MQTT_RETRY_MIN_S 1
#define MQTT_RETRY_MAX_S 30

enum mqtt_protocol {
	/* Any broker (AWS IoT Core included). */
	MQTT_PROTOCOL_3_1_1,
	/* Reason codes: under 3.1.1 a broker (mosquitto) acknowledges a
	 * publish its ACL denied as if delivered; under 5 the PUBACK says so. */
	MQTT_PROTOCOL_5,
};

enum mqtt_event_kind {
	MQTT_EV_CONNECTED,        /* text: Paho's cause */
	MQTT_EV_LOST,             /* text: the cause (MQTT 5: the broker's DISCONNECT reason) */
	MQTT_EV_CONNECT_FAILED,   /* code, reason; text: OpenSSL's or Paho's reason */
	MQTT_EV_SUBSCRIBED,       /* code: the granted QoS */
	MQTT_EV_SUBSCRIBE_FAILED, /* code, reason, text */
	MQTT_EV_PUBLISHED,        /* token: the broker sent PUBACK */
	MQTT_EV_PUBLISH_FAILED,   /* token, code, reason, text */
	MQTT_EV_MESSAGE,          /* topic, payload (NULL if over max_payload), payload_len */
};

struct mqtt_event {
	struct mqtt_event *next;
	enum mqtt_event_kind kind;
	uint64_t seq;        /* queueing order: see struct mqtt_sent */
	int token;           /* Paho's token of the publish */
	int code;            /* Paho's return code (the QoS for MQTT_EV_SUBSCRIBED) */
	int reason;          /* MQTT 5 reason code from the broker, 0 if none */
	char text[MQTT_EVENT_TEXT];
	char *topic;
	char *payload;       /* may hold a token: mqtt_event_free wipes it */
	size_t payload_len;
};

struct mqtt_client_config {
	enum mqtt_protocol protocol;
	const char *uri;             /* ssl://host:port */
	const char *client_id;
	const char *ca, *cert, *key; /* PEM files: the broker's CA, our certificate and key */
	int keepalive_s;
	unsigned session_expiry_s;   /* MQTT 5: how long the broker keeps our session */
	int max_buffered;            /* publishes Paho may hold unsent; 0: its default */
	size_t max_messages;         /* messages queued unprocessed before more are dropped */
	size_t max_payload;          /* a bigger message arrives with payload NULL */
	void (*wake)(void *arg);     /* any thread: an event was queued */
	void *wake_arg;
	/* Last will, QoS 1: the broker publishes it when the connection ends
	 * without a DISCONNECT (a crash, a power cut, a lost network). NULL
	 * will_topic: none. Copied like the other strings. */
	const char *will_topic;
	const char *will_payload;
	bool will_retained;
};

struct mqtt_client;

/* Creates the client and starts connecting in the background (an
 * unreachable broker is not an error: it keeps trying every
 * MQTT_RETRY_MIN_S..MQTT_RETRY_MAX_S s). The strings of cfg are copied.
 * Returns NULL with the reason in err. */
struct mqtt_client *mqtt_client_start(const struct mqtt_client_config *cfg, char *err,
				      size_t err_cap);

/* Takes every queued event, oldest first (free each with mqtt_event_free).
 * *dropped gets the number of messages dropped since the last take. */
struct mqtt_event *mqtt_client_take(struct mqtt_client *c, size_t *dropped);
void mqtt_event_free(struct mqtt_event *ev);

/* Connected to the broker right now (any thread). False for NULL. */
bool mqtt_client_connected(const struct mqtt_client *c);

/* Subscribes with QoS qos; the outcome comes as MQTT_EV_SUBSCRIBED or
 * MQTT_EV_SUBSCRIBE_FAILED. Returns Paho's return code (MQTTASYNC_SUCCESS: 0). */
int mqtt_client_subscribe(struct mqtt_client *c, const char *topic, int qos);

/* A publish handed to Paho. Paho reuses tokens (they are MQTT message ids),
 * so its outcome is the first PUBLISHED or PUBLISH_FAILED event with this
 * token and a seq of at least min_seq. */
struct mqtt_sent {
	int token;
	uint64_t min_seq;
};

/* Publishes with QoS 1, not retained (Paho copies the payload). Returns
 * Paho's return code; on success *sent identifies the outcome to come. */
int mqtt_client_publish(struct mqtt_client *c, const char *topic, const void *payload,
			size_t len, struct mqtt_sent *sent);
/* The same, retained: the broker keeps it as the topic's last value and
 * hands it to every later subscriber (a device's presence). */
int mqtt_client_publish_retained(struct mqtt_client *c, const char *topic, const void *payload,
				 size_t len, struct mqtt_sent *sent);

/* Text for a Paho return code. */
const char *mqtt_client_strerror(int code);

/* Disconnects (waiting up to about 2 s, in-flight publishes included: a
 * last retained publish made just before goes out first), stops reconnecting, destroys the
 * client and waits for Paho's threads to end. The events still queued are
 * returned (the caller frees them); wake is not called any more. NULL is
 * fine. */
struct mqtt_event *mqtt_client_stop(struct mqtt_client *c);

#endif
