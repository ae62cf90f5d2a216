/* Unit tests for relay/store_pg_sql.c: the PostgreSQL store's statements
 * agree with their parameters, and a tunnel becomes the right text. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/store_pg_sql.h"

/* The highest $N in sql, and whether each of $1..$N appears. */
static int max_placeholder(const char *sql, int *all_present)
{
	int max = 0;
	int seen[64] = { 0 };
	for (const char *p = strchr(sql, '$'); p; p = strchr(p + 1, '$')) {
		int n = atoi(p + 1);
		if (n > 0 && n < 64) {
			seen[n] = 1;
			if (n > max)
				max = n;
		}
	}
	*all_present = 1;
	for (int i = 1; i <= max; i++)
		if (!seen[i])
			*all_present = 0;
	return max;
}

static int count_columns(const char *list)
{
	int n = 1;
	for (; *list; list++)
		n += *list == ',';
	return n;
}

static void test_statements_take_their_parameters(void **state)
{
	(void)state;
	int all;
	assert_int_equal(count_columns(PG_COLUMNS), PG_N_COLUMNS);
	/* then the new rev, the expected rev, the node */
	assert_int_equal(max_placeholder(pg_save_sql, &all), PG_N_COLUMNS + 3);
	assert_true(all);
	assert_int_equal(max_placeholder(pg_insert_closed_sql, &all), PG_N_COLUMNS + 2);
	assert_true(all);
	assert_int_equal(max_placeholder(pg_close_sql, &all), 3);
	assert_true(all);
	for (int side = 0; side < 2; side++) {
		assert_int_equal(max_placeholder(pg_claim_sql[side], &all), 4);
		assert_true(all);
	}
	assert_int_equal(max_placeholder(pg_reset_node_sql, &all), 1);
	assert_int_equal(max_placeholder(pg_select_one_sql, &all), 1);
	assert_int_equal(max_placeholder(pg_find_token_sql, &all), 1);
	assert_int_equal(max_placeholder(pg_select_all_sql, &all), 0);
	/* PG_COLUMNS' order (the hashes as hex; connected last), then owner and rev */
	assert_non_null(strstr(PG_SELECT_COLUMNS, "destination_changed_at, tags, connected, owner, rev"));
	assert_int_equal(PG_COL_REV, PG_N_COLUMNS + 1);
	assert_int_equal(max_placeholder(pg_keep_sql, &all), 5);
	assert_int_equal(max_placeholder(pg_thing_sql, &all), count_columns(PG_THING_COLUMNS));
	assert_int_equal(max_placeholder(pg_key_set_sql, &all), 2);
	assert_int_equal(max_placeholder(pg_key_del_sql, &all), 1);
	assert_int_equal(max_placeholder(pg_delete_sql, &all), 2);
	assert_int_equal(max_placeholder(pg_drop_sql, &all), 2);
}

static void test_races_are_single_conditional_statements(void **state)
{
	(void)state;
	/* Closing changes a row only while it is open: one node wins. */
	assert_non_null(strstr(pg_close_sql, "UPDATE tunnels SET closed_at = $2, rev = rev + 1"));
	assert_non_null(strstr(pg_close_sql, "WHERE id = $1 AND closed_at = 0"));
	/* A save never overwrites a newer row, nor reopens or re-closes a row
	 * another node closed. */
	assert_non_null(strstr(pg_save_sql, "ON CONFLICT (id) DO UPDATE"));
	assert_non_null(strstr(pg_save_sql, "connected = EXCLUDED.connected, rev = EXCLUDED.rev WHERE tunnels.rev = $20 AND"
			       " (tunnels.closed_at = 0 OR tunnels.closed_at = EXCLUDED.closed_at)"));
	assert_non_null(strstr(pg_insert_closed_sql, "ON CONFLICT (id) DO NOTHING"));
	/* A side goes to one node: open, and unused or the same client. */
	assert_non_null(strstr(pg_claim_sql[1], "destination_used = 1, destination_client_token = $2,"
			       " owner = $3, connected = $4, rev = rev + 1 WHERE id = $1 AND closed_at = 0 AND"
			       " (destination_used = 0 OR destination_client_token IS NOT DISTINCT"
			       " FROM $2)"));
	/* A starting node clears only its own rows' flags. */
	assert_non_null(strstr(pg_reset_node_sql, "UPDATE tunnels SET connected = 0, rev = rev + 1"
			       " WHERE owner = $1 AND connected <> 0"));
	/* Every tunnel write tells the other nodes, in its transaction. */
	const char *writes[] = { pg_save_sql, pg_close_sql, pg_insert_closed_sql, pg_delete_sql,
				 pg_claim_sql[0], pg_claim_sql[1], pg_reset_node_sql };
	for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++)
		assert_non_null(strstr(writes[i], "pg_notify('" PG_CHANNEL "', $"));
	/* A kept notification goes only if it is the one sent. */
	assert_non_null(strstr(pg_drop_sql, "WHERE tunnel_id = $1 AND ($2 = '' OR token = $2)"));
}

static void test_migrations_reach_the_version(void **state)
{
	(void)state;
	for (int v = 0; v < PG_SCHEMA_VERSION; v++)
		assert_true(pg_migrations[v] != NULL && pg_migrations[v][0]);
	assert_non_null(strstr(pg_migrations[0], "CREATE TABLE tunnels"));
	assert_non_null(strstr(pg_migrations[1], "ADD COLUMN tags"));
	assert_non_null(strstr(pg_migrations[2], "CREATE TABLE things"));
	assert_non_null(strstr(pg_migrations[3], "CREATE TABLE host_keys"));
	assert_non_null(strstr(pg_migrations[4], "ADD COLUMN owner text NOT NULL DEFAULT ''"));
	assert_non_null(strstr(pg_migrations[4], "ADD COLUMN rev bigint NOT NULL DEFAULT 0"));
}

static void test_tunnel_params(void **state)
{
	(void)state;
	struct registry_tunnel t;
	memset(&t, 0, sizeof(t));
	snprintf(t.id, sizeof(t.id), "%s", "t-1");
	snprintf(t.thing, sizeof(t.thing), "%s", "nanopi");
	t.n_services = 2;
	snprintf(t.services[0], sizeof(t.services[0]), "%s", "SSH");
	snprintf(t.services[1], sizeof(t.services[1]), "%s", "HTTP:8080");
	t.lifetime_minutes = 720;
	t.created_at = 1700000000;
	t.expires_at = 1700043200;
	t.closed_at = 0;
	for (int i = 0; i < TOKEN_HASH_LEN; i++) {
		t.side[0].token_hash[i] = (uint8_t)i;
		t.side[1].token_hash[i] = (uint8_t)(0xff - i);
	}
	t.side[0].used = true;
	t.side[0].has_client_token = true;
	snprintf(t.side[0].client_token, sizeof(t.side[0].client_token), "%s",
		 "client-token-0123456789abcdef0123456789");
	t.side_changed_at[1] = 1700000005;
	t.rev = 41;
	t.connected[SIDE_DESTINATION] = true;

	struct pg_tunnel_params p;
	memset(&p, 0, sizeof(p));
	assert_int_equal(pg_tunnel_params_fill(&p, &t, "node-a"), 0);
	assert_string_equal(p.v[0], "t-1");
	assert_string_equal(p.v[3], "[\"SSH\",\"HTTP:8080\"]");
	assert_string_equal(p.v[4], "720");
	assert_string_equal(p.v[6], "1700043200");
	assert_string_equal(p.v[7], "0");
	assert_int_equal(strlen(p.v[8]), 64);
	assert_memory_equal(p.v[8], "000102030405", 12);
	assert_memory_equal(p.v[11], "fffefdfc", 8);
	assert_string_equal(p.v[9], "1");
	assert_string_equal(p.v[12], "0");
	assert_string_equal(p.v[10], "client-token-0123456789abcdef0123456789");
	assert_null(p.v[13]); /* no client token: NULL, as SQLite stores it */
	assert_string_equal(p.v[14], "0");
	assert_string_equal(p.v[15], "1700000005");
	assert_string_equal(p.v[16], "");
	assert_string_equal(p.v[17], "2"); /* connected: the destination only */
	assert_string_equal(p.v[18], "42"); /* written */
	assert_string_equal(p.v[19], "41"); /* expected */
	assert_string_equal(p.v[20], "node-a");
	for (int i = 0; i < PG_N_COLUMNS + 3; i++)
		assert_true(i == 13 || p.v[i] != NULL);
	pg_tunnel_params_free(&p);
	assert_null(p.services);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_statements_take_their_parameters),
		cmocka_unit_test(test_races_are_single_conditional_statements),
		cmocka_unit_test(test_migrations_reach_the_version),
		cmocka_unit_test(test_tunnel_params),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
