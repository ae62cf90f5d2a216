#include "term/options.h"

#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/token.h"

static const char usage_text[] =
	"Usage: tunnel-term --relay HOST:PORT --ca FILE --thing NAME --service SSH\n"
	"                   --localproxy PATH [--known-host-key SHA256:...]\n"
	"                   [--record FILE] [--cols N --rows N] [-v]\n"
	"\n"
	"One browser terminal's SSH client, started by tunnel-relay for its web\n"
	"console. It opens the tunnel's source end by running `localproxy --stdio\n"
	"SERVICE`, speaks SSH through it (libssh), and talks to the relay with\n"
	"frames on stdin/stdout: [type][u32 big-endian length][payload].\n"
	"\n"
	"Options:\n"
	"      --relay HOST:PORT      the relay's tunnel endpoint (for localproxy)\n"
	"      --ca FILE              CA certificate(s) localproxy verifies the relay with\n"
	"      --thing NAME           the device (for log lines)\n"
	"      --service NAME         the tunnel's service to reach (e.g. SSH)\n"
	"      --localproxy PATH      the localproxy program to run\n"
	"      --known-host-key FP    the device's remembered host key (SHA256:...);\n"
	"                             another key is refused (exit 3). Without it the\n"
	"                             key is shown and must be accepted\n"
	"      --record FILE          record the output as asciicast v2 (file 0600)\n"
	"      --cols N, --rows N     the terminal's size (default 80x24; 1-1000)\n"
	"  -v, --verbose              log debug lines too\n"
	"  -h, --help                 show this help\n"
	"\n"
	"Environment: " TERM_TOKEN_ENV " = the tunnel's source access token (required;\n"
	"removed from the environment at once, handed to localproxy in its own).\n"
	"\n"
	"Exit status: 0 the shell ended, 2 usage, 3 host key changed or refused,\n"
	"4 authentication failed, 5 tunnel or SSH connection failed.\n";

static int copy_opt(char *dst, size_t cap, const char *src, const char *name)
{
	size_t len = strlen(src);
	if (len == 0 || len >= cap) {
		fprintf(stderr, "tunnel-term: --%s: want 1-%zu characters\n", name, cap - 1);
		return -1;
	}
	memcpy(dst, src, len + 1);
	return 0;
}

static int parse_size(const char *text, int *out, const char *name)
{
	char *end;
	long n = strtol(text, &end, 10);
	if (!*text || *end || n < 1 || n > 1000) {
		fprintf(stderr, "tunnel-term: --%s: want 1-1000, got '%s'\n", name, text);
		return -1;
	}
	*out = (int)n;
	return 0;
}

/* The tunnel's service names (localproxy checks them again); never one
 * that starts with '-', which localproxy could take for an option. */
static bool service_name_valid(const char *s)
{
	if (s[0] == '-')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != ':' && *s != '-')
			return false;
	return true;
}

/* Checks what the relay passes before anything is started. */
static int check_required(const struct term_options *o)
{
	static const char *const names[] = {"relay", "ca", "service", "localproxy"};
	const char *const values[] = {o->relay, o->ca, o->service, o->localproxy};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!values[i][0]) {
			fprintf(stderr, "tunnel-term: --%s is required (see --help)\n", names[i]);
			return -1;
		}
	}
	struct hostport hp;
	char err[128];
	if (hostport_parse(o->relay, 0, &hp, err, sizeof(err)) || !hp.host[0]) {
		fprintf(stderr, "tunnel-term: --relay: %s\n", hp.host[0] ? err : "want HOST:PORT");
		return -1;
	}
	if (!service_name_valid(o->service)) {
		fprintf(stderr, "tunnel-term: --service: want letters, digits, '_', ':' or '-'\n");
		return -1;
	}
	if (o->known_host_key[0] && strncmp(o->known_host_key, "SHA256:", 7)) {
		fprintf(stderr, "tunnel-term: --known-host-key: want SHA256:BASE64\n");
		return -1;
	}
	if (!o->token) {
		fprintf(stderr, "tunnel-term: no tunnel token: set " TERM_TOKEN_ENV "\n");
		return -1;
	}
	if (!access_token_valid(o->token, strlen(o->token))) {
		fprintf(stderr, "tunnel-term: " TERM_TOKEN_ENV " is not a well-formed token\n");
		return -1;
	}
	return 0;
}

/* Copies the token and wipes the variable, so that it is neither readable
 * in /proc/PID/environ for the terminal's life nor inherited. */
static int take_token(struct term_options *o)
{
	char *env = getenv(TERM_TOKEN_ENV);
	if (!env || !*env)
		return 0;
	o->token = strdup(env);
	secret_wipe(env);
	unsetenv(TERM_TOKEN_ENV);
	if (!o->token) {
		fprintf(stderr, "tunnel-term: out of memory\n");
		return -1;
	}
	return 0;
}

int term_options_parse(int argc, char **argv, struct term_options *o)
{
	enum { O_RELAY = 256, O_CA, O_THING, O_SERVICE, O_LOCALPROXY, O_KNOWN, O_RECORD, O_COLS,
	       O_ROWS };
	static const struct option longopts[] = {
		{"relay", required_argument, NULL, O_RELAY},
		{"ca", required_argument, NULL, O_CA},
		{"thing", required_argument, NULL, O_THING},
		{"service", required_argument, NULL, O_SERVICE},
		{"localproxy", required_argument, NULL, O_LOCALPROXY},
		{"known-host-key", required_argument, NULL, O_KNOWN},
		{"record", required_argument, NULL, O_RECORD},
		{"cols", required_argument, NULL, O_COLS},
		{"rows", required_argument, NULL, O_ROWS},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	memset(o, 0, sizeof(*o));
	o->cols = 80;
	o->rows = 24;
	o->verbose = LOG_INFO;
	int rc = take_token(o), c;
	opterr = 0;
	while (rc == 0 && (c = getopt_long(argc, argv, ":vh", longopts, NULL)) != -1) {
		switch (c) {
		case O_RELAY: rc = copy_opt(o->relay, sizeof(o->relay), optarg, "relay"); break;
		case O_CA: rc = copy_opt(o->ca, sizeof(o->ca), optarg, "ca"); break;
		case O_THING: rc = copy_opt(o->thing, sizeof(o->thing), optarg, "thing"); break;
		case O_SERVICE: rc = copy_opt(o->service, sizeof(o->service), optarg, "service"); break;
		case O_LOCALPROXY:
			rc = copy_opt(o->localproxy, sizeof(o->localproxy), optarg, "localproxy");
			break;
		case O_KNOWN:
			rc = copy_opt(o->known_host_key, sizeof(o->known_host_key), optarg,
				      "known-host-key");
			break;
		case O_RECORD: rc = copy_opt(o->record, sizeof(o->record), optarg, "record"); break;
		case O_COLS: rc = parse_size(optarg, &o->cols, "cols"); break;
		case O_ROWS: rc = parse_size(optarg, &o->rows, "rows"); break;
		case 'v': o->verbose = LOG_DEBUG; break;
		case 'h':
			fputs(usage_text, stdout);
			term_options_free(o);
			return 1;
		case ':':
			fprintf(stderr, "tunnel-term: option %s needs a value (see --help)\n",
				argv[optind - 1]);
			rc = -1;
			break;
		default:
			fprintf(stderr, "tunnel-term: unknown option %s (see --help)\n", argv[optind - 1]);
			rc = -1;
			break;
		}
	}
	if (rc == 0 && optind < argc) {
		fprintf(stderr, "tunnel-term: unexpected argument '%s' (see --help)\n", argv[optind]);
		rc = -1;
	}
	if (rc == 0)
		rc = check_required(o);
	if (rc)
		term_options_free(o);
	return rc;
}

void term_options_free(struct term_options *o)
{
	if (o->token) {
		secret_wipe(o->token);
		free(o->token);
		o->token = NULL;
	}
}
