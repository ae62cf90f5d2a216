/* The relay's server: the libwebsockets context (TLS listener, the
 * protocols table), the once-a-second tick (tunnel expiry, MQTT polling),
 * and start/run/stop. It builds the parts and wires them together: the
 * handshake, the data plane, the HTTP router with the API's routes. */
#ifndef RELAY_SERVER_H
#define RELAY_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "relay/registry.h"

struct aws_keys;
struct store;
struct notify_config;
struct terminal_options;

struct relay_server_config {
	const char *bind;        /* NULL: all interfaces */
	int port;
	bool proxy_protocol;     /* a PROXY header first on every connection (relay/listener.h) */
	const char *cert;
	const char *key;
	size_t max_connections;  /* per tunnel */
	size_t max_tunnels, max_tunnels_per_thing; /* open ones, for the API (0: default) */
	struct store *store;     /* NULL: tunnels are not persisted */
	/* This node's name (--node-id). With shared_store (PostgreSQL, which
	 * several nodes may share) other nodes' changes are followed, unknown
	 * tokens looked up there and admitted sides claimed (relay/cluster.h). */
	const char *node_id;
	bool shared_store;
	const char *api_key;     /* NULL: the management API is off */
	const struct aws_keys *aws_keys; /* NULL: AWS's API is off */
	const struct notify_config *notify; /* NULL: no MQTT notification */
	const char *presence_filter; /* with notify: devices' presence topics; NULL: none */
	size_t fd_limit;         /* RLIMIT_NOFILE in force; 0: unknown, lws's default */
	long keep_closed;        /* seconds closed tunnels stay before being purged */
	/* The console: on with users (its options: relay_options.h). */
	const char *users;
	const char *console_dir;
	long console_idle_s;
	const char *audit_log;   /* NULL: audit events in the log only */
	const char *recordings;  /* NULL: off */
	int recordings_keep_days;
	const struct terminal_options *terminal; /* browser terminals (with the console) */
};

struct relay_server;

/* Creates the context and starts listening. NULL on failure (logged). */
struct relay_server *relay_server_start(const struct relay_server_config *cfg,
					struct registry *registry);
/* Runs the event loop until SIGINT/SIGTERM. Returns 0. */
int relay_server_run(struct relay_server *srv);
void relay_server_stop(struct relay_server *srv);

#endif
