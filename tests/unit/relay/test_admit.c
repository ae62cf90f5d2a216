/* Unit tests for relay/admit.c: the WebSocket handshake decision. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "relay/admit.h"

#define SRC "source-access-token-aaaaaaaaaaaaaaaa"
#define DST "destination-access-token-bbbbbbbbbb"
#define CT1 "client-token-0123456789abcdef0123456789"
#define CT2 "client-token-0123456789abcdef012345678X" /* same length as CT1 */
#define CT3 "client-token-0123456789abcdef0123456789-longer"

static int setup(void **state)
{
	struct registry *r = malloc(sizeof(*r));
	const char *services[] = { "SSH" };
	char err[256];
	if (r == NULL)
		return -1;
	registry_init(r);
	if (registry_add(r, "tun", services, 1, SRC, DST, err, sizeof(err)) != 0 ||
	    registry_add(r, "other", services, 1, "other-src-token", "other-dst-token", err,
			 sizeof(err)) != 0) {
		registry_free(r);
		free(r);
		return -1;
	}
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	registry_free(*state);
	free(*state);
	return 0;
}

/* A request that is admitted as the source of "tun", with V3. */
static struct admit_request good_request(const char *mode, const char *token)
{
	struct admit_request req = {
		.path = "/tunnel",
		.mode = mode,
		.subprotocols = SUBPROTOCOL_V3,
		.access_token = token,
		.access_token_len = token ? strlen(token) : 0,
		.client_token = NULL,
		.client_token_len = 0,
	};
	return req;
}

static void with_client_token(struct admit_request *req, const char *ct)
{
	req->client_token = ct;
	req->client_token_len = strlen(ct);
}

static void expect_refused(struct registry *r, const struct admit_request *req, int status,
			   const char *reason)
{
	struct admit_result res = admit_decide(r, req);
	assert_int_equal(res.http_status, status);
	assert_non_null(res.reason);
	if (strstr(res.reason, reason) == NULL)
		fail_msg("reason \"%s\" does not contain \"%s\"", res.reason, reason);
	assert_false(res.reconnect);
	if (req->access_token != NULL && req->access_token_len > 0) /* no token in the text */
		assert_null(strstr(res.reason, req->access_token));
}

static struct admit_result expect_admitted(struct registry *r, const struct admit_request *req,
					   enum tunnel_side side, bool reconnect)
{
	struct admit_result res = admit_decide(r, req);
	if (res.http_status != 0)
		fail_msg("refused %d: %s", res.http_status, res.reason);
	assert_ptr_equal(res.tunnel, registry_find_id(r, "tun"));
	assert_int_equal(res.side, side);
	assert_int_equal(res.reconnect, reconnect);
	return res;
}

/* ---- the refusals, in check order ---------------------------------------- */

static void test_path(void **state)
{
	struct admit_request req = good_request("source", SRC);
	req.path = "/tunnels";
	expect_refused(*state, &req, 400, "path must be /tunnel");
	req.path = "/";
	expect_refused(*state, &req, 400, "path must be /tunnel");
	req.path = NULL;
	expect_refused(*state, &req, 400, "path must be /tunnel");
	/* The path is checked first: everything else may be wrong too. */
	struct admit_request bad = { .path = "/x" };
	expect_refused(*state, &bad, 400, "path must be /tunnel");
}

static void test_mode(void **state)
{
	struct admit_request req = good_request(NULL, SRC);
	expect_refused(*state, &req, 400, "local-proxy-mode must be source or destination");
	req.mode = "Source";
	expect_refused(*state, &req, 400, "local-proxy-mode must be source or destination");
	req.mode = "";
	expect_refused(*state, &req, 400, "local-proxy-mode must be source or destination");
	req.subprotocols = NULL; /* mode comes before subprotocol */
	req.mode = "dest";
	expect_refused(*state, &req, 400, "local-proxy-mode must be source or destination");
}

static void test_subprotocol_refused(void **state)
{
	static const char *const bad[] = {
		NULL, "", "aws.iot.securetunneling-4.0", "aws.iot.securetunneling-3.0x",
		"aws.iot.securetunneling-3", "chat, superchat", " , ,",
		"aws.iot.securetunneling-3.0;q=1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct admit_request req = good_request("source", SRC);
		req.subprotocols = bad[i];
		expect_refused(*state, &req, 400, "no supported Sec-WebSocket-Protocol");
	}
	struct admit_request req = good_request("source", NULL);
	req.subprotocols = "x"; /* before the token check */
	expect_refused(*state, &req, 400,
		       "no supported Sec-WebSocket-Protocol (want aws.iot.securetunneling-3.0, "
		       "aws.iot.securetunneling-2.0 or aws.iot.securetunneling-1.0)");
}

static void test_subprotocol_choice(void **state)
{
	static const struct {
		const char *list;
		int version;
	} cases[] = {
		{ SUBPROTOCOL_V3, 3 },
		{ SUBPROTOCOL_V2, 2 },
		{ SUBPROTOCOL_V1, 1 },
		{ SUBPROTOCOL_V1 "," SUBPROTOCOL_V3 "," SUBPROTOCOL_V2, 3 },
		{ SUBPROTOCOL_V2 ", " SUBPROTOCOL_V1, 2 },
		{ "  " SUBPROTOCOL_V1 "  ", 1 },
		{ "chat,\t" SUBPROTOCOL_V2 "\t, other", 2 },
		{ ",," SUBPROTOCOL_V1 ",", 1 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct admit_request req = good_request("source", SRC);
		req.subprotocols = cases[i].list;
		struct admit_result res = expect_admitted(*state, &req, SIDE_SOURCE, false);
		assert_int_equal(res.version, cases[i].version);
		const char *names[] = { SUBPROTOCOL_V1, SUBPROTOCOL_V2, SUBPROTOCOL_V3 };
		assert_string_equal(res.subprotocol, names[cases[i].version - 1]);
	}
}

static void test_subprotocol_version(void **state)
{
	assert_int_equal(subprotocol_version(SUBPROTOCOL_V1, strlen(SUBPROTOCOL_V1)), 1);
	assert_int_equal(subprotocol_version(SUBPROTOCOL_V2, strlen(SUBPROTOCOL_V2)), 2);
	assert_int_equal(subprotocol_version(SUBPROTOCOL_V3, strlen(SUBPROTOCOL_V3)), 3);
	/* Only len bytes count: a longer buffer with the name at its start. */
	assert_int_equal(subprotocol_version(SUBPROTOCOL_V3 ", x", strlen(SUBPROTOCOL_V3)), 3);
	assert_int_equal(subprotocol_version(SUBPROTOCOL_V3, strlen(SUBPROTOCOL_V3) - 1), 0);
	assert_int_equal(subprotocol_version("aws.iot.securetunneling-4.0", 27), 0);
	assert_int_equal(subprotocol_version("", 0), 0);
	assert_int_equal(subprotocol_version(NULL, 0), 0);
}

static void test_access_token_missing_or_malformed(void **state)
{
	struct admit_request req = good_request("source", NULL);
	expect_refused(*state, &req, 401, "missing access-token header");
	with_client_token(&req, "short"); /* the access token is checked first */
	expect_refused(*state, &req, 401, "missing access-token header");

	req = good_request("source", "has space");
	expect_refused(*state, &req, 401, "malformed access-token");
	req = good_request("source", "");
	expect_refused(*state, &req, 401, "malformed access-token");
	char *huge = malloc(4098);
	assert_non_null(huge);
	memset(huge, 'a', 4097);
	huge[4097] = '\0';
	req = good_request("source", huge);
	expect_refused(*state, &req, 401, "malformed access-token");
	free(huge);
}

static void test_client_token_malformed(void **state)
{
	static const char *const bad[] = {
		"", "0123456789012345678901234567890", /* 31 characters */
		"under_score_is_not_allowed_0123456789",
		"space is not allowed 012345678901234567",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct admit_request req = good_request("source", SRC);
		with_client_token(&req, bad[i]);
		expect_refused(*state, &req, 400,
			       "malformed client-token (want 32-128 of [A-Za-z0-9-])");
	}
	char big[130];
	memset(big, 'a', 129);
	big[129] = '\0';
	struct admit_request req = good_request("source", "unknown-token");
	with_client_token(&req, big); /* before the token look-up */
	expect_refused(*state, &req, 400, "malformed client-token");
	big[128] = '\0';
	req = good_request("source", SRC);
	with_client_token(&req, big);
	expect_admitted(*state, &req, SIDE_SOURCE, false);
}

static void test_unknown_token(void **state)
{
	struct admit_request req = good_request("source", "no-such-token");
	expect_refused(*state, &req, 401, "unknown access token");
	/* A prefix of a real token is not that token. */
	req = good_request("source", SRC);
	req.access_token_len--;
	expect_refused(*state, &req, 401, "unknown access token");
}

static void test_wrong_side(void **state)
{
	struct admit_request req = good_request("source", DST);
	expect_refused(*state, &req, 403, "access token is for the destination, not the source");
	req = good_request("destination", SRC);
	expect_refused(*state, &req, 403, "access token is for the source, not the destination");
	struct admit_result res = admit_decide(*state, &req);
	assert_ptr_equal(res.tunnel, registry_find_id(*state, "tun")); /* for the log line */
}

/* ---- admission, single use and reconnect --------------------------------- */

static void test_admit_both_sides(void **state)
{
	struct admit_request src = good_request("source", SRC);
	struct admit_request dst = good_request("destination", DST);
	dst.subprotocols = SUBPROTOCOL_V2;
	struct admit_result a = expect_admitted(*state, &src, SIDE_SOURCE, false);
	assert_null(a.reason);
	assert_int_equal(a.version, 3);
	assert_string_equal(a.subprotocol, SUBPROTOCOL_V3);
	struct admit_result b = expect_admitted(*state, &dst, SIDE_DESTINATION, false);
	assert_int_equal(b.version, 2);
	/* Deciding changes nothing: the same request is admitted again. */
	expect_admitted(*state, &src, SIDE_SOURCE, false);
	assert_false(a.tunnel->side[SIDE_SOURCE].used);

	admit_commit(&a, &src);
	admit_commit(&b, &dst);
	assert_true(a.tunnel->side[SIDE_SOURCE].used);
	assert_true(a.tunnel->side[SIDE_DESTINATION].used);
	assert_false(a.tunnel->side[SIDE_SOURCE].has_client_token);
	/* The other tunnel is untouched. */
	struct admit_request other = good_request("source", "other-src-token");
	struct admit_result c = admit_decide(*state, &other);
	assert_int_equal(c.http_status, 0);
	assert_ptr_equal(c.tunnel, registry_find_id(*state, "other"));
}

static void test_single_use_without_client_token(void **state)
{
	struct admit_request req = good_request("source", SRC);
	struct admit_result res = expect_admitted(*state, &req, SIDE_SOURCE, false);
	admit_commit(&res, &req);
	expect_refused(*state, &req, 403,
		       "access token already used (reconnect needs the same client-token)");
	/* Used without a client token: no client token can ever reuse it. */
	with_client_token(&req, CT1);
	expect_refused(*state, &req, 403, "access token already used");
	/* The destination token is still fresh. */
	struct admit_request dst = good_request("destination", DST);
	expect_admitted(*state, &dst, SIDE_DESTINATION, false);
}

static void test_reconnect_same_client_token(void **state)
{
	struct admit_request req = good_request("destination", DST);
	with_client_token(&req, CT1);
	struct admit_result res = expect_admitted(*state, &req, SIDE_DESTINATION, false);
	admit_commit(&res, &req);
	struct registry_side *side = &res.tunnel->side[SIDE_DESTINATION];
	assert_true(side->used);
	assert_true(side->has_client_token);
	assert_string_equal(side->client_token, CT1);

	/* Same token + same client token: a reconnect, as often as needed. */
	for (int i = 0; i < 3; i++) {
		struct admit_request again = good_request("destination", DST);
		char copy[] = CT1; /* equal content at another address */
		with_client_token(&again, copy);
		struct admit_result r2 = expect_admitted(*state, &again, SIDE_DESTINATION, true);
		admit_commit(&r2, &again);
		assert_string_equal(side->client_token, CT1);
	}
}

static void test_reconnect_other_client_token(void **state)
{
	struct admit_request req = good_request("source", SRC);
	with_client_token(&req, CT1);
	struct admit_result res = expect_admitted(*state, &req, SIDE_SOURCE, false);
	admit_commit(&res, &req);

	struct admit_request again = good_request("source", SRC);
	with_client_token(&again, CT2); /* same length, differs in the last character */
	expect_refused(*state, &again, 403, "access token already used");
	with_client_token(&again, CT3); /* CT1 is a prefix of it */
	expect_refused(*state, &again, 403, "access token already used");
	again.client_token = NULL;
	again.client_token_len = 0;
	expect_refused(*state, &again, 403,
		       "access token already used (reconnect needs the same client-token)");
	/* A refused decision committed by mistake changes nothing. */
	struct admit_result refused = admit_decide(*state, &again);
	admit_commit(&refused, &again);
	assert_string_equal(res.tunnel->side[SIDE_SOURCE].client_token, CT1);
	/* Still a reconnect with the first client token. */
	with_client_token(&again, CT1);
	expect_admitted(*state, &again, SIDE_SOURCE, true);
}

static void test_commit_refused_does_nothing(void **state)
{
	struct admit_request req = good_request("source", DST);
	struct admit_result res = admit_decide(*state, &req);
	assert_int_equal(res.http_status, 403);
	admit_commit(&res, &req);
	struct registry_tunnel *t = registry_find_id(*state, "tun");
	assert_false(t->side[SIDE_SOURCE].used);
	assert_false(t->side[SIDE_DESTINATION].used);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_subprotocol_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_subprotocol_choice, setup, teardown),
		cmocka_unit_test(test_subprotocol_version),
		cmocka_unit_test_setup_teardown(test_access_token_missing_or_malformed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_client_token_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_side, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admit_both_sides, setup, teardown),
		cmocka_unit_test_setup_teardown(test_single_use_without_client_token, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reconnect_same_client_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnect_other_client_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_refused_does_nothing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
