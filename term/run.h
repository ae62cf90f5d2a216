/* One terminal's life: a poll() loop over the relay's pipe (stdin/stdout)
 * and the SSH socket, moving through connect, host key, auth, shell. */
#ifndef TERM_RUN_H
#define TERM_RUN_H

#include "term/options.h"

/* Exit codes (the relay's contract). */
enum term_exit {
	TERM_EXIT_OK = 0,          /* the shell ended (or the relay closed the pipe) */
	TERM_EXIT_USAGE = 2,       /* bad options, or the relay broke the protocol */
	TERM_EXIT_HOSTKEY = 3,     /* host key changed, or not accepted */
	TERM_EXIT_AUTH = 4,        /* authentication failed */
	TERM_EXIT_CONNECTION = 5,  /* tunnel or SSH connection failed */
};

/* Runs the terminal; returns the exit code. */
int term_run(struct term_options *o);

#endif
