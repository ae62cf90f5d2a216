/* What every store backend checks and writes the same way: whether a
 * tunnel or a thing's presence is fit to be stored (so that a row written
 * is a row that loads back), and the services columns' JSON form. Pure: no
 * database here. */
#ifndef RELAY_STORE_ROWS_H
#define RELAY_STORE_ROWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay/registry.h"
#include "relay/things.h"

/* A relay node's name (--node-id): 1..63 of [A-Za-z0-9._-]. */
#define STORE_MAX_NODE_ID 63
bool store_node_id_valid(const char *id);

/* store_claim_side's arguments, as both backends' jobs hold them. */
struct store_claim {
	char id[REGISTRY_MAX_ID + 1];
	enum tunnel_side side;
	char client_token[TUNNEL_MAX_CLIENT_TOKEN + 1]; /* "": none */
	char node[STORE_MAX_NODE_ID + 1];
	int connected;          /* store_connected_bits */
};
/* Checks store_claim_side's arguments and copies them into c. What is
 * wrong (c then unchanged), or NULL. */
const char *store_claim_take(struct store_claim *c, const char *tunnel_id, enum tunnel_side side,
			     const char *client_token, const char *node_id, int connected);

/* What is wrong with t, or NULL. */
const char *store_tunnel_problem(const struct registry_tunnel *t);
/* What is wrong with a thing's presence, or NULL. */
const char *store_thing_problem(const struct thing_presence *p);

/* The connected column: bit 0 the source, bit 1 the destination
 * (registry_tunnel.connected). */
int store_connected_bits(const struct registry_tunnel *t);
/* Sets t->connected from bits. Returns 0, or -1 when bits is not 0..3 (t
 * then unchanged). */
int store_connected_from_bits(struct registry_tunnel *t, int64_t bits);

/* Services as a malloc'd JSON array of strings, or NULL when memory runs
 * out. */
char *store_services_json(const char (*services)[TUNNEL_MAX_SERVICE_ID + 1], size_t n);
/* Parses a services column (a JSON array of min..max service ids, len
 * bytes) into out and *n_out. Returns NULL, or what is wrong. */
const char *store_parse_services(const char *text, size_t len,
				 char (*out)[TUNNEL_MAX_SERVICE_ID + 1], size_t min, size_t max,
				 size_t *n_out);

#endif
