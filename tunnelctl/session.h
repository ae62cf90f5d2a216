/* tunnelctl ssh and forward: open a tunnel through the API (unless the
 * source token comes from --token-env), wait for the device to join it,
 * run ssh or localproxy as a child with the token in its environment only,
 * and close the tunnel when the child ends. */
#ifndef TUNNELCTL_SESSION_H
#define TUNNELCTL_SESSION_H

#include "tunnelctl/cli.h"

/* How long the device has to join a tunnel opened for it. */
#define SESSION_JOIN_TIMEOUT_S 60

/* Runs a->cmd (CMD_SSH or CMD_FORWARD). Returns the exit status: ssh's,
 * or 0 when forward was stopped; 1 when the API refused, 3 when it
 * could not be reached, 2 for a local error. */
int session_run(const struct tctl_args *a);

#endif
