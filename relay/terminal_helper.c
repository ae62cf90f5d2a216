#include "relay/terminal_helper.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/bytequeue.h"
#include "common/log.h"
#include "relay/event_loop.h"

extern char **environ;

#define TOKEN_ENV "TUNNEL_TERM_TOKEN"
/* Longest stderr line logged whole; longer ones are cut. */
#define LINE_MAX_LOGGED 512
/* Bytes read from its stdout per wake-up. */
#define READ_CHUNK (64u * 1024u)

struct terminal_helper {
	pid_t pid;
	int in_fd, out_fd, err_fd, pid_fd;   /* -1 once closed */
	struct relay_fd_watch *in_w, *out_w, *err_w, *pid_w;
	struct bytequeue input;
	bool paused, input_high, exited;
	char line[LINE_MAX_LOGGED + 1];
	size_t line_len;
	struct terminal_helper_events ev;
	char log_id[80];
};

size_t terminal_helper_argv(const struct terminal_helper_args *a, char numbers[2][12],
			    const char *argv[TERMINAL_HELPER_MAX_ARGS])
{
	size_t n = 0;
	argv[n++] = a->program;
	argv[n++] = "--relay";
	argv[n++] = a->relay;
	if (a->ca) {
		argv[n++] = "--ca";
		argv[n++] = a->ca;
	}
	argv[n++] = "--thing";
	argv[n++] = a->thing;
	argv[n++] = "--service";
	argv[n++] = a->service;
	argv[n++] = "--localproxy";
	argv[n++] = a->localproxy;
	if (a->known_host_key) {
		argv[n++] = "--known-host-key";
		argv[n++] = a->known_host_key;
	}
	if (a->record) {
		argv[n++] = "--record";
		argv[n++] = a->record;
	}
	snprintf(numbers[0], 12, "%d", a->cols);
	snprintf(numbers[1], 12, "%d", a->rows);
	argv[n++] = "--cols";
	argv[n++] = numbers[0];
	argv[n++] = "--rows";
	argv[n++] = numbers[1];
	if (a->verbose)
		argv[n++] = "-v";
	argv[n] = NULL;
	return n;
}

/* The relay's environment less its secrets, plus the token: malloc'd, the
 * token's string too (wiped by free_env). */
static char **make_env(const char *token)
{
	size_t n = 0;
	while (environ && environ[n])
		n++;
	char **env = calloc(n + 2, sizeof(*env));
	if (!env)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "TUNNEL_RELAY_API_KEY=", 21) &&
		    strncmp(environ[i], TOKEN_ENV "=", sizeof(TOKEN_ENV)))
			env[k++] = environ[i];
	size_t len = sizeof(TOKEN_ENV) + strlen(token) + 1;
	char *t = malloc(len);
	if (!t) {
		free(env);
		return NULL;
	}
	snprintf(t, len, "%s=%s", TOKEN_ENV, token);
	env[k] = t; /* last, so free_env finds it */
	return env;
}

static void free_env(char **env)
{
	if (!env)
		return;
	size_t k = 0;
	while (env[k + 1])
		k++;
	OPENSSL_cleanse(env[k], strlen(env[k]));
	free(env[k]);
	free(env);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int set_nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -1 : 0;
}

/* Runs the child with pipes p (in, out, err: [0] read end, [1] write end).
 * Returns its pid, or -1 with errno. */
static pid_t spawn(const struct terminal_helper_args *a, int p[3][2], char **env)
{
	char numbers[2][12];
	const char *argv[TERMINAL_HELPER_MAX_ARGS];
	terminal_helper_argv(a, numbers, argv);
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t all, none;
	sigfillset(&all);
	sigemptyset(&none);
	if (posix_spawn_file_actions_init(&fa))
		return -1;
	if (posix_spawnattr_init(&at)) {
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	/* Its own process group (a signal to it reaches its localproxy too),
	 * default signal actions (the relay ignores SIGPIPE), nothing blocked,
	 * and no descriptor of the relay's but its three pipes. */
	int rc = posix_spawn_file_actions_adddup2(&fa, p[0][0], 0);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, p[1][1], 1);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, p[2][1], 2);
	if (!rc)
		rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	if (!rc)
		rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
						   POSIX_SPAWN_SETSIGMASK);
	if (!rc)
		rc = posix_spawnattr_setpgroup(&at, 0);
	if (!rc)
		rc = posix_spawnattr_setsigdefault(&at, &all);
	if (!rc)
		rc = posix_spawnattr_setsigmask(&at, &none);
	pid_t pid = -1;
	if (!rc)
		rc = posix_spawn(&pid, a->program, &fa, &at, (char *const *)argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (rc) {
		errno = rc;
		return -1;
	}
	return pid;
}

static void stop_watch(struct relay_fd_watch **w)
{
	relay_fd_watch_free(*w);
	*w = NULL;
}

static void close_input(struct terminal_helper *h)
{
	stop_watch(&h->in_w);
	close_fd(&h->in_fd);
	bytequeue_free(&h->input);
}

/* Writes what its stdin takes now; watches for room when it takes less. */
static void flush_input(struct terminal_helper *h)
{
	while (h->in_fd >= 0 && bytequeue_len(&h->input)) {
		ssize_t n = write(h->in_fd, bytequeue_peek(&h->input), bytequeue_len(&h->input));
		if (n > 0) {
			bytequeue_consume(&h->input, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			relay_fd_watch_set(h->in_w, true);
			return;
		}
		log_warn("terminal %s: helper's input closed: %s", h->log_id,
			 n < 0 ? strerror(errno) : "short write");
		close_input(h);
		return;
	}
	if (h->in_w)
		relay_fd_watch_set(h->in_w, false);
	if (h->input_high && bytequeue_len(&h->input) < TERMINAL_HELPER_INPUT_HIGH / 2) {
		h->input_high = false;
		if (h->ev.input_drained)
			h->ev.input_drained(h->ev.arg);
	}
}

static void on_input_room(void *arg)
{
	flush_input(arg);
}

static void on_output(void *arg)
{
	struct terminal_helper *h = arg;
	uint8_t buf[READ_CHUNK];
	ssize_t n = read(h->out_fd, buf, sizeof(buf));
	if (n > 0) {
		h->ev.output(h->ev.arg, buf, (size_t)n);
		return;
	}
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	stop_watch(&h->out_w);
	close_fd(&h->out_fd);
	h->ev.output_end(h->ev.arg);
}

static void log_line(struct terminal_helper *h)
{
	h->line[h->line_len] = '\0';
	if (h->line_len)
		log_info("terminal %s: %s", h->log_id, h->line);
	h->line_len = 0;
}

static void on_stderr(void *arg)
{
	struct terminal_helper *h = arg;
	char buf[4096];
	ssize_t n = read(h->err_fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		log_line(h);
		stop_watch(&h->err_w);
		close_fd(&h->err_fd);
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		char c = buf[i];
		if (c == '\n') {
			log_line(h);
			continue;
		}
		if (h->line_len < LINE_MAX_LOGGED)
			/* Control bytes would forge log lines or escape codes. */
			h->line[h->line_len++] = (c >= 0x20 || c == '\t') && c != 0x7f ? c : '?';
	}
}

/* Collects its exit (options: WNOHANG or 0). Returns the waitpid status,
 * or -1 while it still runs. */
static int reap(struct terminal_helper *h, int options)
{
	int status = 0;
	pid_t r;
	do
		r = waitpid(h->pid, &status, options);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return -1;
	h->exited = true;
	stop_watch(&h->pid_w);
	close_fd(&h->pid_fd);
	kill(-h->pid, SIGKILL); /* its localproxy, if it outlived it */
	close_input(h);
	return r < 0 ? 0xff00 : status; /* r < 0 cannot happen: nobody else reaps it */
}

static void on_exit_ready(void *arg)
{
	struct terminal_helper *h = arg;
	int status = reap(h, WNOHANG);
	if (status >= 0)
		h->ev.exited(h->ev.arg, status);
}

struct terminal_helper *terminal_helper_start(struct relay_loop *loop,
					      const struct terminal_helper_args *a,
					      const struct terminal_helper_events *ev, char *err,
					      size_t err_cap)
{
	struct terminal_helper *h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(err, err_cap, "out of memory");
		return NULL;
	}
	h->ev = *ev;
	snprintf(h->log_id, sizeof(h->log_id), "%s", ev->log_id);
	h->in_fd = h->out_fd = h->err_fd = h->pid_fd = -1;
	bytequeue_init(&h->input, 0);
	int p[3][2] = { { -1, -1 }, { -1, -1 }, { -1, -1 } };
	for (int i = 0; i < 3; i++)
		if (pipe2(p[i], O_CLOEXEC)) {
			snprintf(err, err_cap, "cannot make a pipe: %s", strerror(errno));
			goto fail;
		}
	char **env = make_env(a->token);
	if (!env) {
		snprintf(err, err_cap, "out of memory");
		goto fail;
	}
	h->pid = spawn(a, p, env);
	int spawn_errno = errno;
	free_env(env);
	if (h->pid < 0) {
		snprintf(err, err_cap, "cannot run %s: %s", a->program, strerror(spawn_errno));
		goto fail;
	}
	/* The child's ends are its own now. */
	close_fd(&p[0][0]);
	close_fd(&p[1][1]);
	close_fd(&p[2][1]);
	h->in_fd = p[0][1];
	h->out_fd = p[1][0];
	h->err_fd = p[2][0];
	h->pid_fd = pidfd_open(h->pid, 0);
	if (h->pid_fd < 0) {
		snprintf(err, err_cap, "pidfd_open: %s", strerror(errno));
		goto fail_running;
	}
	if (set_nonblocking(h->in_fd) || set_nonblocking(h->out_fd) || set_nonblocking(h->err_fd)) {
		snprintf(err, err_cap, "cannot make its pipes non-blocking: %s", strerror(errno));
		goto fail_running;
	}
	h->in_w = relay_fd_watch_new(loop, h->in_fd, true, on_input_room, h);
	h->out_w = relay_fd_watch_new(loop, h->out_fd, false, on_output, h);
	h->err_w = relay_fd_watch_new(loop, h->err_fd, false, on_stderr, h);
	h->pid_w = relay_fd_watch_new(loop, h->pid_fd, false, on_exit_ready, h);
	if (!h->in_w || !h->out_w || !h->err_w || !h->pid_w) {
		snprintf(err, err_cap, "out of memory");
		goto fail_running;
	}
	relay_fd_watch_set(h->out_w, true);
	relay_fd_watch_set(h->err_w, true);
	relay_fd_watch_set(h->pid_w, true);
	return h;
fail_running:
	terminal_helper_free(h);
	return NULL;
fail:
	for (int i = 0; i < 3; i++) {
		close_fd(&p[i][0]);
		close_fd(&p[i][1]);
	}
	bytequeue_free(&h->input);
	free(h);
	return NULL;
}

pid_t terminal_helper_pid(const struct terminal_helper *h)
{
	return h->pid;
}

int terminal_helper_write(struct terminal_helper *h, const uint8_t *data, size_t n)
{
	if (h->in_fd < 0 || bytequeue_append(&h->input, data, n))
		return -1;
	if (bytequeue_len(&h->input) >= TERMINAL_HELPER_INPUT_HIGH)
		h->input_high = true;
	flush_input(h);
	return 0;
}

size_t terminal_helper_input_queued(const struct terminal_helper *h)
{
	return bytequeue_len(&h->input);
}

void terminal_helper_pause_output(struct terminal_helper *h, bool paused)
{
	h->paused = paused;
	if (h->out_w)
		relay_fd_watch_set(h->out_w, !paused);
}

void terminal_helper_stop(struct terminal_helper *h, int sig)
{
	close_input(h);
	if (sig && !h->exited)
		kill(-h->pid, sig);
}

void terminal_helper_free(struct terminal_helper *h)
{
	if (!h)
		return;
	if (!h->exited) {
		kill(-h->pid, SIGKILL);
		reap(h, 0);
	}
	close_input(h);
	stop_watch(&h->out_w);
	stop_watch(&h->err_w);
	stop_watch(&h->pid_w);
	close_fd(&h->out_fd);
	close_fd(&h->err_fd);
	close_fd(&h->pid_fd);
	free(h);
}
