#include "term/run.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/bytequeue.h"
#include "common/log.h"
#include "common/token.h"
#include "term/frames.h"
#include "term/hostkey.h"
#include "term/messages.h"
#include "term/proxy_child.h"
#include "term/recording.h"
#include "term/ssh_session.h"

/* Each direction's queue stops its source past this: stdin is not read
 * while this much waits for the SSH window, the channel is not read while
 * this much waits for the relay to read stdout. */
#define QUEUE_LIMIT (256 * 1024)
#define OUTPUT_CHUNK 16384
#define CONNECT_TIMEOUT_MS 30000
#define AUTH_TRIES 3
#define FINAL_FLUSH_MS 2000

enum phase {
	PH_CONNECTING,   /* tunnel + SSH handshake */
	PH_HOSTKEY,      /* a new host key shown: waiting for `y` */
	PH_AUTH_WAIT,    /* waiting for `a` */
	PH_AUTHING,      /* one try in progress */
	PH_OPENING,      /* channel, pty, shell */
	PH_READY,        /* the shell runs */
	PH_DONE,
};

struct term {
	const struct term_options *opt;
	struct term_pipe pipe;
	struct proxy_child proxy;
	struct term_ssh ssh;
	struct recording rec;
	struct bytequeue to_ssh;
	struct term_creds creds;
	enum phase phase;
	int tries;
	int cols, rows;
	int exit_code;
	char fingerprint[TERM_FINGERPRINT_MAX];
	char key_type[64];
	char first_user[TERM_USER_MAX + 1];
	uint8_t chunk[OUTPUT_CHUNK];
};

/* SIGTERM/SIGINT (the relay closing the terminal) end the loop cleanly:
 * blocked except inside ppoll(), so that none is lost between a check of
 * the flag and the wait. */
static volatile sig_atomic_t stop_signal;
static sigset_t wait_mask;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

static int setup_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	/* A relay that goes away must not kill us mid-write: EPIPE is handled. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR || sigaction(SIGTERM, &sa, NULL) ||
	    sigaction(SIGINT, &sa, NULL) || sigprocmask(SIG_BLOCK, &block, &wait_mask)) {
		log_error("cannot set up signal handling: %s", strerror(errno));
		return -1;
	}
	sigdelset(&wait_mask, SIGTERM);
	sigdelset(&wait_mask, SIGINT);
	return 0;
}

/* poll() that a stop signal interrupts (-1, EINTR). ms < 0: no limit. */
static int wait_fds(struct pollfd *fds, nfds_t n, long long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
	return ppoll(fds, n, ms < 0 ? NULL : &ts, &wait_mask);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Ends the terminal: an `e` frame with code and message, and exit code. */
static void finish_error(struct term *t, int exit_code, const char *code, const char *message)
{
	log_error("%s: %s", code, message);
	(void)term_pipe_send_text(&t->pipe, TERM_FRAME_ERROR, msg_error(code, message));
	t->exit_code = exit_code;
	t->phase = PH_DONE;
}

static void send_status(struct term *t, const char *state, const char *message, unsigned methods)
{
	if (term_pipe_send_text(&t->pipe, TERM_FRAME_STATUS, msg_status(state, message, methods)))
		finish_error(t, TERM_EXIT_CONNECTION, "internal", "cannot queue a frame for the relay");
}

static void ask_credentials(struct term *t, const char *message)
{
	unsigned methods = term_ssh_auth_methods(&t->ssh);
	send_status(t, "auth", message, methods ? methods : TERM_AUTH_PASSWORD | TERM_AUTH_PUBLICKEY);
	if (t->phase != PH_DONE)
		t->phase = PH_AUTH_WAIT;
}

/* Before the SSH handshake is through, a failure is the tunnel's (the
 * relay refused the token, no destination, the device's sshd down behind
 * it); after, the SSH session's. */
static void connection_failed(struct term *t)
{
	char msg[512];
	if (t->phase == PH_CONNECTING) {
		/* localproxy closes the socket just before it exits: give it a
		 * moment, so that the message can say which it was. */
		bool gone = proxy_child_wait(&t->proxy, 500);
		snprintf(msg, sizeof(msg), "%s (%s)",
			 gone ? "localproxy could not open the tunnel; the relay's log says why"
			      : "could not reach the device's SSH server through the tunnel",
			 term_ssh_error(&t->ssh));
		finish_error(t, TERM_EXIT_CONNECTION, "tunnel", msg);
	} else {
		snprintf(msg, sizeof(msg), "SSH connection failed: %s", term_ssh_error(&t->ssh));
		finish_error(t, TERM_EXIT_CONNECTION, "ssh", msg);
	}
}

static void check_host_key(struct term *t)
{
	if (term_ssh_host_key(&t->ssh, t->fingerprint, sizeof(t->fingerprint), t->key_type,
			      sizeof(t->key_type))) {
		connection_failed(t);
		return;
	}
	enum hostkey_verdict v = hostkey_check(t->opt->known_host_key, t->fingerprint);
	if (v == HOSTKEY_CHANGED) {
		char msg[512];
		hostkey_changed_text(msg, sizeof(msg), t->opt->known_host_key, t->fingerprint);
		finish_error(t, TERM_EXIT_HOSTKEY, "hostkey_changed", msg);
		return;
	}
	log_info("host key %s %s (%s)", t->key_type, t->fingerprint, v == HOSTKEY_NEW ? "new" : "known");
	if (term_pipe_send_text(&t->pipe, TERM_FRAME_HOSTKEY,
				msg_hostkey(t->fingerprint, t->key_type,
					    v == HOSTKEY_NEW ? "new" : "known"))) {
		finish_error(t, TERM_EXIT_CONNECTION, "internal", "cannot queue a frame for the relay");
		return;
	}
	if (v == HOSTKEY_NEW) {
		send_status(t, "hostkey", "check the device's host key fingerprint, then accept it", 0);
		if (t->phase != PH_DONE)
			t->phase = PH_HOSTKEY;
	} else {
		ask_credentials(t, NULL);
	}
}

static void auth_step(struct term *t)
{
	enum ts_result r = term_ssh_auth(&t->ssh, &t->creds);
	if (r == TS_AGAIN)
		return;
	creds_wipe(&t->creds);
	if (r == TS_ERROR) {
		connection_failed(t);
	} else if (r == TS_OK) {
		log_info("signed in as %s", t->first_user);
		t->phase = PH_OPENING;
	} else if (++t->tries >= AUTH_TRIES) {
		finish_error(t, TERM_EXIT_AUTH, "auth_failed",
			     "authentication failed 3 times; close the terminal and try again");
	} else {
		char msg[320];
		snprintf(msg, sizeof(msg), "%s; %d of %d tries left", term_ssh_error(&t->ssh),
			 AUTH_TRIES - t->tries, AUTH_TRIES);
		log_info("authentication refused (try %d of %d)", t->tries, AUTH_TRIES);
		ask_credentials(t, msg);
	}
}

static void shell_ready(struct term *t)
{
	if (t->opt->record[0] && recording_open(&t->rec, t->opt->record, t->cols, t->rows)) {
		finish_error(t, TERM_EXIT_CONNECTION, "internal",
			     "the session cannot be recorded, so it is not started");
		return;
	}
	log_info("shell started (%dx%d)", t->cols, t->rows);
	send_status(t, "ready", NULL, 0);
	if (t->phase != PH_DONE)
		t->phase = PH_READY;
}

/* Moves the shell's output to the relay while the pipe has room, and the
 * relay's input to the shell while the window has room. */
static void pump_shell(struct term *t)
{
	while (bytequeue_len(&t->to_ssh)) {
		long n = term_ssh_write(&t->ssh, bytequeue_peek(&t->to_ssh), bytequeue_len(&t->to_ssh));
		if (n < 0) {
			connection_failed(t);
			return;
		}
		if (n == 0)
			break;
		bytequeue_consume(&t->to_ssh, (size_t)n);
	}
	while (term_pipe_backlog(&t->pipe) < QUEUE_LIMIT) {
		int n = term_ssh_read(&t->ssh, t->chunk, sizeof(t->chunk));
		if (n == 0)
			return;
		if (n == -1) {
			connection_failed(t);
			return;
		}
		if (n == -2) {
			int status = term_ssh_exit_status(&t->ssh);
			log_info("the shell ended (status %d)", status);
			(void)term_pipe_send_text(&t->pipe, TERM_FRAME_EXIT, msg_exit(status));
			t->exit_code = TERM_EXIT_OK;
			t->phase = PH_DONE;
			return;
		}
		if (term_pipe_send(&t->pipe, TERM_FRAME_OUTPUT, t->chunk, (size_t)n)) {
			finish_error(t, TERM_EXIT_CONNECTION, "internal", "cannot pass output to the relay");
			return;
		}
		if (recording_output(&t->rec, t->chunk, (size_t)n)) {
			finish_error(t, TERM_EXIT_CONNECTION, "internal", "the recording failed");
			return;
		}
	}
}

/* Advances the SSH side as far as it goes without waiting. */
static void step_ssh(struct term *t)
{
	enum phase before;
	do {
		before = t->phase;
		switch (t->phase) {
		case PH_CONNECTING: {
			enum ts_result r = term_ssh_connect(&t->ssh);
			if (r == TS_OK)
				check_host_key(t);
			else if (r == TS_ERROR)
				connection_failed(t);
			break;
		}
		case PH_AUTHING:
			auth_step(t);
			break;
		case PH_OPENING: {
			enum ts_result r = term_ssh_open_shell(&t->ssh, t->cols, t->rows);
			if (r == TS_OK)
				shell_ready(t);
			else if (r == TS_ERROR)
				connection_failed(t);
			break;
		}
		case PH_READY:
			pump_shell(t);
			break;
		default:
			break;
		}
	} while (t->phase != before && t->phase != PH_DONE);
}

static void on_credentials(struct term *t, const uint8_t *p, size_t n)
{
	char err[128];
	if (t->phase != PH_AUTH_WAIT) {
		log_warn("credentials arrived when none were asked for: ignored");
		return;
	}
	if (msg_parse_creds(p, n, &t->creds, err, sizeof(err))) {
		creds_wipe(&t->creds);
		log_warn("unusable credentials frame: %s", err);
		ask_credentials(t, err);
		return;
	}
	/* OpenSSH drops a connection whose user name changes between tries. */
	if (t->first_user[0] && strcmp(t->first_user, t->creds.user)) {
		creds_wipe(&t->creds);
		ask_credentials(t, "the user name cannot change on one connection; "
				   "close the terminal to sign in as another user");
		return;
	}
	strcpy(t->first_user, t->creds.user);
	t->phase = PH_AUTHING;
}

static void on_resize(struct term *t, const uint8_t *p, size_t n)
{
	int cols, rows;
	if (msg_parse_resize(p, n, &cols, &rows)) {
		log_warn("malformed resize frame ignored");
		return;
	}
	t->cols = cols;
	t->rows = rows;
	if (t->phase != PH_READY)
		return; /* the pty is made at this size */
	if (term_ssh_resize(&t->ssh, cols, rows)) {
		connection_failed(t);
		return;
	}
	if (recording_resize(&t->rec, cols, rows))
		finish_error(t, TERM_EXIT_CONNECTION, "internal", "the recording failed");
}

static void on_frame(struct term *t, uint8_t type, const uint8_t *p, size_t n)
{
	switch (type) {
	case TERM_FRAME_INPUT:
		if (t->phase != PH_READY) {
			log_debug("input before the shell is ready: dropped");
		} else if (bytequeue_append(&t->to_ssh, p, n)) {
			finish_error(t, TERM_EXIT_CONNECTION, "internal", "out of memory");
		}
		break;
	case TERM_FRAME_RESIZE:
		on_resize(t, p, n);
		break;
	case TERM_FRAME_ACCEPT:
		if (t->phase == PH_HOSTKEY) {
			log_info("host key %s accepted", t->fingerprint);
			ask_credentials(t, NULL);
		}
		break;
	case TERM_FRAME_CREDS:
		on_credentials(t, p, n);
		term_pipe_wipe_input(&t->pipe);
		break;
	default:
		log_warn("frame type '%c' is not for tunnel-term: ignored", type);
		break;
	}
}

/* The relay closed our stdin: the browser has gone. */
static void on_stdin_eof(struct term *t)
{
	if (t->phase == PH_HOSTKEY) {
		log_info("the host key was not accepted");
		t->exit_code = TERM_EXIT_HOSTKEY;
	} else if (t->phase == PH_AUTH_WAIT) {
		log_info("no credentials were given");
		t->exit_code = TERM_EXIT_AUTH;
	} else {
		log_info("the relay closed the terminal");
		t->exit_code = TERM_EXIT_OK;
	}
	t->phase = PH_DONE;
}

/* Takes frames from stdin while the shell's queue has room. */
static void read_relay(struct term *t)
{
	while (t->phase != PH_DONE && bytequeue_len(&t->to_ssh) < QUEUE_LIMIT) {
		enum term_pipe_in r = term_pipe_next(&t->pipe);
		if (r == PIPE_WAIT)
			return;
		if (r == PIPE_EOF) {
			on_stdin_eof(t);
		} else if (r == PIPE_BROKEN) {
			t->exit_code = TERM_EXIT_USAGE;
			t->phase = PH_DONE;
		} else {
			on_frame(t, t->pipe.dec.type, t->pipe.dec.payload, t->pipe.dec.len);
		}
	}
}

static void loop(struct term *t)
{
	long long deadline = now_ms() + CONNECT_TIMEOUT_MS;
	step_ssh(t);
	while (t->phase != PH_DONE) {
		if (stop_signal) {
			log_info("stopping on signal %d", (int)stop_signal);
			t->exit_code = TERM_EXIT_OK;
			break;
		}
		bool stdin_room = bytequeue_len(&t->to_ssh) < QUEUE_LIMIT;
		bool stdout_room = term_pipe_backlog(&t->pipe) < QUEUE_LIMIT;
		short ssh_events = 0;
		/* Read the socket unless the only thing it would bring is
		 * output the relay has no room for (the SSH window then holds
		 * the device back). */
		if (t->phase != PH_READY || stdout_room || bytequeue_len(&t->to_ssh))
			ssh_events |= POLLIN;
		if (term_ssh_wants_write(&t->ssh))
			ssh_events |= POLLOUT;
		struct pollfd fds[3] = {
			{.fd = stdin_room ? t->pipe.in_fd : -1, .events = POLLIN},
			{.fd = term_pipe_backlog(&t->pipe) ? t->pipe.out_fd : -1, .events = POLLOUT},
			{.fd = term_ssh_fd(&t->ssh), .events = ssh_events},
		};
		long long timeout = -1;
		if (t->phase == PH_CONNECTING) {
			long long left = deadline - now_ms();
			if (left <= 0) {
				finish_error(t, TERM_EXIT_CONNECTION, "tunnel",
					     "the device did not answer within 30 s");
				break;
			}
			timeout = left;
		}
		if (stdin_room && term_pipe_buffered(&t->pipe))
			timeout = 0;
		int n = wait_fds(fds, 3, timeout);
		if (n < 0 && errno != EINTR) {
			finish_error(t, TERM_EXIT_CONNECTION, "internal", "poll failed");
			break;
		}
		if (n < 0)
			continue;
		if (fds[1].revents && term_pipe_flush(&t->pipe)) {
			t->exit_code = TERM_EXIT_OK; /* nobody reads us any more */
			break;
		}
		if (fds[2].revents & POLLOUT && term_ssh_flush(&t->ssh)) {
			connection_failed(t);
			break;
		}
		/* Frames left in the read buffer when the shell's queue filled
		 * are taken once it has room, whether or not more arrives. */
		if (fds[0].revents || (stdin_room && term_pipe_buffered(&t->pipe)))
			read_relay(t);
		step_ssh(t);
	}
}

/* Gives the relay the last frames (the exit or error), for a short while. */
static void final_flush(struct term *t)
{
	long long end = now_ms() + FINAL_FLUSH_MS;
	while (term_pipe_backlog(&t->pipe) && !term_pipe_flush(&t->pipe)) {
		long long left = end - now_ms();
		if (left <= 0 || !term_pipe_backlog(&t->pipe))
			break;
		struct pollfd p = {.fd = t->pipe.out_fd, .events = POLLOUT};
		if (wait_fds(&p, 1, left) <= 0)
			break;
	}
}

int term_run(struct term_options *o)
{
	static struct term t; /* the decoder holds a 64 KiB payload: not on the stack */
	memset(&t, 0, sizeof(t));
	t.opt = o;
	t.cols = o->cols;
	t.rows = o->rows;
	t.rec.fd = -1;
	t.proxy.pid = -1;
	t.proxy.ssh_fd = -1;
	bytequeue_init(&t.to_ssh, 0);
	if (setup_signals() || term_pipe_init(&t.pipe, STDIN_FILENO, STDOUT_FILENO)) {
		bytequeue_free(&t.to_ssh);
		return TERM_EXIT_CONNECTION;
	}
	log_info("connecting to %s through the tunnel (service %s)", o->thing[0] ? o->thing : "the device",
		 o->service);
	send_status(&t, "connecting", NULL, 0);
	int started = proxy_child_start(&t.proxy, o);
	/* localproxy has its copy: ours is not needed any more. */
	secret_wipe(o->token);
	if (started) {
		finish_error(&t, TERM_EXIT_CONNECTION, "tunnel", "cannot start localproxy");
	} else if (term_ssh_init(&t.ssh, t.proxy.ssh_fd, o->verbose >= LOG_DEBUG)) {
		finish_error(&t, TERM_EXIT_CONNECTION, "internal", term_ssh_error(&t.ssh));
	} else {
		t.proxy.ssh_fd = -1; /* libssh owns and closes it now */
		loop(&t);
	}
	final_flush(&t);
	creds_wipe(&t.creds);
	recording_close(&t.rec);
	term_ssh_free(&t.ssh);
	proxy_child_stop(&t.proxy);
	bytequeue_free(&t.to_ssh);
	term_pipe_free(&t.pipe);
	return t.exit_code;
}
