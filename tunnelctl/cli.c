/* tunnelctl command line parsing and help texts. */
#include "tunnelctl/cli.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const cmd_names[] = {
	[CMD_NONE] = "", [CMD_OPEN] = "open", [CMD_LIST] = "list",
	[CMD_DESCRIBE] = "describe", [CMD_ROTATE] = "rotate", [CMD_CLOSE] = "close",
	[CMD_SSH] = "ssh", [CMD_FORWARD] = "forward", [CMD_THINGS] = "things",
};

const char *tctl_cmd_name(enum tctl_cmd cmd)
{
	return (unsigned)cmd < sizeof(cmd_names) / sizeof(cmd_names[0]) ? cmd_names[cmd] : "";
}

static enum tctl_cmd cmd_lookup(const char *name)
{
	for (int c = CMD_OPEN; c <= CMD_THINGS; c++)
		if (!strcmp(name, cmd_names[c]))
			return (enum tctl_cmd)c;
	return CMD_NONE;
}

#define GLOBAL_HELP \
	"Global options (before or after the command):\n" \
	"  --url URL     the relay's management API, e.g. https://localhost:8443\n" \
	"                (default: $" TCTL_ENV_URL ")\n" \
	"  --key KEY     API key (default: $" TCTL_ENV_KEY "; prefer the variable: a key on the\n" \
	"                command line is visible to other users)\n" \
	"  --ca FILE     CA certificate that signed the relay's certificate\n" \
	"                (default: $" TCTL_ENV_CA ", else the system CAs)\n" \
	"  --json        print the server's JSON response, pretty, for scripts\n" \
	"  -v, --verbose show the request and the response status on stderr (never the key)\n" \
	"  -h, --help    this help; 'tunnelctl COMMAND --help' for one command\n"

#define EXIT_HELP \
	"Exit status: 0 success, 1 the server answered an error, 2 usage error,\n" \
	"3 the server could not be reached (or its response was unusable).\n"

static const char *const help_text[] = {
	[CMD_NONE] =
		"Usage: tunnelctl [OPTIONS] COMMAND [ARGS]\n"
		"Operator CLI for the tunnel relay's management API.\n"
		"\n"
		"Commands:\n"
		"  open --thing T --service S [--service S]... [--lifetime MIN] [--description TEXT]\n"
		"                      open a tunnel to a device and print how to connect\n"
		"  list [--thing T]    list tunnels\n"
		"  describe ID         show one tunnel, its connection states and times\n"
		"  rotate ID --mode SOURCE|DESTINATION|ALL\n"
		"                      issue new access tokens (the old ones stop working)\n"
		"  close ID            close a tunnel\n"
		"  ssh [USER@]THING [SSH OPTIONS] [COMMAND]\n"
		"                      open a tunnel and ssh to the device through it, in one step\n"
		"  forward THING SERVICE [LOCAL]\n"
		"                      open a tunnel and serve SERVICE on a local port until Ctrl-C\n"
		"  things [NAME]       devices: online or offline since when, their services and\n"
		"                      open tunnels (from their agents' presence messages)\n"
		"\n"
		"Options of ssh and forward (for ssh, before 'ssh'):\n"
		"  --service S     ssh only: the tunnel's service (default SSH)\n"
		"  --lifetime MIN  the tunnel's lifetime in minutes, 1-720\n"
		"  --token-env VAR the source token of a tunnel already open is in $VAR: no API\n"
		"                  call, no --key\n"
		"\n" GLOBAL_HELP "\n" EXIT_HELP,
	[CMD_OPEN] =
		"Usage: tunnelctl [OPTIONS] open --thing T --service S [--service S]...\n"
		"                 [--lifetime MIN] [--description TEXT]\n"
		"Opens a tunnel to device T. The relay notifies the device over MQTT; its agent\n"
		"then starts the destination localproxy.\n"
		"\n"
		"  --thing T           the device's thing name (required)\n"
		"  --service S         service id, e.g. SSH; 1 to 3 of them (at least one required)\n"
		"  --lifetime MIN      tunnel lifetime in minutes, 1-720 (default: the relay's, 720)\n"
		"  --description TEXT  free text shown by describe, at most 256 characters\n"
		"\n"
		"Prints the tunnel id, its expiry, whether the device was notified, the source\n"
		"access token in the localproxy command to run on your PC, and the client\n"
		"command (ssh -p 2222 ...). Several services get ports 2222, 2223, 2224.\n"
		"The destination token is printed only with --json (for a device without the\n"
		"agent); it normally travels to the device over MQTT only.\n"
		"\n" GLOBAL_HELP,
	[CMD_LIST] =
		"Usage: tunnelctl [OPTIONS] list [--thing T]\n"
		"Lists tunnels as a table: ID, THING, STATUS, CREATED, EXPIRES.\n"
		"\n"
		"  --thing T   only the tunnels of device T\n"
		"\n" GLOBAL_HELP,
	[CMD_DESCRIBE] =
		"Usage: tunnelctl [OPTIONS] describe ID\n"
		"Shows one tunnel: status, device, services, each side's connection state,\n"
		"lifetime, times and the number of live connections.\n"
		"\n" GLOBAL_HELP,
	[CMD_ROTATE] =
		"Usage: tunnelctl [OPTIONS] rotate ID --mode SOURCE|DESTINATION|ALL\n"
		"Issues new access tokens for a tunnel; the previous ones stop working and\n"
		"connected clients of the rotated side are disconnected. Rotating the\n"
		"destination notifies the device again over MQTT. The lifetime is unchanged.\n"
		"\n"
		"  --mode M    SOURCE, DESTINATION or ALL (required)\n"
		"\n"
		"Prints the new source token; the new destination token only with --json.\n"
		"\n" GLOBAL_HELP,
	[CMD_CLOSE] =
		"Usage: tunnelctl [OPTIONS] close ID\n"
		"Closes a tunnel: both sides are disconnected and its tokens stop working.\n"
		"\n" GLOBAL_HELP,
	[CMD_SSH] =
		"Usage: tunnelctl [OPTIONS] ssh [USER@]THING [SSH OPTIONS] [--] [COMMAND...]\n"
		"Opens a tunnel to THING's service (SSH unless --service), waits for the device\n"
		"to join it, and runs your ssh with ProxyCommand='localproxy --stdio SERVICE':\n"
		"your keys, agent, config and known_hosts work as usual (the host key is\n"
		"filed under THING: HostKeyAlias). The source token reaches localproxy in its\n"
		"environment, never on a command line. When ssh exits, the tunnel is closed;\n"
		"the exit status is ssh's. Give tunnelctl's options before 'ssh'.\n"
		"\n"
		"  --service S     the tunnel's service (default SSH)\n"
		"  --lifetime MIN  the tunnel's lifetime in minutes, 1-720\n"
		"  --token-env VAR the source token is in $VAR (a tunnel someone opened for\n"
		"                  you): no API call, no --key; the relay is --url's host,\n"
		"                  else localproxy's own setting ($AWSIOT_TUNNEL_ENDPOINT\n"
		"                  or its config file)\n"
		"\n"
		"localproxy is looked for next to tunnelctl, then in PATH.\n"
		"\n" GLOBAL_HELP,
	[CMD_FORWARD] =
		"Usage: tunnelctl [OPTIONS] forward THING SERVICE [LOCAL]\n"
		"Opens a tunnel to THING's SERVICE, waits for the device to join it, and runs\n"
		"localproxy -s SERVICE=LOCAL until Ctrl-C (or SIGTERM); then closes the tunnel.\n"
		"LOCAL is a port (default: a free one, printed), udp:PORT for a UDP service, or\n"
		"unix:/PATH. Takes --lifetime and --token-env as ssh does.\n"
		"\n" GLOBAL_HELP,
	[CMD_THINGS] =
		"Usage: tunnelctl [OPTIONS] things [NAME]\n"
		"Lists the devices the relay knows as a table: THING, STATE (online, offline,\n"
		"or unknown for a device with tunnels but no presence message), SINCE, SERVICES\n"
		"(those its agent maps), AGENT (version), OPEN (its open tunnels) and MAX (its\n"
		"agent's maxTunnels). With NAME, that device only, one field a line.\n"
		"\n" GLOBAL_HELP,
};

void tctl_usage(enum tctl_cmd cmd, FILE *out)
{
	if ((unsigned)cmd > CMD_THINGS)
		cmd = CMD_NONE;
	fputs(help_text[cmd], out);
}

__attribute__((format(printf, 3, 4)))
static int usage_error(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
	return 2;
}

void tctl_wipe(char *s)
{
	if (s) {
		volatile char *p = s;
		while (*p)
			*p++ = '\0';
	}
}

void tctl_args_free(struct tctl_args *a)
{
	if (a->key) {
		tctl_wipe(a->key);
		free(a->key);
		a->key = NULL;
	}
}

/* 1..max characters of [A-Za-z0-9_:-]: service ids and thing names alike. */
static bool id_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n < 1 || n > max)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != ':' && *s != '-')
			return false;
	return true;
}

static int parse_lifetime(const char *text, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno || end == text || *end || !isdigit((unsigned char)text[0]) ||
	    v < TCTL_MIN_LIFETIME || v > TCTL_MAX_LIFETIME)
		return -1;
	*out = (int)v;
	return 0;
}

static const char *mode_canonical(const char *text)
{
	static const char *const modes[] = {"SOURCE", "DESTINATION", "ALL"};
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcasecmp(text, modes[i]))
			return modes[i];
	return NULL;
}

static bool has_line_break(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

enum {
	OPT_URL = 256, OPT_KEY, OPT_CA, OPT_JSON, OPT_THING, OPT_SERVICE, OPT_LIFETIME,
	OPT_DESCRIPTION, OPT_MODE, OPT_TOKEN_ENV,
};

/* Which command-specific options were given, to reject them elsewhere. */
struct seen {
	const char *thing, *service, *lifetime, *description, *mode;
};

static int add_positional(struct tctl_args *a, bool *help_cmd, const char *arg, char *err,
			  size_t cap)
{
	if (a->cmd == CMD_NONE && !*help_cmd) {
		if (!strcmp(arg, "help")) {
			*help_cmd = true;
			a->help = true;
			return 0;
		}
		a->cmd = cmd_lookup(arg);
		if (a->cmd == CMD_NONE)
			return usage_error(err, cap,
					   "unknown command '%s' (commands: open, list, describe, "
					   "rotate, close, ssh, forward, things)", arg);
		return 0;
	}
	if (*help_cmd && a->cmd == CMD_NONE) { /* "tunnelctl help open" */
		a->cmd = cmd_lookup(arg);
		if (a->cmd == CMD_NONE)
			return usage_error(err, cap, "unknown command '%s'", arg);
		return 0;
	}
	if ((a->cmd == CMD_DESCRIBE || a->cmd == CMD_ROTATE || a->cmd == CMD_CLOSE) && !a->id &&
	    !*help_cmd) {
		if (!*arg)
			return usage_error(err, cap, "%s: the tunnel id is empty", tctl_cmd_name(a->cmd));
		a->id = arg;
		return 0;
	}
	if (a->cmd == CMD_THINGS && !a->thing && !*help_cmd) {
		if (!id_ok(arg, TCTL_MAX_THING))
			return usage_error(err, cap, "things: '%s': " TCTL_MSG_THING, arg);
		a->thing = arg;
		return 0;
	}
	if (a->cmd == CMD_FORWARD && !*help_cmd) {
		const char **slot = !a->thing ? &a->thing : !a->n_services ? &a->services[0] : !a->local ? &a->local : NULL;
		if (slot) {
			*slot = arg;
			if (slot == &a->services[0])
				a->n_services = 1;
			return 0;
		}
	}
	return usage_error(err, cap, "%s: unexpected argument '%s'", tctl_cmd_name(a->cmd), arg);
}

/* ssh and forward: the thing (and user), the one service, the token's variable. */
static int check_session(struct tctl_args *a, char *err, size_t cap)
{
	const char *name = tctl_cmd_name(a->cmd);
	if (!a->thing)
		return usage_error(err, cap, "%s: the thing name is required (tunnelctl %s THING%s)",
				   name, name, a->cmd == CMD_FORWARD ? " SERVICE" : "");
	const char *at = a->cmd == CMD_SSH ? strrchr(a->thing, '@') : NULL;
	const char *thing = at ? at + 1 : a->thing;
	if (!id_ok(thing, TCTL_MAX_THING))
		return usage_error(err, cap, "%s: thing '%s': " TCTL_MSG_THING, name, thing);
	strcpy(a->ssh_thing, thing);
	if (at) {
		static char user[256];
		size_t n = (size_t)(at - a->thing);
		if (n == 0 || n >= sizeof(user) || a->thing[0] == '-')
			return usage_error(err, cap, "ssh: '%s': want USER@THING", a->thing);
		memcpy(user, a->thing, n);
		user[n] = '\0';
		a->ssh_user = user;
	}
	a->thing = a->ssh_thing;
	if (a->cmd == CMD_SSH && a->n_services == 0)
		a->services[a->n_services++] = "SSH";
	if (a->n_services == 0)
		return usage_error(err, cap, "forward: the service is required (tunnelctl forward THING SERVICE)");
	if (!id_ok(a->services[0], TCTL_MAX_SERVICE_ID))
		return usage_error(err, cap, "%s: service '%s': " TCTL_FMT_SERVICE_ID, name,
				   a->services[0], 0);
	if (a->local && !*a->local)
		return usage_error(err, cap, "forward: the local port is empty");
	if (a->token_env && !id_ok(a->token_env, 255))
		return usage_error(err, cap, "--token-env: '%s' is not a variable name", a->token_env);
	return 0;
}

static int check_command(struct tctl_args *a, const struct seen *s, char *err, size_t cap)
{
	const char *name = tctl_cmd_name(a->cmd);
	struct {
		const char *given, *flag;
		bool allowed;
	} only[] = {
		{s->thing, "--thing", a->cmd == CMD_OPEN || a->cmd == CMD_LIST},
		{s->service, "--service", a->cmd == CMD_OPEN || a->cmd == CMD_SSH},
		{s->lifetime, "--lifetime", a->cmd == CMD_OPEN || a->cmd == CMD_SSH || a->cmd == CMD_FORWARD},
		{a->token_env, "--token-env", a->cmd == CMD_SSH || a->cmd == CMD_FORWARD},
		{s->description, "--description", a->cmd == CMD_OPEN},
		{s->mode, "--mode", a->cmd == CMD_ROTATE},
	};
	for (size_t i = 0; i < sizeof(only) / sizeof(only[0]); i++)
		if (only[i].given && !only[i].allowed)
			return usage_error(err, cap, "%s does not take %s", name, only[i].flag);

	if (s->lifetime && parse_lifetime(s->lifetime, &a->lifetime))
		return usage_error(err, cap, "%s: --lifetime %s: " TCTL_MSG_LIFETIME
				   " (field: " TCTL_FIELD_LIFETIME ")", name, s->lifetime);
	switch (a->cmd) {
	case CMD_NONE:
		return usage_error(err, cap, "no command given (open, list, describe, rotate, close, "
				   "ssh, forward, things)");
	case CMD_THINGS:
		break;
	case CMD_SSH:
	case CMD_FORWARD:
		return check_session(a, err, cap);
	case CMD_OPEN:
		if (!a->thing)
			return usage_error(err, cap, "open: --thing is required: " TCTL_MSG_THING
					   " (field: " TCTL_FIELD_THING ")");
		if (!id_ok(a->thing, TCTL_MAX_THING))
			return usage_error(err, cap, "open: --thing '%s': " TCTL_MSG_THING
					   " (field: " TCTL_FIELD_THING ")", a->thing);
		if (a->n_services == 0)
			return usage_error(err, cap, "open: --service is required: " TCTL_MSG_SERVICES
					   " (field: " TCTL_FIELD_SERVICES ")");
		if (a->description && strlen(a->description) > TCTL_MAX_DESCRIPTION)
			return usage_error(err, cap, "open: --description: " TCTL_MSG_DESCRIPTION
					   " (field: " TCTL_FIELD_DESCRIPTION ")");
		break;
	case CMD_LIST:
		if (a->thing && !*a->thing)
			return usage_error(err, cap, "list: --thing is empty");
		break;
	case CMD_DESCRIBE:
	case CMD_ROTATE:
	case CMD_CLOSE:
		if (!a->id)
			return usage_error(err, cap, "%s: the tunnel ID is required (tunnelctl %s ID)",
					   name, name);
		if (a->cmd == CMD_ROTATE) {
			if (!s->mode)
				return usage_error(err, cap, "rotate: --mode is required: " TCTL_MSG_MODE
						   " (field: " TCTL_FIELD_MODE ")");
			a->mode = mode_canonical(s->mode);
			if (!a->mode)
				return usage_error(err, cap, "rotate: --mode %s: " TCTL_MSG_MODE
						   " (field: " TCTL_FIELD_MODE ")", s->mode);
		}
		break;
	}
	return 0;
}

static int check_connection(struct tctl_args *a, char *err, size_t cap)
{
	if (!a->url || !*a->url)
		return usage_error(err, cap, "no API URL: use --url URL or set " TCTL_ENV_URL
				   " (e.g. https://localhost:8443)");
	if (strncasecmp(a->url, "https://", 8) != 0)
		return usage_error(err, cap, "--url %s: the API URL must start with https://", a->url);
	if (!a->key || !*a->key)
		return usage_error(err, cap, "no API key: use --key KEY or set " TCTL_ENV_KEY
				   " (the variable is safer)");
	if (has_line_break(a->key))
		return usage_error(err, cap, "the API key contains a line break");
	if (a->ca && !*a->ca)
		a->ca = NULL;
	return 0;
}

/* Where "ssh" stands as the command word in argv, or -1. */
static int ssh_command_index(int argc, char **argv)
{
	static const char *const with_value[] = {
		"--url", "--key", "--ca", "--thing", "--service", "--lifetime", "--description",
		"--mode", "--token-env",
	};
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (!strcmp(arg, "--"))
			return -1;
		if (arg[0] != '-')
			return strcmp(arg, "ssh") ? -1 : i;
		for (size_t k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++)
			if (!strcmp(arg, with_value[k]))
				i++; /* its value */
	}
	return -1;
}

int tctl_parse(int argc, char **argv, struct tctl_args *a, char *err, size_t err_cap)
{
	static const struct option longopts[] = {
		{"url", required_argument, NULL, OPT_URL},
		{"key", required_argument, NULL, OPT_KEY},
		{"ca", required_argument, NULL, OPT_CA},
		{"json", no_argument, NULL, OPT_JSON},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"thing", required_argument, NULL, OPT_THING},
		{"service", required_argument, NULL, OPT_SERVICE},
		{"lifetime", required_argument, NULL, OPT_LIFETIME},
		{"description", required_argument, NULL, OPT_DESCRIPTION},
		{"mode", required_argument, NULL, OPT_MODE},
		{"token-env", required_argument, NULL, OPT_TOKEN_ENV},
		{NULL, 0, NULL, 0},
	};
	/* '-': non-options come back in order as option 1, whatever
	 * POSIXLY_CORRECT says; ':': report a missing value as ':'. */
	static const char shortopts[] = "-:vh";

	memset(a, 0, sizeof(*a));
	if (err_cap)
		err[0] = '\0';
	struct seen seen = {0};
	bool help_cmd = false;
	int rc = 0, c;

	/* ssh passes everything after THING on to ssh: getopt must not see it. */
	int ssh_at = ssh_command_index(argc, argv);
	if (ssh_at > 0 && ssh_at + 1 < argc &&
	    (!strcmp(argv[ssh_at + 1], "--help") || !strcmp(argv[ssh_at + 1], "-h")))
		ssh_at = -1; /* "tunnelctl ssh --help" */
	if (ssh_at > 0) {
		a->cmd = CMD_SSH;
		if (ssh_at + 1 < argc) {
			a->thing = argv[ssh_at + 1];
			a->ssh_args = argv + ssh_at + 2;
			a->n_ssh_args = argc - ssh_at - 2;
		}
		argc = ssh_at;
	}

	opterr = 0;
	optind = 0; /* glibc: full re-initialisation, so tests can parse again */
	while (rc == 0 && (c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case 1: rc = add_positional(a, &help_cmd, optarg, err, err_cap); break;
		case OPT_URL: a->url = optarg; break;
		case OPT_KEY:
			free(a->key);
			a->key = strdup(optarg);
			if (!a->key)
				rc = usage_error(err, err_cap, "out of memory");
			a->key_on_command_line = true;
			/* No longer visible in /proc/PID/cmdline (ps) from here on. */
			tctl_wipe(optarg);
			break;
		case OPT_CA: a->ca = optarg; break;
		case OPT_JSON: a->json = true; break;
		case 'v': a->verbose = true; break;
		case 'h': a->help = true; break;
		case OPT_THING: a->thing = seen.thing = optarg; break;
		case OPT_SERVICE:
			seen.service = optarg;
			if (!id_ok(optarg, TCTL_MAX_SERVICE_ID))
				rc = usage_error(err, err_cap, "--service '%s': " TCTL_FMT_SERVICE_ID
						 " (field: " TCTL_FIELD_SERVICES ")", optarg,
						 a->n_services);
			for (int i = 0; rc == 0 && i < a->n_services; i++)
				if (!strcmp(a->services[i], optarg))
					rc = usage_error(err, err_cap, "--service %s: " TCTL_FMT_SERVICE_DUP
							 " (field: " TCTL_FIELD_SERVICES ")", optarg, optarg);
			if (rc == 0 && a->n_services == TCTL_MAX_SERVICES)
				rc = usage_error(err, err_cap, "too many --service options: "
						 TCTL_MSG_SERVICES " (field: " TCTL_FIELD_SERVICES ")");
			if (rc == 0)
				a->services[a->n_services++] = optarg;
			break;
		case OPT_LIFETIME: seen.lifetime = optarg; break;
		case OPT_DESCRIPTION: a->description = seen.description = optarg; break;
		case OPT_MODE: seen.mode = optarg; break;
		case OPT_TOKEN_ENV: a->token_env = optarg; break;
		case ':':
			rc = usage_error(err, err_cap, "option %s needs a value", argv[optind - 1]);
			break;
		default:
			if (optopt && optopt != '?')
				rc = usage_error(err, err_cap, "unknown option -%c", optopt);
			else
				rc = usage_error(err, err_cap, "unknown option %s", argv[optind - 1]);
			break;
		}
	}
	/* After "--": the rest are positional. */
	for (int i = optind; rc == 0 && i < argc; i++)
		rc = add_positional(a, &help_cmd, argv[i], err, err_cap);
	if (rc || a->help)
		return rc;

	if (!a->url)
		a->url = getenv(TCTL_ENV_URL);
	if (!a->key) {
		const char *env = getenv(TCTL_ENV_KEY);
		if (env && *env) {
			a->key = strdup(env);
			if (!a->key)
				return usage_error(err, err_cap, "out of memory");
		}
	}
	if (!a->ca)
		a->ca = getenv(TCTL_ENV_CA);

	rc = check_command(a, &seen, err, err_cap);
	/* With --token-env there is no API call: URL and key are optional. */
	if (rc == 0 && !a->token_env)
		rc = check_connection(a, err, err_cap);
	return rc;
}
