/* tunnel-relay --check: whether the relay, as configured, could start, and
 * what is wrong if not, without starting it. */
#ifndef RELAY_CHECK_H
#define RELAY_CHECK_H

#include "relay/relay_options.h"

/* Checks the certificate and key (readable, a pair, valid now), the
 * database's directory, the console's users file, pages and recordings
 * directory, and every other file the options name. Prints one
 * line per problem on stderr, or a summary on stdout. Returns the exit
 * status: 0 all is well, 1 something is wrong. */
int relay_check(const struct relay_options *o);

#endif
