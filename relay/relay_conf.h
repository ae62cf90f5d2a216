/* relay.conf: tunnel-relay's settings in a file, "key = value" lines whose
 * keys are its long option names without "--" (the style of localproxy's
 * config file), so that a service needs no long command line. */
#ifndef RELAY_CONF_H
#define RELAY_CONF_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

/* The default file the packaged unit names with --config. */
#define RELAY_CONF_DEFAULT "/etc/tunnel-relay/relay.conf"

/* The argument list tunnel-relay parses: argv[0], one "--key=value" per
 * setting of the file named by --config (if any), then the command line's
 * own arguments, so that the command line wins. */
struct relay_args {
	int argc;
	char **argv;
	bool check;     /* --check was given: every failure exits 1 */
};

/* Builds *out from the command line and the file it names, checking each
 * key against table (getopt_long's). Returns 0, or -1 after saying on
 * stderr which file and line is wrong. */
int relay_conf_merge(int argc, char **argv, const struct option *table, struct relay_args *out);
void relay_args_free(struct relay_args *a);

/* One setting as an argument: "--key=value" for an option that takes a
 * value, "--key" for a flag set to yes/true/1, nothing (*arg NULL) for a
 * flag set to no/false/0. Returns 0, or -1 with err saying why (unknown
 * key, a key the file may not hold, a missing or bad value). Pure. */
int relay_conf_arg(const char *key, const char *value, const struct option *table, char **arg,
		   char *err, size_t cap);

#endif
