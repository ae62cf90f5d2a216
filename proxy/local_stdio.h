/* One local connection on a pair of file descriptors (stdin and stdout
 * for ssh's ProxyCommand), on the event loop, reporting to the same
 * handler as a local socket (local_sock.h). End of input ends it. */
#ifndef PROXY_LOCAL_STDIO_H
#define PROXY_LOCAL_STDIO_H

#include "proxy/local_sock.h"

struct local_stdio;

/* Takes over in_fd and out_fd (made non-blocking). NULL on error (logged;
 * the fds are closed). */
struct local_stdio *local_stdio_open(struct ev_loop *loop, int in_fd, int out_fd,
				     const struct local_sock_handler *h);
/* As local_sock_send, local_sock_pause_read, local_sock_end and local_sock_free. */
int local_stdio_send(struct local_stdio *s, const uint8_t *data, size_t len);
void local_stdio_pause_read(struct local_stdio *s, bool pause);
void local_stdio_end(struct local_stdio *s);
void local_stdio_free(struct local_stdio *s);

#endif
