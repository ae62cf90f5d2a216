/* AWS Signature Version 4 (AWS4-HMAC-SHA256 in the Authorization header):
 * checks that a request was signed with a secret the relay knows. Pure: the
 * caller supplies the request, the clock and the key lookup; the verdict
 * says which AWS error to answer. Secrets never leave this module in a
 * message. */
#ifndef RELAY_SIGV4_H
#define RELAY_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* AWS refuses a request whose X-Amz-Date is further than this from now. */
#define SIGV4_MAX_SKEW_SECONDS (15 * 60)
#define SIGV4_MAX_KEY_ID 128
#define SIGV4_MAX_SECRET 128

/* The value of a request header, by lower-case name, or NULL when absent.
 * The text may live in a scratch buffer of ctx: valid until the next call. */
typedef const char *(*sigv4_header_fn)(void *ctx, const char *name);
/* Copies the secret of key_id into secret (cap bytes); false when unknown. */
typedef bool (*sigv4_secret_fn)(void *ctx, const char *key_id, char *secret, size_t cap);

struct sigv4_request {
	const char *method;         /* "POST" */
	const char *path;           /* as sent, without the query: "/" */
	const char *query;          /* after '?', or NULL */
	const char *body;
	size_t body_len;
	sigv4_header_fn header;
	void *header_ctx;
};

enum sigv4_verdict {
	SIGV4_OK,
	SIGV4_MISSING,          /* no Authorization header */
	SIGV4_MALFORMED,        /* not AWS4-HMAC-SHA256 with Credential, SignedHeaders, Signature */
	SIGV4_WRONG_SCOPE,      /* date, service or terminator of the scope do not match */
	SIGV4_UNKNOWN_KEY,      /* the access key id is not configured */
	SIGV4_EXPIRED,          /* X-Amz-Date too far from now */
	SIGV4_BAD_SIGNATURE,    /* the signature does not match */
};

struct sigv4_result {
	char key_id[SIGV4_MAX_KEY_ID + 1];  /* the claimed access key id ("" if unparsed) */
	char region[64];
	char reason[200];                   /* for the error message; never holds a secret */
};

/* Verifies req against the secret of its key id, at Unix time now, for
 * the signing name service ("IoTSecuredTunneling"). */
enum sigv4_verdict sigv4_verify(const struct sigv4_request *req, int64_t now, const char *service,
				sigv4_secret_fn secret_of, void *keys, struct sigv4_result *out);

/* The hex signature (64 characters + NUL) of req for the given signed
 * headers ("host;x-amz-date"), date ("20150830T123600Z") and scope
 * ("20150830/us-east-1/service/aws4_request"). Returns 0, or -1 when a
 * signed header is missing or the request is too large. Used by
 * sigv4_verify and by tests to sign requests. */
int sigv4_signature(const struct sigv4_request *req, const char *signed_headers,
		    const char *amz_date, const char *scope, const char *secret, char out[65]);

#endif
