/* Durable tunnel state in SQLite (one file, WAL): every tunnel with its
 * token hashes, client tokens, times and status, so a relay restart loses
 * no open tunnel. Tokens themselves are never stored. */
#ifndef RELAY_STORE_H
#define RELAY_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "relay/registry.h"

struct store;

/* Opens (creating if needed) the database at path, sets WAL mode and a busy
 * timeout, and creates or checks the schema. Returns NULL with a reason
 * naming the file in err. */
struct store *store_open(const char *path, char *err, size_t err_cap);
void store_close(struct store *s);

/* Loads every tunnel into r (open and closed; closed ones for listing).
 * Returns the number loaded, or -1 with a reason. */
int store_load(struct store *s, struct registry *r, char *err, size_t err_cap);

/* Inserts or replaces the whole row of t (all fields of struct
 * registry_tunnel except `live`); does nothing for a tunnel from a
 * --tunnels file. Returns 0, or -1 with a reason. */
int store_save(struct store *s, const struct registry_tunnel *t, char *err, size_t err_cap);

#endif
