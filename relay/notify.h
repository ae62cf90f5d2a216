/* The relay's MQTT client: publishes "open a tunnel" notifications to a
 * device's topic (PROTOCOL.md §8), and subscribes to the devices' presence
 * topics (presence_filter), handing each message to on_presence on the
 * loop thread (from notifier_poll). It publishes with Paho MQTT C's async client over
 * mutual TLS, QoS 1, MQTT 5 (so a publish the broker's ACL refuses comes
 * back as a failure instead of an ordinary PUBACK as in MQTT 3.1.1).
 *
 * Threads: Paho runs its own threads. Its callbacks never touch relay
 * state; they queue a record and wake the relay's libwebsockets loop with
 * lws_cancel_service(). Everything below except notifier_connected() must be
 * called on the loop thread, and every notify_done_fn runs on the loop
 * thread from notifier_poll() (or from notifier_stop()), never from inside
 * notifier_publish(). Call notifier_poll() from LWS_CALLBACK_EVENT_WAIT_CANCELLED
 * and from a timer about once a second (publish timeouts are checked there).
 *
 * Never logs the token or the payload. */
#ifndef RELAY_NOTIFY_H
#define RELAY_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>

#include "relay/notify_payload.h"

struct lws_context;
struct notifier;

/* How long a publish may wait for the broker's PUBACK. */
#define NOTIFY_PUBLISH_TIMEOUT_MS 5000
#define NOTIFY_NOT_CONNECTED "MQTT broker not connected (reconnecting)"
#define NOTIFY_SHUTTING_DOWN "relay shutting down"

struct notify_config {
	const char *uri;            /* "ssl://127.0.0.1:8883" (ssl:// or mqtts://) */
	const char *ca;             /* PEM CA file that verifies the broker */
	const char *cert, *key;     /* the relay's client certificate and key (PEM) */
	const char *client_id;      /* NULL: "tunnel-relay"; keep it stable (persistent session) */
	const char *topic_template; /* NULL: NOTIFY_DEFAULT_TOPIC_TEMPLATE */
	const char *endpoint;       /* optional "host:port" put in the payload */
	const char *region;         /* payload "region"; NULL: NOTIFY_DEFAULT_REGION */
	/* Presence: a filter with one '+' level (relay/presence_payload.h),
	 * subscribed to with QoS 1 on every connect; NULL: none. payload is
	 * NULL for a message over PRESENCE_MAX_PAYLOAD bytes. */
	const char *presence_filter;
	void (*on_presence)(void *arg, const char *topic, const char *payload, size_t len);
	void *presence_arg;
};

/* Creates the client and starts connecting in the background (TLS with
 * server certificate and host name checks, client certificate, MQTT 5,
 * keep-alive 30 s, persistent session (clean start off, session expiry
 * 1 h), automatic reconnect every 1..30 s, no on-disk persistence).
 * An unreachable broker is not an error: the notifier keeps trying. Returns
 * NULL only for a bad configuration (missing or unreadable file, bad URI,
 * template or endpoint), with the reason in err. ctx must outlive the
 * notifier. */
struct notifier *notifier_start(const struct notify_config *cfg, struct lws_context *ctx,
				char *err, size_t err_cap);

/* What became of a publish. */
enum notify_outcome {
	NOTIFY_DELIVERED,  /* the broker acknowledged the message (PUBACK) */
	NOTIFY_RETRY,      /* not sent or not acknowledged (no broker, timeout,
			    * shutting down): worth sending again later */
	NOTIFY_REFUSED,    /* the broker (e.g. its ACL) or the client library
			    * refused it: sending it again would not help */
};

/* detail: a short human-readable line for logs and API responses (never
 * holds the token); valid only during the call. */
typedef void (*notify_done_fn)(void *arg, enum notify_outcome outcome, const char *detail);

/* Publishes a notification for thing (QoS 1, not retained). done(arg, …)
 * is called exactly once, later, from notifier_poll() (unless
 * notifier_forget(n, arg) is called first):
 *   - not connected: done(NOTIFY_RETRY, NOTIFY_NOT_CONNECTED) on the next poll;
 *   - PUBACK: done(NOTIFY_DELIVERED, "delivered to broker URI"). The broker
 *     has the message; whether a device subscribes to the topic is not
 *     known here;
 *   - PUBACK with an error reason code (e.g. Not authorized: the broker's
 *     ACL): done(NOTIFY_REFUSED, reason); another failure reported by Paho
 *     (connection lost): done(NOTIFY_RETRY, reason);
 *   - no PUBACK within NOTIFY_PUBLISH_TIMEOUT_MS: done(NOTIFY_RETRY, …). Paho keeps
 *     the message in its session, so a broker that comes back may still get
 *     it after a reconnect.
 * Returns 0, or -1 with nothing queued and no callback to come for bad
 * arguments (invalid thing name or service ids, empty token or tunnel id,
 * done NULL) or when memory runs out. */
int notifier_publish(struct notifier *n, const char *thing, const char *tunnel_id,
		     const char *token, const char *const *services, size_t n_services,
		     notify_done_fn done, void *arg);

/* Runs the callbacks of finished publishes, times out stale ones and logs
 * connection changes. Loop thread only. NULL does nothing. */
void notifier_poll(struct notifier *n);

/* Connected to the broker right now (any thread). False for NULL. */
bool notifier_connected(const struct notifier *n);

/* No callback will be made for any publish started with arg (its HTTP
 * request is gone). The message itself is not recalled. */
void notifier_forget(struct notifier *n, void *arg);

/* Disconnects (waiting briefly for in-flight messages), destroys the
 * client and frees n. Publishes whose outcome is already known get it;
 * the rest get done(NOTIFY_RETRY, NOTIFY_SHUTTING_DOWN). Those callbacks run
 * synchronously on the caller's thread; they must not call back into n.
 * Call before lws_context_destroy(). NULL does nothing. */
void notifier_stop(struct notifier *n);

#endif
