/* tunnel-agent's configuration: one JSON file (see agent/cli.c's --help for
 * every key). Parsing the text is pure; checking the files it names
 * (certificates, keys, the localproxy binary) is the only I/O here.
 *
 * Every error is ONE line naming the file, the key and what is wrong, e.g.
 *   agent.json: broker.cert: /etc/x.pem: cannot read: No such file or directory */
#ifndef AGENT_CONFIG_H
#define AGENT_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#define AGENT_DEFAULT_CONFIG "/etc/tunnel-agent/agent.json"
#define AGENT_DEFAULT_TOPIC "$aws/things/{thing}/tunnels/notify"
#define AGENT_THING_PLACEHOLDER "{thing}"
/* Where the agent keeps its retained presence message (outside $aws/, which
 * AWS IoT Core reserves). */
#define AGENT_DEFAULT_PRESENCE_TOPIC "tunnels/presence/{thing}"
#define AGENT_DEFAULT_LOCALPROXY "/usr/bin/localproxy"
#define AGENT_DEFAULT_KEEPALIVE 30
#define AGENT_MIN_KEEPALIVE 5
#define AGENT_MAX_KEEPALIVE 3600
#define AGENT_DEFAULT_MAX_TUNNELS 4
#define AGENT_MAX_MAX_TUNNELS 64
#define AGENT_DEFAULT_LOG_LEVEL 4

#define AGENT_MAX_THING 128        /* thing names: [A-Za-z0-9_:-]{1,128} */
#define AGENT_MAX_SERVICE 128      /* service ids: [A-Za-z0-9_:-]{1,128} */
#define AGENT_MAX_SERVICES 32      /* entries in the "services" map */
#define AGENT_MAX_TARGET 256       /* "host:port" or a Unix socket path */
#define AGENT_MAX_UNIX_PATH 107    /* sun_path minus its NUL */
#define AGENT_MAX_URI 512
#define AGENT_MAX_CLIENT_ID 128
#define AGENT_MAX_TOPIC 1024       /* the expanded topic, NUL included */
#define AGENT_MAX_ENDPOINT 300     /* "host:port", "[v6]:port" */
#define AGENT_MAX_CONFIG_BYTES (1024 * 1024)

struct agent_service {
	char name[AGENT_MAX_SERVICE + 1];
	char target[AGENT_MAX_TARGET + 1];
};

struct agent_config {
	char thing_name[AGENT_MAX_THING + 1];
	/* broker */
	char broker_uri[AGENT_MAX_URI + 1];
	char broker_ca[PATH_MAX];
	char broker_cert[PATH_MAX];
	char broker_key[PATH_MAX];
	char client_id[AGENT_MAX_CLIENT_ID + 1];
	int keepalive_s;
	char notify_topic[AGENT_MAX_TOPIC]; /* {thing} already replaced */
	char presence_topic[AGENT_MAX_TOPIC]; /* likewise */
	/* relay */
	char relay_endpoint[AGENT_MAX_ENDPOINT + 1]; /* "" only with useNotifiedEndpoint */
	char relay_ca[PATH_MAX];                      /* "" = the system's CAs */
	char localproxy[PATH_MAX];
	struct agent_service services[AGENT_MAX_SERVICES];
	size_t n_services;
	int max_tunnels;
	int log_level;
	bool use_notified_endpoint;
};

/* Called with one line for each thing that is worth a warning but does not
 * stop start-up (a certificate whose CN is not the thing name, a key other
 * users can read, a certificate outside its validity period). */
typedef void (*agent_config_warn_fn)(void *arg, const char *line);

/* Parses the JSON text (len bytes, need not be NUL-terminated) into *cfg,
 * applying defaults and checking every key's syntax. Touches no file.
 * name prefixes every message (the config file's path). Returns 0, or -1
 * with one line in err. */
int agent_config_parse(const char *text, size_t len, const char *name, struct agent_config *cfg,
		       char *err, size_t err_cap);

/* Checks the files cfg names: each certificate is a readable PEM
 * certificate, the key a readable unencrypted PEM private key that matches
 * broker.cert, localproxy an executable regular file. Returns 0, or -1 with
 * one line in err. warn (may be NULL) gets the warnings. */
int agent_config_check_files(const struct agent_config *cfg, const char *name, char *err,
			     size_t err_cap, agent_config_warn_fn warn, void *warn_arg);

/* Reads path, then parse + check_files. Returns 0 or -1 (err set). */
int agent_config_load(const char *path, struct agent_config *cfg, char *err, size_t err_cap,
		      agent_config_warn_fn warn, void *warn_arg);

/* The service's target ("127.0.0.1:22"), or NULL if name is not mapped. */
const char *agent_config_service(const struct agent_config *cfg, const char *name);

/* [A-Za-z0-9_:-]{1,max}: thing names and service ids. */
bool agent_id_valid(const char *s, size_t max);

/* SIGHUP: copies into *cur what can change without reconnecting (services,
 * relay, localproxy, maxTunnels, logLevel, useNotifiedEndpoint). Returns
 * true if next also changes something that needs a restart (thingName, the
 * broker, notifyTopic, presenceTopic: the last will names it); those stay
 * as they are in *cur. */
bool agent_config_apply_reload(struct agent_config *cur, const struct agent_config *next);

#endif
