#include "relay/relay_check.h"
#include "relay/store_uri.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/pem_files.h"

static void problem(int *count, const char *option, const char *what)
{
	fprintf(stderr, "tunnel-relay: --%s %s\n", option, what);
	(*count)++;
}

/* The certificate in path, readable and valid now (a problem counted
 * otherwise); NULL when it cannot be read. The caller frees it. */
static X509 *checked_cert(int *count, const char *option, const char *path)
{
	char err[512];
	X509 *cert = pem_cert_read(path, err, sizeof(err));
	if (!cert) {
		problem(count, option, err);
		return NULL;
	}
	char line[640];
	if (pem_cert_valid_now(cert, err, sizeof(err))) {
		snprintf(line, sizeof(line), "%s: %s", path, err);
		problem(count, option, line);
	}
	return cert;
}

/* A certificate and its key: readable, a pair, valid now. */
static void check_pair(int *count, const char *cert_option, const char *cert_path,
		       const char *key_option, const char *key_path)
{
	X509 *cert = checked_cert(count, cert_option, cert_path);
	if (!cert)
		return;
	char err[512], line[640];
	if (pem_key_matches(key_path, cert, err, sizeof(err))) {
		snprintf(line, sizeof(line), "%s (--%s %s)", err, cert_option, cert_path);
		problem(count, key_option, line);
	}
	X509_free(cert);
}

/* A file the relay reads at start (NULL: not configured). */
static void check_readable(int *count, const char *option, const char *path)
{
	if (!path)
		return;
	struct stat st;
	char line[640];
	if (stat(path, &st) != 0 || access(path, R_OK) != 0)
		snprintf(line, sizeof(line), "%s: cannot read: %s", path, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		snprintf(line, sizeof(line), "%s: not a regular file", path);
	else
		return;
	problem(count, option, line);
}

/* SQLite writes the database and its journal beside it: the directory must
 * exist and be writable, and the file, if there, readable and writable. */
static void check_db(int *count, const char *path)
{
	char line[640];
	char *copy = strdup(path);
	if (!copy) {
		problem(count, "db", "out of memory");
		return;
	}
	const char *dir = dirname(copy);
	struct stat st;
	if (stat(dir, &st) != 0)
		snprintf(line, sizeof(line), "%s: its directory %s: %s", path, dir, strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		snprintf(line, sizeof(line), "%s: %s is not a directory", path, dir);
	else if (access(dir, W_OK | X_OK) != 0)
		snprintf(line, sizeof(line), "%s: cannot create files in %s: %s", path, dir,
			 strerror(errno));
	else if (stat(path, &st) == 0 && access(path, R_OK | W_OK) != 0)
		snprintf(line, sizeof(line), "%s: cannot read and write it: %s", path, strerror(errno));
	else
		line[0] = '\0';
	free(copy);
	if (line[0])
		problem(count, "db", line);
}

/* A directory the relay's helpers write into, made on first use (mkdir -p)
 * if missing: it, or the nearest of its parents that exists, must be a
 * directory the relay can create files in. NULL: not configured. */
static void check_writable_dir(int *count, const char *option, const char *path)
{
	if (!path)
		return;
	char dir[4096], line[4300];
	snprintf(dir, sizeof(dir), "%s", path);
	struct stat st;
	while (stat(dir, &st) != 0 && errno == ENOENT && strcmp(dir, "/") && strcmp(dir, ".")) {
		char *copy = strdup(dir);
		if (!copy) {
			problem(count, option, "out of memory");
			return;
		}
		snprintf(dir, sizeof(dir), "%s", dirname(copy));
		free(copy);
	}
	if (stat(dir, &st) != 0)
		snprintf(line, sizeof(line), "%s: %s: %s", path, dir, strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		snprintf(line, sizeof(line), "%s: %s is not a directory", path, dir);
	else if (access(dir, W_OK | X_OK) != 0)
		snprintf(line, sizeof(line), "%s: cannot create files in %s: %s", path, dir,
			 strerror(errno));
	else
		return;
	problem(count, option, line);
}

/* The console (on with --users): its users file, and its pages where the
 * relay serves them from. */
static void check_console(int *count, const struct relay_options *o)
{
	check_readable(count, "users", o->users);
	char index[4200], line[4300];
	snprintf(index, sizeof(index), "%s/index.html", o->console_dir);
	if (access(index, R_OK) != 0) {
		snprintf(line, sizeof(line), "%s: no console here (%s: %s)", o->console_dir, index,
			 strerror(errno));
		problem(count, "console-dir", line);
	}
	check_writable_dir(count, "recordings", o->recordings);
}

int relay_check(const struct relay_options *o)
{
	int count = 0;
	check_pair(&count, "cert", o->cert, "key", o->key);
	/* A PostgreSQL URI is not checked here: --check does not connect. */
	if (o->db && !store_uri_is_postgres(o->db))
		check_db(&count, o->db);
	check_readable(&count, "tunnels", o->tunnels_file);
	check_readable(&count, "api-key-file", o->api_key_file);
	check_readable(&count, "aws-credentials", o->aws_credentials);
	if (o->users)
		check_console(&count, o);
	if (o->mqtt_uri) {
		X509_free(checked_cert(&count, "mqtt-ca", o->mqtt_ca));
		check_pair(&count, "mqtt-cert", o->mqtt_cert, "mqtt-key", o->mqtt_key);
	}
	if (count) {
		fprintf(stderr, "tunnel-relay: %d problem%s found\n", count, count > 1 ? "s" : "");
		return 1;
	}
	char db[256] = "";
	if (o->db)
		store_uri_mask(o->db, db, sizeof(db)); /* a file path comes through unchanged */
	printf("tunnel-relay: configuration OK: wss://%s:%d/tunnel, certificate %s, %s%s\n",
	       o->bind ? o->bind : "*", o->port, o->cert, o->db ? "database " : "tunnels file ",
	       o->db ? db : o->tunnels_file);
	return 0;
}
