/* The PROXY protocol header (HAProxy's, versions 1 and 2) that a load
 * balancer sends before anything else on a connection it forwards, naming
 * the client it forwards for. Pure: the listener (relay/listener.h) reads
 * the bytes and asks here what they are.
 *
 * Version 1 is one text line, at most 107 bytes with its CRLF:
 * "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n", or "PROXY UNKNOWN...\r\n".
 * Version 2 is a 16-byte binary head (a 12-byte signature, version and
 * command, family and transport, the length of what follows) then the
 * addresses and optional TLVs (skipped). */
#ifndef RELAY_PROXY_HEADER_H
#define RELAY_PROXY_HEADER_H

#include <stddef.h>
#include <stdint.h>

#define PROXY_V1_MAX 107
#define PROXY_V2_HEAD 16
/* The longest header taken: what a sender may count on fitting in the
 * first segment (576 - 40 bytes, the spec's figure); HAProxy's addresses
 * and a few TLVs fit. Longer is refused. */
#define PROXY_HEADER_MAX 536
/* An address as text: an IPv6 one at its longest. */
#define PROXY_ADDRESS_MAX 46

enum proxy_verdict {
	PROXY_NEED_MORE, /* a header so far: at least .need more bytes */
	PROXY_DONE,      /* a whole header of .length bytes */
	PROXY_INVALID,   /* not a header (or a bad one): .why says how */
};

struct proxy_header {
	enum proxy_verdict verdict;
	size_t need;       /* NEED_MORE */
	size_t length;     /* DONE: bytes of the header, nothing after it */
	/* DONE: the client's address ("192.0.2.1", "2001:db8::1"; an
	 * IPv4-mapped IPv6 address as IPv4) and port; "" when the header
	 * names none (v2 LOCAL, as in HAProxy's health checks; v1 UNKNOWN;
	 * a family other than IPv4/IPv6): the socket's peer is the client. */
	char address[PROXY_ADDRESS_MAX];
	uint16_t port;
	const char *why;   /* INVALID: a static phrase for the log */
};

/* What the first len bytes of a connection are. Never reads past len;
 * the header may be followed by other bytes (ignored). */
void proxy_header_parse(const uint8_t *buf, size_t len, struct proxy_header *out);

#endif
