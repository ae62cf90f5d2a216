/* The PostgreSQL store backend: the SQLite backend's tables and behaviour
 * in a database several relay nodes may share. Statements run on one
 * worker thread (relay/store_worker.c) over one libpq connection, so the
 * event loop never waits for the network. When the connection drops, the
 * relay goes on: writes fail at once with STORE_UNAVAILABLE while the
 * worker reconnects in the background (1 s doubling to 30 s).
 *
 * Changes that several nodes may attempt at once are single conditional
 * statements: closing a tunnel succeeds on one node only (the others get
 * STORE_LOST_RACE), a closed tunnel is never reopened by a save, a save
 * from a stale copy (another rev) never overwrites a newer row, and a
 * side is claimed by one node. Every tunnel write notifies channel
 * "tunnel_changed" with "NODE ID"; store_watch follows the other nodes'
 * (docs/architecture.md, "Several nodes"). */
#ifndef RELAY_STORE_PG_H
#define RELAY_STORE_PG_H

#include <stddef.h>

#include "relay/store.h"

/* Connects to uri (a postgresql:// URI; the password may come from
 * ~/.pgpass or PGPASSWORD), creates or migrates the schema in one
 * transaction under an advisory lock, and starts the worker thread.
 * Returns NULL with a reason in err (the URI in it without its password). */
struct store *store_pg_open(const char *uri, char *err, size_t err_cap);

#endif
