/* Shared by the unit tests that compare registry tunnels (a stored and a
 * reloaded copy) and the store tests. Include after cmocka.h, stdio.h and
 * relay/registry.h. */
#ifndef TESTS_UNIT_TUNNEL_ASSERTS_H
#define TESTS_UNIT_TUNNEL_ASSERTS_H

/* Every persistent field of a equals b's. */
static void assert_same_tunnel(const struct registry_tunnel *a, const struct registry_tunnel *b)
{
	assert_string_equal(a->id, b->id);
	assert_string_equal(a->thing, b->thing);
	assert_string_equal(a->description, b->description);
	assert_int_equal(a->n_services, b->n_services);
	for (size_t i = 0; i < a->n_services; i++)
		assert_string_equal(a->services[i], b->services[i]);
	for (int s = 0; s < 2; s++) {
		assert_memory_equal(a->side[s].token_hash, b->side[s].token_hash, TOKEN_HASH_LEN);
		assert_int_equal(a->side[s].used, b->side[s].used);
		assert_int_equal(a->side[s].has_client_token, b->side[s].has_client_token);
		assert_string_equal(a->side[s].client_token, b->side[s].client_token);
		assert_int_equal(a->side_changed_at[s], b->side_changed_at[s]);
		assert_int_equal(a->connected[s], b->connected[s]);
	}
	assert_int_equal(a->lifetime_minutes, b->lifetime_minutes);
	assert_int_equal(a->created_at, b->created_at);
	assert_int_equal(a->expires_at, b->expires_at);
	assert_int_equal(a->closed_at, b->closed_at);
	assert_string_equal(a->tags, b->tags);
	assert_int_equal(a->rev, b->rev);
}

/* What a store_find_token callback reported (the store tests, SQLite and
 * PostgreSQL). */
struct found {
	int calls;
	bool hit;
	struct registry_tunnel row;
	char err[256];
};

static inline void on_found(void *ctx, const struct registry_tunnel *row, const char *err)
{
	struct found *f = ctx;
	f->calls++;
	f->hit = row != NULL;
	if (row)
		f->row = *row;
	snprintf(f->err, sizeof(f->err), "%s", err ? err : "");
}

#endif
