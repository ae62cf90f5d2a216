/* What --db names: a SQLite file or a PostgreSQL URI, and how to write a
 * URI into a log without its password. Pure: no I/O. */
#ifndef RELAY_STORE_URI_H
#define RELAY_STORE_URI_H

#include <stdbool.h>
#include <stddef.h>

/* True when db is a postgresql:// or postgres:// URI (libpq's forms);
 * anything else is a SQLite file path. */
bool store_uri_is_postgres(const char *db);

/* Copies uri into out (cap bytes, always terminated, cut if longer) with
 * every password replaced by "***": the one after "user:" before '@', and
 * any "password=" query parameter. */
void store_uri_mask(const char *uri, char *out, size_t cap);

#endif
