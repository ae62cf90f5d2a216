/* Reading PEM certificates and keys to check them before a daemon needs
 * them: what is wrong comes back as one line naming the file. */
#ifndef COMMON_PEM_FILES_H
#define COMMON_PEM_FILES_H

#include <stddef.h>
#include <stdio.h>
#include <openssl/x509.h>

/* path opened for reading, or NULL with err set ("PATH: cannot read: ...");
 * a directory or other non-file is refused too. */
FILE *pem_open_regular(const char *path, char *err, size_t cap);

/* The first certificate in path, or NULL with err set (cannot read, not a
 * PEM certificate). The caller frees it with X509_free. */
X509 *pem_cert_read(const char *path, char *err, size_t cap);

/* 0 when cert is valid now; -1 with err saying it has expired or is not
 * valid yet, and from when. */
int pem_cert_valid_now(X509 *cert, char *err, size_t cap);

/* 0 when the private key in key_path is readable, unencrypted and belongs
 * to cert; -1 with err set otherwise. */
int pem_key_matches(const char *key_path, X509 *cert, char *err, size_t cap);

#endif
