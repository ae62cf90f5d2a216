/* The PostgreSQL store's statements, and a tunnel as their parameters. */
#include "relay/store_pg_sql.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/crypto.h>

#include "relay/store_rows.h"

/* Schema history: the SQLite backend's (relay/store_sqlite.c), with
 * PostgreSQL's types, and the version in a table of its own since there
 * is no PRAGMA user_version. Each step runs once, in order, inside the
 * start-up transaction. */
const char *const pg_migrations[PG_SCHEMA_VERSION] = {
	"CREATE TABLE tunnels ("
	" id text PRIMARY KEY,"
	" thing text NOT NULL,"
	" description text NOT NULL,"
	" services text NOT NULL,"
	" lifetime_minutes integer NOT NULL,"
	" created_at bigint NOT NULL,"
	" expires_at bigint NOT NULL,"
	" closed_at bigint NOT NULL,"
	" source_token_hash bytea NOT NULL,"
	" source_used integer NOT NULL,"
	" source_client_token text,"
	" destination_token_hash bytea NOT NULL,"
	" destination_used integer NOT NULL,"
	" destination_client_token text,"
	" source_changed_at bigint NOT NULL,"
	" destination_changed_at bigint NOT NULL);"
	"CREATE INDEX tunnels_thing ON tunnels(thing);",
	"ALTER TABLE tunnels ADD COLUMN tags text NOT NULL DEFAULT '';",
	"CREATE TABLE things ("
	" name text PRIMARY KEY,"
	" state text NOT NULL,"
	" since bigint NOT NULL,"
	" services text NOT NULL,"
	" agent_version text NOT NULL,"
	" boot_time bigint NOT NULL,"
	" max_tunnels integer NOT NULL);",
	"CREATE TABLE host_keys ("
	" thing text PRIMARY KEY,"
	" fingerprint text NOT NULL,"
	" since bigint NOT NULL);",
	/* 5: several nodes (store_watch, store_claim_side, store_find_token) */
	"ALTER TABLE tunnels ADD COLUMN owner text NOT NULL DEFAULT '';"
	"ALTER TABLE tunnels ADD COLUMN rev bigint NOT NULL DEFAULT 0;"
	"ALTER TABLE tunnels ADD COLUMN connected integer NOT NULL DEFAULT 0;"
	"CREATE INDEX tunnels_source_token ON tunnels(source_token_hash);"
	"CREATE INDEX tunnels_destination_token ON tunnels(destination_token_hash);",
};

/* As in SQLite: outside the version history, created when missing. */
const char pg_notifications_table[] =
	"CREATE TABLE IF NOT EXISTS pending_notifications ("
	" tunnel_id text PRIMARY KEY,"
	" thing text NOT NULL,"
	" services text NOT NULL,"
	" token text NOT NULL,"
	" since bigint NOT NULL);";

/* A tunnel write that returns each changed row's rev and notifies the
 * other nodes in the same transaction (delivered at its commit, so a node
 * reading the row then sees the change). */
#define NOTIFYING(write, node)                                                      \
	"WITH w AS (" write " RETURNING id, rev) SELECT w.rev, pg_notify('" PG_CHANNEL \
	"', " node "::text || ' ' || w.id) FROM w"

/* The save: an upsert that never touches a row another node wrote since
 * this node's copy (another rev) or closed at another time than this
 * tunnel's (never reopened, never closed twice). 0 rows: that node won. */
const char pg_save_sql[] = NOTIFYING(
	PG_INSERT " ON CONFLICT (id) DO UPDATE SET thing = EXCLUDED.thing,"
	" description = EXCLUDED.description, services = EXCLUDED.services,"
	" lifetime_minutes = EXCLUDED.lifetime_minutes, created_at = EXCLUDED.created_at,"
	" expires_at = EXCLUDED.expires_at, closed_at = EXCLUDED.closed_at,"
	" source_token_hash = EXCLUDED.source_token_hash, source_used = EXCLUDED.source_used,"
	" source_client_token = EXCLUDED.source_client_token,"
	" destination_token_hash = EXCLUDED.destination_token_hash,"
	" destination_used = EXCLUDED.destination_used,"
	" destination_client_token = EXCLUDED.destination_client_token,"
	" source_changed_at = EXCLUDED.source_changed_at,"
	" destination_changed_at = EXCLUDED.destination_changed_at, tags = EXCLUDED.tags,"
	" connected = EXCLUDED.connected, rev = EXCLUDED.rev WHERE tunnels.rev = $20 AND"
	" (tunnels.closed_at = 0 OR tunnels.closed_at = EXCLUDED.closed_at)", "$21");

/* Closing, the race several nodes may run: one row changes for exactly one
 * of them. Not conditional on rev: a close wins over any open row. */
const char pg_close_sql[] = NOTIFYING(
	"UPDATE tunnels SET closed_at = $2, rev = rev + 1 WHERE id = $1 AND closed_at = 0", "$3");
/* Closing a tunnel no node has stored yet: it is this node's if it
 * inserts the row. */
const char pg_insert_closed_sql[] = NOTIFYING(PG_INSERT " ON CONFLICT (id) DO NOTHING", "$20");

const char pg_delete_sql[] = NOTIFYING("DELETE FROM tunnels WHERE id = $1", "$2");

/* A side admitted: won if the tunnel is open and the side unused or used
 * with the same client token (a proxy reconnecting). */
#define CLAIM(side)                                                                  \
	NOTIFYING("UPDATE tunnels SET " side "_used = 1, " side "_client_token = $2,"  \
		  " owner = $3, connected = $4, rev = rev + 1 WHERE id = $1 AND closed_at = 0 AND"       \
		  " (" side "_used = 0 OR " side "_client_token IS NOT DISTINCT FROM $2)", "$3")
const char *const pg_claim_sql[2] = { CLAIM("source"), CLAIM("destination") };

/* A node starting: it holds no side yet, whatever its rows say. */
const char pg_reset_node_sql[] = NOTIFYING(
	"UPDATE tunnels SET connected = 0, rev = rev + 1 WHERE owner = $1 AND connected <> 0", "$1");

const char pg_select_one_sql[] = "SELECT " PG_SELECT_COLUMNS " FROM tunnels WHERE id = $1";
const char pg_find_token_sql[] =
	"SELECT " PG_SELECT_COLUMNS " FROM tunnels WHERE source_token_hash = decode($1, 'hex')"
	" OR destination_token_hash = decode($1, 'hex') LIMIT 1";
const char pg_select_all_sql[] =
	"SELECT " PG_SELECT_COLUMNS " FROM tunnels ORDER BY created_at, id";

const char pg_keep_sql[] =
	"INSERT INTO pending_notifications (tunnel_id, thing, services, token, since)"
	" VALUES ($1,$2,$3,$4,$5) ON CONFLICT (tunnel_id) DO UPDATE SET thing = EXCLUDED.thing,"
	" services = EXCLUDED.services, token = EXCLUDED.token, since = EXCLUDED.since";
const char pg_drop_sql[] =
	"DELETE FROM pending_notifications WHERE tunnel_id = $1 AND ($2 = '' OR token = $2)";

/* The take: one statement, so that of several nodes one wins, and only
 * while the tunnel's stored destination token is still this one. */
const char pg_take_sql[] =
	"UPDATE pending_notifications p SET since = $5 FROM tunnels t"
	" WHERE p.tunnel_id = $1 AND p.token = $2 AND p.since = $3 AND t.id = p.tunnel_id"
	" AND t.closed_at = 0 AND (t.expires_at = 0 OR t.expires_at > $5)"
	" AND t.destination_token_hash = decode($4, 'hex')";

const char pg_thing_sql[] =
	"INSERT INTO things (" PG_THING_COLUMNS ") VALUES ($1,$2,$3,$4,$5,$6,$7)"
	" ON CONFLICT (name) DO UPDATE SET state = EXCLUDED.state, since = EXCLUDED.since,"
	" services = EXCLUDED.services, agent_version = EXCLUDED.agent_version,"
	" boot_time = EXCLUDED.boot_time, max_tunnels = EXCLUDED.max_tunnels";

const char pg_key_set_sql[] =
	"INSERT INTO host_keys (thing, fingerprint, since)"
	" VALUES ($1, $2, extract(epoch FROM now())::bigint)"
	" ON CONFLICT (thing) DO UPDATE SET fingerprint = EXCLUDED.fingerprint,"
	" since = EXCLUDED.since";
const char pg_key_del_sql[] = "DELETE FROM host_keys WHERE thing = $1";

void pg_hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}


void pg_tunnel_params_revs(struct pg_tunnel_params *p, int64_t rev, int64_t expected)
{
	snprintf(p->rev_new, sizeof(p->rev_new), "%" PRId64, rev);
	snprintf(p->rev_expected, sizeof(p->rev_expected), "%" PRId64, expected);
	p->v[PG_N_COLUMNS] = p->rev_new;
	p->v[PG_N_COLUMNS + 1] = p->rev_expected;
}

int pg_tunnel_params_fill(struct pg_tunnel_params *p, const struct registry_tunnel *t,
			  const char *node)
{
	p->services = store_services_json(t->services, t->n_services);
	if (p->services == NULL)
		return -1;
	snprintf(p->lifetime, sizeof(p->lifetime), "%d", t->lifetime_minutes);
	snprintf(p->created, sizeof(p->created), "%" PRId64, t->created_at);
	snprintf(p->expires, sizeof(p->expires), "%" PRId64, t->expires_at);
	snprintf(p->closed, sizeof(p->closed), "%" PRId64, t->closed_at);
	const char **v = p->v;
	v[0] = t->id;
	v[1] = t->thing;
	v[2] = t->description;
	v[3] = p->services;
	v[4] = p->lifetime;
	v[5] = p->created;
	v[6] = p->expires;
	v[7] = p->closed;
	for (int s = 0; s < 2; s++) {
		const struct registry_side *side = &t->side[s];
		pg_hex(side->token_hash, TOKEN_HASH_LEN, p->hash[s]);
		snprintf(p->used[s], sizeof(p->used[s]), "%d", side->used ? 1 : 0);
		snprintf(p->changed[s], sizeof(p->changed[s]), "%" PRId64, t->side_changed_at[s]);
		v[8 + 3 * s] = p->hash[s];
		v[9 + 3 * s] = p->used[s];
		v[10 + 3 * s] = side->has_client_token ? side->client_token : NULL;
		v[14 + s] = p->changed[s];
	}
	v[16] = t->tags;
	snprintf(p->connected, sizeof(p->connected), "%d", store_connected_bits(t));
	v[17] = p->connected;
	pg_tunnel_params_revs(p, t->rev + 1, t->rev);
	v[PG_N_COLUMNS + 2] = node;
	return 0;
}

void pg_tunnel_params_free(struct pg_tunnel_params *p)
{
	free(p->services);
	OPENSSL_cleanse(p, sizeof(*p));
}

