#include "relay/password_hash.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
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

static char dummy[PASSWORD_HASH_CAP];

void password_hash_prepare(void)
{
	unsigned char raw[24];
	char pw[sizeof(raw) * 2 + 1];
	if (dummy[0] || RAND_bytes(raw, sizeof(raw)) != 1)
		return;
	for (size_t i = 0; i < sizeof(raw); i++) {
		pw[2 * i] = "0123456789abcdef"[raw[i] >> 4];
		pw[2 * i + 1] = "0123456789abcdef"[raw[i] & 15];
	}
	pw[sizeof(pw) - 1] = '\0';
	if (password_hash_make(pw, dummy))
		dummy[0] = '\0';
	OPENSSL_cleanse(pw, sizeof(pw));
}

static const char *dummy_hash(void)
{
	if (!dummy[0])
		password_hash_prepare();
	/* Even without one (no randomness), a check that fails takes time. */
	return dummy[0] ? dummy : "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7";
}

bool password_hash_check(const char *password, const char *hash)
{
	bool real = hash && hash[0] == '$';
	const char *against = real ? hash : dummy_hash();
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
