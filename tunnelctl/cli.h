/* tunnelctl command line: getopt_long parsing into a struct, with the
 * TUNNEL_API_* environment variables as fallbacks, and the help texts.
 * Pure apart from getenv() and wiping a --key value out of argv. */
#ifndef TUNNELCTL_CLI_H
#define TUNNELCTL_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum tctl_cmd { CMD_NONE, CMD_OPEN, CMD_LIST, CMD_DESCRIBE, CMD_ROTATE, CMD_CLOSE, CMD_SSH,
		CMD_FORWARD, CMD_THINGS };

#define TCTL_MAX_SERVICES 3
#define TCTL_MIN_LIFETIME 1
#define TCTL_MAX_LIFETIME 720
#define TCTL_MAX_SERVICE_ID 128

#define TCTL_ENV_URL "TUNNEL_API_URL"
#define TCTL_ENV_KEY "TUNNEL_API_KEY"
#define TCTL_ENV_CA "TUNNEL_API_CA"
/* The variable localproxy reads its access token from. */
#define TCTL_ENV_TOKEN "AWSIOT_TUNNEL_ACCESS_TOKEN"

/* Local validation messages: the relay's BadRequest messages word for word
 * (relay/api.c; the relay stays the authority), each with its JSON field. */
#define TCTL_MAX_THING 128
#define TCTL_MAX_DESCRIPTION 256
#define TCTL_MSG_THING "thingName must be 1-128 characters of [A-Za-z0-9_:-]"
#define TCTL_FIELD_THING "destinationConfig.thingName"
#define TCTL_MSG_SERVICES "services must be an array of 1 to 3 service names"
#define TCTL_FMT_SERVICE_ID "service %d must be 1-128 characters of [A-Za-z0-9_:-]" /* index from 0 */
#define TCTL_FMT_SERVICE_DUP "service %s is listed twice"
#define TCTL_FIELD_SERVICES "destinationConfig.services"
#define TCTL_MSG_LIFETIME "maxLifetimeTimeoutMinutes must be a whole number from 1 to 720"
#define TCTL_FIELD_LIFETIME "timeoutConfig.maxLifetimeTimeoutMinutes"
#define TCTL_MSG_DESCRIPTION "description must be a string of at most 256 characters"
#define TCTL_FIELD_DESCRIPTION "description"
#define TCTL_MSG_MODE "clientMode must be SOURCE, DESTINATION or ALL"
#define TCTL_FIELD_MODE "clientMode"

struct tctl_args {
	enum tctl_cmd cmd;
	bool help;      /* --help / -h / "help [CMD]": print tctl_usage(cmd), exit 0 */
	bool json;      /* --json: print the server's JSON, pretty */
	bool verbose;   /* -v: request/response lines on stderr (never the key) */
	const char *url; /* --url or $TUNNEL_API_URL (points into argv/environ) */
	char *key;      /* --key or $TUNNEL_API_KEY: an owned copy, wiped by tctl_args_free */
	bool key_on_command_line; /* main warns: visible to other users */
	const char *ca; /* --ca or $TUNNEL_API_CA; NULL: the system CAs */

	/* open */
	const char *thing; /* also list --thing, things [NAME] */
	const char *services[TCTL_MAX_SERVICES];
	int n_services;
	int lifetime;   /* minutes; 0 when not given (the relay's default) */
	const char *description;
	/* describe, rotate, close */
	const char *id;
	/* rotate: "SOURCE", "DESTINATION" or "ALL" (static strings) */
	const char *mode;
	/* ssh and forward: the thing is a->thing ([USER@]THING for ssh, the
	 * user in ssh_user) and the tunnel's one service a->services[0]. */
	const char *ssh_user;        /* NULL: ssh's default */
	char ssh_thing[TCTL_MAX_THING + 1];
	char *const *ssh_args;      /* ssh options and command after THING (argv) */
	int n_ssh_args;
	const char *local;          /* forward: localproxy -s value ("8080", "udp:5353"); NULL = a free port */
	const char *token_env;      /* --token-env VAR: the source token is there; no API */
};

/* Parses argv (global options may come before or after the command). A
 * --key value is copied and then overwritten in argv so that it no longer
 * shows in ps. Returns 0 (check a->help first) or 2 for a usage error with
 * the reason in err (no "tunnelctl: " prefix). Call tctl_args_free either way. */
int tctl_parse(int argc, char **argv, struct tctl_args *a, char *err, size_t err_cap);
void tctl_args_free(struct tctl_args *a);
/* Overwrites a secret string with NULs (one the compiler cannot drop). */
void tctl_wipe(char *s);

/* "open", "list", ...; "" for CMD_NONE. */
const char *tctl_cmd_name(enum tctl_cmd cmd);
/* Help for one command, or the overview for CMD_NONE. */
void tctl_usage(enum tctl_cmd cmd, FILE *out);

#endif
