/* The -s / -d service mappings: parsing, and matching them against the
 * services the relay announces in SERVICE_IDS. Pure. */
#ifndef PROXY_MAPPING_H
#define PROXY_MAPPING_H

#include <stdbool.h>
#include <stddef.h>

#include "common/hostport.h"
#include "proto/wire.h"

#define MAPPING_MAX_UNIX_PATH 108

struct mapping_entry {
	char service[TUNNEL_MAX_SERVICE_ID + 1]; /* "" = the tunnel's only service */
	int listen_port;                         /* source */
	struct hostport target;                  /* destination TCP */
	char unix_path[MAPPING_MAX_UNIX_PATH];   /* destination Unix socket; "" = TCP */
};

struct mapping {
	struct mapping_entry entry[TUNNEL_MAX_SERVICES];
	size_t n;
};

/* "2222" or "SSH=2222,HTTP=8080". Returns 0, or -1 with a reason. */
int mapping_parse_source(const char *text, struct mapping *m, char *err, size_t err_cap);
/* "22", "host:22", "/run/app.sock", "SSH=22,HTTP=10.0.0.1:80". A bare port
 * means 127.0.0.1. Returns 0, or -1 with a reason. */
int mapping_parse_destination(const char *text, struct mapping *m, char *err, size_t err_cap);

/* For each announced service i, sets entry_of[i] to the index of its
 * mapping entry. An unnamed entry serves a tunnel with exactly one service.
 * Returns 0, or -1 with a reason when a service has no mapping. */
int mapping_resolve(const struct mapping *m, const char *const *services, size_t n_services,
		    size_t *entry_of, char *err, size_t err_cap);

#endif
