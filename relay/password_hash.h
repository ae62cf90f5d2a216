/* Password hashes in crypt(3) form, with libcrypt (libxcrypt): yescrypt
 * ("$y$…", the library's default cost) for new ones; any method the library
 * knows for checking. Slow on purpose (tens of ms): never call these on
 * the event loop (password_worker.c runs them on its thread). */
#ifndef RELAY_PASSWORD_HASH_H
#define RELAY_PASSWORD_HASH_H

#include <stdbool.h>
#include <stddef.h>

/* The longest password taken (adduser, sign-in). */
#define PASSWORD_MAX_LEN 1000

/* Large enough for any hash libcrypt writes (CRYPT_OUTPUT_SIZE). */
#define PASSWORD_HASH_CAP 384

/* Hashes password with a fresh random salt into out. Returns 0, or -1. */
int password_hash_make(const char *password, char out[PASSWORD_HASH_CAP]);
/* True when password matches hash. A NULL or unusable hash costs the same
 * as a real check (against a dummy hash made at first use), so that a
 * wrong user name takes as long as a wrong password. */
bool password_hash_check(const char *password, const char *hash);
/* Makes the dummy hash ahead of the first check (on the thread that checks:
 * the first unknown name then costs what the others do). */
void password_hash_prepare(void);

#endif
