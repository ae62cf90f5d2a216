/* The PostgreSQL store's statements and how a tunnel becomes their
 * parameters. Pure: text only, no connection (relay/store_pg.c runs them).
 * Every parameter travels as text; token hashes as hex, decoded by the
 * statement. */
#ifndef RELAY_STORE_PG_SQL_H
#define RELAY_STORE_PG_SQL_H

#include "relay/registry.h"

/* The schema version this relay writes (the SQLite backend's too). */
#define PG_SCHEMA_VERSION 5
#define PG_SCHEMA_VERSION_TEXT "5"

/* The advisory lock the start-up transaction takes: any number, the same
 * on every node, so that nodes starting at once queue on it and only the
 * first creates the schema. */
#define PG_SCHEMA_LOCK "7311004215"

#define PG_COLUMNS                                                                 \
	"id, thing, description, services, lifetime_minutes, created_at, expires_at, " \
	"closed_at, source_token_hash, source_used, source_client_token, "             \
	"destination_token_hash, destination_used, destination_client_token, "         \
	"source_changed_at, destination_changed_at, tags, connected"

#define PG_N_COLUMNS 18

/* A row as the relay reads it: PG_COLUMNS with the hashes as hex, then
 * owner (column 18) and rev (column 19). */
#define PG_SELECT_COLUMNS                                                          \
	"id, thing, description, services, lifetime_minutes, created_at, expires_at," \
	" closed_at, encode(source_token_hash, 'hex'), source_used, source_client_token," \
	" encode(destination_token_hash, 'hex'), destination_used, destination_client_token," \
	" source_changed_at, destination_changed_at, tags, connected, owner, rev"
#define PG_COL_CONNECTED 17
#define PG_COL_OWNER 18
#define PG_COL_REV 19

/* Token hashes travel as hex text, so that every parameter is text. $19:
 * the row's new rev. */
#define PG_INSERT                                                                 \
	"INSERT INTO tunnels (" PG_COLUMNS ", rev) VALUES ($1,$2,$3,$4,$5,$6,$7,$8," \
	"decode($9,'hex'),$10,$11,decode($12,'hex'),$13,$14,$15,$16,$17,$18,$19)"

/* The channel every tunnel write notifies in its transaction, with the
 * payload "NODE ID" (store_watch). */
#define PG_CHANNEL "tunnel_changed"

#define PG_THING_COLUMNS "name, state, since, services, agent_version, boot_time, max_tunnels"

/* The steps from version N to N+1 at index N, run in order at start-up. */
extern const char *const pg_migrations[PG_SCHEMA_VERSION];
/* created when missing, outside the version history (as in SQLite) */
extern const char pg_notifications_table[];
/* Every tunnel write below returns one row (the row's rev) per row it
 * changed, and notifies PG_CHANNEL with "NODE ID" for it. */
/* the save: an upsert ($19 new rev, $20 the rev it expects, $21 node) that
 * never touches a row at another rev or closed at another time (0 rows:
 * another node wrote it first) */
extern const char pg_save_sql[];
/* the close several nodes may race on, whatever the rev: $1 id, $2
 * closed_at, $3 node; one row for exactly one of them */
extern const char pg_close_sql[];
/* a closed tunnel no node stored yet ($19 rev, $20 node): this node's if
 * the row is inserted */
extern const char pg_insert_closed_sql[];
/* $1 id, $2 node */
extern const char pg_delete_sql[];
/* store_claim_side, per side: $1 id, $2 client token (NULL: none), $3 node,
 * $4 connected (store_connected_bits) */
extern const char *const pg_claim_sql[2];
/* store_reset_node: $1 node; its rows' connected flags cleared */
extern const char pg_reset_node_sql[];
/* $1 id: the row (PG_SELECT_COLUMNS) */
extern const char pg_select_one_sql[];
/* $1 a token hash as hex: the row holding it on either side */
extern const char pg_find_token_sql[];
/* every row, oldest first */
extern const char pg_select_all_sql[];
/* a kept notification, replacing the tunnel's */
extern const char pg_keep_sql[];
/* $1 tunnel id, $2 its token ("": any): only the notification sent goes */
extern const char pg_drop_sql[];
/* store_take_notification: $1 tunnel id, $2 token, $3 since seen, $4 token hash (hex), $5 now. */
extern const char pg_take_sql[];
/* a thing's presence, in PG_THING_COLUMNS order */
extern const char pg_thing_sql[];
/* $1 thing, $2 fingerprint */
extern const char pg_key_set_sql[];
/* $1 thing */
extern const char pg_key_del_sql[];

/* A tunnel's row as text parameters (v), in PG_COLUMNS order; v points
 * into the struct and into the tunnel it was filled from. */
struct pg_tunnel_params {
	const char *v[PG_N_COLUMNS + 3]; /* then pg_save_sql's $19 $20 $21 */
	char lifetime[16], created[24], expires[24], closed[24], used[2][2], changed[2][24];
	char connected[2];
	char rev_new[24], rev_expected[24];
	char hash[2][2 * TOKEN_HASH_LEN + 1];
	char *services;
};

/* Fills p from t (checked by store_tunnel_problem) for pg_save_sql: the
 * new rev t->rev + 1, the expected t->rev, node (which must outlive p).
 * Returns 0, or -1 when memory runs out. Free with pg_tunnel_params_free
 * either way. */
int pg_tunnel_params_fill(struct pg_tunnel_params *p, const struct registry_tunnel *t,
			  const char *node);
/* in[0..n) as 2n lowercase hex digits and a NUL into out. */
void pg_hex(const uint8_t *in, size_t n, char *out);
/* Makes pg_save_sql write rev and expect expected instead. */
void pg_tunnel_params_revs(struct pg_tunnel_params *p, int64_t rev, int64_t expected);
/* Frees and wipes p (it points at client tokens). */
void pg_tunnel_params_free(struct pg_tunnel_params *p);

#endif
