/* What the agent runs for an accepted notification: the destination
 * localproxy's argv and environment. Pure: building them does no I/O
 * (agent/spawn.c forks and execs them).
 *
 *   LOCALPROXY -m destination -e ENDPOINT [-c CA] -d SSH=127.0.0.1:22[,...]
 *              -v LEVEL --config /dev/null
 *   environment: PATH=... and AWSIOT_TUNNEL_ACCESS_TOKEN=TOKEN, nothing else
 *
 * The token is only ever in the environment: argv is world-readable
 * (/proc/PID/cmdline, ps), /proc/PID/environ only to the same user and
 * root. "--config /dev/null" keeps a stray /etc/localproxy/config from
 * changing what the agent asked for. -d lists only the notified services. */
#ifndef AGENT_LAUNCH_H
#define AGENT_LAUNCH_H

#include <limits.h>
#include <stddef.h>

#include "agent/config.h"
#include "agent/notification.h"

#define LAUNCH_MAX_ARGV 16
#define LAUNCH_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define LAUNCH_TOKEN_VAR "AWSIOT_TUNNEL_ACCESS_TOKEN"

/* argv and envp point into the struct itself: do not copy it. */
struct launch_plan {
	char *argv[LAUNCH_MAX_ARGV];   /* NULL-terminated */
	char *envp[3];                 /* PATH, token, NULL */
	char program[PATH_MAX];
	char endpoint[AGENT_MAX_ENDPOINT + 1];
	char ca[PATH_MAX];
	char destinations[TUNNEL_MAX_SERVICES * (TUNNEL_MAX_SERVICE_ID + AGENT_MAX_TARGET + 2) + 1];
	char verbose[4];
	char env_path[sizeof(LAUNCH_PATH)];
	char *env_token;               /* heap: "AWSIOT_TUNNEL_ACCESS_TOKEN=..." */
	size_t env_token_len;
};

/* Builds the plan for n. Returns 0, or -1 with the reason in err (a
 * service that is not mapped any more, out of memory). Call
 * launch_plan_clear afterwards either way. */
int launch_plan_build(const struct agent_config *cfg, const struct notification *n,
		      struct launch_plan *p, char *err, size_t err_cap);
/* Wipes and frees the token's copy. */
void launch_plan_clear(struct launch_plan *p);

#endif
