/* OpenSSL setup for the relay connection: which CAs to trust, TLS 1.2 or
 * later, and per connection the server name (SNI), the name or address the
 * certificate must carry, and ALPN. */
#ifndef PROXY_TLS_CLIENT_H
#define PROXY_TLS_CLIENT_H

#include <openssl/ssl.h>
#include <stdbool.h>

/* ca_path: a CA file or directory; "" = the system's CAs. NULL on error
 * (logged). */
SSL_CTX *tls_client_ctx_new(const char *ca_path, bool no_verify);
/* A client SSL for host, reading and writing through bio (taken over).
 * NULL on error (logged; bio freed). */
SSL *tls_client_ssl_new(SSL_CTX *ctx, const char *host, bool no_verify, BIO *bio);
/* Why a handshake failed, in words: the certificate check's verdict when it
 * failed, else OpenSSL's reason. */
const char *tls_client_failure(const SSL *ssl, char *buf, size_t cap);

#endif
