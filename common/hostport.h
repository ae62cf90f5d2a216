/* Parsing of "host", "host:port", "[v6addr]:port" and bare "port". Pure. */
#ifndef COMMON_HOSTPORT_H
#define COMMON_HOSTPORT_H

#include <stddef.h>

#define HOSTPORT_MAX_HOST 256

struct hostport {
	char host[HOSTPORT_MAX_HOST]; /* without brackets; "" when only a port was given */
	int port;                     /* 1..65535, or default_port when absent */
};

/* Parses text into *out. default_port is used when no port is given (pass
 * 0 to make the port mandatory). Returns 0, or -1 with a reason in err. */
int hostport_parse(const char *text, int default_port, struct hostport *out,
		   char *err, size_t err_cap);
/* Parses a decimal TCP port 1..65535; -1 if it is not one. */
int port_parse(const char *text);

#endif
