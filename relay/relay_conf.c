#include "relay/relay_conf.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config_line.h"
#include "common/text.h"

/* Settings that only make sense on a command line. */
static const char *const command_line_only[] = {"config", "check", "help"};

static const struct option *find_option(const struct option *table, const char *key)
{
	for (; table->name; table++)
		if (!strcmp(table->name, key))
			return table;
	return NULL;
}

int relay_conf_arg(const char *key, const char *value, const struct option *table, char **arg,
		   char *err, size_t cap)
{
	*arg = NULL;
	for (size_t i = 0; i < sizeof(command_line_only) / sizeof(*command_line_only); i++)
		if (!strcmp(key, command_line_only[i])) {
			errf(err, cap, "'%s' belongs on the command line, not in the file", key);
			return -1;
		}
	const struct option *o = find_option(table, key);
	if (!o) {
		errf(err, cap, "unknown key '%s' (keys are the long options of tunnel-relay --help, "
		     "without --)", key);
		return -1;
	}
	int n;
	if (o->has_arg == no_argument) {
		/* "on"/"off" read best for switches such as proxy-protocol. */
		if (!strcmp(value, "no") || !strcmp(value, "false") || !strcmp(value, "0") ||
		    !strcmp(value, "off"))
			return 0;
		if (strcmp(value, "yes") && strcmp(value, "true") && strcmp(value, "1") &&
		    strcmp(value, "on")) {
			errf(err, cap, "%s: want yes or no, got '%s'", key, value);
			return -1;
		}
		n = asprintf(arg, "--%s", key);
	} else {
		if (!*value) {
			errf(err, cap, "%s: no value after '='", key);
			return -1;
		}
		n = asprintf(arg, "--%s=%s", key, value);
	}
	if (n < 0) {
		*arg = NULL;
		errf(err, cap, "out of memory");
		return -1;
	}
	return 0;
}

/* Appends arg to a; -1 when out of memory (arg is then freed). */
static int push(struct relay_args *a, size_t *cap, char *arg)
{
	if ((size_t)a->argc + 1 >= *cap) {
		size_t n = *cap ? *cap * 2 : 16;
		char **grown = realloc(a->argv, n * sizeof(*grown));
		if (!grown) {
			free(arg);
			return -1;
		}
		a->argv = grown;
		*cap = n;
	}
	a->argv[a->argc++] = arg;
	a->argv[a->argc] = NULL;
	return 0;
}

static int read_file(const char *path, const struct option *table, struct relay_args *a,
		     size_t *cap)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "tunnel-relay: cannot read config file %s: %s\n", path, strerror(errno));
		return -1;
	}
	char line[4096];
	int lineno = 0, rc = 0;
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		lineno++;
		char err[256];
		if (!strchr(line, '\n') && !feof(f)) {
			errf(err, sizeof(err), "line longer than %zu characters", sizeof(line) - 2);
			rc = -1;
		} else {
			char *key, *value, *arg = NULL;
			int kind = config_line_parse(line, &key, &value);
			if (kind < 0) {
				errf(err, sizeof(err), "expected 'key = value'");
				rc = -1;
			} else if (kind > 0) {
				rc = relay_conf_arg(key, value, table, &arg, err, sizeof(err));
				if (rc == 0 && arg && push(a, cap, arg)) {
					errf(err, sizeof(err), "out of memory");
					rc = -1;
				}
			}
		}
		if (rc)
			fprintf(stderr, "tunnel-relay: %s:%d: %s\n", path, lineno, err);
	}
	if (rc == 0 && ferror(f)) {
		fprintf(stderr, "tunnel-relay: cannot read config file %s\n", path);
		rc = -1;
	}
	OPENSSL_cleanse(line, sizeof(line));
	fclose(f);
	return rc;
}

/* --config FILE / --config=FILE among the arguments (getopt has not run
 * yet), and whether --check is there. NULL when there is no --config. */
static const char *scan_command_line(int argc, char **argv, bool *check)
{
	const char *path = NULL;
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--check"))
			*check = true;
		else if (!strcmp(argv[i], "--config") && i + 1 < argc)
			path = argv[++i];
		else if (!strncmp(argv[i], "--config=", 9))
			path = argv[i] + 9;
	}
	return path;
}

int relay_conf_merge(int argc, char **argv, const struct option *table, struct relay_args *out)
{
	memset(out, 0, sizeof(*out));
	size_t cap = 0;
	const char *path = scan_command_line(argc, argv, &out->check);
	char *name = strdup(argc > 0 ? argv[0] : "tunnel-relay");
	if (!name || push(out, &cap, name))
		goto out_of_memory;
	if (path && read_file(path, table, out, &cap))
		goto fail;
	for (int i = 1; i < argc; i++) {
		char *copy = strdup(argv[i]);
		if (!copy || push(out, &cap, copy))
			goto out_of_memory;
	}
	return 0;
out_of_memory:
	fprintf(stderr, "tunnel-relay: out of memory\n");
fail:
	relay_args_free(out);
	return -1;
}

void relay_args_free(struct relay_args *a)
{
	for (int i = 0; i < a->argc; i++)
		free(a->argv[i]);
	free(a->argv);
	a->argv = NULL;
	a->argc = 0;
}
