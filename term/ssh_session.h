/* The SSH client side of one terminal, on libssh in non-blocking mode: each
 * step returns at once, TS_AGAIN meaning "call again when the socket is
 * ready" (term/run.c polls it). No frames, no JSON here. */
#ifndef TERM_SSH_SESSION_H
#define TERM_SSH_SESSION_H

#include <libssh/libssh.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "term/messages.h"

enum ts_result {
	TS_OK,
	TS_AGAIN,
	TS_DENIED,  /* authentication refused: the credentials were wrong */
	TS_ERROR,   /* the connection failed: term_ssh_error() says why */
};

struct term_ssh {
	ssh_session session;
	ssh_channel channel;
	int open_step;       /* term_ssh_open_shell's progress: 0 open, 1 pty, 2 shell */
	ssh_key key;         /* the private key of an auth in progress */
	bool kbdint;         /* this try goes on as keyboard-interactive */
	bool kbdint_only;    /* the server takes passwords only that way */
	int kbdint_rounds;
	char error[256];
};

/* A session on fd (the socketpair to localproxy). Returns 0 or -1. */
int term_ssh_init(struct term_ssh *t, int fd, bool verbose);
void term_ssh_free(struct term_ssh *t);

enum ts_result term_ssh_connect(struct term_ssh *t);
/* The server's host key: "SHA256:..." (OpenSSH's format) and its type
 * ("ssh-ed25519"). Returns 0 or -1. */
int term_ssh_host_key(struct term_ssh *t, char *fingerprint, size_t fp_cap, char *type,
		      size_t type_cap);

/* One authentication try with c (user and password or key); call again
 * with the same c while TS_AGAIN. A password refused by a server that
 * offers only keyboard-interactive is given there, in the same try. A key that does not load is TS_DENIED
 * with the reason in t->error. */
enum ts_result term_ssh_auth(struct term_ssh *t, const struct term_creds *c);
/* The methods the server still offers that tunnel-term can use
 * (TERM_AUTH_* bits); 0 when not known yet. */
unsigned term_ssh_auth_methods(struct term_ssh *t);

/* Opens a session channel with an xterm-256color pty of cols x rows and
 * starts the shell. */
enum ts_result term_ssh_open_shell(struct term_ssh *t, int cols, int rows);
int term_ssh_resize(struct term_ssh *t, int cols, int rows);

/* Reads the shell's output: > 0 bytes, 0 nothing now, -1 error, -2 the
 * shell has ended (its output all read). */
int term_ssh_read(struct term_ssh *t, uint8_t *buf, size_t cap);
/* Writes what the channel's window takes now (never blocks): bytes taken, or -1. */
long term_ssh_write(struct term_ssh *t, const uint8_t *data, size_t len);
/* The shell's exit status, -1 if the server sent none. */
int term_ssh_exit_status(struct term_ssh *t);

int term_ssh_fd(struct term_ssh *t);
/* True when libssh holds bytes the socket has not taken yet. */
bool term_ssh_wants_write(struct term_ssh *t);
/* Writes libssh's pending bytes. Returns 0 or -1. */
int term_ssh_flush(struct term_ssh *t);
/* Why the last step failed (libssh's message). */
const char *term_ssh_error(struct term_ssh *t);

#endif
