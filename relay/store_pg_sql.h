/* The PostgreSQL store's statements and how a tunnel becomes their
 * parameters. Pure: text only, no connection (relay/store_pg.c runs them).
 * Every parameter travels as text; token hashes as hex, decoded by the
 * statement. */
#ifndef RELAY_STORE_PG_SQL_H
#define RELAY_STORE_PG_SQL_H

#include "relay/registry.h"

/* The schema version this relay writes (the SQLite backend's too). */
#define PG_SCHEMA_VERSION 4

/* The advisory lock the start-up transaction takes: any number, the same
 * on every node, so that nodes starting at once queue on it and only the
 * first creates the schema. */
#define PG_SCHEMA_LOCK "7311004215"

#define PG_COLUMNS                                                                 \
	"id, thing, description, services, lifetime_minutes, created_at, expires_at, " \
	"closed_at, source_token_hash, source_used, source_client_token, "             \
	"destination_token_hash, destination_used, destination_client_token, "         \
	"source_changed_at, destination_changed_at, tags"

#define PG_N_COLUMNS 17

/* Token hashes travel as hex text, so that every parameter is text. */
#define PG_INSERT                                                                 \
	"INSERT INTO tunnels (" PG_COLUMNS ") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,"    \
	"decode($9,'hex'),$10,$11,decode($12,'hex'),$13,$14,$15,$16,$17)"

#define PG_THING_COLUMNS "name, state, since, services, agent_version, boot_time, max_tunnels"

/* The steps from version N to N+1 at index N, run in order at start-up. */
extern const char *const pg_migrations[PG_SCHEMA_VERSION];
/* created when missing, outside the version history (as in SQLite) */
extern const char pg_notifications_table[];
/* the save: an upsert that never touches a row closed at another time (0 rows: another node closed it) */
extern const char pg_save_sql[];
/* the close several nodes may race on: $1 id, $2 closed_at; one row for exactly one of them */
extern const char pg_close_sql[];
/* a closed tunnel no node stored yet: this node's if the row is inserted */
extern const char pg_insert_closed_sql[];
/* $1 id */
extern const char pg_delete_sql[];
/* a kept notification, replacing the tunnel's */
extern const char pg_keep_sql[];
/* $1 tunnel id, $2 its token ("": any): only the notification sent goes */
extern const char pg_drop_sql[];
/* a thing's presence, in PG_THING_COLUMNS order */
extern const char pg_thing_sql[];
/* $1 thing, $2 fingerprint */
extern const char pg_key_set_sql[];
/* $1 thing */
extern const char pg_key_del_sql[];

/* A tunnel's row as text parameters (v), in PG_COLUMNS order; v points
 * into the struct and into the tunnel it was filled from. */
struct pg_tunnel_params {
	const char *v[PG_N_COLUMNS];
	char lifetime[16], created[24], expires[24], closed[24], used[2][2], changed[2][24];
	char hash[2][2 * TOKEN_HASH_LEN + 1];
	char *services;
};

/* Fills p from t (checked by store_tunnel_problem). Returns 0, or -1 when
 * memory runs out. Free with pg_tunnel_params_free either way. */
int pg_tunnel_params_fill(struct pg_tunnel_params *p, const struct registry_tunnel *t);
/* Frees and wipes p (it points at client tokens). */
void pg_tunnel_params_free(struct pg_tunnel_params *p);

#endif
