#include "relay/password_hash.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

int password_hash_make(const char *password, char out[PASSWORD_HASH_CAP])
{
	/* NULL random bytes: libcrypt takes them from the kernel. */
	char *setting = crypt_gensalt_ra("$y$", 0, NULL, 0);
	if (!setting)
		return -1;
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	int rc = -1;
	if (cd && crypt_rn(password, setting, cd, sizeof(*cd)) && cd->output[0] == '$' &&
	    strlen(cd->output) < PASSWORD_HASH_CAP) {
		memcpy(out, cd->output, strlen(cd->output) + 1);
		rc = 0;
	}
	free(setting);
	if (cd)
		OPENSSL_cleanse(cd, sizeof(*cd)); /* holds the password's working state */
	free(cd);
	return rc;
}

/* A hash checked against when the user does not exist, so that a wrong
 * name costs what a wrong password does. What it hashes does not matter:
 * a check against it never succeeds (password_hash_check). */
static char dummy[PASSWORD_HASH_CAP];

void password_hash_prepare(void)
{
	if (!dummy[0] && password_hash_make("no such user", dummy))
		dummy[0] = '\0';
}

bool password_hash_check(const char *password, const char *hash)
{
	bool real = hash && hash[0] == '$';
	if (!real)
		password_hash_prepare();
	const char *against = real ? hash : dummy;
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	if (!cd)
		return false;
	bool ok = false;
	if (crypt_rn(password, against, cd, sizeof(*cd)) && cd->output[0] == '$') {
		size_t a = strlen(cd->output), b = strlen(against);
		ok = real && a == b && !CRYPTO_memcmp(cd->output, against, a);
	}
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	return ok;
}
