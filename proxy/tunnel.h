/* One localproxy run: the event loop, the relay's WebSocket (connecting,
 * keep-alive pings, reconnecting with back-off), the local sockets, and
 * SIGINT/SIGTERM. */
#ifndef PROXY_TUNNEL_H
#define PROXY_TUNNEL_H

#include "proxy/mapping.h"
#include "proxy/options.h"

/* Runs until the tunnel ends or a stop signal; returns the exit code. */
int tunnel_run(const struct proxy_options *opt, const struct mapping *mapping);

#endif
