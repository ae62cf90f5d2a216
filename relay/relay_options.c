#include "relay/relay_options.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hostport.h"
#include "common/log.h"
#include "proto/wire.h"
#include "relay/api.h"
#include "relay/presence_payload.h"
#include "relay/relay_conf.h"
#include "relay/store_rows.h"

static const char usage_text[] =
	"Usage: tunnel-relay --cert FILE --key FILE (--db FILE|URI | --tunnels FILE) [options]\n"
	"\n"
	"The relay of a self-hosted secure tunnel service. It accepts localproxy\n"
	"connections on wss://HOST:PORT/tunnel (AWS IoT Secure Tunneling protocol\n"
	"V1-V3), pairs the source and destination of each tunnel and forwards their\n"
	"frames after checking each one.\n"
	"\n"
	"Options:\n"
	"  -p, --port PORT            TLS port to listen on (default 8443)\n"
	"  -b, --bind ADDR            address to listen on (default: all interfaces)\n"
	"      --proxy-protocol       behind a load balancer (HAProxy send-proxy or\n"
	"                             send-proxy-v2): every connection must begin with\n"
	"                             a PROXY protocol v1 or v2 header, whose client\n"
	"                             address the relay then logs and limits by; one\n"
	"                             without a valid header within 5 s is closed\n"
	"      --cert FILE            server certificate chain, PEM\n"
	"      --key FILE             server private key, PEM\n"
	"      --tunnels FILE         JSON file of tunnels:\n"
	"                             {\"tunnels\":[{\"id\":\"t1\",\"services\":[\"SSH\"],\n"
	"                               \"sourceAccessToken\":\"...\",\n"
	"                               \"destinationAccessToken\":\"...\"}]}\n"
	"      --db FILE|URI          where tunnels persist: a SQLite file (created if\n"
	"                             missing) or a postgresql:// URI (libpq's; the\n"
	"                             password from ~/.pgpass or PGPASSWORD rather than\n"
	"                             the URI); open tunnels survive a restart\n"
	"      --api-key-file FILE    turn on the management API (/api/v1) with the\n"
	"                             bearer key in FILE (or env TUNNEL_RELAY_API_KEY)\n"
	"      --aws-credentials FILE turn on AWS's IoT Secure Tunneling API (POST / with\n"
	"                             SigV4) for the access keys in FILE, in the format of\n"
	"                             ~/.aws/credentials\n"
	"      --max-connections N    concurrent TCP connections per tunnel (default 10)\n"
	"      --max-tunnels N        open tunnels the API may hold in all (default 10000)\n"
	"      --max-tunnels-per-thing N  open tunnels per thing (default 64)\n"
	"      --keep-closed TIME     how long closed and expired tunnels stay listed\n"
	"                             before they are purged from memory and the\n"
	"                             database: N[s|m|h|d] (default 24h)\n"
	"      --mqtt-uri URI         notify devices through this broker, e.g.\n"
	"                             ssl://broker.example:8883\n"
	"      --mqtt-ca FILE         CA to verify the broker\n"
	"      --mqtt-cert FILE       the relay's MQTT client certificate\n"
	"      --mqtt-key FILE        its key\n"
	"      --mqtt-client-id ID    MQTT client id (default tunnel-relay-NODEID)\n"
	"      --notify-topic T       topic template (default $aws/things/{thing}/tunnels/notify)\n"
	"      --presence-topic F     devices' presence topics, one '+' level for the thing\n"
	"                             name (default " PRESENCE_DEFAULT_FILTER "; off: none);\n"
	"                             each thing's last state is kept (--db) and shown by\n"
	"                             GET /api/v1/things\n"
	"      --public-endpoint H:P  relay address put in notifications for devices\n"
	"      --region NAME          \"region\" in notifications (default self-hosted)\n"
	"      --node-id NAME         this relay's name among several sharing one\n"
	"                             PostgreSQL database: 1-63 of [A-Za-z0-9._-]\n"
	"                             (default: the host name)\n"
	"\n"
	"Web console (on with --users):\n"
	"      --users FILE           console users, NAME:ROLE:HASH lines (ROLE admin or\n"
	"                             operator); make them with tunnel-relay adduser\n"
	"      --console-dir DIR      the console's files (default\n"
	"                             " CONSOLE_DIR_DEFAULT ")\n"
	"      --console-idle-minutes N  sign out sessions idle this long (default 30;\n"
	"                             a decimal such as 0.05 is taken: 3 s)\n"
	"      --audit-log FILE       append audit events here, one JSON object per line\n"
	"                             (default: the relay's log only)\n"
	"      --recordings DIR       record browser terminals in DIR/THING/*.cast\n"
	"      --recordings-keep-days N  delete recordings older than N days (default 30)\n"
	"      --no-recordings        do not record terminals (overrides --recordings)\n"
	"      --term-helper PATH     the browser terminal's SSH client (default:\n"
	"                             tunnel-term beside tunnel-relay)\n"
	"      --localproxy PATH      the localproxy it runs (default: beside tunnel-relay)\n"
	"      --console-relay H:P    where that localproxy dials this relay (default\n"
	"                             127.0.0.1:PORT)\n"
	"      --console-ca FILE      CA it verifies this relay's certificate with\n"
	"                             (default: the system's CA bundle)\n"
	"      --terminal-lifetime-minutes N  lifetime of a terminal's own tunnel\n"
	"                             (default 60; 1-720)\n"
	"\n"
	"      --config FILE          read settings from FILE, \"key = value\" lines whose\n"
	"                             keys are these long options without -- (the unit\n"
	"                             uses " RELAY_CONF_DEFAULT "); the command\n"
	"                             line wins over the file\n"
	"      --check                check the settings, the certificate and key (a\n"
	"                             pair, readable, valid now), the database's\n"
	"                             directory and every file named; say what is\n"
	"                             wrong and exit 1, or exit 0 without starting\n"
	"  -v, --verbose LEVEL        0 off, 1 fatal, 2 error, 3 warning, 4 info (default),\n"
	"                             5 debug, 6 trace\n"
	"  -h, --help                 show this help\n"
	"\n"
	"Subcommand:\n"
	"  tunnel-relay adduser --users FILE NAME ROLE [--random]\n"
	"                             add or replace a console user (ROLE admin or\n"
	"                             operator); the password is read from stdin (asked\n"
	"                             twice on a terminal), or --random makes one and\n"
	"                             prints it once\n";

/* Default --keep-closed: a day, so yesterday's tunnels can still be
 * described while memory stays bounded by a day's worth of tunnels. */
#define KEEP_CLOSED_DEFAULT (24L * 3600)
/* At most a year: a purge time still fits anywhere. */
#define KEEP_CLOSED_MAX (366L * 24 * 3600)

/* N with an optional unit s, m, h or d: seconds, or -1. */
static long parse_duration(const char *text)
{
	char *end = NULL;
	long v = strtol(text, &end, 10);
	if (!*text || end == text || v < 0 || v > KEEP_CLOSED_MAX)
		return -1;
	long unit = 1;
	if (*end == 'm')
		unit = 60;
	else if (*end == 'h')
		unit = 3600;
	else if (*end == 'd')
		unit = 24 * 3600;
	else if (*end != 's' && *end != '\0')
		return -1;
	if (*end && end[1])
		return -1;
	if (v > KEEP_CLOSED_MAX / unit)
		return -1;
	return v * unit;
}

static int parse_count(const char *text, long min, long max, long *out)
{
	char *end = NULL;
	long v = strtol(text, &end, 10);
	if (!*text || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* --console-idle-minutes: minutes, a decimal allowed (tests use a few
 * seconds), as whole seconds (at least 1); -1 when out of range. */
static long idle_seconds(const char *text)
{
	char *end = NULL;
	double minutes = strtod(text, &end);
	if (!*text || *end || !(minutes >= 0.02 && minutes <= 10080))
		return -1;
	long s = (long)(minutes * 60 + 0.5);
	return s < 1 ? 1 : s;
}

/* A count from 1 to max; -1 after saying what is wrong on stderr. */
static int size_option(const char *name, const char *text, long max, size_t *out)
{
	long v;
	if (parse_count(text, 1, max, &v)) {
		fprintf(stderr, "tunnel-relay: %s: want 1-%ld, got '%s'\n", name, max, text);
		return -1;
	}
	*out = (size_t)v;
	return 0;
}

enum { OPT_CERT = 256, OPT_KEY, OPT_TUNNELS, OPT_MAXCONN, OPT_DB, OPT_APIKEY, OPT_MQTT_URI,
       OPT_MQTT_CA, OPT_MQTT_CERT, OPT_MQTT_KEY, OPT_MQTT_ID, OPT_TOPIC, OPT_PUBLIC, OPT_REGION,
       OPT_AWS_CREDENTIALS, OPT_PRESENCE,
       OPT_MAX_TUNNELS, OPT_MAX_PER_THING, OPT_KEEP_CLOSED, OPT_USERS, OPT_CONSOLE_DIR,
       OPT_IDLE, OPT_AUDIT, OPT_RECORDINGS, OPT_KEEP_DAYS, OPT_NO_RECORDINGS,
       OPT_TERM_HELPER, OPT_LOCALPROXY, OPT_CONSOLE_RELAY, OPT_CONSOLE_CA, OPT_TERM_LIFETIME,
       OPT_CONFIG, OPT_CHECK, OPT_PROXY_PROTOCOL, OPT_NODE_ID };
static const struct option longopts[] = {
	{"port", required_argument, NULL, 'p'},
	{"bind", required_argument, NULL, 'b'},
	{"proxy-protocol", no_argument, NULL, OPT_PROXY_PROTOCOL},
	{"cert", required_argument, NULL, OPT_CERT},
	{"key", required_argument, NULL, OPT_KEY},
	{"tunnels", required_argument, NULL, OPT_TUNNELS},
	{"max-connections", required_argument, NULL, OPT_MAXCONN},
	{"max-tunnels", required_argument, NULL, OPT_MAX_TUNNELS},
	{"max-tunnels-per-thing", required_argument, NULL, OPT_MAX_PER_THING},
	{"keep-closed", required_argument, NULL, OPT_KEEP_CLOSED},
	{"db", required_argument, NULL, OPT_DB},
	{"api-key-file", required_argument, NULL, OPT_APIKEY},
	{"aws-credentials", required_argument, NULL, OPT_AWS_CREDENTIALS},
	{"mqtt-uri", required_argument, NULL, OPT_MQTT_URI},
	{"mqtt-ca", required_argument, NULL, OPT_MQTT_CA},
	{"mqtt-cert", required_argument, NULL, OPT_MQTT_CERT},
	{"mqtt-key", required_argument, NULL, OPT_MQTT_KEY},
	{"mqtt-client-id", required_argument, NULL, OPT_MQTT_ID},
	{"notify-topic", required_argument, NULL, OPT_TOPIC},
	{"presence-topic", required_argument, NULL, OPT_PRESENCE},
	{"public-endpoint", required_argument, NULL, OPT_PUBLIC},
	{"region", required_argument, NULL, OPT_REGION},
	{"node-id", required_argument, NULL, OPT_NODE_ID},
	{"users", required_argument, NULL, OPT_USERS},
	{"console-dir", required_argument, NULL, OPT_CONSOLE_DIR},
	{"console-idle-minutes", required_argument, NULL, OPT_IDLE},
	{"audit-log", required_argument, NULL, OPT_AUDIT},
	{"recordings", required_argument, NULL, OPT_RECORDINGS},
	{"recordings-keep-days", required_argument, NULL, OPT_KEEP_DAYS},
	{"no-recordings", no_argument, NULL, OPT_NO_RECORDINGS},
	{"term-helper", required_argument, NULL, OPT_TERM_HELPER},
	{"localproxy", required_argument, NULL, OPT_LOCALPROXY},
	{"console-relay", required_argument, NULL, OPT_CONSOLE_RELAY},
	{"console-ca", required_argument, NULL, OPT_CONSOLE_CA},
	{"terminal-lifetime-minutes", required_argument, NULL, OPT_TERM_LIFETIME},
	{"verbose", required_argument, NULL, 'v'},
	{"config", required_argument, NULL, OPT_CONFIG},
	{"check", no_argument, NULL, OPT_CHECK},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};
const struct option *relay_options_table(void)
{
	return longopts;
}

int relay_options_parse(int argc, char **argv, struct relay_options *o)
{
	memset(o, 0, sizeof(*o));
	o->port = 8443;
	o->max_connections = TUNNEL_DEFAULT_MAX_CONNECTIONS;
	o->max_tunnels = API_DEFAULT_MAX_TUNNELS;
	o->max_tunnels_per_thing = API_DEFAULT_MAX_TUNNELS_PER_THING;
	o->keep_closed = KEEP_CLOSED_DEFAULT;
	o->verbose = LOG_INFO;
	o->console_dir = CONSOLE_DIR_DEFAULT;
	o->console_idle_s = CONSOLE_IDLE_MINUTES_DEFAULT * 60;
	o->recordings_keep_days = RECORDINGS_KEEP_DAYS_DEFAULT;
	bool no_recordings = false;
	o->terminal_lifetime_minutes = TERMINAL_LIFETIME_MINUTES_DEFAULT;
	o->presence_topic = PRESENCE_DEFAULT_FILTER;
	long n;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:b:v:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			o->port = port_parse(optarg);
			if (o->port < 0) {
				fprintf(stderr, "tunnel-relay: --port: '%s' is not a port (1-65535)\n", optarg);
				return -1;
			}
			break;
		case 'b': o->bind = optarg; break;
		case OPT_PROXY_PROTOCOL: o->proxy_protocol = true; break;
		case OPT_CERT: o->cert = optarg; break;
		case OPT_KEY: o->key = optarg; break;
		case OPT_TUNNELS: o->tunnels_file = optarg; break;
		case OPT_DB: o->db = optarg; break;
		case OPT_APIKEY: o->api_key_file = optarg; break;
		case OPT_AWS_CREDENTIALS: o->aws_credentials = optarg; break;
		case OPT_MQTT_URI: o->mqtt_uri = optarg; break;
		case OPT_MQTT_CA: o->mqtt_ca = optarg; break;
		case OPT_MQTT_CERT: o->mqtt_cert = optarg; break;
		case OPT_MQTT_KEY: o->mqtt_key = optarg; break;
		case OPT_MQTT_ID: o->mqtt_client_id = optarg; break;
		case OPT_TOPIC: o->notify_topic = optarg; break;
		case OPT_PRESENCE: {
			char why[PRESENCE_MAX_FILTER + 160];
			o->presence_topic = strcmp(optarg, "off") ? optarg : NULL;
			if (o->presence_topic && presence_filter_check(optarg, why, sizeof(why))) {
				fprintf(stderr, "tunnel-relay: --presence-topic: %s\n", why);
				return -1;
			}
			break;
		}
		case OPT_PUBLIC: o->public_endpoint = optarg; break;
		case OPT_REGION: o->region = optarg; break;
		case OPT_NODE_ID:
			if (!store_node_id_valid(optarg)) {
				fprintf(stderr, "tunnel-relay: --node-id: want 1-%d of [A-Za-z0-9._-], "
					"got '%s'\n", STORE_MAX_NODE_ID, optarg);
				return -1;
			}
			o->node_id = optarg;
			break;
		case OPT_CONFIG: o->config = optarg; break; /* already read: relay_conf.c */
		case OPT_CHECK: o->check = true; break;
		case OPT_USERS: o->users = optarg; break;
		case OPT_CONSOLE_DIR: o->console_dir = optarg; break;
		case OPT_AUDIT: o->audit_log = optarg; break;
		case OPT_RECORDINGS: o->recordings = optarg; break;
		case OPT_NO_RECORDINGS: no_recordings = true; break;
		case OPT_TERM_HELPER: o->term_helper = optarg; break;
		case OPT_LOCALPROXY: o->localproxy = optarg; break;
		case OPT_CONSOLE_CA: o->console_ca = optarg; break;
		case OPT_CONSOLE_RELAY: {
			struct hostport hp;
			char why[128];
			int bad = hostport_parse(optarg, 0, &hp, why, sizeof(why));
			if (!bad && !hp.host[0]) {
				bad = 1;
				snprintf(why, sizeof(why), "want HOST:PORT, got '%s'", optarg);
			}
			if (bad) {
				fprintf(stderr, "tunnel-relay: --console-relay: %s\n", why);
				return -1;
			}
			o->console_relay = optarg;
			break;
		}
		case OPT_TERM_LIFETIME:
			if (parse_count(optarg, 1, API_MAX_LIFETIME_MINUTES, &n)) {
				fprintf(stderr, "tunnel-relay: --terminal-lifetime-minutes: want 1-%d, got "
					"'%s'\n", API_MAX_LIFETIME_MINUTES, optarg);
				return -1;
			}
			o->terminal_lifetime_minutes = (int)n;
			break;
		case OPT_IDLE:
			o->console_idle_s = idle_seconds(optarg);
			if (o->console_idle_s < 0) {
				fprintf(stderr, "tunnel-relay: --console-idle-minutes: want a number of "
					"minutes from 0.02 to 10080, got '%s'\n", optarg);
				return -1;
			}
			break;
		case OPT_KEEP_DAYS:
			if (parse_count(optarg, 1, 36500, &n)) {
				fprintf(stderr, "tunnel-relay: --recordings-keep-days: want 1-36500, got "
					"'%s'\n", optarg);
				return -1;
			}
			o->recordings_keep_days = (int)n;
			break;
		case OPT_KEEP_CLOSED:
			o->keep_closed = parse_duration(optarg);
			if (o->keep_closed < 0) {
				fprintf(stderr, "tunnel-relay: --keep-closed: want N[s|m|h|d] up to 366d, "
					"got '%s'\n", optarg);
				return -1;
			}
			break;
		case OPT_MAXCONN:
			if (size_option("--max-connections", optarg, 1000, &o->max_connections))
				return -1;
			break;
		case OPT_MAX_TUNNELS:
			if (size_option("--max-tunnels", optarg, 1000000, &o->max_tunnels))
				return -1;
			break;
		case OPT_MAX_PER_THING:
			if (size_option("--max-tunnels-per-thing", optarg, 1000000,
					&o->max_tunnels_per_thing))
				return -1;
			break;
		case 'v':
			if (parse_count(optarg, 0, 6, &n)) {
				fprintf(stderr, "tunnel-relay: --verbose: want 0-6, got '%s'\n", optarg);
				return -1;
			}
			o->verbose = (int)n;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 1;
		case ':':
			fprintf(stderr, "tunnel-relay: option %s needs a value (see --help)\n", argv[optind - 1]);
			return -1;
		default:
			fprintf(stderr, "tunnel-relay: unknown option %s (see --help)\n", argv[optind - 1]);
			return -1;
		}
	}
	if (no_recordings)
		o->recordings = NULL;
	if (optind < argc) {
		fprintf(stderr, "tunnel-relay: unexpected argument '%s' (see --help)\n", argv[optind]);
		return -1;
	}
	const char *missing = !o->cert ? "--cert" : !o->key ? "--key" :
			      (!o->tunnels_file && !o->db) ? "--db (or --tunnels)" : NULL;
	if (missing) {
		fprintf(stderr, "tunnel-relay: %s is required (see --help)\n", missing);
		return -1;
	}
	if (o->mqtt_uri && (!o->mqtt_ca || !o->mqtt_cert || !o->mqtt_key)) {
		fprintf(stderr, "tunnel-relay: --mqtt-uri needs --mqtt-ca, --mqtt-cert and --mqtt-key\n");
		return -1;
	}
	return 0;
}
