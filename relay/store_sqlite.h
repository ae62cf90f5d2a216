/* The SQLite store backend: durable tunnel state in one file (WAL, mode
 * 0600), every tunnel with its token hashes, client tokens, times and
 * status, so a relay restart loses no open tunnel. Tokens themselves are
 * never stored. Statements run on one worker thread (relay/store_worker.c),
 * so a slow disk never stalls the event loop. */
#ifndef RELAY_STORE_SQLITE_H
#define RELAY_STORE_SQLITE_H

#include <stddef.h>

#include "relay/store.h"

/* Opens (creating if needed) the database at path, sets WAL mode and a busy
 * timeout, creates or checks the schema and starts the worker thread.
 * Returns NULL with a reason naming the file in err. */
struct store *store_sqlite_open(const char *path, char *err, size_t err_cap);

#endif
