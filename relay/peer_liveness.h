/* The relay's use of common/tcp_liveness.h on its WebSocket connections. */
#ifndef RELAY_PEER_LIVENESS_H
#define RELAY_PEER_LIVENESS_H

struct lws;

/* On a new connection: keepalive for an idle dead path, and the first
 * check on lws's per-connection timer (LWS_CALLBACK_TIMER). addr names the
 * peer in the log. */
void peer_liveness_start(struct lws *wsi, const char *addr);

/* On LWS_CALLBACK_TIMER: -1 (close the connection, logged) when its path
 * is dead, else 0 and the next check is due. */
int peer_liveness_check(struct lws *wsi, const char *addr);

#endif
