#include "common/pem_files.h"

#include <errno.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/text.h"

FILE *pem_open_regular(const char *path, char *err, size_t cap)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		errf(err, cap, "%s: cannot read: %s", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		errf(err, cap, "%s: cannot read: %s", path,
		     S_ISDIR(st.st_mode) ? strerror(EISDIR) : "not a regular file");
		fclose(f);
		return NULL;
	}
	return f;
}

X509 *pem_cert_read(const char *path, char *err, size_t cap)
{
	FILE *f = pem_open_regular(path, err, cap);
	if (!f)
		return NULL;
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	int saved = errno;
	bool read_error = ferror(f);
	fclose(f);
	ERR_clear_error();
	if (!x) {
		if (read_error)
			errf(err, cap, "%s: cannot read: %s", path, strerror(saved));
		else
			errf(err, cap, "%s: not a PEM certificate (want \"-----BEGIN CERTIFICATE-----\")",
			     path);
	}
	return x;
}

/* An ASN1 time as OpenSSL prints it ("Jan  1 00:00:00 2030 GMT"). */
static void time_text(const ASN1_TIME *t, char *out, size_t cap)
{
	textf(out, cap, "?");
	BIO *b = BIO_new(BIO_s_mem());
	if (!b)
		return;
	if (ASN1_TIME_print(b, t) == 1) {
		int n = BIO_read(b, out, (int)cap - 1);
		if (n > 0)
			out[n] = '\0';
	}
	BIO_free(b);
	ERR_clear_error();
}

int pem_cert_valid_now(X509 *cert, char *err, size_t cap)
{
	char when[64];
	if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
		time_text(X509_get0_notBefore(cert), when, sizeof(when));
		errf(err, cap, "not valid until %s (is the clock set?)", when);
		return -1;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
		time_text(X509_get0_notAfter(cert), when, sizeof(when));
		errf(err, cap, "expired on %s", when);
		return -1;
	}
	return 0;
}

/* Never prompts: an encrypted key cannot be used by a daemon. */
static int no_passphrase(char *buf, int size, int rwflag, void *encrypted)
{
	*(bool *)encrypted = true;
	return -1;
}

int pem_key_matches(const char *key_path, X509 *cert, char *err, size_t cap)
{
	FILE *f = pem_open_regular(key_path, err, cap);
	if (!f)
		return -1;
	bool encrypted = false;
	EVP_PKEY *pkey = PEM_read_PrivateKey(f, NULL, no_passphrase, &encrypted);
	fclose(f);
	ERR_clear_error();
	if (!pkey) {
		if (encrypted)
			errf(err, cap, "%s: encrypted with a passphrase, which a service cannot be "
			     "asked for (decrypt it: openssl pkey -in KEY -out KEY)", key_path);
		else
			errf(err, cap, "%s: not a PEM private key (want \"-----BEGIN PRIVATE KEY-----\")",
			     key_path);
		return -1;
	}
	int match = X509_check_private_key(cert, pkey);
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	if (match != 1) {
		errf(err, cap, "%s: is not the key of this certificate", key_path);
		return -1;
	}
	return 0;
}
