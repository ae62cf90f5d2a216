#include "proxy/tls_client.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/text.h"
#include "proxy/ca_bundle.h"

static const char *last_openssl_error(char *buf, size_t cap)
{
	unsigned long e = ERR_get_error();
	if (!e) {
		snprintf(buf, cap, "unknown TLS error");
		return buf;
	}
	ERR_error_string_n(e, buf, cap);
	ERR_clear_error();
	return openssl_error_reason(buf);
}

static bool is_readable_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* No -c: OpenSSL's own default places (or SSL_CERT_FILE / SSL_CERT_DIR) when
 * they exist, as on the distribution that built this binary; else the first
 * bundle of another distribution's usual places (a static build elsewhere). */
static int load_system_cas(SSL_CTX *ctx)
{
	const char *file = getenv(X509_get_default_cert_file_env());
	const char *dir = getenv(X509_get_default_cert_dir_env());
	struct stat st;
	if (file || dir || is_readable_file(X509_get_default_cert_file()) ||
	    (stat(X509_get_default_cert_dir(), &st) == 0 && S_ISDIR(st.st_mode)))
		return SSL_CTX_set_default_verify_paths(ctx) == 1 ? 0 : -1;
	const char *bundle = ca_bundle_pick(ca_bundle_candidates, is_readable_file);
	if (!bundle) {
		log_fatal("found no CA certificates in %s, %s or any usual place: give the relay's CA "
			  "with -c FILE (or set SSL_CERT_FILE)", X509_get_default_cert_file(),
			  X509_get_default_cert_dir());
		return -1;
	}
	log_debug("CA certificates from %s", bundle);
	return SSL_CTX_load_verify_locations(ctx, bundle, NULL) == 1 ? 0 : -1;
}

static int load_cas(SSL_CTX *ctx, const char *ca_path)
{
	if (!ca_path[0])
		return load_system_cas(ctx);
	struct stat st;
	if (stat(ca_path, &st) != 0) {
		log_fatal("cannot read CA certificates from %s: %s", ca_path, strerror(errno));
		return -1;
	}
	int ok = S_ISDIR(st.st_mode) ? SSL_CTX_load_verify_locations(ctx, NULL, ca_path)
				     : SSL_CTX_load_verify_locations(ctx, ca_path, NULL);
	if (ok != 1) {
		char buf[256];
		log_fatal("cannot load CA certificates from %s: %s", ca_path,
			  last_openssl_error(buf, sizeof(buf)));
		return -1;
	}
	return 0;
}

SSL_CTX *tls_client_ctx_new(const char *ca_path, bool no_verify)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		log_fatal("cannot set up TLS: out of memory");
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	/* TLS 1.2 or later. */
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    (!no_verify && load_cas(ctx, ca_path))) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, no_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
	/* Writes may be partial and retried from a moved buffer: ws_client
	 * keeps its own offset into the message being sent. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
			      SSL_MODE_RELEASE_BUFFERS);
	return ctx;
}

static bool is_ip_literal(const char *host)
{
	unsigned char addr[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

SSL *tls_client_ssl_new(SSL_CTX *ctx, const char *host, bool no_verify, BIO *bio)
{
	SSL *ssl = SSL_new(ctx);
	if (!ssl) {
		BIO_free(bio);
		log_error("cannot start TLS: out of memory");
		return NULL;
	}
	SSL_set_bio(ssl, bio, bio);
	static const unsigned char alpn[] = "\x08http/1.1";
	bool ip = is_ip_literal(host);
	int ok = SSL_set_alpn_protos(ssl, alpn, sizeof(alpn) - 1) == 0; /* 0 = success here */
	if (ok && !ip) /* SNI carries names only */
		ok = SSL_set_tlsext_host_name(ssl, host) == 1;
	if (ok && !no_verify) {
		if (ip)
			ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1;
		else
			ok = SSL_set1_host(ssl, host) == 1;
	}
	if (!ok) {
		char buf[256];
		log_error("cannot set up TLS for %s: %s", host, last_openssl_error(buf, sizeof(buf)));
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_connect_state(ssl);
	return ssl;
}

const char *tls_client_failure(const SSL *ssl, char *buf, size_t cap)
{
	long verdict = SSL_get_verify_result(ssl);
	if (verdict != X509_V_OK) {
		ERR_clear_error();
		snprintf(buf, cap, "certificate verify failed: %s",
			 X509_verify_cert_error_string(verdict));
		return buf;
	}
	return last_openssl_error(buf, cap);
}
