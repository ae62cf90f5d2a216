#include "proxy/options.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/config_line.h"
#include "common/log.h"
#include <openssl/crypto.h>

#include "common/token.h"
#include "proto/message.h"
#include "proto/wire.h"

static const char usage_text[] =
	"Usage: localproxy -s PORT|SERVICE=PORT,... [options]   (source: on the operator's PC)\n"
	"       localproxy -d [HOST:]PORT|SERVICE=[HOST:]PORT,... [options]   (destination: on the device)\n"
	"\n"
	"Carries TCP, Unix-socket and UDP connections through a secure tunnel relay\n"
	"(AWS IoT Secure Tunneling protocol V3; up to 10 connections share one TLS\n"
	"WebSocket).\n"
	"\n"
	"Options:\n"
	"  -t, --access-token TOKEN     tunnel access token (prefer AWSIOT_TUNNEL_ACCESS_TOKEN:\n"
	"                               a token on the command line is visible to other users)\n"
	"  -i, --client-token TOKEN     client token for reconnects, [A-Za-z0-9-]{32,128}\n"
	"                               (default: a random one per run)\n"
	"  -e, --proxy-endpoint HOST[:PORT]  relay address (port 443 by default)\n"
	"  -r, --region REGION          use AWS's endpoint for REGION\n"
	"  -s, --source-listen-port P   source mode: listen on P (\"2222\" or \"SSH=2222,HTTP=8080\")\n"
	"                               a value may also be udp:PORT, unix:/PATH (or /PATH)\n"
	"      --stdio SERVICE          source mode: carry one connection on stdin/stdout\n"
	"                               (ssh's ProxyCommand; same as -s SERVICE=-); exits\n"
	"                               when it ends; logs warnings only unless -v\n"
	"  -d, --destination-app A      destination mode: where to connect (\"22\", \"host:22\",\n"
	"                               \"SSH=22,HTTP=10.0.0.1:80\", or a Unix socket path);\n"
	"                               a value may also be udp:[HOST:]PORT, unix:/PATH\n"
	"      --udp-idle-timeout S     end a UDP flow after S seconds without datagrams\n"
	"                               (default 60)\n"
	"  -b, --local-bind-address A   source listen address (default localhost)\n"
	"  -c, --capath FILE|DIR        CA certificate(s) to verify the relay with\n"
	"                               (default: the system's CAs)\n"
	"  -k, --no-ssl-host-verify     do not verify the relay's certificate (insecure)\n"
	"  -m, --mode source|destination  (implied by -s or -d)\n"
	"  -y, --destination-client-type V1|V2  destination: speak protocol V1/V2;\n"
	"                               source: negotiate 3.0 but reach a V1/V2 destination\n"
	"                               (AWS IoT Device Client: -y V1, one service); one\n"
	"                               connection per service at a time, others refused\n"
	"  -v, --verbose 0-6            0 off ... 4 info (default), 5 debug, 6 trace\n"
	"      --config FILE            read \"key = value\" settings (long option names)\n"
	"                               default: ~/.config/localproxy/config, then\n"
	"                               /etc/localproxy/config\n"
	"  -h, --help                   show this help\n"
	"\n"
	"Environment: AWSIOT_TUNNEL_ACCESS_TOKEN, AWSIOT_TUNNEL_CLIENT_TOKEN,\n"
	"AWSIOT_TUNNEL_ENDPOINT, AWSIOT_TUNNEL_REGION, HTTPS_PROXY.\n"
	"Precedence: command line, then environment, then config file.\n";

/* Every setting, as text, wherever it came from. */
enum setting {
	S_TOKEN, S_CLIENT_TOKEN, S_ENDPOINT, S_REGION, S_SOURCE, S_DEST, S_BIND,
	S_CAPATH, S_NO_VERIFY, S_MODE, S_CLIENT_TYPE, S_VERBOSE, S_COUNT
};

struct setting_def {
	const char *key;   /* long option and config-file key */
	const char *env;   /* environment variable, or NULL */
};

static const struct setting_def settings[S_COUNT] = {
	[S_TOKEN] = {"access-token", "AWSIOT_TUNNEL_ACCESS_TOKEN"},
	[S_CLIENT_TOKEN] = {"client-token", "AWSIOT_TUNNEL_CLIENT_TOKEN"},
	[S_ENDPOINT] = {"proxy-endpoint", "AWSIOT_TUNNEL_ENDPOINT"},
	[S_REGION] = {"region", "AWSIOT_TUNNEL_REGION"},
	[S_SOURCE] = {"source-listen-port", NULL},
	[S_DEST] = {"destination-app", NULL},
	[S_BIND] = {"local-bind-address", NULL},
	[S_CAPATH] = {"capath", NULL},
	[S_NO_VERIFY] = {"no-ssl-host-verify", NULL},
	[S_MODE] = {"mode", NULL},
	[S_CLIENT_TYPE] = {"destination-client-type", NULL},
	[S_VERBOSE] = {"verbose", NULL},
};

/* Where a setting came from: lower wins. */
enum setting_level { FROM_COMMAND_LINE, FROM_ENVIRONMENT, FROM_CONFIG_FILE };

struct raw_settings {
	char *value[S_COUNT]; /* heap copies; NULL = unset */
	enum setting_level level[S_COUNT];
};

static void raw_free(struct raw_settings *r)
{
	for (int i = 0; i < S_COUNT; i++) {
		if (r->value[i]) {
			secret_wipe(r->value[i]);
			free(r->value[i]);
		}
	}
}

static int raw_set_if_unset(struct raw_settings *r, enum setting s, const char *value,
			    enum setting_level level)
{
	if (r->value[s])
		return 0;
	r->level[s] = level;
	r->value[s] = strdup(value);
	if (!r->value[s]) {
		fprintf(stderr, "localproxy: out of memory\n");
		return -1;
	}
	return 0;
}

/* Reads "key = value" lines into the settings that are still unset. */
static int read_config(const char *path, struct raw_settings *r, bool must_exist)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		if (!must_exist && errno == ENOENT)
			return 1;
		fprintf(stderr, "localproxy: cannot read config file %s: %s\n", path, strerror(errno));
		return -1;
	}
	char line[8192];
	int lineno = 0, rc = 0;
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		lineno++;
		char *key, *value;
		int kind = config_line_parse(line, &key, &value);
		if (kind == 0)
			continue;
		int s = -1;
		for (int i = 0; kind > 0 && i < S_COUNT; i++)
			if (!strcmp(key, settings[i].key))
				s = i;
		if (kind < 0 || s < 0) {
			fprintf(stderr, "localproxy: %s:%d: %s\n", path, lineno,
				kind < 0 ? "expected 'key = value'" : "unknown key (use the long option names, e.g. proxy-endpoint)");
			rc = -1;
		} else if (raw_set_if_unset(r, (enum setting)s, value, FROM_CONFIG_FILE)) {
			rc = -1;
		}
	}
	OPENSSL_cleanse(line, sizeof(line));
	fclose(f);
	return rc;
}

/* Finds the config file: --config, else ~/.config/localproxy/config, else
 * /etc/localproxy/config. Returns 0 (read or none found) or -1. */
static int load_config(const char *explicit_path, struct raw_settings *r, char *used, size_t cap)
{
	if (explicit_path) {
		snprintf(used, cap, "%s", explicit_path);
		return read_config(explicit_path, r, true);
	}
	const char *home = getenv("HOME");
	char path[PATH_MAX];
	if (home && *home) {
		snprintf(path, sizeof(path), "%s/.config/localproxy/config", home);
		int rc = read_config(path, r, false);
		if (rc <= 0) {
			if (rc == 0)
				snprintf(used, cap, "%s", path);
			return rc;
		}
	}
	int rc = read_config("/etc/localproxy/config", r, false);
	if (rc == 0)
		snprintf(used, cap, "/etc/localproxy/config");
	return rc < 0 ? -1 : 0;
}

int region_endpoint(const char *region, char *out, size_t cap)
{
	if (!*region || strlen(region) > 32)
		return -1;
	for (const char *p = region; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return -1;
	int n = snprintf(out, cap, "data.tunneling.iot.%s.amazonaws.com%s", region,
			 strncmp(region, "cn-", 3) ? "" : ".cn");
	return (n > 0 && (size_t)n < cap) ? 0 : -1;
}

static int copy_text(char *dst, size_t cap, const char *src, const char *what)
{
	if (strlen(src) >= cap) {
		fprintf(stderr, "localproxy: %s is too long (at most %zu characters)\n", what, cap - 1);
		return -1;
	}
	strcpy(dst, src);
	return 0;
}

/* Turns the merged text settings into typed options. */
static int finish(struct raw_settings *r, struct proxy_options *o)
{
	char err[256];
	char *const *v = r->value;
	if (v[S_VERBOSE]) {
		char *end;
		long n = strtol(v[S_VERBOSE], &end, 10);
		if (!*v[S_VERBOSE] || *end || n < 0 || n > 6) {
			fprintf(stderr, "localproxy: verbose: want 0-6, got '%s'\n", v[S_VERBOSE]);
			return -1;
		}
		o->verbose = (int)n;
	}
	if (v[S_SOURCE] && v[S_DEST]) {
		fprintf(stderr, "localproxy: give -s (source) or -d (destination), not both\n");
		return -1;
	}
	if (v[S_MODE]) {
		if (!strcmp(v[S_MODE], "source"))
			o->mode = PROXY_MODE_SOURCE;
		else if (!strcmp(v[S_MODE], "destination"))
			o->mode = PROXY_MODE_DESTINATION;
		else {
			fprintf(stderr, "localproxy: mode must be 'source' or 'destination', not '%s'\n", v[S_MODE]);
			return -1;
		}
		if ((o->mode == PROXY_MODE_SOURCE && v[S_DEST]) ||
		    (o->mode == PROXY_MODE_DESTINATION && v[S_SOURCE])) {
			fprintf(stderr, "localproxy: --mode %s contradicts %s\n", v[S_MODE],
				v[S_DEST] ? "-d" : "-s");
			return -1;
		}
	} else if (v[S_SOURCE] || v[S_DEST]) {
		o->mode = v[S_SOURCE] ? PROXY_MODE_SOURCE : PROXY_MODE_DESTINATION;
	} else {
		fprintf(stderr, "localproxy: say what to do: -s PORT (source, on your PC) or "
				"-d HOST:PORT (destination, on the device); see --help\n");
		return -1;
	}
	if (o->mode == PROXY_MODE_SOURCE) {
		if (!v[S_SOURCE]) {
			fprintf(stderr, "localproxy: source mode needs -s PORT (e.g. -s 2222)\n");
			return -1;
		}
		if (copy_text(o->source_listen, sizeof(o->source_listen), v[S_SOURCE], "-s"))
			return -1;
	} else {
		if (!v[S_DEST]) {
			fprintf(stderr, "localproxy: destination mode needs -d HOST:PORT (e.g. -d 127.0.0.1:22)\n");
			return -1;
		}
		if (copy_text(o->destination_app, sizeof(o->destination_app), v[S_DEST], "-d"))
			return -1;
	}
	if (!v[S_TOKEN] || !*v[S_TOKEN]) {
		fprintf(stderr, "localproxy: no access token: set AWSIOT_TUNNEL_ACCESS_TOKEN "
				"(or pass -t TOKEN)\n");
		return -1;
	}
	if (!access_token_valid(v[S_TOKEN], strlen(v[S_TOKEN]))) {
		fprintf(stderr, "localproxy: the access token is malformed "
				"(" TUNNEL_ACCESS_TOKEN_SYNTAX ")\n");
		return -1;
	}
	o->access_token = strdup(v[S_TOKEN]);
	if (!o->access_token) {
		fprintf(stderr, "localproxy: out of memory\n");
		return -1;
	}
	if (v[S_CLIENT_TOKEN]) {
		if (!client_token_valid(v[S_CLIENT_TOKEN], strlen(v[S_CLIENT_TOKEN]))) {
			fprintf(stderr, "localproxy: the client token must be 32-128 characters of [A-Za-z0-9-]\n");
			return -1;
		}
		strcpy(o->client_token, v[S_CLIENT_TOKEN]);
	} else if (client_token_generate(o->client_token, sizeof(o->client_token))) {
		fprintf(stderr, "localproxy: cannot generate a client token (OpenSSL RNG failed)\n");
		return -1;
	}
	char region_host[128];
	const char *endpoint = v[S_ENDPOINT];
	/* A region stands for AWS's endpoint: it beats an endpoint given at a
	 * lower level (-r on the command line over AWSIOT_TUNNEL_ENDPOINT). */
	if (v[S_REGION] && (!endpoint || r->level[S_REGION] < r->level[S_ENDPOINT])) {
		if (region_endpoint(v[S_REGION], region_host, sizeof(region_host))) {
			fprintf(stderr, "localproxy: '%s' is not a region name (e.g. us-east-1)\n", v[S_REGION]);
			return -1;
		}
		endpoint = region_host;
	}
	if (!endpoint) {
		fprintf(stderr, "localproxy: no relay endpoint: pass -e HOST[:PORT], set "
				"AWSIOT_TUNNEL_ENDPOINT=HOST:PORT, or put 'proxy-endpoint = HOST:PORT' "
				"(and 'capath = CA.pem') in ~/.config/localproxy/config or a file named "
				"with --config FILE\n");
		return -1;
	}
	if (hostport_parse(endpoint, 443, &o->endpoint, err, sizeof(err)) || !o->endpoint.host[0]) {
		fprintf(stderr, "localproxy: proxy endpoint: %s\n", o->endpoint.host[0] ? err : "a host name is required");
		return -1;
	}
	if (copy_text(o->bind_address, sizeof(o->bind_address), v[S_BIND] ? v[S_BIND] : "localhost", "-b"))
		return -1;
	if (v[S_CAPATH]) {
		struct stat st;
		if (stat(v[S_CAPATH], &st)) {
			fprintf(stderr, "localproxy: CA path %s: %s\n", v[S_CAPATH], strerror(errno));
			return -1;
		}
		if (copy_text(o->capath, sizeof(o->capath), v[S_CAPATH], "-c"))
			return -1;
	}
	o->no_verify = v[S_NO_VERIFY] && strcmp(v[S_NO_VERIFY], "false") && strcmp(v[S_NO_VERIFY], "0");
	o->client_version = 3;
	if (v[S_CLIENT_TYPE]) {
		if (!strcmp(v[S_CLIENT_TYPE], "V1"))
			o->client_version = 1;
		else if (!strcmp(v[S_CLIENT_TYPE], "V2"))
			o->client_version = 2;
		else {
			fprintf(stderr, "localproxy: destination client type must be V1 or V2, not '%s'\n",
				v[S_CLIENT_TYPE]);
			return -1;
		}
	}
	/* A source negotiates 3.0 whatever the destination is (as AWS's does):
	 * -y only changes the shape of what it sends. */
	o->destination_type = o->client_version;
	if (o->mode == PROXY_MODE_SOURCE)
		o->client_version = 3;
	const char *proxy = getenv("HTTPS_PROXY");
	if (!proxy)
		proxy = getenv("https_proxy");
	if (proxy && *proxy) {
		const char *hp = strstr(proxy, "://") ? strstr(proxy, "://") + 3 : proxy;
		char trimmed[HOSTPORT_MAX_HOST + 8];
		snprintf(trimmed, sizeof(trimmed), "%.*s", (int)strcspn(hp, "/"), hp);
		if (strchr(trimmed, '@')) {
			fprintf(stderr, "localproxy: HTTPS_PROXY: user:password@ is not supported\n");
			return -1;
		}
		if (hostport_parse(trimmed, 3128, &o->https_proxy, err, sizeof(err))) {
			fprintf(stderr, "localproxy: HTTPS_PROXY: %s\n", err);
			return -1;
		}
		if (!o->https_proxy.host[0]) {
			fprintf(stderr, "localproxy: HTTPS_PROXY: a host name is required\n");
			return -1;
		}
	}
	return 0;
}

/* --stdio SERVICE is -s SERVICE=- (see proxy/mapping.h). */
static int stdio_source_text(const char *service, char *out, size_t cap)
{
	if (!tunnel_service_id_valid(service))
		return -1;
	int n = snprintf(out, cap, "%s=-", service);
	return n > 0 && (size_t)n < cap ? 0 : -1;
}

static int parse_udp_idle(const char *text, struct proxy_options *o)
{
	char *end;
	errno = 0;
	long n = strtol(text, &end, 10);
	if (!*text || *end || errno || n < 1 || n > 86400) {
		fprintf(stderr, "localproxy: --udp-idle-timeout: want 1-86400 seconds, got '%s'\n", text);
		return -1;
	}
	o->udp_idle_s = (int)n;
	return 0;
}

/* A token taken from the environment is copied; the copy is all we keep.
 * Wipe and remove the variable, so that it is not readable in
 * /proc/PID/environ for the proxy's whole life nor inherited by anything
 * it might start. */
static void forget_secret_env(enum setting s)
{
	char *env = getenv(settings[s].env);
	if (!env)
		return;
	secret_wipe(env);
	unsetenv(settings[s].env);
}

int proxy_options_parse(int argc, char **argv, struct proxy_options *o)
{
	enum { OPT_CONFIG = 256, OPT_STDIO, OPT_UDP_IDLE };
	static const struct option longopts[] = {
		{"access-token", required_argument, NULL, 't'},
		{"client-token", required_argument, NULL, 'i'},
		{"proxy-endpoint", required_argument, NULL, 'e'},
		{"region", required_argument, NULL, 'r'},
		{"source-listen-port", required_argument, NULL, 's'},
		{"destination-app", required_argument, NULL, 'd'},
		{"local-bind-address", required_argument, NULL, 'b'},
		{"capath", required_argument, NULL, 'c'},
		{"no-ssl-host-verify", no_argument, NULL, 'k'},
		{"mode", required_argument, NULL, 'm'},
		{"destination-client-type", required_argument, NULL, 'y'},
		{"verbose", required_argument, NULL, 'v'},
		{"config", required_argument, NULL, OPT_CONFIG},
		{"stdio", required_argument, NULL, OPT_STDIO},
		{"udp-idle-timeout", required_argument, NULL, OPT_UDP_IDLE},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static const char shortopts[] = ":t:i:e:r:s:d:b:c:km:y:v:h";
	memset(o, 0, sizeof(*o));
	o->verbose = LOG_INFO;
	o->udp_idle_s = UDP_IDLE_DEFAULT_S;
	char stdio_source[TUNNEL_MAX_SERVICE_ID + 3];

	struct raw_settings raw = {0};
	const char *config_path = NULL;
	int rc = 0, c;
	opterr = 0;
	while (rc == 0 && (c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		enum setting s = S_COUNT;
		switch (c) {
		case 't': s = S_TOKEN; break;
		case 'i': s = S_CLIENT_TOKEN; break;
		case 'e': s = S_ENDPOINT; break;
		case 'r': s = S_REGION; break;
		case 's': s = S_SOURCE; break;
		case 'd': s = S_DEST; break;
		case 'b': s = S_BIND; break;
		case 'c': s = S_CAPATH; break;
		case 'm': s = S_MODE; break;
		case 'y': s = S_CLIENT_TYPE; break;
		case 'v': s = S_VERBOSE; break;
		case 'k':
			rc = raw_set_if_unset(&raw, S_NO_VERIFY, "true", FROM_COMMAND_LINE);
			continue;
		case OPT_CONFIG: config_path = optarg; continue;
		case OPT_UDP_IDLE:
			rc = parse_udp_idle(optarg, o);
			continue;
		case OPT_STDIO:
			/* ssh shows our stderr on the user's terminal: quiet unless -v. */
			o->verbose = LOG_WARN;
			if (stdio_source_text(optarg, stdio_source, sizeof(stdio_source)) ||
			    raw.value[S_SOURCE]) {
				fprintf(stderr, "localproxy: --stdio wants one service name (and no -s)\n");
				rc = -1;
				continue;
			}
			optarg = stdio_source;
			s = S_SOURCE;
			break;
		case 'h':
			fputs(usage_text, stdout);
			raw_free(&raw);
			return 1;
		case ':':
			fprintf(stderr, "localproxy: option %s needs a value (see --help)\n", argv[optind - 1]);
			rc = -1;
			continue;
		default:
			fprintf(stderr, "localproxy: unknown option %s (see --help)\n", argv[optind - 1]);
			rc = -1;
			continue;
		}
		if (raw.value[s]) { /* the last occurrence wins */
			secret_wipe(raw.value[s]);
			free(raw.value[s]);
		}
		raw.level[s] = FROM_COMMAND_LINE;
		raw.value[s] = strdup(optarg);
		if (!raw.value[s]) {
			fprintf(stderr, "localproxy: out of memory\n");
			rc = -1;
		}
		/* A secret on the command line: overwrite it so that it no
		 * longer shows in /proc/PID/cmdline or ps. */
		if (s == S_TOKEN || s == S_CLIENT_TOKEN)
			secret_wipe(optarg);
	}
	if (rc == 0 && optind < argc) {
		fprintf(stderr, "localproxy: unexpected argument '%s' (see --help)\n", argv[optind]);
		rc = -1;
	}
	for (int i = 0; rc == 0 && i < S_COUNT; i++) {
		const char *env = settings[i].env ? getenv(settings[i].env) : NULL;
		if (env && *env)
			rc = raw_set_if_unset(&raw, (enum setting)i, env, FROM_ENVIRONMENT);
	}
	forget_secret_env(S_TOKEN);
	forget_secret_env(S_CLIENT_TOKEN);
	if (rc == 0)
		rc = load_config(config_path, &raw, o->config_used, sizeof(o->config_used));
	if (rc == 0)
		rc = finish(&raw, o);
	raw_free(&raw);
	if (rc)
		proxy_options_free(o);
	return rc ? -1 : 0;
}

void proxy_options_free(struct proxy_options *o)
{
	if (o->access_token) {
		secret_wipe(o->access_token);
		free(o->access_token);
		o->access_token = NULL;
	}
	OPENSSL_cleanse(o->client_token, sizeof(o->client_token));
}
