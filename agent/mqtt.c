#include "agent/mqtt.h"

#include "common/mqtt_tls.h"
#include "common/text.h"
#include "common/threads.h"

#include <MQTTAsync.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/notification.h"

#define CONNECT_TIMEOUT_S 10
#define DISCONNECT_TIMEOUT_MS 1000
#define STOP_WAIT_MS 2000

struct agent_mqtt {
	MQTTAsync client;
	struct evqueue *q;
	char uri[AGENT_MAX_URI + 1];
	char client_id[AGENT_MAX_CLIENT_ID + 1];
	char topic[AGENT_MAX_TOPIC];
	char ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];

	/* Shared with Paho's threads. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool disconnected;            /* the clean disconnect finished */
	char tls_error[EVQUEUE_TEXT]; /* first OpenSSL error of a failed handshake */
};

__attribute__((format(printf, 3, 4)))
static void textf(char *dst, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(dst, cap, fmt, ap);
	va_end(ap);
	if (n < 0 && cap > 0)
		dst[0] = '\0';
}

/* ---- Paho's threads: build an event, push it, nothing else ------------------- */

static void push(struct agent_mqtt *m, enum agent_event_kind kind, int code, const char *text)
{
	struct agent_event *ev = calloc(1, sizeof(*ev));
	if (ev == NULL)
		return;
	ev->kind = kind;
	ev->code = code;
	textf(ev->text, sizeof(ev->text), "%s", text != NULL ? text : "");
	evqueue_push(m->q, ev);
}

static void on_connected(void *context, char *cause)
{
	push(context, AGENT_EV_CONNECTED, 0, cause);
}

static void on_connection_lost(void *context, char *cause)
{
	push(context, AGENT_EV_CONNECTION_LOST, 0, cause);
}

static void on_connect_failure(void *context, MQTTAsync_failureData *response)
{
	struct agent_mqtt *m = context;
	char text[EVQUEUE_TEXT] = "";
	pthread_mutex_lock(&m->lock);
	/* OpenSSL's reason says more than Paho's code when TLS failed. */
	if (m->tls_error[0] != '\0')
		textf(text, sizeof(text), "TLS: %s", m->tls_error);
	else if (response != NULL && response->message != NULL)
		textf(text, sizeof(text), "%s", response->message);
	m->tls_error[0] = '\0';
	pthread_mutex_unlock(&m->lock);
	push(m, AGENT_EV_CONNECT_FAILED, response != NULL ? response->code : MQTTASYNC_FAILURE,
	     text);
}

static void on_subscribe_success(void *context, MQTTAsync_successData *response)
{
	int qos = response != NULL ? response->alt.qos : 1;
	if (qos == MQTT_BAD_SUBSCRIBE)
		push(context, AGENT_EV_SUBSCRIBE_FAILED, MQTT_BAD_SUBSCRIBE, "refused by the broker");
	else
		push(context, AGENT_EV_SUBSCRIBED, qos, NULL);
}

static void on_subscribe_failure(void *context, MQTTAsync_failureData *response)
{
	int code = response != NULL ? response->code : MQTTASYNC_FAILURE;
	const char *text = response != NULL && response->message != NULL ? response->message
	                   : code == MQTT_BAD_SUBSCRIBE ? "refused by the broker" : NULL;
	push(context, AGENT_EV_SUBSCRIBE_FAILED, code, text);
}

static int on_message(void *context, char *topic, int topic_len, MQTTAsync_message *message)
{
	struct agent_mqtt *m = context;
	struct agent_event *ev = calloc(1, sizeof(*ev));
	size_t tlen = topic_len > 0 ? (size_t)topic_len : strlen(topic);
	size_t plen = message->payloadlen > 0 ? (size_t)message->payloadlen : 0;
	if (ev != NULL) {
		ev->kind = AGENT_EV_MESSAGE;
		ev->topic = strndup(topic, tlen);
		ev->payload_len = plen;
		if (plen <= NOTIFICATION_MAX_PAYLOAD) {
			ev->payload = malloc(plen + 1);
			if (ev->payload != NULL) {
				memcpy(ev->payload, message->payload, plen);
				ev->payload[plen] = '\0';
			}
		}
		if (ev->topic == NULL || (plen <= NOTIFICATION_MAX_PAYLOAD && ev->payload == NULL)) {
			agent_event_free(ev);
			return 0; /* out of memory: Paho keeps it and calls again */
		}
	} else {
		return 0;
	}
	/* The payload holds an access token: leave no copy behind. */
	if (plen > 0)
		explicit_bzero(message->payload, plen);
	MQTTAsync_freeMessage(&message);
	MQTTAsync_free(topic);
	evqueue_push(m->q, ev);
	return 1;
}

/* OpenSSL error lines ("pid:error:code:lib:func:reason:file:line:data"):
 * keep the reason. */
static int on_ssl_error(const char *str, size_t len, void *u)
{
	struct agent_mqtt *m = u;
	char line[2 * EVQUEUE_TEXT];
	textf(line, sizeof(line), "%.*s", (int)len, str);
	const char *reason = openssl_error_reason(line);
	pthread_mutex_lock(&m->lock);
	if (m->tls_error[0] == '\0') /* the first line is the cause */
		textf(m->tls_error, sizeof(m->tls_error), "%s", reason);
	pthread_mutex_unlock(&m->lock);
	return 1;
}

static void disconnect_done(struct agent_mqtt *m)
{
	pthread_mutex_lock(&m->lock);
	m->disconnected = true;
	pthread_cond_signal(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

static void on_disconnect_success(void *context, MQTTAsync_successData *response)
{
	disconnect_done(context);
}

static void on_disconnect_failure(void *context, MQTTAsync_failureData *response)
{
	disconnect_done(context);
}

/* ---- loop thread -------------------------------------------------------------- */

const char *agent_mqtt_strerror(int code)
{
	if (code == MQTT_BAD_SUBSCRIBE)
		return "subscription refused (SUBACK 0x80)";
	const char *s = MQTTAsync_strerror(code);
	return s != NULL ? s : "unknown error";
}

static void free_mqtt(struct agent_mqtt *m)
{
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

struct agent_mqtt *agent_mqtt_start(const struct agent_config *cfg, struct evqueue *q,
				    char *err, size_t err_cap)
{
	struct agent_mqtt *m = calloc(1, sizeof(*m));
	if (m == NULL) {
		textf(err, err_cap, "out of memory");
		return NULL;
	}
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&m->lock, NULL);
	m->q = q;
	memcpy(m->uri, cfg->broker_uri, sizeof(m->uri));
	memcpy(m->client_id, cfg->client_id, sizeof(m->client_id));
	memcpy(m->topic, cfg->notify_topic, sizeof(m->topic));
	memcpy(m->ca, cfg->broker_ca, sizeof(m->ca));
	memcpy(m->cert, cfg->broker_cert, sizeof(m->cert));
	memcpy(m->key, cfg->broker_key, sizeof(m->key));

	MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
	co.MQTTVersion = MQTTVERSION_3_1_1;
	co.sendWhileDisconnected = 0;
	/* No client-side persistence: the agent only receives, and the
	 * broker holds the session. Nothing with a token reaches the disk. */
	int rc = MQTTAsync_createWithOptions(&m->client, m->uri, m->client_id,
					     MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
	if (rc != MQTTASYNC_SUCCESS) {
		textf(err, err_cap, "cannot create the MQTT client for %s: %s", m->uri,
		      agent_mqtt_strerror(rc));
		free_mqtt(m);
		return NULL;
	}
	if (MQTTAsync_setCallbacks(m->client, m, on_connection_lost, on_message, NULL) !=
		    MQTTASYNC_SUCCESS ||
	    MQTTAsync_setConnected(m->client, m, on_connected) != MQTTASYNC_SUCCESS) {
		textf(err, err_cap, "cannot set the MQTT client's callbacks");
		MQTTAsync_destroy(&m->client);
		free_mqtt(m);
		return NULL;
	}

	MQTTAsync_SSLOptions ssl = mqtt_tls_options(m->ca, m->cert, m->key, on_ssl_error, m);

	MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
	opts.keepAliveInterval = cfg->keepalive_s;
	opts.cleansession = 0;
	opts.MQTTVersion = MQTTVERSION_3_1_1;
	opts.connectTimeout = CONNECT_TIMEOUT_S;
	opts.automaticReconnect = 1;
	opts.minRetryInterval = AGENT_MQTT_RETRY_MIN_S;
	opts.maxRetryInterval = AGENT_MQTT_RETRY_MAX_S;
	opts.ssl = &ssl;
	opts.onFailure = on_connect_failure;
	opts.context = m;
	rc = MQTTAsync_connect(m->client, &opts);
	if (rc != MQTTASYNC_SUCCESS) {
		textf(err, err_cap, "cannot start connecting to MQTT broker %s: %s", m->uri,
		      agent_mqtt_strerror(rc));
		MQTTAsync_destroy(&m->client);
		free_mqtt(m);
		return NULL;
	}
	return m;
}

int agent_mqtt_subscribe(struct agent_mqtt *m, char *err, size_t err_cap)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	ro.onSuccess = on_subscribe_success;
	ro.onFailure = on_subscribe_failure;
	ro.context = m;
	int rc = MQTTAsync_subscribe(m->client, m->topic, 1, &ro);
	if (rc != MQTTASYNC_SUCCESS) {
		textf(err, err_cap, "%s", agent_mqtt_strerror(rc));
		return -1;
	}
	return 0;
}

void agent_mqtt_stop(struct agent_mqtt *m)
{
	if (m == NULL)
		return;
	MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
	d.timeout = DISCONNECT_TIMEOUT_MS;
	d.onSuccess = on_disconnect_success;
	d.onFailure = on_disconnect_failure;
	d.context = m;
	if (MQTTAsync_disconnect(m->client, &d) == MQTTASYNC_SUCCESS) {
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += STOP_WAIT_MS / 1000;
		until.tv_nsec += (long)(STOP_WAIT_MS % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&m->lock);
		while (!m->disconnected &&
		       pthread_cond_timedwait(&m->cond, &m->lock, &until) == 0)
			;
		pthread_mutex_unlock(&m->lock);
	}
	MQTTAsync_destroy(&m->client);
	free_mqtt(m);
	wait_until_single_threaded(STOP_WAIT_MS);
}
