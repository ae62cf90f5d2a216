/* The -s / -d service mappings: parsing, and matching them against the
 * services the relay announces in SERVICE_IDS. Pure. */
#ifndef PROXY_MAPPING_H
#define PROXY_MAPPING_H

#include <stdbool.h>
#include <stddef.h>

#include "common/hostport.h"
#include "proto/wire.h"

#define MAPPING_MAX_UNIX_PATH 108

/* What a local end of a service is. Each datagram of a UDP service is one
 * DATA message; each client address on the source is one connection. */
enum mapping_kind {
	MAPPING_TCP,
	MAPPING_UNIX,      /* -s unix:/path or /path; -d /path or unix:/path */
	MAPPING_UDP,       /* -s udp:PORT; -d udp:[HOST:]PORT */
	MAPPING_STDIO,     /* -s SERVICE=- (--stdio): one connection on stdin/stdout */
};

struct mapping_entry {
	char service[TUNNEL_MAX_SERVICE_ID + 1]; /* "" = the tunnel's only service */
	enum mapping_kind kind;
	int listen_port;                         /* source TCP or UDP */
	struct hostport target;                  /* destination TCP or UDP */
	char unix_path[MAPPING_MAX_UNIX_PATH];   /* MAPPING_UNIX: the socket's path */
};

struct mapping {
	struct mapping_entry entry[TUNNEL_MAX_SERVICES];
	size_t n;
};

/* "2222" or "SSH=2222,HTTP=8080"; a value may also be "udp:PORT",
 * "unix:/path" (or "/path") or "-" (stdin/stdout, at most one). Returns 0,
 * or -1 with a reason. */
int mapping_parse_source(const char *text, struct mapping *m, char *err, size_t err_cap);
/* "22", "host:22", "/run/app.sock", "SSH=22,HTTP=10.0.0.1:80"; a value may
 * also be "udp:[HOST:]PORT" or "unix:/path". A bare port means 127.0.0.1.
 * Returns 0, or -1 with a reason. */
int mapping_parse_destination(const char *text, struct mapping *m, char *err, size_t err_cap);

/* Where an entry listens or connects, for logs: "127.0.0.1:22", "udp:53",
 * "unix:/run/x.sock", "stdin/stdout". */
#define MAPPING_TEXT_MAX (HOSTPORT_MAX_HOST + MAPPING_MAX_UNIX_PATH + 16)
const char *mapping_entry_text(const struct mapping_entry *e, char *buf, size_t cap);

/* For each announced service i, sets entry_of[i] to the index of its
 * mapping entry. An unnamed entry serves a tunnel with exactly one service.
 * Returns 0, or -1 with a reason when a service has no mapping. */
int mapping_resolve(const struct mapping *m, const char *const *services, size_t n_services,
		    size_t *entry_of, char *err, size_t err_cap);

#endif
