/* The MQTT client wrapper (see mqtt_client.h for the threading rules).
 *
 * Paho's threads only ever touch the event queue and the TLS/DISCONNECT
 * reasons (under c->lock), the atomics, and the program's wake function.
 *
 * Stopping relies on how Paho 1.3 calls back: every callback (connection
 * lost, connected, message, request outcomes, OpenSSL's error lines) runs
 * on a Paho thread holding Paho's global mutex, and MQTTAsync_destroy takes
 * that mutex, unregisters the client and frees its queued requests. So once
 * MQTTAsync_destroy has returned, no callback of ours is running or can
 * start, and c (with the program's wake argument) may be freed. */
#include "common/mqtt_client.h"

#include "common/text.h"
#include "common/threads.h"

#include <MQTTAsync.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CONNECT_TIMEOUT_S 10
#define DISCONNECT_TIMEOUT_MS 1000
#define STOP_WAIT_MS 2000

struct mqtt_client {
	MQTTAsync client;
	int threads_before;            /* the process's threads before Paho's began */
	struct mqtt_client_config cfg; /* strings point into the copies below */
	char *uri, *client_id, *ca, *cert, *key, *will_topic, *will_payload;

	/* Shared with Paho's threads. */
	pthread_mutex_t lock;
	pthread_cond_t cond;                /* signalled when the disconnect completes */
	struct mqtt_event *head, *tail;
	uint64_t next_seq;
	size_t messages;                    /* MQTT_EV_MESSAGE events queued */
	size_t dropped;                     /* messages dropped since the last take */
	char tls_error[MQTT_EVENT_TEXT];    /* first OpenSSL error of a failed handshake */
	char lost_reason[MQTT_EVENT_TEXT];  /* the broker's DISCONNECT reason, "" if none */
	bool disconnected;
	atomic_bool connected;
	atomic_bool stopping;
};

/* ---- Paho's threads: queue an event, wake the loop, nothing else -------------- */

/* Takes ev; drops a message beyond max_messages (connection events never). */
static void push(struct mqtt_client *c, struct mqtt_event *ev)
{
	ev->next = NULL;
	pthread_mutex_lock(&c->lock);
	if (ev->kind == MQTT_EV_MESSAGE && c->messages >= c->cfg.max_messages) {
		c->dropped++;
		pthread_mutex_unlock(&c->lock);
		mqtt_event_free(ev);
		return;
	}
	if (ev->kind == MQTT_EV_MESSAGE)
		c->messages++;
	ev->seq = c->next_seq++;
	if (c->tail != NULL)
		c->tail->next = ev;
	else
		c->head = ev;
	c->tail = ev;
	pthread_mutex_unlock(&c->lock);
	if (!atomic_load(&c->stopping))
		c->cfg.wake(c->cfg.wake_arg);
}

static void push_new(struct mqtt_client *c, enum mqtt_event_kind kind, int token, int code,
		     int reason, const char *text)
{
	struct mqtt_event *ev = calloc(1, sizeof(*ev));
	if (ev == NULL)
		return; /* a publish then times out; the connection state is in the atomics */
	ev->kind = kind;
	ev->token = token;
	ev->code = code;
	ev->reason = reason;
	textf(ev->text, sizeof(ev->text), "%s", text != NULL ? text : "");
	push(c, ev);
}

static void on_connected(void *context, char *cause)
{
	struct mqtt_client *c = context;
	atomic_store(&c->connected, true);
	pthread_mutex_lock(&c->lock);
	c->tls_error[0] = '\0';
	pthread_mutex_unlock(&c->lock);
	push_new(c, MQTT_EV_CONNECTED, 0, 0, 0, cause);
}

static void on_connection_lost(void *context, char *cause)
{
	struct mqtt_client *c = context;
	atomic_store(&c->connected, false);
	char text[MQTT_EVENT_TEXT];
	pthread_mutex_lock(&c->lock);
	textf(text, sizeof(text), "%s",
	      c->lost_reason[0] != '\0' ? c->lost_reason : cause != NULL ? cause : "");
	c->lost_reason[0] = '\0';
	c->tls_error[0] = '\0'; /* a read error on the old connection: not news */
	pthread_mutex_unlock(&c->lock);
	push_new(c, MQTT_EV_LOST, 0, 0, 0, text);
}

/* The broker sent DISCONNECT (MQTT 5 only): remember why for the "lost" event. */
static void on_disconnected(void *context, MQTTProperties *props, enum MQTTReasonCodes reason)
{
	struct mqtt_client *c = context;
	pthread_mutex_lock(&c->lock);
	textf(c->lost_reason, sizeof(c->lost_reason), "broker sent DISCONNECT: %s",
	      MQTTReasonCode_toString(reason));
	pthread_mutex_unlock(&c->lock);
}

static void connect_failed(struct mqtt_client *c, int code, int reason, const char *message)
{
	atomic_store(&c->connected, false);
	/* OpenSSL's reason, if the TLS handshake is what failed, says more
	 * than Paho's code. */
	char text[MQTT_EVENT_TEXT];
	pthread_mutex_lock(&c->lock);
	if (c->tls_error[0] != '\0')
		textf(text, sizeof(text), "TLS: %s", c->tls_error);
	else
		textf(text, sizeof(text), "%s", message != NULL ? message : "");
	c->tls_error[0] = '\0';
	pthread_mutex_unlock(&c->lock);
	push_new(c, MQTT_EV_CONNECT_FAILED, 0, code, reason, text);
}

static void on_connect_failure(void *context, MQTTAsync_failureData *r)
{
	connect_failed(context, r != NULL ? r->code : MQTTASYNC_FAILURE, 0,
		       r != NULL ? r->message : NULL);
}

static void on_connect_failure5(void *context, MQTTAsync_failureData5 *r)
{
	connect_failed(context, r != NULL ? r->code : MQTTASYNC_FAILURE,
		       r != NULL ? (int)r->reasonCode : 0, r != NULL ? r->message : NULL);
}

static void subscribed(struct mqtt_client *c, int qos)
{
	if (qos == MQTT_BAD_SUBSCRIBE)
		push_new(c, MQTT_EV_SUBSCRIBE_FAILED, 0, MQTT_BAD_SUBSCRIBE, 0,
			 "refused by the broker");
	else
		push_new(c, MQTT_EV_SUBSCRIBED, 0, qos, 0, NULL);
}

static void on_subscribe_success(void *context, MQTTAsync_successData *r)
{
	subscribed(context, r != NULL ? r->alt.qos : 1);
}

/* MQTT 5: the SUBACK's reason code is the granted QoS, or >= 0x80. */
static void on_subscribe_success5(void *context, MQTTAsync_successData5 *r)
{
	int reason = r != NULL ? (int)r->reasonCode : 1;
	subscribed(context, reason >= MQTTREASONCODE_UNSPECIFIED_ERROR ? MQTT_BAD_SUBSCRIBE : reason);
}

/* A subscribe or publish outcome. */
static void outcome(struct mqtt_client *c, enum mqtt_event_kind kind, int token, int code,
		   int reason, const char *message)
{
	if (message == NULL && code == MQTT_BAD_SUBSCRIBE)
		message = "refused by the broker";
	push_new(c, kind, token, code, reason, message);
}

static void on_subscribe_failure(void *context, MQTTAsync_failureData *r)
{
	outcome(context, MQTT_EV_SUBSCRIBE_FAILED, 0, r != NULL ? r->code : MQTTASYNC_FAILURE, 0,
	       r != NULL ? r->message : NULL);
}

static void on_subscribe_failure5(void *context, MQTTAsync_failureData5 *r)
{
	outcome(context, MQTT_EV_SUBSCRIBE_FAILED, 0, r != NULL ? r->code : MQTTASYNC_FAILURE,
	       r != NULL ? (int)r->reasonCode : 0, r != NULL ? r->message : NULL);
}

static void on_publish_success(void *context, MQTTAsync_successData *r)
{
	if (r != NULL)
		outcome(context, MQTT_EV_PUBLISHED, r->token, 0, 0, NULL);
}

static void on_publish_success5(void *context, MQTTAsync_successData5 *r)
{
	if (r != NULL)
		outcome(context, MQTT_EV_PUBLISHED, r->token, 0, (int)r->reasonCode, NULL);
}

static void on_publish_failure(void *context, MQTTAsync_failureData *r)
{
	if (r != NULL)
		outcome(context, MQTT_EV_PUBLISH_FAILED, r->token, r->code, 0, r->message);
}

/* Also a PUBACK whose reason code is an error (e.g. 135 Not authorized). */
static void on_publish_failure5(void *context, MQTTAsync_failureData5 *r)
{
	if (r != NULL)
		outcome(context, MQTT_EV_PUBLISH_FAILED, r->token, r->code, (int)r->reasonCode,
		       r->message);
}

static int on_message(void *context, char *topic, int topic_len, MQTTAsync_message *message)
{
	struct mqtt_client *c = context;
	size_t tlen = topic_len > 0 ? (size_t)topic_len : strlen(topic);
	size_t plen = message->payloadlen > 0 ? (size_t)message->payloadlen : 0;
	struct mqtt_event *ev = calloc(1, sizeof(*ev));
	if (ev != NULL) {
		ev->kind = MQTT_EV_MESSAGE;
		ev->topic = strndup(topic, tlen);
		ev->payload_len = plen;
		if (plen <= c->cfg.max_payload) {
			ev->payload = malloc(plen + 1);
			if (ev->payload != NULL) {
				memcpy(ev->payload, message->payload, plen);
				ev->payload[plen] = '\0';
			}
		}
	}
	if (ev == NULL || ev->topic == NULL || (plen <= c->cfg.max_payload && ev->payload == NULL)) {
		mqtt_event_free(ev);
		return 0; /* out of memory: Paho keeps the message and calls again */
	}
	/* The payload may hold an access token: leave no copy behind. */
	if (plen > 0)
		explicit_bzero(message->payload, plen);
	MQTTAsync_freeMessage(&message);
	MQTTAsync_free(topic);
	push(c, ev);
	return 1;
}

/* OpenSSL error lines ("pid:error:code:lib:func:reason:file:line:data"):
 * keep the reason of the first, the cause; later ones are consequences. */
static int on_ssl_error(const char *str, size_t len, void *context)
{
	struct mqtt_client *c = context;
	char line[2 * MQTT_EVENT_TEXT];
	textf(line, sizeof(line), "%.*s", (int)len, str);
	const char *reason = openssl_error_reason(line);
	pthread_mutex_lock(&c->lock);
	if (c->tls_error[0] == '\0')
		textf(c->tls_error, sizeof(c->tls_error), "%s", reason);
	pthread_mutex_unlock(&c->lock);
	return 1;
}

static void disconnect_done(struct mqtt_client *c)
{
	pthread_mutex_lock(&c->lock);
	c->disconnected = true;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static void on_disconnect_success(void *context, MQTTAsync_successData *r)
{
	disconnect_done(context);
}

static void on_disconnect_failure(void *context, MQTTAsync_failureData *r)
{
	disconnect_done(context);
}


/* ---- loop thread ------------------------------------------------------------------ */

void mqtt_event_free(struct mqtt_event *ev)
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

struct mqtt_event *mqtt_client_take(struct mqtt_client *c, size_t *dropped)
{
	pthread_mutex_lock(&c->lock);
	struct mqtt_event *ev = c->head;
	c->head = c->tail = NULL;
	c->messages = 0;
	*dropped = c->dropped;
	c->dropped = 0;
	pthread_mutex_unlock(&c->lock);
	return ev;
}

bool mqtt_client_connected(const struct mqtt_client *c)
{
	return c != NULL && atomic_load(&((struct mqtt_client *)c)->connected);
}

const char *mqtt_client_strerror(int code)
{
	if (code == MQTT_BAD_SUBSCRIBE)
		return "subscription refused (SUBACK 0x80)";
	const char *s = MQTTAsync_strerror(code);
	return s != NULL ? s : "unknown error";
}

static bool v5(const struct mqtt_client *c)
{
	return c->cfg.protocol == MQTT_PROTOCOL_5;
}

/* Paho wants the callbacks of the client's MQTT version. */
static MQTTAsync_responseOptions response_options(struct mqtt_client *c,
						  MQTTAsync_onSuccess *on_success,
						  MQTTAsync_onFailure *on_failure,
						  MQTTAsync_onSuccess5 *on_success5,
						  MQTTAsync_onFailure5 *on_failure5)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	if (v5(c)) {
		ro.onSuccess5 = on_success5;
		ro.onFailure5 = on_failure5;
	} else {
		ro.onSuccess = on_success;
		ro.onFailure = on_failure;
	}
	ro.context = c;
	return ro;
}

int mqtt_client_subscribe(struct mqtt_client *c, const char *topic, int qos)
{
	MQTTAsync_responseOptions ro =
		response_options(c, on_subscribe_success, on_subscribe_failure,
				 on_subscribe_success5, on_subscribe_failure5);
	return MQTTAsync_subscribe(c->client, topic, qos, &ro);
}

static int publish(struct mqtt_client *c, const char *topic, const void *payload, size_t len,
		   bool retained, struct mqtt_sent *sent)
{
	if (len > INT32_MAX)
		return MQTTASYNC_FAILURE;
	MQTTAsync_responseOptions ro = response_options(c, on_publish_success, on_publish_failure,
							on_publish_success5, on_publish_failure5);
	MQTTAsync_message m = MQTTAsync_message_initializer;
	m.payload = (void *)payload;
	m.payloadlen = (int)len;
	m.qos = 1;
	m.retained = retained ? 1 : 0;
	/* Events queued from here on may be this publish's outcome. */
	pthread_mutex_lock(&c->lock);
	sent->min_seq = c->next_seq;
	pthread_mutex_unlock(&c->lock);
	int rc = MQTTAsync_sendMessage(c->client, topic, &m, &ro);
	sent->token = ro.token;
	return rc;
}

int mqtt_client_publish(struct mqtt_client *c, const char *topic, const void *payload,
			size_t len, struct mqtt_sent *sent)
{
	return publish(c, topic, payload, len, false, sent);
}

int mqtt_client_publish_retained(struct mqtt_client *c, const char *topic, const void *payload,
				 size_t len, struct mqtt_sent *sent)
{
	return publish(c, topic, payload, len, true, sent);
}

static void free_client(struct mqtt_client *c)
{
	free(c->uri);
	free(c->client_id);
	free(c->ca);
	free(c->cert);
	free(c->key);
	free(c->will_topic);
	free(c->will_payload);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static char *copy(const char *s, bool *ok)
{
	char *d = strdup(s != NULL ? s : "");
	if (d == NULL)
		*ok = false;
	return d;
}

static struct mqtt_client *new_client(const struct mqtt_client_config *cfg)
{
	struct mqtt_client *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&c->lock, NULL);
	atomic_init(&c->connected, false);
	atomic_init(&c->stopping, false);
	bool ok = true;
	c->uri = copy(cfg->uri, &ok);
	c->client_id = copy(cfg->client_id, &ok);
	c->ca = copy(cfg->ca, &ok);
	c->cert = copy(cfg->cert, &ok);
	c->key = copy(cfg->key, &ok);
	if (cfg->will_topic != NULL) {
		c->will_topic = copy(cfg->will_topic, &ok);
		c->will_payload = copy(cfg->will_payload, &ok);
	}
	if (!ok) {
		free_client(c);
		return NULL;
	}
	c->cfg = *cfg;
	c->cfg.uri = c->uri;
	c->cfg.client_id = c->client_id;
	c->cfg.ca = c->ca;
	c->cfg.cert = c->cert;
	c->cfg.key = c->key;
	c->cfg.will_topic = c->will_topic;
	c->cfg.will_payload = c->will_payload;
	return c;
}

/* Mutual TLS: the broker verified against our CA, including its host name
 * (or IP address); our certificate and key presented. */
static MQTTAsync_SSLOptions tls_options(struct mqtt_client *c)
{
	MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
	ssl.trustStore = c->ca;
	ssl.keyStore = c->cert;
	ssl.privateKey = c->key;
	ssl.enableServerCertAuth = 1;
	ssl.verify = 1;
	ssl.ssl_error_cb = on_ssl_error;
	ssl.ssl_error_context = c;
	return ssl;
}

static int start_connecting(struct mqtt_client *c)
{
	MQTTAsync_SSLOptions ssl = tls_options(c);
	MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
	MQTTAsync_connectOptions opts5 = MQTTAsync_connectOptions_initializer5;
	if (v5(c)) {
		opts = opts5;
		/* Clean start off plus a session expiry: the MQTT 5 form of a
		 * persistent session. */
		opts.cleanstart = 0;
		opts.onFailure5 = on_connect_failure5;
	} else {
		/* The broker keeps the subscription and queues QoS 1 messages
		 * while we are away. */
		opts.cleansession = 0;
		opts.MQTTVersion = MQTTVERSION_3_1_1;
		opts.onFailure = on_connect_failure;
	}
	opts.keepAliveInterval = c->cfg.keepalive_s;
	opts.connectTimeout = CONNECT_TIMEOUT_S;
	opts.automaticReconnect = 1;
	opts.minRetryInterval = MQTT_RETRY_MIN_S;
	opts.maxRetryInterval = MQTT_RETRY_MAX_S;
	opts.ssl = &ssl;
	opts.context = c;
	/* Paho copies the will and sends it again on every reconnect. */
	MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
	if (c->will_topic != NULL) {
		will.topicName = c->will_topic;
		will.message = c->will_payload;
		will.retained = c->cfg.will_retained ? 1 : 0;
		will.qos = 1;
		opts.will = &will;
	}
	if (!v5(c))
		return MQTTAsync_connect(c->client, &opts);
	MQTTProperties props = MQTTProperties_initializer;
	MQTTProperty expiry = {
		.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL,
		.value.integer4 = c->cfg.session_expiry_s,
	};
	int rc = MQTTProperties_add(&props, &expiry);
	if (rc == 0) {
		opts.connectProperties = &props;
		rc = MQTTAsync_connect(c->client, &opts); /* copies what it keeps */
	}
	MQTTProperties_free(&props);
	return rc;
}

struct mqtt_client *mqtt_client_start(const struct mqtt_client_config *cfg, char *err,
				      size_t err_cap)
{
	struct mqtt_client *c = new_client(cfg);
	if (c == NULL) {
		textf(err, err_cap, "out of memory");
		return NULL;
	}
	MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
	MQTTAsync_createOptions co5 = MQTTAsync_createOptions_initializer5;
	if (v5(c))
		co = co5;
	else
		co.MQTTVersion = MQTTVERSION_3_1_1;
	co.sendWhileDisconnected = 0; /* fail fast: someone waits for the outcome */
	if (cfg->max_buffered > 0)
		co.maxBufferedMessages = cfg->max_buffered;
	c->threads_before = thread_count();
	/* No persistence: payloads hold tokens and must not reach the disk. */
	int rc = MQTTAsync_createWithOptions(&c->client, c->uri, c->client_id,
					     MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
	if (rc != MQTTASYNC_SUCCESS) {
		textf(err, err_cap, "cannot create the MQTT client for %s: %s", c->uri,
		      mqtt_client_strerror(rc));
		free_client(c);
		return NULL;
	}
	if (MQTTAsync_setCallbacks(c->client, c, on_connection_lost, on_message, NULL) !=
		    MQTTASYNC_SUCCESS ||
	    MQTTAsync_setConnected(c->client, c, on_connected) != MQTTASYNC_SUCCESS ||
	    MQTTAsync_setDisconnected(c->client, c, on_disconnected) != MQTTASYNC_SUCCESS) {
		textf(err, err_cap, "cannot set the MQTT client's callbacks");
		MQTTAsync_destroy(&c->client);
		free_client(c);
		return NULL;
	}
	rc = start_connecting(c);
	if (rc != MQTTASYNC_SUCCESS) {
		textf(err, err_cap, "cannot start connecting to MQTT broker %s: %s", c->uri,
		      mqtt_client_strerror(rc));
		MQTTAsync_destroy(&c->client);
		free_client(c);
		return NULL;
	}
	return c;
}

static void wait_disconnected(struct mqtt_client *c)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += STOP_WAIT_MS / 1000;
	until.tv_nsec += (long)(STOP_WAIT_MS % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&c->lock);
	while (!c->disconnected) {
		if (pthread_cond_timedwait(&c->cond, &c->lock, &until) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&c->lock);
}

struct mqtt_event *mqtt_client_stop(struct mqtt_client *c)
{
	if (c == NULL)
		return NULL;
	atomic_store(&c->stopping, true);
	/* Unlike the other requests', a disconnect's 3.1.1-style callbacks
	 * serve both versions: Paho calls onSuccess (else onSuccess5). */
	MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
	d.timeout = DISCONNECT_TIMEOUT_MS;
	d.context = c;
	d.onSuccess = on_disconnect_success;
	d.onFailure = on_disconnect_failure;
	/* Also stops automatic reconnects when not connected right now. */
	if (MQTTAsync_disconnect(c->client, &d) == MQTTASYNC_SUCCESS)
		wait_disconnected(c);
	/* From here on no callback runs (see the top of this file). */
	MQTTAsync_destroy(&c->client);
	size_t dropped;
	struct mqtt_event *left = mqtt_client_take(c, &dropped);
	int before = c->threads_before;
	free_client(c);
	/* Paho's threads only: the relay's store worker lives on until later. */
	if (before > 0)
		wait_until_threads_at_most(before, STOP_WAIT_MS);
	return left;
}
