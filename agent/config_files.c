/* The I/O half of agent/config.h: reading the config file and checking the
 * files it names with OpenSSL (PEM_read_X509 / PEM_read_PrivateKey). */
#include "agent/config.h"
#include "agent/config_report.h"
#include "common/pem_files.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Opens path for reading; a directory or other non-file is refused too. */
static FILE *open_file(const struct pctx *c, const char *key, const char *path)
{
	char err[512];
	FILE *f = pem_open_regular(path, err, sizeof(err));
	if (f == NULL)
		fail(c, key, "%s", err);
	return f;
}

static X509 *read_cert(const struct pctx *c, const char *key, const char *path)
{
	char err[512];
	X509 *x = pem_cert_read(path, err, sizeof(err));
	if (x == NULL)
		fail(c, key, "%s", err);
	return x;
}

/* Never prompts: an encrypted key cannot be used by a daemon. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	*(bool *)u = true;
	return -1;
}

static void warnf(agent_config_warn_fn warn, void *arg, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void warnf(agent_config_warn_fn warn, void *arg, const char *fmt, ...)
{
	if (warn == NULL)
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	warn(arg, line);
}

static void check_validity(const struct pctx *c, const char *key, const char *path, X509 *x,
			   agent_config_warn_fn warn, void *arg)
{
	if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
		warnf(warn, arg, "%s: %s: %s: not valid yet (is the clock set? TLS will fail until "
		      "it is)", c->name, key, path);
	else if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
		warnf(warn, arg, "%s: %s: %s: expired (TLS will fail until it is renewed)",
		      c->name, key, path);
}

static int check_key(const struct pctx *c, const struct agent_config *cfg, X509 *cert,
		     agent_config_warn_fn warn, void *arg)
{
	FILE *f = open_file(c, "broker.key", cfg->broker_key);
	if (f == NULL)
		return -1;
	struct stat st;
	bool open_to_others = fstat(fileno(f), &st) == 0 && (st.st_mode & 077) != 0;
	bool encrypted = false;
	EVP_PKEY *pkey = PEM_read_PrivateKey(f, NULL, no_passphrase, &encrypted);
	fclose(f);
	ERR_clear_error();
	if (pkey == NULL) {
		if (encrypted)
			return fail(c, "broker.key", "%s: encrypted with a passphrase; the agent "
				    "cannot prompt for it (decrypt it: openssl pkey -in KEY -out KEY)",
				    cfg->broker_key);
		return fail(c, "broker.key", "%s: not a PEM private key (want \"-----BEGIN PRIVATE "
			    "KEY-----\")", cfg->broker_key);
	}
	int match = X509_check_private_key(cert, pkey);
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	if (match != 1)
		return fail(c, "broker.key", "%s: does not match broker.cert %s", cfg->broker_key,
			    cfg->broker_cert);
	if (open_to_others)
		warnf(warn, arg, "%s: broker.key: %s: other users may read it (mode %04o); "
		      "chmod 600 it", c->name, cfg->broker_key, (unsigned)(st.st_mode & 07777));
	return 0;
}

static int check_ca(const struct pctx *c, const char *key, const char *path,
		    agent_config_warn_fn warn, void *arg)
{
	X509 *x = read_cert(c, key, path);
	if (x == NULL)
		return -1;
	check_validity(c, key, path, x, warn, arg);
	X509_free(x);
	return 0;
}

static int check_localproxy(const struct pctx *c, const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return fail(c, "localproxy", "%s: cannot run: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fail(c, "localproxy", "%s: cannot run: not a regular file", path);
	if (access(path, X_OK) != 0)
		return fail(c, "localproxy", "%s: cannot run: %s", path, strerror(errno));
	return 0;
}

int agent_config_check_files(const struct agent_config *cfg, const char *name, char *err,
			     size_t err_cap, agent_config_warn_fn warn, void *warn_arg)
{
	struct pctx c = {.name = name ? name : "config", .err = err, .err_cap = err_cap};
	if (check_ca(&c, "broker.ca", cfg->broker_ca, warn, warn_arg) != 0)
		return -1;
	X509 *cert = read_cert(&c, "broker.cert", cfg->broker_cert);
	if (cert == NULL)
		return -1;
	check_validity(&c, "broker.cert", cfg->broker_cert, cert, warn, warn_arg);
	char cn[256] = "";
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn,
				      sizeof(cn)) < 0)
		cn[0] = '\0';
	if (strcmp(cn, cfg->thing_name) != 0)
		warnf(warn, warn_arg, "%s: broker.cert: %s: its CN is '%s', not the thing name '%s'; "
		      "a broker whose ACL uses the CN (as packaging/mosquitto does) will not let "
		      "this device subscribe to %s", c.name, cfg->broker_cert, cn, cfg->thing_name,
		      cfg->notify_topic);
	int rc = check_key(&c, cfg, cert, warn, warn_arg);
	X509_free(cert);
	if (rc != 0)
		return -1;
	if (cfg->relay_ca[0] != '\0' && check_ca(&c, "relay.ca", cfg->relay_ca, warn, warn_arg) != 0)
		return -1;
	return check_localproxy(&c, cfg->localproxy);
}

int agent_config_load(const char *path, struct agent_config *cfg, char *err, size_t err_cap,
		      agent_config_warn_fn warn, void *warn_arg)
{
	struct pctx c = {.name = path, .err = err, .err_cap = err_cap};
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(&c, NULL, "cannot read: %s", strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		return fail(&c, NULL, "cannot read: %s", strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return fail(&c, NULL, "cannot read: %s",
			    S_ISDIR(st.st_mode) ? strerror(EISDIR) : "not a regular file");
	}
	if (st.st_size > AGENT_MAX_CONFIG_BYTES) {
		close(fd);
		return fail(&c, NULL, "larger than %d bytes", AGENT_MAX_CONFIG_BYTES);
	}
	char *text = malloc((size_t)st.st_size + 1);
	if (text == NULL) {
		close(fd);
		return fail(&c, NULL, "out of memory");
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, text + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			free(text);
			close(fd);
			return fail(&c, NULL, "cannot read: %s", strerror(e));
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	text[got] = '\0';
	int rc = agent_config_parse(text, got, path, cfg, err, err_cap);
	free(text);
	if (rc == 0)
		rc = agent_config_check_files(cfg, path, err, err_cap, warn, warn_arg);
	return rc;
}

