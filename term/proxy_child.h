/* Runs `localproxy --stdio SERVICE` as the tunnel's source end, its
 * stdin/stdout one end of a socketpair; the other end is for libssh. The
 * token goes into that child's environment only (never argv). */
#ifndef TERM_PROXY_CHILD_H
#define TERM_PROXY_CHILD_H

#include <sys/types.h>

#include "term/options.h"

struct proxy_child {
	pid_t pid;   /* -1 when none */
	int ssh_fd;  /* our end of the socketpair, -1 when none */
};

/* Starts localproxy. Returns 0, or -1 with the reason logged. */
int proxy_child_start(struct proxy_child *c, const struct term_options *o);
/* True once the child has exited (reaped here; its status is logged). */
int proxy_child_exited(struct proxy_child *c);
/* Waits up to ms for the child to exit; true if it has. */
int proxy_child_wait(struct proxy_child *c, int ms);
/* Closes our end, asks the child to stop and reaps it (SIGKILL after 2 s). */
void proxy_child_stop(struct proxy_child *c);

#endif
