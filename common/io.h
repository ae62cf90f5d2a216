/* Small helpers for non-blocking socket I/O. */
#ifndef COMMON_IO_H
#define COMMON_IO_H

#include <errno.h>
#include <stdbool.h>

/* True when a failed non-blocking send/recv should simply be retried once
 * the socket is ready again (errno EAGAIN, EWOULDBLOCK or EINTR). */
static inline bool io_try_again(int err)
{
	return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

#endif
