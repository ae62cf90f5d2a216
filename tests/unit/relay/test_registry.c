/* Unit tests for relay/registry.c: adding tunnels, token look-up and the
 * JSON registry file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relay/registry.h"

#define SRC1 "source-token-one-0123456789abcdef"
#define DST1 "destination-token-one-0123456789"
#define SRC2 "source-token-two-0123456789abcdef"
#define DST2 "destination-token-two-0123456789"

static char tmpdir[64];

static int group_setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s", "/tmp/test_registry.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	return rmdir(tmpdir);
}

static int add1(struct registry *r, const char *id, const char *svc, const char *src,
		const char *dst, char *err, size_t cap)
{
	const char *services[] = { svc };
	return registry_add(r, id, services, 1, src, dst, err, cap);
}

static void assert_no_token(const char *err)
{
	assert_null(strstr(err, SRC1));
	assert_null(strstr(err, DST1));
	assert_null(strstr(err, SRC2));
	assert_null(strstr(err, DST2));
}

/* ---- registry_add / look-ups ---------------------------------------------- */

static void test_add_and_find(void **state)
{
	struct registry r;
	char err[256] = "";
	registry_init(&r);
	const char *services[] = { "SSH", "HTTP:8080", "rdp_1-x" };
	assert_int_equal(registry_add(&r, "tunnel-1", services, 3, SRC1, DST1, err, sizeof(err)), 0);
	assert_int_equal(add1(&r, "t_2", "SSH", SRC2, DST2, err, sizeof(err)), 0);
	assert_int_equal(r.n, 2);

	struct registry_tunnel *t = registry_find_id(&r, "tunnel-1");
	assert_non_null(t);
	assert_int_equal(t->n_services, 3);
	assert_string_equal(t->services[1], "HTTP:8080");
	assert_false(t->side[SIDE_SOURCE].used);
	assert_false(t->side[SIDE_DESTINATION].has_client_token);
	assert_null(registry_find_id(&r, "tunnel"));
	assert_null(registry_find_id(&r, NULL));

	enum tunnel_side side = SIDE_SOURCE;
	assert_ptr_equal(registry_find_token(&r, DST1, strlen(DST1), &side), t);
	assert_int_equal(side, SIDE_DESTINATION);
	assert_ptr_equal(registry_find_token(&r, SRC1, strlen(SRC1), &side), t);
	assert_int_equal(side, SIDE_SOURCE);
	assert_ptr_equal(registry_find_token(&r, DST2, strlen(DST2), &side),
			 registry_find_id(&r, "t_2"));
	assert_int_equal(side, SIDE_DESTINATION);
	/* The length counts: a prefix or an unknown token finds nothing. */
	assert_null(registry_find_token(&r, SRC1, strlen(SRC1) - 1, &side));
	assert_null(registry_find_token(&r, "nope", 4, &side));
	assert_null(registry_find_token(&r, NULL, 0, &side));
	assert_non_null(registry_find_token(&r, SRC2, strlen(SRC2), NULL));
	registry_free(&r);
	assert_int_equal(r.n, 0);
	assert_null(r.tunnels);
}

static void test_add_many(void **state)
{
	struct registry r;
	char err[256] = "";
	char id[32], src[64], dst[64];
	registry_init(&r);
	for (int i = 0; i < 40; i++) {
		snprintf(id, sizeof(id), "t%d", i);
		snprintf(src, sizeof(src), "src-%d-padding-padding", i);
		snprintf(dst, sizeof(dst), "dst-%d-padding-padding", i);
		assert_int_equal(add1(&r, id, "SSH", src, dst, err, sizeof(err)), 0);
	}
	for (int i = 0; i < 40; i++) {
		enum tunnel_side side = SIDE_SOURCE;
		snprintf(id, sizeof(id), "t%d", i);
		snprintf(dst, sizeof(dst), "dst-%d-padding-padding", i);
		struct registry_tunnel *t = registry_find_token(&r, dst, strlen(dst), &side);
		assert_non_null(t);
		assert_string_equal(t->id, id);
		assert_int_equal(side, SIDE_DESTINATION);
	}
	registry_free(&r);
}

static void expect_add_error(struct registry *r, const char *id, const char *const *services,
			     size_t n, const char *src, const char *dst, const char *want)
{
	char err[256] = "";
	size_t before = r->n;
	assert_int_equal(registry_add(r, id, services, n, src, dst, err, sizeof(err)), -1);
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\" does not contain \"%s\"", err, want);
	assert_no_token(err);
	assert_int_equal(r->n, before);
}

static void test_add_bad_ids(void **state)
{
	struct registry r;
	const char *ssh[] = { "SSH" };
	char long_id[80];
	memset(long_id, 'a', 65);
	long_id[65] = '\0';
	registry_init(&r);
	expect_add_error(&r, "", ssh, 1, SRC1, DST1, "tunnel id must be");
	expect_add_error(&r, NULL, ssh, 1, SRC1, DST1, "tunnel id must be");
	expect_add_error(&r, long_id, ssh, 1, SRC1, DST1, "tunnel id must be");
	expect_add_error(&r, "a b", ssh, 1, SRC1, DST1, "tunnel id must be");
	expect_add_error(&r, "a:b", ssh, 1, SRC1, DST1, "tunnel id must be");
	long_id[64] = '\0'; /* 64 characters is the maximum */
	char err[256];
	assert_int_equal(registry_add(&r, long_id, ssh, 1, SRC1, DST1, err, sizeof(err)), 0);
	expect_add_error(&r, long_id, ssh, 1, SRC2, DST2, "defined twice");
	registry_free(&r);
}

static void test_add_bad_services(void **state)
{
	struct registry r;
	const char *four[] = { "A", "B", "C", "D" };
	const char *dup[] = { "SSH", "HTTP", "SSH" };
	const char *bad[] = { "SSH", "no spaces" };
	const char *empty[] = { "" };
	const char *null[] = { NULL };
	registry_init(&r);
	expect_add_error(&r, "t", four, 0, SRC1, DST1, "needs 1 to 3 services");
	expect_add_error(&r, "t", four, 4, SRC1, DST1, "needs 1 to 3 services");
	expect_add_error(&r, "t", dup, 3, SRC1, DST1, "'SSH' is listed twice");
	expect_add_error(&r, "t", bad, 2, SRC1, DST1, "service 1 must match");
	expect_add_error(&r, "t", empty, 1, SRC1, DST1, "service 0 must match");
	expect_add_error(&r, "t", null, 1, SRC1, DST1, "service 0 must match");
	registry_free(&r);
}

static void test_add_bad_tokens(void **state)
{
	struct registry r;
	const char *ssh[] = { "SSH" };
	char huge[4100];
	memset(huge, 'x', 4097);
	huge[4097] = '\0';
	registry_init(&r);
	expect_add_error(&r, "t", ssh, 1, "", DST1, "source access token must be");
	expect_add_error(&r, "t", ssh, 1, NULL, DST1, "source access token must be");
	expect_add_error(&r, "t", ssh, 1, SRC1, "has space", "destination access token must be");
	expect_add_error(&r, "t", ssh, 1, SRC1, "tab\tinside", "destination access token must be");
	expect_add_error(&r, "t", ssh, 1, huge, DST1, "source access token must be");
	expect_add_error(&r, "t", ssh, 1, SRC1, SRC1, "must differ");
	registry_free(&r);
}

static void test_add_shared_token(void **state)
{
	struct registry r;
	const char *ssh[] = { "SSH" };
	char err[256];
	registry_init(&r);
	assert_int_equal(add1(&r, "t1", "SSH", SRC1, DST1, err, sizeof(err)), 0);
	expect_add_error(&r, "t2", ssh, 1, SRC1, DST2, "source access token is already used");
	expect_add_error(&r, "t2", ssh, 1, DST1, DST2, "source access token is already used");
	expect_add_error(&r, "t2", ssh, 1, SRC2, DST1, "destination access token is already used");
	expect_add_error(&r, "t2", ssh, 1, SRC2, SRC1, "destination access token is already used");
	assert_int_equal(add1(&r, "t2", "SSH", SRC2, DST2, err, sizeof(err)), 0);
	registry_free(&r);
}

/* ---- the indexes: rotate, remove, many tunnels, colliding bits ------------ */

static void hash_of(const char *token, uint8_t out[TOKEN_HASH_LEN])
{
	assert_int_equal(token_hash(token, strlen(token), out), 0);
}

static void test_rotate_moves_lookup(void **state)
{
	struct registry r;
	char err[256] = "";
	registry_init(&r);
	assert_int_equal(add1(&r, "t1", "SSH", SRC1, DST1, err, sizeof(err)), 0);
	assert_int_equal(add1(&r, "t2", "SSH", SRC2, DST2, err, sizeof(err)), 0);
	struct registry_tunnel *t1 = registry_find_id(&r, "t1");
	uint8_t h[TOKEN_HASH_LEN];
	hash_of("a-fresh-source-token-for-t1", h);
	assert_int_equal(registry_set_token_hash(&r, t1, SIDE_SOURCE, h), 0);
	enum tunnel_side side = SIDE_DESTINATION;
	assert_null(registry_find_token(&r, SRC1, strlen(SRC1), &side));
	assert_ptr_equal(registry_find_token(&r, "a-fresh-source-token-for-t1", 27, &side), t1);
	assert_int_equal(side, SIDE_SOURCE);
	assert_true(registry_hash_in_use(&r, h));
	hash_of(SRC1, h);
	assert_false(registry_hash_in_use(&r, h));
	/* The other side and the other tunnel are untouched. */
	assert_ptr_equal(registry_find_token(&r, DST1, strlen(DST1), &side), t1);
	assert_int_equal(side, SIDE_DESTINATION);
	assert_non_null(registry_find_token(&r, SRC2, strlen(SRC2), NULL));
	/* The old token is free for a new tunnel again. */
	assert_int_equal(add1(&r, "t3", "SSH", SRC1, "another-destination-token", err,
			      sizeof(err)), 0);
	registry_free(&r);
}

static void test_set_hash_before_insert(void **state)
{
	struct registry r;
	registry_init(&r);
	struct registry_tunnel *t = calloc(1, sizeof(*t));
	assert_non_null(t);
	strcpy(t->id, "new");
	uint8_t h[2][TOKEN_HASH_LEN];
	hash_of(SRC1, h[0]);
	hash_of(DST1, h[1]);
	assert_int_equal(registry_set_token_hash(&r, t, SIDE_SOURCE, h[0]), 0);
	assert_int_equal(registry_set_token_hash(&r, t, SIDE_DESTINATION, h[1]), 0);
	assert_false(registry_hash_in_use(&r, h[0])); /* not inserted yet */
	char err[256];
	assert_int_equal(registry_insert(&r, t, err, sizeof(err)), 0);
	assert_ptr_equal(registry_find_token(&r, DST1, strlen(DST1), NULL), t);
	registry_free(&r);
}

static void test_remove_keeps_others(void **state)
{
	struct registry r;
	char err[256] = "";
	registry_init(&r);
	assert_int_equal(add1(&r, "t1", "SSH", SRC1, DST1, err, sizeof(err)), 0);
	assert_int_equal(add1(&r, "t2", "SSH", SRC2, DST2, err, sizeof(err)), 0);
	assert_int_equal(add1(&r, "t3", "SSH", "src-three-xx", "dst-three-xx", err, sizeof(err)), 0);
	registry_remove(&r, registry_find_id(&r, "t2"));
	assert_int_equal(r.n, 2);
	assert_string_equal(r.tunnels[0]->id, "t1"); /* order kept */
	assert_string_equal(r.tunnels[1]->id, "t3");
	assert_null(registry_find_id(&r, "t2"));
	assert_null(registry_find_token(&r, SRC2, strlen(SRC2), NULL));
	assert_null(registry_find_token(&r, DST2, strlen(DST2), NULL));
	assert_ptr_equal(registry_find_token(&r, "dst-three-xx", 12, NULL), r.tunnels[1]);
	assert_ptr_equal(registry_find_id(&r, "t1"), r.tunnels[0]);
	/* Its id and tokens can be used again. */
	assert_int_equal(add1(&r, "t2", "SSH", SRC2, DST2, err, sizeof(err)), 0);
	registry_free(&r);
}

/* Thousands of tunnels, every third one removed: all look-ups still right
 * (exercises growth and the backward shift of removal). */
static void test_many_with_removals(void **state)
{
	enum { N = 3000 };
	struct registry r;
	char err[256] = "", id[32], src[64], dst[64];
	registry_init(&r);
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "t%d", i);
		snprintf(src, sizeof(src), "src-%d-padding", i);
		snprintf(dst, sizeof(dst), "dst-%d-padding", i);
		assert_int_equal(add1(&r, id, "SSH", src, dst, err, sizeof(err)), 0);
	}
	for (int i = 0; i < N; i += 3) {
		snprintf(id, sizeof(id), "t%d", i);
		registry_remove(&r, registry_find_id(&r, id));
	}
	assert_int_equal(r.n, N - (N + 2) / 3);
	assert_int_equal(r.by_token.n, 2 * r.n);
	assert_int_equal(r.by_id.n, r.n);
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "t%d", i);
		snprintf(src, sizeof(src), "src-%d-padding", i);
		struct registry_tunnel *t = registry_find_token(&r, src, strlen(src), NULL);
		if (i % 3 == 0) {
			assert_null(t);
			assert_null(registry_find_id(&r, id));
		} else {
			assert_non_null(t);
			assert_string_equal(t->id, id);
			assert_ptr_equal(registry_find_id(&r, id), t);
		}
	}
	registry_free(&r);
}

/* A tunnel whose hashes are given outright: tests choose the index bits. */
static struct registry_tunnel *tunnel_with_hashes(const char *id, uint8_t fill_src,
						  uint8_t fill_dst)
{
	struct registry_tunnel *t = calloc(1, sizeof(*t));
	assert_non_null(t);
	strcpy(t->id, id);
	memset(t->side[0].token_hash, 0xAB, TOKEN_HASH_LEN); /* same first 8 bytes... */
	memset(t->side[1].token_hash, 0xAB, TOKEN_HASH_LEN);
	t->side[0].token_hash[TOKEN_HASH_LEN - 1] = fill_src; /* ...differ at the end */
	t->side[1].token_hash[TOKEN_HASH_LEN - 1] = fill_dst;
	return t;
}

static void test_colliding_index_bits(void **state)
{
	struct registry r;
	char err[256];
	registry_init(&r);
	for (int i = 0; i < 20; i++) {
		char id[16];
		snprintf(id, sizeof(id), "c%d", i);
		assert_int_equal(registry_insert(&r, tunnel_with_hashes(id, (uint8_t)(2 * i),
									(uint8_t)(2 * i + 1)),
						 err, sizeof(err)), 0);
	}
	/* A repeated full hash is refused even among 40 colliding entries. */
	struct registry_tunnel *dup = tunnel_with_hashes("dup", 200, 7);
	assert_int_equal(registry_insert(&r, dup, err, sizeof(err)), -1);
	free(dup);
	uint8_t h[TOKEN_HASH_LEN];
	memset(h, 0xAB, sizeof(h));
	for (int i = 0; i < 40; i++) {
		h[TOKEN_HASH_LEN - 1] = (uint8_t)i;
		assert_true(registry_hash_in_use(&r, h));
	}
	h[TOKEN_HASH_LEN - 1] = 41;
	assert_false(registry_hash_in_use(&r, h));
	/* Remove one in the middle of the run; the rest stay found. */
	registry_remove(&r, registry_find_id(&r, "c7"));
	for (int i = 0; i < 40; i++) {
		h[TOKEN_HASH_LEN - 1] = (uint8_t)i;
		assert_int_equal(registry_hash_in_use(&r, h), i / 2 != 7);
	}
	/* Rotate a colliding side to a colliding new hash. */
	h[TOKEN_HASH_LEN - 1] = 99;
	struct registry_tunnel *c3 = registry_find_id(&r, "c3");
	assert_int_equal(registry_set_token_hash(&r, c3, SIDE_DESTINATION, h), 0);
	assert_true(registry_hash_in_use(&r, h));
	h[TOKEN_HASH_LEN - 1] = 7; /* c3's old destination hash */
	assert_false(registry_hash_in_use(&r, h));
	h[TOKEN_HASH_LEN - 1] = 6;
	assert_true(registry_hash_in_use(&r, h));
	registry_free(&r);
}

static void test_side_name(void **state)
{
	assert_string_equal(tunnel_side_name(SIDE_SOURCE), "source");
	assert_string_equal(tunnel_side_name(SIDE_DESTINATION), "destination");
}

/* ---- registry_load_file ---------------------------------------------------- */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

/* Loads text from a temporary file; returns the result, the error in err. */
static int load_text(struct registry *r, const char *text, char *path, size_t path_cap,
		     char *err, size_t err_cap)
{
	snprintf(path, path_cap, "%s/tunnels.json", tmpdir);
	write_file(path, text);
	err[0] = '\0';
	int rc = registry_load_file(r, path, err, err_cap);
	assert_int_equal(unlink(path), 0);
	return rc;
}

static void test_load_good(void **state)
{
	static const char text[] =
		"{\"tunnels\":[\n"
		" {\"id\":\"nanopi-1\",\"services\":[\"SSH\"],\"sourceAccessToken\":\"" SRC1 "\","
		"  \"destinationAccessToken\":\"" DST1 "\",\"comment\":\"ignored\"},\n"
		" {\"id\":\"nanopi-2\",\"services\":[\"SSH\",\"HTTP\"],"
		"  \"sourceAccessToken\":\"" SRC2 "\",\"destinationAccessToken\":\"" DST2 "\"}\n"
		"], \"version\": 1}\n";
	struct registry r;
	char path[128], err[512];
	registry_init(&r);
	assert_int_equal(load_text(&r, text, path, sizeof(path), err, sizeof(err)), 2);
	struct registry_tunnel *t = registry_find_id(&r, "nanopi-2");
	assert_non_null(t);
	assert_int_equal(t->n_services, 2);
	assert_string_equal(t->services[0], "SSH");
	assert_string_equal(t->services[1], "HTTP");
	enum tunnel_side side = SIDE_DESTINATION;
	assert_ptr_equal(registry_find_token(&r, SRC2, strlen(SRC2), &side), t);
	assert_int_equal(side, SIDE_SOURCE);
	assert_non_null(registry_find_token(&r, DST1, strlen(DST1), &side));
	registry_free(&r);
}

static void test_load_empty_list(void **state)
{
	struct registry r;
	char path[128], err[512];
	registry_init(&r);
	assert_int_equal(load_text(&r, "{\"tunnels\":[]}", path, sizeof(path), err, sizeof(err)), 0);
	assert_int_equal(r.n, 0);
	registry_free(&r);
}

static void expect_load_error(const char *text, const char *want)
{
	struct registry r;
	char path[128], err[512];
	registry_init(&r);
	assert_int_equal(load_text(&r, text, path, sizeof(path), err, sizeof(err)), -1);
	if (strstr(err, path) == NULL || strstr(err, want) == NULL)
		fail_msg("error \"%s\" does not name the file and \"%s\"", err, want);
	assert_no_token(err);
	assert_int_equal(r.n, 0);
	registry_free(&r);
}

#define ENTRY(id, svc, src, dst) \
	"{\"id\":" id ",\"services\":" svc ",\"sourceAccessToken\":" src \
	",\"destinationAccessToken\":" dst "}"
#define GOOD1 ENTRY("\"a\"", "[\"SSH\"]", "\"" SRC1 "\"", "\"" DST1 "\"")

static void test_load_bad_json(void **state)
{
	expect_load_error("{\"tunnels\":[", "not valid JSON");
	expect_load_error("", "not valid JSON");
	expect_load_error("[]", "\"tunnels\" array");
	expect_load_error("{\"tunnels\":{}}", "\"tunnels\" array");
	expect_load_error("{\"tunnel\":[]}", "\"tunnels\" array");
	expect_load_error("{\"tunnels\":[" GOOD1 ",42]}", "tunnels[1]: must be an object");
}

static void test_load_bad_fields(void **state)
{
	expect_load_error("{\"tunnels\":[" GOOD1 ",{\"services\":[\"SSH\"]}]}",
			  "tunnels[1].id: missing");
	expect_load_error("{\"tunnels\":[" ENTRY("7", "[\"SSH\"]", "\"" SRC1 "\"", "\"" DST1 "\"")
			  "]}", "tunnels[0].id: missing or not a string");
	expect_load_error("{\"tunnels\":[" ENTRY("\"a\"", "[\"SSH\"]", "null", "\"" DST1 "\"")
			  "]}", "tunnels[0].sourceAccessToken");
	expect_load_error("{\"tunnels\":[" ENTRY("\"a\"", "[\"SSH\"]", "\"" SRC1 "\"", "[]")
			  "]}", "tunnels[0].destinationAccessToken");
	expect_load_error("{\"tunnels\":[" ENTRY("\"a\"", "\"SSH\"", "\"" SRC1 "\"", "\"" DST1 "\"")
			  "]}", "tunnels[0].services: must be an array");
	expect_load_error("{\"tunnels\":[" ENTRY("\"a\"", "[]", "\"" SRC1 "\"", "\"" DST1 "\"")
			  "]}", "tunnels[0].services: must be an array");
	expect_load_error("{\"tunnels\":[" ENTRY("\"a\"", "[\"A\",\"B\",\"C\",\"D\"]",
						  "\"" SRC1 "\"", "\"" DST1 "\"")
			  "]}", "tunnels[0].services: must be an array of 1 to 3");
	expect_load_error("{\"tunnels\":[" ENTRY("\"a\"", "[\"SSH\",1]", "\"" SRC1 "\"",
						  "\"" DST1 "\"")
			  "]}", "tunnels[0].services[1]: must be a string");
	expect_load_error("{\"tunnels\":[" ENTRY("\"a\"", "[\"S S\"]", "\"" SRC1 "\"",
						  "\"" DST1 "\"")
			  "]}", "tunnels[0]: tunnel 'a': service 0 must match");
	expect_load_error("{\"tunnels\":[" ENTRY("\"a\"", "[\"SSH\"]", "\"bad token\"",
						  "\"" DST1 "\"")
			  "]}", "tunnels[0]: tunnel 'a': source access token must be");
}

static void test_load_duplicates(void **state)
{
	/* All or nothing: the good first entry is not kept either. */
	expect_load_error("{\"tunnels\":[" GOOD1 ","
			  ENTRY("\"a\"", "[\"SSH\"]", "\"" SRC2 "\"", "\"" DST2 "\"") "]}",
			  "tunnels[1]: tunnel 'a' is defined twice");
	expect_load_error("{\"tunnels\":[" GOOD1 ","
			  ENTRY("\"b\"", "[\"SSH\"]", "\"" SRC2 "\"", "\"" SRC1 "\"") "]}",
			  "tunnels[1]: tunnel 'b': destination access token is already used");
	expect_load_error("{\"tunnels\":["
			  ENTRY("\"a\"", "[\"SSH\"]", "\"" SRC1 "\"", "\"" SRC1 "\"") "]}",
			  "tunnels[0]: tunnel 'a': source and destination access tokens must differ");
}

static void test_load_keeps_existing_on_error(void **state)
{
	struct registry r;
	char path[128], err[512];
	registry_init(&r);
	assert_int_equal(add1(&r, "old", "SSH", SRC2, DST2, err, sizeof(err)), 0);
	assert_int_equal(load_text(&r,
				   "{\"tunnels\":[" GOOD1 ","
				   ENTRY("\"c\"", "[\"SSH\"]", "\"" DST2 "\"", "\"x-y-z\"") "]}",
				   path, sizeof(path), err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "tunnels[1]"));
	assert_int_equal(r.n, 1);
	assert_null(registry_find_id(&r, "a"));
	assert_null(registry_find_token(&r, SRC1, strlen(SRC1), NULL));
	assert_non_null(registry_find_id(&r, "old"));
	/* Loading into a non-empty registry appends. */
	assert_int_equal(load_text(&r, "{\"tunnels\":[" GOOD1 "]}", path, sizeof(path), err,
				   sizeof(err)),
			 1);
	assert_int_equal(r.n, 2);
	registry_free(&r);
}

static void test_load_missing_file(void **state)
{
	struct registry r;
	char path[128], err[512] = "";
	registry_init(&r);
	snprintf(path, sizeof(path), "%s/does-not-exist.json", tmpdir);
	assert_int_equal(registry_load_file(&r, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "cannot open"));
	/* A directory opens but cannot be read. */
	assert_int_equal(registry_load_file(&r, tmpdir, err, sizeof(err)), -1);
	assert_non_null(strstr(err, tmpdir));
	assert_int_equal(r.n, 0);
	registry_free(&r);
}

static void test_load_too_big(void **state)
{
	/* Valid JSON just over 64 MiB: refused for its size, not parsed. */
	size_t size = REGISTRY_FILE_MAX + 1;
	char *text = malloc(size + 1);
	assert_non_null(text);
	static const char head[] = "{\"tunnels\":[],\"pad\":\"";
	memcpy(text, head, sizeof(head) - 1);
	memset(text + sizeof(head) - 1, 'x', size - (sizeof(head) - 1) - 2);
	memcpy(text + size - 2, "\"}", 3);
	assert_int_equal(strlen(text), size);
	expect_load_error(text, "larger than 64 MiB (67108864 bytes)");
	/* Exactly 64 MiB is fine. */
	struct registry r;
	char path[128], err[512];
	registry_init(&r);
	memmove(text + size - 3, "\"}", 3);
	assert_int_equal(strlen(text), size - 1);
	assert_int_equal(load_text(&r, text, path, sizeof(path), err, sizeof(err)), 0);
	registry_free(&r);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_and_find),
		cmocka_unit_test(test_add_many),
		cmocka_unit_test(test_add_bad_ids),
		cmocka_unit_test(test_add_bad_services),
		cmocka_unit_test(test_add_bad_tokens),
		cmocka_unit_test(test_add_shared_token),
		cmocka_unit_test(test_side_name),
		cmocka_unit_test(test_rotate_moves_lookup),
		cmocka_unit_test(test_set_hash_before_insert),
		cmocka_unit_test(test_remove_keeps_others),
		cmocka_unit_test(test_many_with_removals),
		cmocka_unit_test(test_colliding_index_bits),
		cmocka_unit_test(test_load_good),
		cmocka_unit_test(test_load_empty_list),
		cmocka_unit_test(test_load_bad_json),
		cmocka_unit_test(test_load_bad_fields),
		cmocka_unit_test(test_load_duplicates),
		cmocka_unit_test(test_load_keeps_existing_on_error),
		cmocka_unit_test(test_load_missing_file),
		cmocka_unit_test(test_load_too_big),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
