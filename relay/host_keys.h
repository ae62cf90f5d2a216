/* The SSH host key each thing's device showed the browser terminal and an
 * operator accepted: thing name → "SHA256:…" fingerprint. Kept in memory
 * for the loop, written through to the store (table host_keys), loaded
 * from it at start-up. tunnel-term gets the fingerprint as --known-host-key
 * and refuses a device whose key differs. */
#ifndef RELAY_HOST_KEYS_H
#define RELAY_HOST_KEYS_H

#include <stddef.h>

struct store;
struct host_keys;

/* NULL store: remembered for the relay's life only. NULL when out of memory. */
struct host_keys *host_keys_new(struct store *store);
/* Reads what the store remembers (blocking: at start-up). Returns the
 * number, or -1 with err filled. */
int host_keys_load(struct host_keys *k, char *err, size_t err_cap);
/* The fingerprint remembered for thing, or NULL. */
const char *host_keys_find(const struct host_keys *k, const char *thing);
/* Remembers fp for thing (replacing any) and saves it. Returns 0, or -1
 * when out of memory (logged). */
int host_keys_remember(struct host_keys *k, const char *thing, const char *fp);
/* Forgets thing's key (and in the store). Returns 1 if one was known, else 0. */
int host_keys_forget(struct host_keys *k, const char *thing);
void host_keys_free(struct host_keys *k);

#endif
