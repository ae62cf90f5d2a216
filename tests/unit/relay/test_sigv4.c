/* Unit tests for relay/sigv4.c and relay/aws_keys.c: AWS's published
 * Signature Version 4 examples, and the refusals (wrong secret, unknown
 * key, stale date, tampered body, malformed header). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "relay/aws_keys.h"
#include "relay/sigv4.h"

#define AKID "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
/* 2015-08-30T12:36:00Z, the time of AWS's examples */
#define EXAMPLE_NOW ((int64_t)1440938160)

struct headers {
	const char *name[8];
	const char *value[8];
	size_t n;
};

static const char *lookup(void *ctx, const char *name)
{
	const struct headers *h = ctx;
	for (size_t i = 0; i < h->n; i++)
		if (!strcmp(h->name[i], name))
			return h->value[i];
	return NULL;
}

static bool example_secret(void *ctx, const char *key_id, char *secret, size_t cap)
{
	(void)ctx;
	if (strcmp(key_id, AKID))
		return false;
	snprintf(secret, cap, "%s", SECRET);
	return true;
}

/* AWS's "get-vanilla" example of the SigV4 test suite. */
static void get_vanilla(struct headers *h, struct sigv4_request *req, const char *signature)
{
	static char auth[300];
	snprintf(auth, sizeof(auth),
		 "AWS4-HMAC-SHA256 Credential=" AKID "/20150830/us-east-1/service/aws4_request, "
		 "SignedHeaders=host;x-amz-date, Signature=%s", signature);
	*h = (struct headers){ { "host", "x-amz-date", "authorization" },
			       { "example.amazonaws.com", "20150830T123600Z", auth }, 3 };
	*req = (struct sigv4_request){ .method = "GET", .path = "/", .header = lookup, .header_ctx = h };
}

#define VANILLA_SIG "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"

static void test_get_vanilla_signature(void **state)
{
	(void)state;
	struct headers h;
	struct sigv4_request req;
	get_vanilla(&h, &req, VANILLA_SIG);
	char sig[65];
	assert_int_equal(sigv4_signature(&req, "host;x-amz-date", "20150830T123600Z",
					 "20150830/us-east-1/service/aws4_request", SECRET, sig), 0);
	assert_string_equal(sig, VANILLA_SIG);
	struct sigv4_result r;
	assert_int_equal(sigv4_verify(&req, EXAMPLE_NOW, "service", example_secret, NULL, &r), SIGV4_OK);
	assert_string_equal(r.key_id, AKID);
	assert_string_equal(r.region, "us-east-1");
}

/* The IAM ListUsers example of AWS's SigV4 documentation: a query string
 * and a content-type header with a space in it. */
static void test_iam_example_with_query(void **state)
{
	(void)state;
	struct headers h = { { "content-type", "host", "x-amz-date" },
			     { "application/x-www-form-urlencoded; charset=utf-8", "iam.amazonaws.com",
			       "20150830T123600Z" }, 3 };
	struct sigv4_request req = { .method = "GET", .path = "/",
				     .query = "Version=2010-05-08&Action=ListUsers", /* order must not matter */
				     .header = lookup, .header_ctx = &h };
	char sig[65];
	assert_int_equal(sigv4_signature(&req, "content-type;host;x-amz-date", "20150830T123600Z",
					 "20150830/us-east-1/iam/aws4_request", SECRET, sig), 0);
	assert_string_equal(sig, "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
}

static void test_refusals(void **state)
{
	(void)state;
	struct headers h;
	struct sigv4_request req;
	struct sigv4_result r;
	/* One hex digit off. */
	get_vanilla(&h, &req, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf30");
	assert_int_equal(sigv4_verify(&req, EXAMPLE_NOW, "service", example_secret, NULL, &r),
			 SIGV4_BAD_SIGNATURE);
	/* A body the signer did not see. */
	get_vanilla(&h, &req, VANILLA_SIG);
	req.body = "x";
	req.body_len = 1;
	assert_int_equal(sigv4_verify(&req, EXAMPLE_NOW, "service", example_secret, NULL, &r),
			 SIGV4_BAD_SIGNATURE);
	/* Skew: 15 minutes is fine, a second more is not, either way. */
	get_vanilla(&h, &req, VANILLA_SIG);
	assert_int_equal(sigv4_verify(&req, EXAMPLE_NOW + 900, "service", example_secret, NULL, &r), SIGV4_OK);
	assert_int_equal(sigv4_verify(&req, EXAMPLE_NOW - 900, "service", example_secret, NULL, &r), SIGV4_OK);
	assert_int_equal(sigv4_verify(&req, EXAMPLE_NOW + 901, "service", example_secret, NULL, &r),
			 SIGV4_EXPIRED);
	assert_int_equal(sigv4_verify(&req, EXAMPLE_NOW - 901, "service", example_secret, NULL, &r),
			 SIGV4_EXPIRED);
	/* Another service's signature. */
	assert_int_equal(sigv4_verify(&req, EXAMPLE_NOW, "IoTSecuredTunneling", example_secret, NULL, &r),
			 SIGV4_WRONG_SCOPE);
	/* A changed signed header. */
	h.value[0] = "example.amazonaws.com:8443";
	assert_int_equal(sigv4_verify(&req, EXAMPLE_NOW, "service", example_secret, NULL, &r),
			 SIGV4_BAD_SIGNATURE);
	/* Unknown key. */
	h.value[2] = "AWS4-HMAC-SHA256 Credential=AKIDOTHER/20150830/us-east-1/service/aws4_request, "
		     "SignedHeaders=host;x-amz-date, Signature=" VANILLA_SIG;
	assert_int_equal(sigv4_verify(&req, EXAMPLE_NOW, "service", example_secret, NULL, &r),
			 SIGV4_UNKNOWN_KEY);
	assert_string_equal(r.key_id, "AKIDOTHER");
	assert_null(strstr(r.reason, SECRET));
	/* Missing and malformed headers. */
	static const char *malformed[] = {
		"Bearer x",
		"AWS4-HMAC-SHA256 Credential=" AKID "/20150830/us-east-1/service/aws4_request",
		"AWS4-HMAC-SHA256 Credential=" AKID "/20150830/us-east-1/service/aws4_request, "
		"SignedHeaders=x-amz-date, Signature=" VANILLA_SIG, /* host not signed */
		"AWS4-HMAC-SHA256 Credential=" AKID "/20150830/us-east-1/service/aws4_request, "
		"SignedHeaders=x-amz-date;host, Signature=" VANILLA_SIG, /* not sorted */
		"AWS4-HMAC-SHA256 Credential=" AKID "/20150830/us-east-1/service/aws4_request, "
		"SignedHeaders=Host;x-amz-date, Signature=" VANILLA_SIG, /* not lower case */
		"AWS4-HMAC-SHA256 Credential=" AKID "/20150830/us-east-1/service, "
		"SignedHeaders=host;x-amz-date, Signature=" VANILLA_SIG,
		"AWS4-HMAC-SHA256 Credential=" AKID "/20150830/us-east-1/service/aws4_request, "
		"SignedHeaders=host;x-amz-date, Signature=5fa0",
		"AWS4-HMAC-SHA256 Credential=AKID\033[31m/20150830/us-east-1/service/aws4_request, "
		"SignedHeaders=host;x-amz-date, Signature=" VANILLA_SIG, /* goes into logs: letters only */
		"AWS4-HMAC-SHA256 Credential=" AKID "/20150830/US EAST/service/aws4_request, "
		"SignedHeaders=host;x-amz-date, Signature=" VANILLA_SIG,
	};
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		h.value[2] = malformed[i];
		assert_int_equal(sigv4_verify(&req, EXAMPLE_NOW, "service", example_secret, NULL, &r),
				 SIGV4_MALFORMED);
	}
	h.n = 2;
	assert_int_equal(sigv4_verify(&req, EXAMPLE_NOW, "service", example_secret, NULL, &r), SIGV4_MISSING);
}

/* A request we sign ourselves, the way botocore signs an IoT Secure
 * Tunneling call: POST / with a JSON body and X-Amz-Target. */
static void test_signed_post(void **state)
{
	(void)state;
	static const char body[] = "{\"tunnelId\":\"abc\"}";
	struct headers h = { { "content-type", "host", "x-amz-date", "x-amz-target", "authorization" },
			     { "application/x-amz-json-1.1", "127.0.0.1:8443", "20260101T000000Z",
			       "IoTSecuredTunneling.DescribeTunnel", "" }, 5 };
	struct sigv4_request req = { .method = "POST", .path = "/", .body = body, .body_len = strlen(body),
				     .header = lookup, .header_ctx = &h };
	const char *signed_headers = "content-type;host;x-amz-date;x-amz-target";
	char sig[65], auth[400];
	assert_int_equal(sigv4_signature(&req, signed_headers, "20260101T000000Z",
					 "20260101/eu-west-1/IoTSecuredTunneling/aws4_request", SECRET, sig), 0);
	snprintf(auth, sizeof(auth), "AWS4-HMAC-SHA256 Credential=%s/20260101/eu-west-1/IoTSecuredTunneling/"
		 "aws4_request, SignedHeaders=%s, Signature=%s", AKID, signed_headers, sig);
	h.value[4] = auth;
	struct sigv4_result r;
	assert_int_equal(sigv4_verify(&req, 1767225600, "IoTSecuredTunneling", example_secret, NULL, &r),
			 SIGV4_OK);
	assert_string_equal(r.region, "eu-west-1");
	h.value[3] = "IoTSecuredTunneling.CloseTunnel"; /* another operation, same signature */
	assert_int_equal(sigv4_verify(&req, 1767225600, "IoTSecuredTunneling", example_secret, NULL, &r),
			 SIGV4_BAD_SIGNATURE);
}

static void test_keys_file(void **state)
{
	(void)state;
	struct aws_keys keys;
	char err[200], secret[SIGV4_MAX_SECRET + 1];
	assert_int_equal(aws_keys_parse("# operators\n[alice]\naws_access_key_id = AKIAALICE0000000001\n"
					"aws_secret_access_key=alice-secret-0123456789/+\nregion = x\n\n"
					"[bob]\r\n aws_access_key_id=AKIABOB00000000000002\r\n"
					"aws_secret_access_key = bob-secret-0123456789\r\n",
					&keys, err, sizeof(err)), 2);
	assert_true(aws_keys_secret(&keys, "AKIABOB00000000000002", secret, sizeof(secret)));
	assert_string_equal(secret, "bob-secret-0123456789");
	assert_true(aws_keys_secret(&keys, "AKIAALICE0000000001", secret, sizeof(secret)));
	assert_string_equal(secret, "alice-secret-0123456789/+");
	assert_false(aws_keys_secret(&keys, "AKIAALICE000000000", secret, sizeof(secret)));
	aws_keys_wipe(&keys);

	static const char *bad[] = {
		"",
		"aws_access_key_id = AKIAALICE0000000001\n", /* outside a section */
		"[a]\naws_access_key_id = AKIAALICE0000000001\n", /* no secret */
		"[a]\naws_access_key_id = short\naws_secret_access_key = alice-secret-0123456789\n",
		"[a]\naws_access_key_id = AKIAALICE0000000001\naws_secret_access_key = short\n",
		/* the same id twice */
		("[a]\naws_access_key_id = AKIAALICE0000000001\naws_secret_access_key = alice-secret-0123456789\n"
		 "[b]\naws_access_key_id = AKIAALICE0000000001\naws_secret_access_key = other-secret-0123456789\n"),
		"[a]\njunk\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(aws_keys_parse(bad[i], &keys, err, sizeof(err)), -1);
		assert_null(strstr(err, "secret-0123456789"));
	}
	assert_int_equal(aws_keys_load("/nonexistent/credentials", &keys, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/credentials"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_vanilla_signature),
		cmocka_unit_test(test_iam_example_with_query),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_signed_post),
		cmocka_unit_test(test_keys_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
