/* --db's two forms, and a URI fit for a log line. */
#include "relay/store_uri.h"

#include <string.h>
#include <strings.h>

static const char *const pg_schemes[] = { "postgresql://", "postgres://" };

static size_t scheme_len(const char *db)
{
	for (size_t i = 0; i < sizeof(pg_schemes) / sizeof(pg_schemes[0]); i++)
		if (strncasecmp(db, pg_schemes[i], strlen(pg_schemes[i])) == 0)
			return strlen(pg_schemes[i]);
	return 0;
}

bool store_uri_is_postgres(const char *db)
{
	return db != NULL && scheme_len(db) > 0;
}

/* Appends n bytes of s to out at *at, keeping room for the NUL. */
static void put(char *out, size_t cap, size_t *at, const char *s, size_t n)
{
	while (n-- > 0 && *at + 1 < cap)
		out[(*at)++] = *s++;
	out[*at] = '\0';
}

static const char masked[] = "***";

/* Copies the query part (from '?'), masking each password=VALUE. */
static void put_query(char *out, size_t cap, size_t *at, const char *q)
{
	while (*q) {
		size_t n = strcspn(q + 1, "&") + 1; /* this parameter with its ? or & */
		const char *param = q + 1;
		if (strncasecmp(param, "password=", 9) == 0) {
			put(out, cap, at, q, 1 + 9);
			put(out, cap, at, masked, strlen(masked));
		} else {
			put(out, cap, at, q, n);
		}
		q += n;
	}
}

void store_uri_mask(const char *uri, char *out, size_t cap)
{
	if (cap == 0)
		return;
	size_t at = 0;
	out[0] = '\0';
	size_t scheme = scheme_len(uri);
	put(out, cap, &at, uri, scheme);
	const char *rest = uri + scheme;
	/* The authority ends at the first '/' or '?'; userinfo is what comes
	 * before its last '@' (a password may hold '@' only percent-encoded,
	 * but the last one is the safe bet either way). */
	size_t auth_len = strcspn(rest, "/?");
	const char *at_sign = NULL;
	for (size_t i = 0; i < auth_len; i++)
		if (rest[i] == '@')
			at_sign = rest + i;
	if (at_sign != NULL) {
		const char *colon = memchr(rest, ':', (size_t)(at_sign - rest));
		if (colon != NULL) {
			put(out, cap, &at, rest, (size_t)(colon - rest) + 1);
			put(out, cap, &at, masked, strlen(masked));
			rest = at_sign;
		}
	}
	size_t path_len = strcspn(rest, "?");
	put(out, cap, &at, rest, path_len);
	put_query(out, cap, &at, rest + path_len);
}
