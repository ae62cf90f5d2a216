/* The pure half of the relay's MQTT notifier: the topic a tunnel
 * notification goes to and its JSON payload (PROTOCOL.md §8). No I/O, no
 * MQTT: relay/notify.c publishes what these build. */
#ifndef RELAY_NOTIFY_PAYLOAD_H
#define RELAY_NOTIFY_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>

#define NOTIFY_DEFAULT_TOPIC_TEMPLATE "$aws/things/{thing}/tunnels/notify"
#define NOTIFY_THING_PLACEHOLDER "{thing}"
#define NOTIFY_DEFAULT_REGION "self-hosted"
/* Thing names: ^[A-Za-z0-9_:-]{1,128}$ (as AWS IoT), so a name can never
 * add a topic level ('/') or an MQTT wildcard ('+', '#'). */
#define NOTIFY_MAX_THING 128u
/* Longest topic we build, terminating NUL included. */
#define NOTIFY_MAX_TOPIC 1024u

/* True if thing is a valid thing name (see above). NULL is not. */
bool notify_thing_valid(const char *thing);

/* Checks a topic template: non-empty, contains {thing} at least once, no
 * MQTT wildcard ('+', '#') and no control characters, and short
 * enough that any valid thing name fits in NOTIFY_MAX_TOPIC. Returns 0, or
 * -1 with the reason in err. */
int notify_topic_template_check(const char *tmpl, char *err, size_t err_cap);

/* Writes the topic for thing into out: tmpl (NULL: the default) with every
 * {thing} replaced by the thing name. Returns the topic's length, or -1 if
 * the thing name or the template is invalid or out is too small (out is
 * then the empty string when out_cap > 0). */
int notify_topic(char *out, size_t out_cap, const char *tmpl, const char *thing);

struct notify_message {
	const char *token;              /* destination access token, non-empty */
	const char *tunnel_id;          /* non-empty */
	const char *region;             /* NULL or "": NOTIFY_DEFAULT_REGION */
	const char *const *services;    /* 1..TUNNEL_MAX_SERVICES valid service ids */
	size_t n_services;
	const char *endpoint;           /* "host:port"; NULL or "": key omitted */
};

/* The notification payload, one line of JSON, keys in this order:
 * {"clientAccessToken":…,"clientMode":"destination","region":…,
 *  "services":[…],"tunnelId":…[,"endpoint":…]}
 * Returns a malloc'd string (it holds the token: wipe it, then free()), or
 * NULL if an argument is invalid or memory ran out. */
char *notify_payload(const struct notify_message *m);

#endif
