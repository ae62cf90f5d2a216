/* Small pieces both programs need around libwebsockets. */
#ifndef COMMON_LWS_GLUE_H
#define COMMON_LWS_GLUE_H

#include <libwebsockets.h>

#include "common/bytequeue.h"

/* The size of libwebsockets' per-thread I/O buffer: how much it reads from
 * one socket per event. The 4 KiB default makes bulk transfer poll-bound. */
#define LWS_IO_BUFFER_SIZE (128u * 1024u)

/* OpenSSL options that make TLS 1.2 the minimum. */
#define TLS_MIN_1_2_OPTIONS (SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1)

/* Routes libwebsockets' own messages into our log (common/log.h) at a
 * matching level; call after log_init. */
void log_route_lws(void);

#endif
