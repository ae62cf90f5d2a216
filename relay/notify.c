/* The relay's MQTT notifier (see notify.h for the threading rules).
 *
 * The MQTT side (Paho's threads, the event queue, TLS errors) is
 * common/mqtt_client.c; Paho's threads wake the lws loop through wake_loop()
 * below. The loop thread owns the pending list and matches each completion
 * event to its publish (struct mqtt_sent). */
#include "relay/notify.h"

#include "common/clock.h"
#include "common/hostport.h"
#include "common/log.h"
#include "common/mqtt_client.h"
#include "common/text.h"
#include "relay/presence_payload.h"

#include <MQTTAsync.h>
#include <errno.h>
#include <libwebsockets.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CLIENT_ID "tunnel-relay"
#define KEEPALIVE_S 30
/* MQTT 5 session kept by the broker across reconnects (clean start off). */
#define SESSION_EXPIRY_S 3600
/* Publishes Paho may hold before they are written (its default is 100). */
#define MAX_BUFFERED 1000
#define TEXT_CAP MQTT_EVENT_TEXT
/* Presence messages waiting for the loop at most (more are dropped: the
 * broker keeps each thing's last one retained, so a resubscribe recovers). */
#define MAX_PRESENCE_QUEUED 4096

/* One notifier_publish() whose callback has not run yet. Loop thread only. */
struct pending {
	struct pending *next;
	uint64_t id;              /* creation order, for the reentrancy guard */
	bool inflight;            /* waiting for Paho; else outcome known */
	enum notify_outcome outcome;
	struct mqtt_sent sent;    /* which event is the outcome */
	int64_t deadline_ms;      /* now_ms() */
	notify_done_fn done;
	void *arg;
	char thing[NOTIFY_MAX_THING + 1];
	char detail[TEXT_CAP];
};

struct notifier {
	struct mqtt_client *client;
	struct lws_context *ctx;
	char *uri, *client_id, *topic_template, *endpoint, *region, *presence_filter;
	void (*on_presence)(void *arg, const char *topic, const char *payload, size_t len);
	void *presence_arg;

	/* Loop thread only. */
	struct pending *pending_head, *pending_tail;
	uint64_t next_pending_id;
	bool stopping;
	bool ever_connected;
	unsigned connect_failures;
	char last_failure[TEXT_CAP];
};

static void copy_text(char *dst, size_t cap, const char *src)
{
	textf(dst, cap, "%s", src != NULL ? src : "");
}

/* Paho's threads: an MQTT event is queued. */
static void wake_loop(void *ctx)
{
	if (ctx != NULL)
		lws_cancel_service(ctx);
}

/* ---- loop thread ------------------------------------------------------------ */

static void append_pending(struct notifier *n, struct pending *p)
{
	if (n->pending_tail != NULL)
		n->pending_tail->next = p;
	else
		n->pending_head = p;
	n->pending_tail = p;
}

static void unlink_pending(struct notifier *n, struct pending *p)
{
	struct pending *prev = NULL;
	for (struct pending *q = n->pending_head; q != NULL; prev = q, q = q->next) {
		if (q != p)
			continue;
		if (prev != NULL)
			prev->next = q->next;
		else
			n->pending_head = q->next;
		if (n->pending_tail == q)
			n->pending_tail = prev;
		q->next = NULL;
		return;
	}
}

static void finish(struct pending *p, enum notify_outcome outcome, const char *detail)
{
	p->inflight = false;
	p->outcome = outcome;
	copy_text(p->detail, sizeof(p->detail), detail);
}

static const char *reason_hint(int reason)
{
	switch (reason) {
	case MQTTREASONCODE_NOT_AUTHORIZED:
	case MQTTREASONCODE_BAD_USER_NAME_OR_PASSWORD:
		return " (check the relay's client certificate CN and the broker's ACL)";
	case MQTTREASONCODE_CLIENT_IDENTIFIER_NOT_VALID:
		return " (check the MQTT client id)";
	default:
		return "";
	}
}

/* One line for a failed connect or publish: the broker's reason code if it
 * sent one, else OpenSSL's or Paho's words. Loop thread only (strerror). */
static void describe_failure(char *out, size_t cap, const struct mqtt_event *ev)
{
	if (ev->reason >= MQTTREASONCODE_UNSPECIFIED_ERROR)
		textf(out, cap, "broker refused: %s (reason code %d)%s",
		      MQTTReasonCode_toString((enum MQTTReasonCodes)ev->reason), ev->reason,
		      reason_hint(ev->reason));
	else if (strcmp(ev->text, "TCP/TLS connect failure") == 0)
		/* Paho's words for a refused TCP connection, a failed handshake
		 * and a host name that is not in the broker's certificate. */
		textf(out, cap, "%s (broker unreachable, or TLS failed: host name not in the "
		      "broker's certificate, or our certificate refused)", ev->text);
	else if (strcmp(ev->text, "TCP connect completion failure") == 0)
		/* TLS 1.3: the broker checks our certificate after the client's
		 * side of the handshake is done, then just closes. */
		textf(out, cap, "%s (the broker closed the connection before CONNACK: it may "
		      "have refused our client certificate)", ev->text);
	else if (ev->text[0] != '\0')
		textf(out, cap, "%s", ev->text);
	else
		textf(out, cap, "%s (code %d)", MQTTAsync_strerror(ev->code), ev->code);
}

static void complete_publish(struct notifier *n, const struct mqtt_event *ev)
{
	for (struct pending *p = n->pending_head; p != NULL; p = p->next) {
		if (!p->inflight || p->sent.token != ev->token || ev->seq < p->sent.min_seq)
			continue;
		/* Paho 1.3 does not pass a successful PUBACK's reason code on,
		 * so "no matching subscribers" (16) also lands here. */
		if (ev->kind == MQTT_EV_PUBLISHED) {
			char detail[TEXT_CAP];
			textf(detail, sizeof(detail), "delivered to broker %s", n->uri);
			finish(p, NOTIFY_DELIVERED, detail);
		} else {
			char why[TEXT_CAP], detail[TEXT_CAP];
			describe_failure(why, sizeof(why), ev);
			textf(detail, sizeof(detail), "MQTT publish to broker %s failed: %s", n->uri,
				 why);
			/* A reason code is the broker's verdict on this message;
			 * anything else (a lost connection) may pass next time. */
			finish(p, ev->reason >= MQTTREASONCODE_UNSPECIFIED_ERROR ? NOTIFY_REFUSED
										: NOTIFY_RETRY,
			       detail);
		}
		return;
	}
	/* Forgotten or timed out already: nothing waits for it. */
}

static void subscribe_presence(struct notifier *n)
{
	if (!n->presence_filter)
		return;
	int rc = mqtt_client_subscribe(n->client, n->presence_filter, 1);
	if (rc != MQTTASYNC_SUCCESS)
		log_error("MQTT: cannot subscribe to presence topics %s: %s", n->presence_filter,
			  mqtt_client_strerror(rc));
}

static void handle_event(struct notifier *n, const struct mqtt_event *ev, bool log_state)
{
	char why[TEXT_CAP];
	switch (ev->kind) {
	case MQTT_EV_PUBLISHED:
	case MQTT_EV_PUBLISH_FAILED:
		/* While stopping, Paho discards what is in flight: that is
		 * "shutting down", not a broker failure. */
		if (log_state || ev->kind == MQTT_EV_PUBLISHED)
			complete_publish(n, ev);
		return;
	case MQTT_EV_CONNECTED:
		if (!log_state)
			break;
		if (n->ever_connected)
			log_info("MQTT: connection to broker %s restored", n->uri);
		else
			log_info("MQTT: connected to broker %s as %s", n->uri, n->client_id);
		n->ever_connected = true;
		n->connect_failures = 0;
		n->last_failure[0] = '\0';
		subscribe_presence(n); /* again on every connect: the retained ones come back */
		break;
	case MQTT_EV_LOST:
		if (!log_state)
			break;
		log_warn("MQTT: connection to broker %s lost (%s); reconnecting in the background",
			 n->uri, ev->text[0] != '\0' ? ev->text : "connection closed");
		n->connect_failures = 0;
		n->last_failure[0] = '\0';
		break;
	case MQTT_EV_SUBSCRIBED:
		if (log_state)
			log_info("MQTT: subscribed to presence topics %s (QoS %d)", n->presence_filter,
				 ev->code);
		break;
	case MQTT_EV_SUBSCRIBE_FAILED:
		if (!log_state)
			break;
		describe_failure(why, sizeof(why), ev);
		log_error("MQTT: broker %s refused the subscription to presence topics %s: %s (the "
			  "broker's ACL must let the relay read them); retried on the next connect",
			  n->uri, n->presence_filter, why);
		break;
	case MQTT_EV_MESSAGE:
		if (log_state && n->on_presence && ev->topic)
			n->on_presence(n->presence_arg, ev->topic, ev->payload, ev->payload_len);
		break;
	case MQTT_EV_CONNECT_FAILED:
		if (!log_state)
			break;
		describe_failure(why, sizeof(why), ev);
		n->connect_failures++;
		/* Warn on the first failure and whenever the reason changes;
		 * the retries in between (every 1..30 s) go to debug. */
		if (n->connect_failures == 1 || strcmp(why, n->last_failure) != 0)
			log_warn("MQTT: cannot connect to broker %s: %s; retrying every %d-%d s", n->uri,
				 why, MQTT_RETRY_MIN_S, MQTT_RETRY_MAX_S);
		else
			log_debug("MQTT: connect attempt %u to broker %s failed: %s", n->connect_failures,
				  n->uri, why);
		copy_text(n->last_failure, sizeof(n->last_failure), why);
		break;
	}
}

static void handle_events(struct notifier *n, struct mqtt_event *ev, bool log_state)
{
	while (ev != NULL) {
		struct mqtt_event *next = ev->next;
		handle_event(n, ev, log_state);
		mqtt_event_free(ev);
		ev = next;
	}
}

static void expire(struct notifier *n)
{
	int64_t now = now_ms();
	for (struct pending *p = n->pending_head; p != NULL; p = p->next) {
		if (!p->inflight || now < p->deadline_ms)
			continue;
		char detail[TEXT_CAP];
		textf(detail, sizeof(detail), "no acknowledgement from MQTT broker %s within %d s",
			 n->uri, NOTIFY_PUBLISH_TIMEOUT_MS / 1000);
		log_warn("MQTT: notification for thing %s: %s", p->thing, detail);
		finish(p, NOTIFY_RETRY, detail);
	}
}

/* Runs the callbacks of finished publishes that existed when called, one at
 * a time, so a callback may publish or forget. */
static void deliver(struct notifier *n)
{
	const uint64_t limit = n->next_pending_id;
	for (;;) {
		struct pending *p = n->pending_head;
		while (p != NULL && (p->inflight || p->id >= limit))
			p = p->next;
		if (p == NULL)
			return;
		unlink_pending(n, p);
		log_debug("MQTT: notification for thing %s %s: %s", p->thing,
			  p->outcome == NOTIFY_DELIVERED ? "delivered" : "not delivered", p->detail);
		p->done(p->arg, p->outcome, p->detail);
		free(p);
	}
}

void notifier_poll(struct notifier *n)
{
	if (n == NULL)
		return;
	size_t dropped;
	handle_events(n, mqtt_client_take(n->client, &dropped), true);
	if (dropped > 0 && n->presence_filter) /* else: an old session's, unwanted */
		log_warn("MQTT: dropped %zu presence messages: more than %d were waiting", dropped,
			 MAX_PRESENCE_QUEUED);
	expire(n);
	deliver(n);
}

bool notifier_connected(const struct notifier *n)
{
	return n != NULL && mqtt_client_connected(n->client);
}

void notifier_forget(struct notifier *n, void *arg)
{
	if (n == NULL)
		return;
	struct pending *p = n->pending_head;
	while (p != NULL) {
		struct pending *next = p->next;
		if (p->arg == arg) {
			unlink_pending(n, p);
			free(p);
		}
		p = next;
	}
}

int notifier_publish(struct notifier *n, const char *thing, const char *tunnel_id,
		     const char *token, const char *const *services, size_t n_services,
		     notify_done_fn done, void *arg)
{
	if (n == NULL || done == NULL || n->stopping)
		return -1;
	char topic[NOTIFY_MAX_TOPIC];
	if (notify_topic(topic, sizeof(topic), n->topic_template, thing) < 0)
		return -1;
	struct notify_message msg = {
		.token = token,
		.tunnel_id = tunnel_id,
		.region = n->region,
		.services = services,
		.n_services = n_services,
		.endpoint = n->endpoint,
	};
	char *payload = notify_payload(&msg);
	if (payload == NULL)
		return -1;
	size_t payload_len = strlen(payload);
	struct pending *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		explicit_bzero(payload, payload_len);
		free(payload);
		return -1;
	}
	p->id = n->next_pending_id++;
	p->done = done;
	p->arg = arg;
	p->deadline_ms = now_ms() + NOTIFY_PUBLISH_TIMEOUT_MS;
	copy_text(p->thing, sizeof(p->thing), thing);

	if (!mqtt_client_connected(n->client)) {
		finish(p, NOTIFY_RETRY, NOTIFY_NOT_CONNECTED);
	} else {
		int rc = mqtt_client_publish(n->client, topic, payload, payload_len, &p->sent);
		if (rc == MQTTASYNC_SUCCESS) {
			p->inflight = true;
			log_debug("MQTT: publishing notification for thing %s (tunnel %s) to %s", thing,
				  tunnel_id, topic);
		} else if (rc == MQTTASYNC_DISCONNECTED) {
			finish(p, NOTIFY_RETRY, NOTIFY_NOT_CONNECTED);
		} else if (rc == MQTTASYNC_MAX_BUFFERED_MESSAGES ||
			   rc == MQTTASYNC_MAX_MESSAGES_INFLIGHT) {
			char detail[TEXT_CAP];
			textf(detail, sizeof(detail),
			      "too many notifications waiting for MQTT broker %s; try again", n->uri);
			finish(p, NOTIFY_RETRY, detail);
		} else {
			char detail[TEXT_CAP];
			textf(detail, sizeof(detail), "MQTT publish refused by the client library: %s",
				 mqtt_client_strerror(rc));
			finish(p, NOTIFY_REFUSED, detail);
		}
	}
	/* Paho keeps its own copy; ours holds the token. */
	explicit_bzero(payload, payload_len);
	free(payload);
	append_pending(n, p);
	if (!p->inflight)
		wake_loop(n->ctx); /* the outcome is known: have the loop poll soon */
	return 0;
}

/* ---- start / stop ------------------------------------------------------------- */

static int check_readable(const char *what, const char *path, char *err, size_t err_cap)
{
	if (path == NULL || path[0] == '\0') {
		textf(err, err_cap, "MQTT %s file not given", what);
		return -1;
	}
	/* Read a byte: fopen() alone accepts a directory. */
	FILE *f = fopen(path, "r");
	int c = f != NULL ? fgetc(f) : EOF;
	int saved = errno;
	bool failed = f == NULL || ferror(f);
	if (f != NULL)
		fclose(f);
	if (failed) {
		textf(err, err_cap, "cannot read MQTT %s file %s: %s", what, path, strerror(saved));
		return -1;
	}
	if (c == EOF) {
		textf(err, err_cap, "MQTT %s file %s is empty", what, path);
		return -1;
	}
	return 0;
}

static int check_config(const struct notify_config *cfg, char *err, size_t err_cap)
{
	if (cfg->uri == NULL || cfg->uri[0] == '\0') {
		textf(err, err_cap, "MQTT broker URI not given");
		return -1;
	}
	if (strncmp(cfg->uri, "ssl://", 6) != 0 && strncmp(cfg->uri, "mqtts://", 8) != 0) {
		textf(err, err_cap,
			 "MQTT broker URI '%s' must start with ssl:// or mqtts:// (TLS is required)",
			 cfg->uri);
		return -1;
	}
	if (check_readable("CA", cfg->ca, err, err_cap) != 0 ||
	    check_readable("client certificate", cfg->cert, err, err_cap) != 0 ||
	    check_readable("client key", cfg->key, err, err_cap) != 0)
		return -1;
	if (cfg->client_id != NULL && cfg->client_id[0] == '\0') {
		textf(err, err_cap, "MQTT client id is empty");
		return -1;
	}
	if (notify_topic_template_check(cfg->topic_template, err, err_cap) != 0)
		return -1;
	if (cfg->presence_filter != NULL &&
	    presence_filter_check(cfg->presence_filter, err, err_cap) != 0)
		return -1;
	if (cfg->endpoint != NULL && cfg->endpoint[0] != '\0') {
		struct hostport hp;
		char why[128];
		if (hostport_parse(cfg->endpoint, 0, &hp, why, sizeof(why)) != 0) {
			textf(err, err_cap, "notification endpoint '%s' is not host:port: %s",
				 cfg->endpoint, why);
			return -1;
		}
		if (hp.host[0] == '\0') {
			textf(err, err_cap, "notification endpoint '%s' has no host (want host:port)",
				 cfg->endpoint);
			return -1;
		}
	}
	return 0;
}

static char *dup_or_null(const char *s, bool *ok)
{
	if (s == NULL || s[0] == '\0')
		return NULL;
	char *d = strdup(s);
	if (d == NULL)
		*ok = false;
	return d;
}

static void free_notifier(struct notifier *n)
{
	free(n->uri);
	free(n->client_id);
	free(n->topic_template);
	free(n->endpoint);
	free(n->region);
	free(n->presence_filter);
	free(n);
}

struct notifier *notifier_start(const struct notify_config *cfg, struct lws_context *ctx,
				char *err, size_t err_cap)
{
	char scratch[8];
	if (err == NULL || err_cap == 0) {
		err = scratch;
		err_cap = sizeof(scratch);
	}
	err[0] = '\0';
	if (cfg == NULL) {
		textf(err, err_cap, "no MQTT configuration");
		return NULL;
	}
	if (check_config(cfg, err, err_cap) != 0)
		return NULL;

	struct notifier *n = calloc(1, sizeof(*n));
	if (n == NULL) {
		textf(err, err_cap, "out of memory");
		return NULL;
	}
	n->ctx = ctx;
	bool ok = true;
	n->uri = dup_or_null(cfg->uri, &ok);
	n->client_id = dup_or_null(cfg->client_id ? cfg->client_id : DEFAULT_CLIENT_ID, &ok);
	n->topic_template = dup_or_null(cfg->topic_template, &ok);
	n->endpoint = dup_or_null(cfg->endpoint, &ok);
	n->region = dup_or_null(cfg->region ? cfg->region : NOTIFY_DEFAULT_REGION, &ok);
	n->presence_filter = dup_or_null(cfg->presence_filter, &ok);
	n->on_presence = cfg->on_presence;
	n->presence_arg = cfg->presence_arg;
	if (!ok) {
		textf(err, err_cap, "out of memory");
		free_notifier(n);
		return NULL;
	}
	const struct mqtt_client_config mc = {
		/* MQTT 5: a refused publish (ACL) gets a PUBACK with an error
		 * reason code instead of looking delivered as in 3.1.1. */
		.protocol = MQTT_PROTOCOL_5,
		.uri = n->uri,
		.client_id = n->client_id,
		.ca = cfg->ca,
		.cert = cfg->cert,
		.key = cfg->key,
		.keepalive_s = KEEPALIVE_S,
		.session_expiry_s = SESSION_EXPIRY_S,
		.max_buffered = MAX_BUFFERED,
		/* Only presence messages come in. */
		.max_messages = n->presence_filter ? MAX_PRESENCE_QUEUED : 0,
		.max_payload = PRESENCE_MAX_PAYLOAD,
		.wake = wake_loop,
		.wake_arg = ctx,
	};
	n->client = mqtt_client_start(&mc, err, err_cap);
	if (n->client == NULL) {
		free_notifier(n);
		return NULL;
	}
	log_info("MQTT: connecting to broker %s as %s (notifications to %s, presence from %s)",
		 n->uri, n->client_id,
		 n->topic_template ? n->topic_template : NOTIFY_DEFAULT_TOPIC_TEMPLATE,
		 n->presence_filter ? n->presence_filter : "nowhere");
	return n;
}

void notifier_stop(struct notifier *n)
{
	if (n == NULL)
		return;
	n->stopping = true;
	bool was_connected = mqtt_client_connected(n->client);
	/* Outcomes that arrived in time still count. */
	handle_events(n, mqtt_client_stop(n->client), false);
	n->client = NULL;
	while (n->pending_head != NULL) {
		struct pending *p = n->pending_head;
		unlink_pending(n, p);
		if (p->inflight)
			finish(p, NOTIFY_RETRY, NOTIFY_SHUTTING_DOWN);
		p->done(p->arg, p->outcome, p->detail);
		free(p);
	}
	if (was_connected || n->ever_connected)
		log_info("MQTT: disconnected from broker %s", n->uri);
	free_notifier(n);
}
