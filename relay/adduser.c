#include "relay/adduser.h"

#include <errno.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "common/token.h"
#include "relay/console_users.h"
#include "relay/password_hash.h"

#define PASSWORD_MIN 8

static const char usage[] =
	"Usage: tunnel-relay adduser --users FILE NAME ROLE [--random]\n"
	"Adds console user NAME (or replaces its line) in FILE with ROLE admin or\n"
	"operator. The password is read from stdin (asked twice, without echo, on a\n"
	"terminal); --random makes one and prints it once.\n";

/* One line of stdin into buf, without echo on a terminal. 0, or -1. */
static int read_line(const char *prompt, bool tty, char *buf, size_t cap)
{
	struct termios old, quiet;
	bool hidden = false;
	if (tty) {
		fputs(prompt, stderr);
		if (!tcgetattr(STDIN_FILENO, &old)) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			hidden = !tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
		}
	}
	bool ok = fgets(buf, (int)cap, stdin) != NULL;
	if (hidden) {
		if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &old))
			fputs("adduser: could not turn echo back on\n", stderr);
		fputc('\n', stderr);
	}
	if (!ok)
		return -1;
	size_t len = strcspn(buf, "\r\n");
	if (buf[len] == '\0' && len == cap - 1)
		return -1; /* longer than the buffer */
	buf[len] = '\0';
	return 0;
}

static int ask_password(char *pw, size_t cap)
{
	bool tty = isatty(STDIN_FILENO);
	if (read_line("Password: ", tty, pw, cap)) {
		fprintf(stderr, "adduser: no password on stdin (at most %d characters)\n", PASSWORD_MAX_LEN);
		return -1;
	}
	if (strlen(pw) < PASSWORD_MIN) {
		fprintf(stderr, "adduser: the password must have at least %d characters\n", PASSWORD_MIN);
		return -1;
	}
	if (tty) {
		char again[PASSWORD_MAX_LEN + 2];
		int rc = read_line("Again: ", true, again, sizeof(again));
		bool same = !rc && !strcmp(pw, again);
		OPENSSL_cleanse(again, sizeof(again));
		if (!same) {
			fputs("adduser: the passwords differ\n", stderr);
			return -1;
		}
	}
	return 0;
}

/* The users file's text with NAME's line replaced by (or ending with) line.
 * NULL (said on stderr) when the present file is bad. */
static char *new_text(const char *path, const char *name, const char *line)
{
	char *old = NULL;
	size_t old_len = 0;
	FILE *f = fopen(path, "r");
	if (!f && errno != ENOENT) {
		fprintf(stderr, "adduser: cannot read %s: %s\n", path, strerror(errno));
		return NULL;
	}
	if (f) {
		old = malloc(CONSOLE_USERS_FILE_MAX + 1);
		old_len = old ? fread(old, 1, CONSOLE_USERS_FILE_MAX + 1, f) : 0;
		fclose(f);
		if (!old || old_len > CONSOLE_USERS_FILE_MAX) {
			fprintf(stderr, "adduser: %s is larger than %u bytes\n", path, CONSOLE_USERS_FILE_MAX);
			free(old);
			return NULL;
		}
		struct console_users check;
		memset(&check, 0, sizeof(check));
		char err[256];
		if (console_users_parse(old, old_len, &check, err, sizeof(err))) {
			fprintf(stderr, "adduser: %s: %s; not changed\n", path, err);
			free(old);
			return NULL;
		}
		console_users_free(&check);
	}
	size_t cap = old_len + strlen(line) + 3;
	char *out = malloc(cap);
	if (!out) {
		free(old);
		return NULL;
	}
	size_t len = 0, name_len = strlen(name);
	bool replaced = false;
	for (size_t pos = 0; pos < old_len;) {
		const char *nl = memchr(old + pos, '\n', old_len - pos);
		size_t llen = nl ? (size_t)(nl - (old + pos)) : old_len - pos;
		bool mine = llen > name_len && !memcmp(old + pos, name, name_len) && old[pos + name_len] == ':';
		if (mine) {
			len += (size_t)sprintf(out + len, "%s\n", line);
			replaced = true;
		} else {
			memcpy(out + len, old + pos, llen);
			len += llen;
			out[len++] = '\n';
		}
		pos += llen + 1;
	}
	if (!replaced)
		len += (size_t)sprintf(out + len, "%s\n", line);
	out[len] = '\0';
	free(old);
	return out;
}

/* Writes text to path through a temporary file and a rename, mode 0600. */
static int write_atomically(const char *path, const char *text)
{
	char tmp[4096];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= sizeof(tmp)) {
		fputs("adduser: the file name is too long\n", stderr);
		return -1;
	}
	int fd = mkstemp(tmp);
	if (fd < 0) {
		fprintf(stderr, "adduser: cannot create a file beside %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t len = strlen(text);
	bool ok = fchmod(fd, 0600) == 0 && write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
	int e = errno;
	if (close(fd))
		ok = false;
	if (ok && rename(tmp, path) == 0)
		return 0;
	e = ok ? errno : e;
	if (unlink(tmp))
		fprintf(stderr, "adduser: cannot remove %s: %s\n", tmp, strerror(errno));
	fprintf(stderr, "adduser: cannot write %s: %s\n", path, strerror(e));
	return -1;
}

/* 18 random bytes as 24 base64url characters. */
static int random_password(char *out, size_t cap)
{
	char token[64];
	if (access_token_generate(token, sizeof(token)))
		return -1;
	snprintf(out, cap, "%.24s", token);
	OPENSSL_cleanse(token, sizeof(token));
	return 0;
}

int adduser_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"users", required_argument, NULL, 'u'},
		{"random", no_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *users = NULL;
	bool random = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'u': users = optarg; break;
		case 'r': random = true; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (!users || argc - optind != 2) {
		fputs(usage, stderr);
		return 2;
	}
	const char *name = argv[optind], *role = argv[optind + 1];
	if (!console_user_name_valid(name)) {
		fprintf(stderr, "adduser: the name must be 1-%d of A-Z a-z 0-9 . _ @ -\n", CONSOLE_USER_MAX);
		return 2;
	}
	if (!console_role_parse(role)) {
		fputs("adduser: ROLE must be admin or operator\n", stderr);
		return 2;
	}
	char pw[PASSWORD_MAX_LEN + 2], hash[PASSWORD_HASH_CAP];
	int rc = random ? random_password(pw, sizeof(pw)) : ask_password(pw, sizeof(pw));
	if (!rc && password_hash_make(pw, hash)) {
		fputs("adduser: libcrypt cannot make a yescrypt hash\n", stderr);
		rc = -1;
	}
	char *text = NULL;
	if (!rc) {
		char line[CONSOLE_USER_MAX + PASSWORD_HASH_CAP + 16];
		snprintf(line, sizeof(line), "%s:%s:%s", name, role, hash);
		text = new_text(users, name, line);
		rc = text && !write_atomically(users, text) ? 0 : -1;
	}
	/* The random password is shown once, never stored: if it cannot be
	 * shown, say so (the user's line is written, with a password nobody
	 * knows; run adduser again). */
	if (!rc && random && (printf("%s\n", pw) < 0 || fflush(stdout))) {
		fprintf(stderr, "adduser: cannot print the password; run adduser again\n");
		rc = -1;
	}
	if (!rc)
		fprintf(stderr, "adduser: %s (%s) written to %s\n", name, role, users);
	OPENSSL_cleanse(pw, sizeof(pw));
	free(text);
	return rc ? 1 : 0;
}
