/* The command lines tunnelctl ssh and forward run: ssh with a ProxyCommand
 * that starts localproxy --stdio, or localproxy as a source. Pure. Neither
 * ever holds a token: localproxy reads it from its environment. */
#ifndef TUNNELCTL_SESSION_ARGV_H
#define TUNNELCTL_SESSION_ARGV_H

#include <stddef.h>

#include "tunnelctl/cli.h"

struct session_argv {
	char **v;            /* NULL-terminated; strings point into a's argv or below */
	int n;
	char *proxy_command; /* ssh: "ProxyCommand=..." */
	char *host_key_alias;
	char *source_map;    /* forward: "SERVICE=LOCAL" */
};

/* ssh [user's options] -o ProxyCommand=... -o HostKeyAlias=THING [-l USER]
 * THING [user's command]. endpoint and a->ca may be NULL (localproxy's own
 * settings then apply). 0, or -1 with err filled. */
int session_ssh_argv(const struct tctl_args *a, const char *localproxy, const char *endpoint,
		     struct session_argv *out, char *err, size_t err_cap);
/* localproxy -s SERVICE=LOCAL [-e ENDPOINT] [-c CA]. */
int session_forward_argv(const struct tctl_args *a, const char *localproxy, const char *endpoint,
			 const char *local, struct session_argv *out, char *err, size_t err_cap);
void session_argv_free(struct session_argv *s);

/* How many of args are ssh options (the rest is the remote command), and
 * whether a "--" ends them (it is then dropped). */
int session_ssh_options(char *const *args, int n, int *dashdash);

#endif
