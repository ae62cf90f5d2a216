/* tunnel-agent's event loop: ONE thread, one poll() over a signalfd
 * (SIGCHLD, SIGTERM, SIGINT, SIGHUP) and agent/mqtt.c's eventfd (Paho's
 * threads), with a timeout for the next SIGKILL due. It owns every piece of
 * agent state: the config, the supervisor, the token history. */
#ifndef AGENT_AGENT_H
#define AGENT_AGENT_H

#include "agent/config.h"

/* Runs until SIGTERM or SIGINT and every child has been reaped. cfg was
 * loaded from config_path (re-read on SIGHUP). Returns the exit status:
 * 0 after a signal, 1 on a run-time failure. */
int agent_run(const char *config_path, const struct agent_config *cfg);

#endif
