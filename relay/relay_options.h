/* tunnel-relay's command line. */
#ifndef RELAY_OPTIONS_H
#define RELAY_OPTIONS_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

struct relay_options {
	const char *bind;          /* NULL: every interface */
	int port;
	bool proxy_protocol;        /* a PROXY header before TLS on every connection */
	const char *cert;
	const char *key;
	const char *tunnels_file;
	size_t max_connections;
	size_t max_tunnels;          /* open tunnels in all */
	size_t max_tunnels_per_thing;
	long keep_closed;           /* seconds closed tunnels stay listed before purging */
	int verbose;
	const char *db;             /* SQLite file; NULL: nothing persisted */
	const char *api_key_file;   /* file holding the API key */
	const char *aws_credentials; /* access keys of the AWS API; NULL: it is off */
	const char *mqtt_uri;       /* NULL: no device notification */
	const char *mqtt_ca, *mqtt_cert, *mqtt_key;
	const char *mqtt_client_id; /* NULL: tunnel-relay-NODEID */
	const char *node_id;        /* NULL: the host name */
	const char *notify_topic;
	const char *presence_topic; /* NULL: presence is off (--presence-topic off) */
	const char *public_endpoint; /* host:port devices dial, sent in notifications */
	const char *region;
	/* The console (on with --users). */
	const char *users;          /* users file */
	const char *console_dir;    /* static files */
	long console_idle_s;        /* --console-idle-minutes, in seconds */
	const char *audit_log;      /* NULL: audit events go to the log only */
	const char *recordings;     /* NULL: terminals are not recorded */
	int recordings_keep_days;
	/* Browser terminals (on with the console). */
	const char *term_helper;    /* NULL: tunnel-term beside tunnel-relay */
	const char *localproxy;     /* NULL: localproxy beside tunnel-relay */
	const char *console_relay;  /* HOST:PORT the helpers dial; NULL: 127.0.0.1:PORT */
	const char *console_ca;     /* NULL: the system's CA bundle */
	int terminal_lifetime_minutes;
	const char *config;         /* --config FILE, already merged in (relay_conf.h) */
	bool check;                 /* --check: validate, do not run */
};

/* Where the console's files are unless --console-dir says (make install
 * puts them there). */
#ifndef CONSOLE_DIR_DEFAULT
#define CONSOLE_DIR_DEFAULT "/usr/local/share/tunnel-relay/console"
#endif
#define CONSOLE_IDLE_MINUTES_DEFAULT 30
#define RECORDINGS_KEEP_DAYS_DEFAULT 30
#define TERMINAL_LIFETIME_MINUTES_DEFAULT 60

/* Returns 0 to run, 1 when --help was printed (exit 0), -1 on a usage
 * error (already reported on stderr, exit 2). */
int relay_options_parse(int argc, char **argv, struct relay_options *o);

/* The long options (getopt_long's table), which are also relay.conf's keys. */
const struct option *relay_options_table(void);

#endif
