#include "term/ssh_session.h"

#include <stdio.h>
#include <string.h>

int term_ssh_init(struct term_ssh *t, int fd, bool verbose)
{
	memset(t, 0, sizeof(*t));
	t->session = ssh_new();
	if (!t->session) {
		snprintf(t->error, sizeof(t->error), "out of memory");
		return -1;
	}
	socket_t sock = fd;
	int level = verbose ? SSH_LOG_WARN : SSH_LOG_NOLOG;
	int no = 0;
	/* The host name only labels the connection (the socket is given):
	 * libssh's known_hosts files and ssh config are not ours to read, the
	 * relay remembers host keys per thing. */
	if (ssh_options_set(t->session, SSH_OPTIONS_FD, &sock) ||
	    ssh_options_set(t->session, SSH_OPTIONS_HOST, "device") ||
	    ssh_options_set(t->session, SSH_OPTIONS_PROCESS_CONFIG, &no) ||
	    ssh_options_set(t->session, SSH_OPTIONS_KNOWNHOSTS, "/dev/null") ||
	    ssh_options_set(t->session, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") ||
	    ssh_options_set(t->session, SSH_OPTIONS_LOG_VERBOSITY, &level)) {
		snprintf(t->error, sizeof(t->error), "cannot set SSH options: %s",
			 ssh_get_error(t->session));
		return -1;
	}
	ssh_set_blocking(t->session, 0);
	return 0;
}

void term_ssh_free(struct term_ssh *t)
{
	if (t->key) {
		ssh_key_free(t->key);
		t->key = NULL;
	}
	if (t->channel) {
		ssh_channel_free(t->channel);
		t->channel = NULL;
	}
	if (t->session) {
		/* libssh owns the socket given with SSH_OPTIONS_FD and closes it. */
		ssh_disconnect(t->session);
		ssh_free(t->session);
		t->session = NULL;
	}
}

/* libssh's message can quote the server (a disconnect's reason): keep it
 * to one printable line before it reaches a log or the browser. */
static enum ts_result failed(struct term_ssh *t)
{
	snprintf(t->error, sizeof(t->error), "%s", ssh_get_error(t->session));
	for (char *p = t->error; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return TS_ERROR;
}

enum ts_result term_ssh_connect(struct term_ssh *t)
{
	int rc = ssh_connect(t->session);
	if (rc == SSH_AGAIN)
		return TS_AGAIN;
	return rc == SSH_OK ? TS_OK : failed(t);
}

int term_ssh_host_key(struct term_ssh *t, char *fingerprint, size_t fp_cap, char *type,
		      size_t type_cap)
{
	ssh_key key = NULL;
	unsigned char *hash = NULL;
	size_t hlen = 0;
	char *fp = NULL;
	int rc = -1;
	if (ssh_get_server_publickey(t->session, &key) != SSH_OK ||
	    ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) != 0) {
		failed(t);
		goto out;
	}
	/* libssh prints SHA256:<base64 without padding>, as ssh-keygen -l. */
	fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
	const char *name = ssh_key_type_to_char(ssh_key_type(key));
	if (!fp || !name || strlen(fp) >= fp_cap || strlen(name) >= type_cap) {
		snprintf(t->error, sizeof(t->error), "cannot describe the host key");
		goto out;
	}
	strcpy(fingerprint, fp);
	strcpy(type, name);
	rc = 0;
out:
	ssh_string_free_char(fp);
	ssh_clean_pubkey_hash(&hash);
	ssh_key_free(key);
	return rc;
}

static enum ts_result auth_result(struct term_ssh *t, int rc)
{
	switch (rc) {
	case SSH_AUTH_AGAIN:
		return TS_AGAIN;
	case SSH_AUTH_SUCCESS:
		return TS_OK;
	case SSH_AUTH_DENIED:
	case SSH_AUTH_PARTIAL: /* a second factor we cannot give */
		snprintf(t->error, sizeof(t->error), "the server refused these credentials");
		return TS_DENIED;
	default:
		return failed(t);
	}
}

/* Keyboard-interactive with the password as the answer to every hidden
 * prompt: what servers with PAM (and no "password" method) ask. Shown
 * prompts (echo on) get an empty answer; a server that keeps asking is
 * refused after a few rounds. */
static enum ts_result kbdint_step(struct term_ssh *t, const char *password)
{
	for (;;) {
		int rc = ssh_userauth_kbdint(t->session, NULL, NULL);
		if (rc != SSH_AUTH_INFO)
			return auth_result(t, rc);
		if (++t->kbdint_rounds > 4) {
			snprintf(t->error, sizeof(t->error), "the server asks more than a password");
			return TS_DENIED;
		}
		int n = ssh_userauth_kbdint_getnprompts(t->session);
		for (int i = 0; i < n; i++) {
			char echo = 0;
			if (!ssh_userauth_kbdint_getprompt(t->session, (unsigned)i, &echo))
				return failed(t);
			if (ssh_userauth_kbdint_setanswer(t->session, (unsigned)i, echo ? "" : password))
				return failed(t);
		}
	}
}

static enum ts_result password_step(struct term_ssh *t, const char *password)
{
	if (!t->kbdint && !t->kbdint_only) {
		int rc = ssh_userauth_password(t->session, NULL, password);
		int offered = ssh_userauth_list(t->session, NULL);
		if (rc != SSH_AUTH_DENIED || (offered & SSH_AUTH_METHOD_PASSWORD) ||
		    !(offered & SSH_AUTH_METHOD_INTERACTIVE))
			return auth_result(t, rc);
		/* The same try, the other way; later tries go there at once
		 * (each refused request counts towards sshd's MaxAuthTries). */
		t->kbdint_only = true;
	}
	if (!t->kbdint) {
		t->kbdint = true;
		t->kbdint_rounds = 0;
	}
	return kbdint_step(t, password);
}

enum ts_result term_ssh_auth(struct term_ssh *t, const struct term_creds *c)
{
	if (ssh_options_set(t->session, SSH_OPTIONS_USER, c->user))
		return failed(t);
	enum ts_result r;
	if (c->password) {
		r = password_step(t, c->password);
	} else {
		if (!t->key &&
		    ssh_pki_import_privkey_base64(c->key, c->passphrase, NULL, NULL, &t->key) !=
			    SSH_OK) {
			t->key = NULL;
			snprintf(t->error, sizeof(t->error),
				 "the private key cannot be read (not a PEM/OpenSSH key, or a wrong "
				 "passphrase)");
			return TS_DENIED;
		}
		r = auth_result(t, ssh_userauth_publickey(t->session, NULL, t->key));
	}
	if (r != TS_AGAIN) {
		if (t->key) {
			ssh_key_free(t->key);
			t->key = NULL;
		}
		t->kbdint = false;
	}
	return r;
}

unsigned term_ssh_auth_methods(struct term_ssh *t)
{
	int m = ssh_userauth_list(t->session, NULL);
	unsigned out = 0;
	if (m & (SSH_AUTH_METHOD_PASSWORD | SSH_AUTH_METHOD_INTERACTIVE))
		out |= TERM_AUTH_PASSWORD; /* a password answers keyboard-interactive too */
	if (m & SSH_AUTH_METHOD_PUBLICKEY)
		out |= TERM_AUTH_PUBLICKEY;
	return out;
}

enum ts_result term_ssh_open_shell(struct term_ssh *t, int cols, int rows)
{
	if (!t->channel) {
		t->channel = ssh_channel_new(t->session);
		if (!t->channel)
			return failed(t);
		t->open_step = 0;
	}
	while (t->open_step < 3) {
		int rc;
		if (t->open_step == 0)
			rc = ssh_channel_open_session(t->channel);
		else if (t->open_step == 1)
			rc = ssh_channel_request_pty_size(t->channel, "xterm-256color", cols, rows);
		else
			rc = ssh_channel_request_shell(t->channel);
		if (rc == SSH_AGAIN)
			return TS_AGAIN;
		if (rc != SSH_OK)
			return failed(t);
		t->open_step++;
	}
	return TS_OK;
}

int term_ssh_resize(struct term_ssh *t, int cols, int rows)
{
	if (ssh_channel_change_pty_size(t->channel, cols, rows) == SSH_ERROR) {
		failed(t);
		return -1;
	}
	return 0;
}

int term_ssh_read(struct term_ssh *t, uint8_t *buf, size_t cap)
{
	/* stdout first; with a pty the shell's stderr arrives there too, but a
	 * server may still send extended data. */
	for (int is_stderr = 0; is_stderr < 2; is_stderr++) {
		int n = ssh_channel_read_nonblocking(t->channel, buf, (uint32_t)cap, is_stderr);
		if (n == SSH_ERROR) {
			failed(t);
			return -1;
		}
		if (n > 0)
			return n;
	}
	if (ssh_channel_is_eof(t->channel) && ssh_channel_poll(t->channel, 0) == SSH_EOF &&
	    ssh_channel_poll(t->channel, 1) == SSH_EOF) {
		/* Output all read: done once the exit status is in or the
		 * server closed the channel (some send no status). */
		if (ssh_channel_get_exit_status(t->channel) != -1 || ssh_channel_is_closed(t->channel))
			return -2;
	}
	if (ssh_channel_is_closed(t->channel))
		return -2;
	return 0;
}

long term_ssh_write(struct term_ssh *t, const uint8_t *data, size_t len)
{
	/* In non-blocking mode libssh writes what the server's window takes
	 * and returns that count; with a closed window it reads the socket
	 * once for an adjustment and returns 0. */
	if (len > UINT32_MAX)
		len = UINT32_MAX;
	int n = ssh_channel_write(t->channel, data, (uint32_t)len);
	if (n == SSH_ERROR) {
		failed(t);
		return -1;
	}
	return n < 0 ? 0 : n;
}

int term_ssh_exit_status(struct term_ssh *t)
{
	return t->channel ? ssh_channel_get_exit_status(t->channel) : -1;
}

int term_ssh_fd(struct term_ssh *t)
{
	return ssh_get_fd(t->session);
}

bool term_ssh_wants_write(struct term_ssh *t)
{
	return (ssh_get_poll_flags(t->session) & SSH_WRITE_PENDING) != 0;
}

int term_ssh_flush(struct term_ssh *t)
{
	if (ssh_blocking_flush(t->session, 0) == SSH_ERROR) {
		failed(t);
		return -1;
	}
	return 0;
}

const char *term_ssh_error(struct term_ssh *t)
{
	return t->error;
}
