/* The process's descriptor limit (RLIMIT_NOFILE), raised at start-up. */
#ifndef RELAY_FD_LIMIT_H
#define RELAY_FD_LIMIT_H

#include <stddef.h>

/* Descriptors kept out of lws's reach for the database (file, WAL, shm),
 * the MQTT client, the event loop's own (epoll, signal and wake-up pipes),
 * files opened at run time and the one accept() needs to refuse a
 * connection: the server closes new connections this far below the
 * limit, so accept() never fails with EMFILE (which left the listening
 * socket readable and the relay spinning). */
#define FD_HEADROOM 32
/* Below this the relay cannot serve even a few tunnels: refuse to start. */
#define FD_LIMIT_MIN (FD_HEADROOM + 16)

/* Raises the soft limit to the hard one (a relay serves one descriptor
 * per connection; the soft default of 1024 is ~500 tunnels), logs both,
 * and returns the soft limit now in force, or 0 if it cannot be read. */
size_t fd_limit_raise(void);

#endif
