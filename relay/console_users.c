#include "relay/console_users.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/text.h"

bool console_user_name_valid(const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len > CONSOLE_USER_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '@' || c == '-'))
			return false;
	}
	return true;
}

enum console_role console_role_parse(const char *text)
{
	if (!strcmp(text, "admin"))
		return CONSOLE_ADMIN;
	if (!strcmp(text, "operator"))
		return CONSOLE_OPERATOR;
	return 0;
}

const char *console_role_name(enum console_role role)
{
	return role == CONSOLE_ADMIN ? "admin" : "operator";
}

/* A crypt(3) hash as the file may hold it: "$id$…", printable, no ':' or
 * space. The library says whether it can verify it at sign-in. */
static bool hash_valid(const char *h)
{
	size_t len = strlen(h);
	if (len < 3 || len > CONSOLE_HASH_MAX || h[0] != '$')
		return false;
	for (size_t i = 0; i < len; i++)
		if (h[i] <= ' ' || h[i] > '~' || h[i] == ':')
			return false;
	return true;
}

/* One line (NUL-terminated, no newline) into *u. Returns 0, or -1 with
 * the reason in err. */
static int parse_line(char *line, struct console_user *u, char *err, size_t err_cap)
{
	char *role = strchr(line, ':');
	char *hash = role ? strchr(role + 1, ':') : NULL;
	if (!hash) {
		errf(err, err_cap, "want NAME:ROLE:HASH");
		return -1;
	}
	*role++ = '\0';
	*hash++ = '\0';
	if (!console_user_name_valid(line)) {
		errf(err, err_cap, "the name must be 1-%d of A-Z a-z 0-9 . _ @ -", CONSOLE_USER_MAX);
		return -1;
	}
	u->role = console_role_parse(role);
	if (!u->role) {
		errf(err, err_cap, "user %s: the role must be admin or operator, not '%.20s'", line, role);
		return -1;
	}
	if (!hash_valid(hash)) {
		/* Never echo the hash. */
		errf(err, err_cap, "user %s: the hash is not a crypt(3) string (as "
		     "tunnel-relay adduser writes)", line);
		return -1;
	}
	textf(u->name, sizeof(u->name), "%s", line);
	textf(u->hash, sizeof(u->hash), "%s", hash);
	return 0;
}

static void wipe_users(struct console_user *user, size_t n)
{
	if (user)
		OPENSSL_cleanse(user, n * sizeof(*user));
	free(user);
}

int console_users_parse(const char *text, size_t len, struct console_users *out, char *err,
			size_t err_cap)
{
	struct console_user *user = NULL;
	size_t n = 0, cap = 0, lineno = 0;
	char line[CONSOLE_USER_MAX + CONSOLE_HASH_MAX + 64];
	size_t pos = 0;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t llen = nl ? (size_t)(nl - (text + pos)) : len - pos;
		size_t next = pos + llen + 1;
		lineno++;
		if (llen && text[pos + llen - 1] == '\r')
			llen--;
		if (llen >= sizeof(line) || memchr(text + pos, '\0', llen)) {
			errf(err, err_cap, "line %zu: too long or not text", lineno);
			goto fail;
		}
		memcpy(line, text + pos, llen);
		line[llen] = '\0';
		pos = next;
		if (llen == 0 || line[0] == '#')
			continue;
		if (n == CONSOLE_USERS_MAX) {
			errf(err, err_cap, "line %zu: more than %d users", lineno, CONSOLE_USERS_MAX);
			goto fail;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct console_user *grown = calloc(ncap, sizeof(*grown));
			if (!grown) {
				errf(err, err_cap, "out of memory");
				goto fail;
			}
			if (n)
				memcpy(grown, user, n * sizeof(*user));
			wipe_users(user, n);
			user = grown;
			cap = ncap;
		}
		char why[200];
		if (parse_line(line, &user[n], why, sizeof(why))) {
			errf(err, err_cap, "line %zu: %s", lineno, why);
			goto fail;
		}
		for (size_t i = 0; i < n; i++)
			if (!strcmp(user[i].name, user[n].name)) {
				errf(err, err_cap, "line %zu: user %s appears twice", lineno, user[n].name);
				goto fail;
			}
		n++;
	}
	OPENSSL_cleanse(line, sizeof(line));
	out->user = user;
	out->n = n;
	return 0;
fail:
	OPENSSL_cleanse(line, sizeof(line));
	wipe_users(user, cap);
	return -1;
}

int console_users_load(struct console_users *u, const char *path, char *err, size_t err_cap)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		errf(err, err_cap, "cannot read the users file %s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	char *text = NULL;
	int rc = -1;
	if (fstat(fileno(f), &st)) {
		errf(err, err_cap, "users file %s: %s", path, strerror(errno));
		goto out;
	}
	if (st.st_size < 0 || (size_t)st.st_size > CONSOLE_USERS_FILE_MAX) {
		errf(err, err_cap, "users file %s: larger than %u bytes", path, CONSOLE_USERS_FILE_MAX);
		goto out;
	}
	size_t size = (size_t)st.st_size;
	text = malloc(size + 1);
	if (!text) {
		errf(err, err_cap, "out of memory");
		goto out;
	}
	if (fread(text, 1, size, f) != size) {
		errf(err, err_cap, "users file %s: short read", path);
		goto out;
	}
	struct console_users fresh;
	memset(&fresh, 0, sizeof(fresh));
	char why[256];
	if (console_users_parse(text, size, &fresh, why, sizeof(why))) {
		errf(err, err_cap, "users file %s: %s", path, why);
		goto out;
	}
	struct timespec mtime = st.st_mtim;
	int64_t checked = u->checked_at;
	console_users_free(u);
	*u = fresh;
	u->mtime = mtime;
	u->size = st.st_size;
	u->checked_at = checked;
	rc = 0;
out:
	if (text) {
		OPENSSL_cleanse(text, (size_t)st.st_size);
		free(text);
	}
	fclose(f);
	return rc;
}

void console_users_refresh(struct console_users *u, const char *path, int64_t now)
{
	if (now == u->checked_at)
		return;
	u->checked_at = now;
	struct stat st;
	if (stat(path, &st)) {
		log_warn("users file %s: %s; keeping the %zu users read before", path, strerror(errno), u->n);
		return;
	}
	if (st.st_mtim.tv_sec == u->mtime.tv_sec && st.st_mtim.tv_nsec == u->mtime.tv_nsec &&
	    st.st_size == u->size)
		return;
	char err[512];
	if (console_users_load(u, path, err, sizeof(err))) {
		log_error("%s; keeping the %zu users read before", err, u->n);
		/* Not again until it changes again. */
		u->mtime = st.st_mtim;
		u->size = st.st_size;
		return;
	}
	log_info("users file %s read again: %zu users", path, u->n);
}

const struct console_user *console_users_find(const struct console_users *u, const char *name)
{
	for (size_t i = 0; i < u->n; i++)
		if (!strcmp(u->user[i].name, name))
			return &u->user[i];
	return NULL;
}

void console_users_free(struct console_users *u)
{
	wipe_users(u->user, u->n);
	u->user = NULL;
	u->n = 0;
}
