/* tunnel-agent's command line. Pure apart from printing --help. */
#ifndef AGENT_CLI_H
#define AGENT_CLI_H

#include <stdbool.h>
#include <stdio.h>

struct agent_cli {
	const char *config_path; /* -c; AGENT_DEFAULT_CONFIG when not given */
	bool check;              /* --check: validate the config and exit */
};

/* Returns 0 to run, 1 when --help was printed to out (exit 0), -1 after a
 * one-line error on err (exit 2). */
int agent_cli_parse(int argc, char **argv, struct agent_cli *cli, FILE *out, FILE *err);

#endif
