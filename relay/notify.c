/* The relay's MQTT notifier (see notify.h for the threading rules).
 *
 * Paho's threads only ever touch the event queue below (under n->lock), the
 * atomics, and lws_cancel_service(). The loop thread owns the pending list
 * and matches each completion event to its publish by Paho token. Paho
 * reuses tokens (they are MQTT message ids), so a completion only matches a
 * publish sent before the event was queued: every event gets a sequence
 * number, and each publish remembers the next sequence number taken just
 * before MQTTAsync_sendMessage(). */
#include "common/mqtt_tls.h"
#include "common/threads.h"
#include "common/text.h"
#include "relay/notify.h"

#include "common/hostport.h"
#include "common/log.h"

#include <MQTTAsync.h>
#include <errno.h>
#include <stdarg.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_CLIENT_ID "tunnel-relay"
#define KEEPALIVE_S 30
#define CONNECT_TIMEOUT_S 10
#define RETRY_MIN_S 1
#define RETRY_MAX_S 30
/* MQTT 5 session kept by the broker across reconnects (clean start off). */
#define SESSION_EXPIRY_S 3600
#define DISCONNECT_TIMEOUT_MS 1000
#define STOP_WAIT_MS 2000
/* Publishes Paho may hold before they are written (its default is 100). */
#define MAX_BUFFERED 1000
#define TEXT_CAP 256

enum event_kind {
	EV_PUBLISH_OK,
	EV_PUBLISH_FAILED,
	EV_CONNECTED,
	EV_CONNECT_FAILED,
	EV_LOST,
};

/* Made on a Paho thread, consumed on the loop thread. */
struct event {
	struct event *next;
	enum event_kind kind;
	uint64_t seq;
	MQTTAsync_token token;
	int code;                 /* Paho's return code */
	int reason;               /* MQTT 5 reason code from the broker */
	char text[TEXT_CAP];
};

/* One notifier_publish() whose callback has not run yet. Loop thread only. */
struct pending {
	struct pending *next;
	uint64_t id;              /* creation order, for the reentrancy guard */
	bool inflight;            /* waiting for Paho; else outcome known */
	bool delivered;
	MQTTAsync_token token;
	uint64_t min_seq;         /* events with seq below this predate the send */
	int64_t deadline_ms;      /* CLOCK_MONOTONIC */
	notify_done_fn done;
	void *arg;
	char thing[NOTIFY_MAX_THING + 1];
	char detail[TEXT_CAP];
};

struct notifier {
	MQTTAsync client;
	bool client_made;
	struct lws_context *ctx;
	char *uri, *ca, *cert, *key, *client_id, *topic_template, *endpoint, *region;

	/* Shared with Paho's threads. */
	pthread_mutex_t lock;
	pthread_cond_t cond;      /* signalled when the disconnect completes */
	struct event *ev_head, *ev_tail;
	uint64_t next_seq;
	char tls_error[TEXT_CAP]; /* first OpenSSL error of a failed handshake */
	char lost_reason[TEXT_CAP]; /* the broker's DISCONNECT reason, "" if none */
	bool disconnected;
	atomic_bool connected;
	atomic_bool stopping;
	atomic_int in_callback;

	/* Loop thread only. */
	struct pending *pending_head, *pending_tail;
	uint64_t next_pending_id;
	bool ever_connected;
	unsigned connect_failures;
	char last_failure[TEXT_CAP];
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* snprintf that truncates quietly: every text here is a bounded log line. */
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

static void copy_text(char *dst, size_t cap, const char *src)
{
	textf(dst, cap, "%s", src != NULL ? src : "");
}

/* ---- Paho threads ----------------------------------------------------------- */

/* Queues an event and wakes the loop. Never blocks for long: only n->lock. */
static void push_event(struct notifier *n, enum event_kind kind, MQTTAsync_token token, int code,
		       int reason, const char *text)
{
	struct event *ev = calloc(1, sizeof(*ev));
	if (ev == NULL)
		return; /* a publish then times out; connection state is in the atomics */
	ev->kind = kind;
	ev->token = token;
	ev->code = code;
	ev->reason = reason;
	copy_text(ev->text, sizeof(ev->text), text);
	pthread_mutex_lock(&n->lock);
	ev->seq = n->next_seq++;
	if (n->ev_tail != NULL)
		n->ev_tail->next = ev;
	else
		n->ev_head = ev;
	n->ev_tail = ev;
	pthread_mutex_unlock(&n->lock);
	if (!atomic_load(&n->stopping))
		lws_cancel_service(n->ctx);
}

static void enter(struct notifier *n)
{
	atomic_fetch_add(&n->in_callback, 1);
}

static void leave(struct notifier *n)
{
	atomic_fetch_sub(&n->in_callback, 1);
}

static void on_connected(void *context, char *cause)
{
	struct notifier *n = context;
	enter(n);
	atomic_store(&n->connected, true);
	pthread_mutex_lock(&n->lock);
	n->tls_error[0] = '\0';
	pthread_mutex_unlock(&n->lock);
	push_event(n, EV_CONNECTED, 0, 0, 0, NULL);
	leave(n);
}

static void on_connection_lost(void *context, char *cause)
{
	struct notifier *n = context;
	enter(n);
	atomic_store(&n->connected, false);
	char text[TEXT_CAP];
	pthread_mutex_lock(&n->lock);
	copy_text(text, sizeof(text), n->lost_reason[0] != '\0' ? n->lost_reason : cause);
	n->lost_reason[0] = '\0';
	n->tls_error[0] = '\0'; /* a read error on the old connection: not news */
	pthread_mutex_unlock(&n->lock);
	push_event(n, EV_LOST, 0, 0, 0, text);
	leave(n);
}

/* The broker sent DISCONNECT (MQTT 5): remember why for the "lost" line. */
static void on_disconnected(void *context, MQTTProperties *props, enum MQTTReasonCodes reason)
{
	struct notifier *n = context;
	enter(n);
	pthread_mutex_lock(&n->lock);
	textf(n->lost_reason, sizeof(n->lost_reason), "broker sent DISCONNECT: %s",
	      MQTTReasonCode_toString(reason));
	pthread_mutex_unlock(&n->lock);
	leave(n);
}

static void on_connect_failure(void *context, MQTTAsync_failureData5 *response)
{
	struct notifier *n = context;
	enter(n);
	atomic_store(&n->connected, false);
	/* OpenSSL's reason, if the TLS handshake is what failed, says more
	 * than Paho's code. */
	char text[TEXT_CAP];
	pthread_mutex_lock(&n->lock);
	if (n->tls_error[0] != '\0')
		textf(text, sizeof(text), "TLS: %s", n->tls_error);
	else if (response != NULL && response->message != NULL)
		copy_text(text, sizeof(text), response->message);
	else
		text[0] = '\0';
	n->tls_error[0] = '\0';
	pthread_mutex_unlock(&n->lock);
	push_event(n, EV_CONNECT_FAILED, 0, response != NULL ? response->code : MQTTASYNC_FAILURE,
		   response != NULL ? (int)response->reasonCode : 0, text);
	leave(n);
}

static void on_publish_success(void *context, MQTTAsync_successData5 *response)
{
	struct notifier *n = context;
	enter(n);
	if (response != NULL)
		push_event(n, EV_PUBLISH_OK, response->token, 0, (int)response->reasonCode, NULL);
	leave(n);
}

/* Also a PUBACK whose reason code is an error (e.g. 135 Not authorized). */
static void on_publish_failure(void *context, MQTTAsync_failureData5 *response)
{
	struct notifier *n = context;
	enter(n);
	if (response != NULL)
		push_event(n, EV_PUBLISH_FAILED, response->token, response->code,
			   (int)response->reasonCode, response->message);
	leave(n);
}

static void on_disconnect_done(void *context)
{
	struct notifier *n = context;
	pthread_mutex_lock(&n->lock);
	n->disconnected = true;
	pthread_cond_signal(&n->cond);
	pthread_mutex_unlock(&n->lock);
}

static void on_disconnect_success(void *context, MQTTAsync_successData5 *response)
{
	struct notifier *n = context;
	enter(n);
	on_disconnect_done(n);
	leave(n);
}

static void on_disconnect_failure(void *context, MQTTAsync_failureData5 *response)
{
	struct notifier *n = context;
	enter(n);
	on_disconnect_done(n);
	leave(n);
}

/* We never subscribe; drop anything the broker sends anyway. */
static int on_message(void *context, char *topic, int topic_len, MQTTAsync_message *message)
{
	MQTTAsync_freeMessage(&message);
	MQTTAsync_free(topic);
	return 1;
}

/* OpenSSL error lines ("pid:error:code:lib:func:reason:file:line:data"):
 * keep the reason. */
static int on_ssl_error(const char *str, size_t len, void *u)
{
	struct notifier *n = u;
	enter(n);
	char line[TEXT_CAP * 2];
	textf(line, sizeof(line), "%.*s", (int)len, str);
	const char *reason = openssl_error_reason(line);
	pthread_mutex_lock(&n->lock);
	/* The first line is the cause; later ones are consequences. */
	if (n->tls_error[0] == '\0')
		copy_text(n->tls_error, sizeof(n->tls_error), reason);
	pthread_mutex_unlock(&n->lock);
	leave(n);
	return 1;
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

static void finish(struct pending *p, bool delivered, const char *detail)
{
	p->inflight = false;
	p->delivered = delivered;
	copy_text(p->detail, sizeof(p->detail), detail);
}

static void wake(struct notifier *n)
{
	if (n->ctx != NULL)
		lws_cancel_service(n->ctx);
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
static void describe_failure(char *out, size_t cap, const struct event *ev)
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

static struct event *take_events(struct notifier *n)
{
	pthread_mutex_lock(&n->lock);
	struct event *ev = n->ev_head;
	n->ev_head = n->ev_tail = NULL;
	pthread_mutex_unlock(&n->lock);
	return ev;
}

static void complete_publish(struct notifier *n, const struct event *ev)
{
	for (struct pending *p = n->pending_head; p != NULL; p = p->next) {
		if (!p->inflight || p->token != ev->token || ev->seq < p->min_seq)
			continue;
		/* Paho 1.3 does not pass a successful PUBACK's reason code on,
		 * so "no matching subscribers" (16) also lands here. */
		if (ev->kind == EV_PUBLISH_OK) {
			char detail[TEXT_CAP];
			textf(detail, sizeof(detail), "delivered to broker %s", n->uri);
			finish(p, true, detail);
		} else {
			char why[TEXT_CAP], detail[TEXT_CAP];
			describe_failure(why, sizeof(why), ev);
			textf(detail, sizeof(detail), "MQTT publish to broker %s failed: %s", n->uri,
				 why);
			finish(p, false, detail);
		}
		return;
	}
	/* Forgotten or timed out already: nothing waits for it. */
}

static void handle_event(struct notifier *n, const struct event *ev, bool log_state)
{
	char why[TEXT_CAP];
	switch (ev->kind) {
	case EV_PUBLISH_OK:
	case EV_PUBLISH_FAILED:
		/* While stopping, Paho discards what is in flight: that is
		 * "shutting down", not a broker failure. */
		if (log_state || ev->kind == EV_PUBLISH_OK)
			complete_publish(n, ev);
		return;
	case EV_CONNECTED:
		if (!log_state)
			break;
		if (n->ever_connected)
			log_info("MQTT: connection to broker %s restored", n->uri);
		else
			log_info("MQTT: connected to broker %s as %s", n->uri, n->client_id);
		n->ever_connected = true;
		n->connect_failures = 0;
		n->last_failure[0] = '\0';
		break;
	case EV_LOST:
		if (!log_state)
			break;
		log_warn("MQTT: connection to broker %s lost (%s); reconnecting in the background",
			 n->uri, ev->text[0] != '\0' ? ev->text : "connection closed");
		n->connect_failures = 0;
		n->last_failure[0] = '\0';
		break;
	case EV_CONNECT_FAILED:
		if (!log_state)
			break;
		describe_failure(why, sizeof(why), ev);
		n->connect_failures++;
		/* Warn on the first failure and whenever the reason changes;
		 * the retries in between (every 1..30 s) go to debug. */
		if (n->connect_failures == 1 || strcmp(why, n->last_failure) != 0)
			log_warn("MQTT: cannot connect to broker %s: %s; retrying every %d-%d s", n->uri,
				 why, RETRY_MIN_S, RETRY_MAX_S);
		else
			log_debug("MQTT: connect attempt %u to broker %s failed: %s", n->connect_failures,
				  n->uri, why);
		copy_text(n->last_failure, sizeof(n->last_failure), why);
		break;
	}
}

static void drain_events(struct notifier *n, bool log_state)
{
	struct event *ev = take_events(n);
	while (ev != NULL) {
		struct event *next = ev->next;
		handle_event(n, ev, log_state);
		free(ev);
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
		finish(p, false, detail);
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
			  p->delivered ? "delivered" : "not delivered", p->detail);
		p->done(p->arg, p->delivered, p->detail);
		free(p);
	}
}

void notifier_poll(struct notifier *n)
{
	if (n == NULL)
		return;
	drain_events(n, true);
	expire(n);
	deliver(n);
}

bool notifier_connected(const struct notifier *n)
{
	return n != NULL && atomic_load(&((struct notifier *)n)->connected);
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
	if (n == NULL || done == NULL || atomic_load(&n->stopping))
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

	if (!atomic_load(&n->connected)) {
		finish(p, false, NOTIFY_NOT_CONNECTED);
	} else {
		pthread_mutex_lock(&n->lock);
		p->min_seq = n->next_seq;
		pthread_mutex_unlock(&n->lock);
		MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
		ro.onSuccess5 = on_publish_success;
		ro.onFailure5 = on_publish_failure;
		ro.context = n;
		MQTTAsync_message m = MQTTAsync_message_initializer;
		m.payload = payload;
		m.payloadlen = (int)payload_len;
		m.qos = 1;
		m.retained = 0;
		int rc = MQTTAsync_sendMessage(n->client, topic, &m, &ro);
		if (rc == MQTTASYNC_SUCCESS) {
			p->inflight = true;
			p->token = ro.token;
			log_debug("MQTT: publishing notification for thing %s (tunnel %s) to %s", thing,
				  tunnel_id, topic);
		} else if (rc == MQTTASYNC_DISCONNECTED) {
			finish(p, false, NOTIFY_NOT_CONNECTED);
		} else if (rc == MQTTASYNC_MAX_BUFFERED_MESSAGES ||
			   rc == MQTTASYNC_MAX_MESSAGES_INFLIGHT) {
			char detail[TEXT_CAP];
			textf(detail, sizeof(detail),
			      "too many notifications waiting for MQTT broker %s; try again", n->uri);
			finish(p, false, detail);
		} else {
			char detail[TEXT_CAP];
			textf(detail, sizeof(detail), "MQTT publish refused by the client library: %s",
				 MQTTAsync_strerror(rc));
			finish(p, false, detail);
		}
	}
	/* Paho keeps its own copy; ours holds the token. */
	explicit_bzero(payload, payload_len);
	free(payload);
	append_pending(n, p);
	if (!p->inflight)
		wake(n); /* the outcome is known: have the loop poll soon */
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
	free(n->ca);
	free(n->cert);
	free(n->key);
	free(n->client_id);
	free(n->topic_template);
	free(n->endpoint);
	free(n->region);
	pthread_cond_destroy(&n->cond);
	pthread_mutex_destroy(&n->lock);
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
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&n->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&n->lock, NULL);
	atomic_init(&n->connected, false);
	atomic_init(&n->stopping, false);
	atomic_init(&n->in_callback, 0);
	n->ctx = ctx;
	bool ok = true;
	n->uri = dup_or_null(cfg->uri, &ok);
	n->ca = dup_or_null(cfg->ca, &ok);
	n->cert = dup_or_null(cfg->cert, &ok);
	n->key = dup_or_null(cfg->key, &ok);
	n->client_id = dup_or_null(cfg->client_id ? cfg->client_id : DEFAULT_CLIENT_ID, &ok);
	n->topic_template = dup_or_null(cfg->topic_template, &ok);
	n->endpoint = dup_or_null(cfg->endpoint, &ok);
	n->region = dup_or_null(cfg->region ? cfg->region : NOTIFY_DEFAULT_REGION, &ok);
	if (!ok) {
		textf(err, err_cap, "out of memory");
		free_notifier(n);
		return NULL;
	}

	/* MQTT 5: a refused publish (ACL) gets a PUBACK with an error reason
	 * code instead of looking delivered as in 3.1.1. */
	MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer5;
	co.sendWhileDisconnected = 0; /* fail fast; the HTTP caller is waiting */
	co.maxBufferedMessages = MAX_BUFFERED;
	/* No persistence: the payload holds a token and must not reach the disk. */
	int rc = MQTTAsync_createWithOptions(&n->client, n->uri, n->client_id,
					     MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
	if (rc != MQTTASYNC_SUCCESS) {
		textf(err, err_cap, "cannot create MQTT client for %s: %s", n->uri,
			 MQTTAsync_strerror(rc));
		free_notifier(n);
		return NULL;
	}
	n->client_made = true;
	if (MQTTAsync_setCallbacks(n->client, n, on_connection_lost, on_message, NULL) !=
		    MQTTASYNC_SUCCESS ||
	    MQTTAsync_setConnected(n->client, n, on_connected) != MQTTASYNC_SUCCESS ||
	    MQTTAsync_setDisconnected(n->client, n, on_disconnected) != MQTTASYNC_SUCCESS) {
		textf(err, err_cap, "cannot set MQTT client callbacks");
		MQTTAsync_destroy(&n->client);
		free_notifier(n);
		return NULL;
	}

	MQTTAsync_SSLOptions ssl = mqtt_tls_options(n->ca, n->cert, n->key, on_ssl_error, n);

	/* Clean start off plus a session expiry: the MQTT 5 form of a
	 * persistent session (cleansession false). */
	MQTTProperties props = MQTTProperties_initializer;
	MQTTProperty expiry = {
		.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL,
		.value.integer4 = SESSION_EXPIRY_S,
	};
	MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer5;
	opts.keepAliveInterval = KEEPALIVE_S;
	opts.cleanstart = 0;
	opts.connectTimeout = CONNECT_TIMEOUT_S;
	opts.MQTTVersion = MQTTVERSION_5;
	opts.automaticReconnect = 1;
	opts.minRetryInterval = RETRY_MIN_S;
	opts.maxRetryInterval = RETRY_MAX_S;
	opts.ssl = &ssl;
	opts.onFailure5 = on_connect_failure;
	opts.context = n;
	rc = MQTTProperties_add(&props, &expiry);
	if (rc == 0) {
		opts.connectProperties = &props;
		rc = MQTTAsync_connect(n->client, &opts); /* copies what it keeps */
	}
	MQTTProperties_free(&props);
	if (rc != MQTTASYNC_SUCCESS) {
		textf(err, err_cap, "cannot start connecting to MQTT broker %s: %s", n->uri,
			 MQTTAsync_strerror(rc));
		MQTTAsync_destroy(&n->client);
		free_notifier(n);
		return NULL;
	}
	log_info("MQTT: connecting to broker %s as %s (notifications to %s)", n->uri, n->client_id,
		 n->topic_template ? n->topic_template : NOTIFY_DEFAULT_TOPIC_TEMPLATE);
	return n;
}

static void wait_disconnected(struct notifier *n)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += STOP_WAIT_MS / 1000;
	until.tv_nsec += (long)(STOP_WAIT_MS % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&n->lock);
	while (!n->disconnected) {
		if (pthread_cond_timedwait(&n->cond, &n->lock, &until) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&n->lock);
}

void notifier_stop(struct notifier *n)
{
	if (n == NULL)
		return;
	atomic_store(&n->stopping, true);
	if (n->client_made) {
		MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;
		d.timeout = DISCONNECT_TIMEOUT_MS;
		d.onSuccess5 = on_disconnect_success;
		d.onFailure5 = on_disconnect_failure;
		d.context = n;
		/* Also stops automatic reconnects when not connected right now. */
		if (MQTTAsync_disconnect(n->client, &d) == MQTTASYNC_SUCCESS)
			wait_disconnected(n);
		MQTTAsync_destroy(&n->client);
		n->client_made = false;
		/* A Paho thread may still be returning from one of our callbacks. */
		for (int i = 0; i < STOP_WAIT_MS && atomic_load(&n->in_callback) > 0; i++) {
			struct timespec ms = { 0, 1000000L };
			nanosleep(&ms, NULL);
		}
	}
	/* Outcomes that arrived in time still count. */
	drain_events(n, false);
	while (n->pending_head != NULL) {
		struct pending *p = n->pending_head;
		unlink_pending(n, p);
		if (p->inflight)
			finish(p, false, NOTIFY_SHUTTING_DOWN);
		p->done(p->arg, p->delivered, p->detail);
		free(p);
	}
	if (atomic_load(&n->connected) || n->ever_connected)
		log_info("MQTT: disconnected from broker %s", n->uri);
	free_notifier(n);
	wait_until_single_threaded(STOP_WAIT_MS);
}
