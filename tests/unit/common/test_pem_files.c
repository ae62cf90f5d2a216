/* Unit tests for common/pem_files.c: certificates and keys made here, in a
 * temp dir: a pair, a stranger's key, an expired and a future certificate. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/pem_files.h"

static char dir[] = "/tmp/pem-files-XXXXXX";

static EVP_PKEY *new_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	assert_non_null(k);
	return k;
}

/* A self-signed certificate valid from now+from_s to now+to_s. */
static X509 *new_cert(EVP_PKEY *k, long from_s, long to_s)
{
	X509 *x = X509_new();
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), from_s));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), to_s));
	assert_int_equal(X509_set_pubkey(x, k), 1);
	X509_NAME *n = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
						    (const unsigned char *)"relay", -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(x, n), 1);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	return x;
}

static void save(const char *name, X509 *x, EVP_PKEY *k, char *path, size_t cap)
{
	snprintf(path, cap, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	if (x)
		assert_int_equal(PEM_write_X509(f, x), 1);
	if (k)
		assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
	assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_pair_valid_now(void **state)
{
	char cert_path[128], key_path[128], other_path[128], err[512] = "";
	EVP_PKEY *k = new_key(), *other = new_key();
	X509 *x = new_cert(k, -60, 3600);
	save("c.pem", x, NULL, cert_path, sizeof(cert_path));
	save("k.pem", NULL, k, key_path, sizeof(key_path));
	save("o.pem", NULL, other, other_path, sizeof(other_path));
	X509 *read = pem_cert_read(cert_path, err, sizeof(err));
	assert_non_null(read);
	assert_int_equal(pem_cert_valid_now(read, err, sizeof(err)), 0);
	assert_int_equal(pem_key_matches(key_path, read, err, sizeof(err)), 0);
	assert_int_equal(pem_key_matches(other_path, read, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is not the key of this certificate"));
	/* A certificate is not a key, and a key is not a certificate. */
	assert_int_equal(pem_key_matches(cert_path, read, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a PEM private key"));
	assert_null(pem_cert_read(key_path, err, sizeof(err)));
	assert_non_null(strstr(err, "not a PEM certificate"));
	assert_null(pem_cert_read(dir, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot read"));
	X509_free(read);
	X509_free(x);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
}

static void test_expired_and_future(void **state)
{
	char err[512] = "";
	EVP_PKEY *k = new_key();
	X509 *old = new_cert(k, -7200, -3600), *future = new_cert(k, 3600, 7200);
	assert_int_equal(pem_cert_valid_now(old, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "expired on "));
	assert_non_null(strstr(err, "GMT"));
	assert_int_equal(pem_cert_valid_now(future, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not valid until "));
	X509_free(old);
	X509_free(future);
	EVP_PKEY_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pair_valid_now),
		cmocka_unit_test(test_expired_and_future),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
