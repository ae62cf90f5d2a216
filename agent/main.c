/* tunnel-agent: the device daemon. Parse the command line, load and check
 * the configuration (one precise line and exit 2 if anything is wrong),
 * then run the loop (agent/agent.c). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/cli.h"
#include "agent/config.h"
#include "common/log.h"

#define MAX_WARNINGS 8

struct warnings {
	char line[MAX_WARNINGS][1024];
	size_t n;
};

static void keep_warning(void *arg, const char *line)
{
	struct warnings *w = arg;
	if (w->n < MAX_WARNINGS)
		snprintf(w->line[w->n++], sizeof(w->line[0]), "%s", line);
}

/* Descriptors 0-2 must be open, or a pipe or socket could take one of those
 * numbers and a child's "stdin" would be our eventfd. */
static void open_std_fds(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		int null_fd = open("/dev/null", O_RDWR);
		if (null_fd < 0)
			exit(1);
		if (null_fd != fd) { /* cannot happen: open returns the lowest free fd */
			close(null_fd);
			exit(1);
		}
	}
}

int main(int argc, char **argv)
{
	open_std_fds();
	struct agent_cli cli;
	int rc = agent_cli_parse(argc, argv, &cli, stdout, stderr);
	if (rc != 0)
		return rc > 0 ? 0 : 2;

	static struct agent_config cfg;
	static struct warnings warn;
	char err[1024];
	if (agent_config_load(cli.config_path, &cfg, err, sizeof(err), keep_warning, &warn) != 0) {
		fprintf(stderr, "tunnel-agent: %s\n", err);
		return 2;
	}
	if (cli.check) {
		for (size_t i = 0; i < warn.n; i++)
			fprintf(stderr, "tunnel-agent: warning: %s\n", warn.line[i]);
		printf("%s: OK: thing %s, broker %s as %s, topic %s, relay %s, %zu services (",
		       cli.config_path, cfg.thing_name, cfg.broker_uri, cfg.client_id, cfg.notify_topic,
		       cfg.relay_endpoint[0] ? cfg.relay_endpoint : "from notifications",
		       cfg.n_services);
		for (size_t i = 0; i < cfg.n_services; i++)
			printf("%s%s=%s", i ? ", " : "", cfg.services[i].name, cfg.services[i].target);
		printf("), maxTunnels %d, localproxy %s\n", cfg.max_tunnels, cfg.localproxy);
		return 0;
	}
	log_init("tunnel-agent", cfg.log_level);
	for (size_t i = 0; i < warn.n; i++)
		log_warn("%s", warn.line[i]);
	return agent_run(cli.config_path, &cfg);
}
