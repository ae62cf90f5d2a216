#include "term/proxy_child.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/token.h"

extern char **environ;

#define TOKEN_VAR "AWSIOT_TUNNEL_ACCESS_TOKEN="
#define ENDPOINT_VAR "AWSIOT_TUNNEL_ENDPOINT="

/* Our environment minus any AWSIOT_* (localproxy reads those), plus the
 * endpoint and the token. Built before fork(): the child only execs. */
static char **child_env(const struct term_options *o)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 3, sizeof(*env));
	if (!env)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "AWSIOT_", 7))
			env[k++] = environ[i];
	size_t tlen = strlen(TOKEN_VAR) + strlen(o->token) + 1;
	size_t elen = strlen(ENDPOINT_VAR) + strlen(o->relay) + 1;
	char *token = malloc(tlen), *endpoint = malloc(elen);
	if (!token || !endpoint) {
		free(token);
		free(endpoint);
		free(env);
		return NULL;
	}
	snprintf(token, tlen, "%s%s", TOKEN_VAR, o->token);
	snprintf(endpoint, elen, "%s%s", ENDPOINT_VAR, o->relay);
	env[k++] = endpoint;
	env[k++] = token;
	env[k] = NULL;
	return env;
}

/* Frees what child_env allocated: the last two entries and the array. */
static void child_env_free(char **env)
{
	size_t n = 0;
	while (env[n])
		n++;
	free(env[n - 2]);
	secret_wipe(env[n - 1]);
	free(env[n - 1]);
	free(env);
}

static _Noreturn void child_fail(int fd)
{
	int err = errno;
	ssize_t unused = write(fd, &err, sizeof(err));
	(void)unused;
	_exit(127);
}

/* In the child: the socket as stdin and stdout, stderr shared with ours
 * (the relay logs it), everything else closed; then exec. */
static _Noreturn void child(int sock, int err_fd, pid_t parent, char *const argv[],
			    char *const envp[])
{
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0)
		child_fail(err_fd);
	if (getppid() != parent)
		_exit(1);
	/* Signals as a fresh process has them: tunnel-term ignores SIGPIPE
	 * and blocks SIGTERM outside its wait. */
	sigset_t none;
	sigemptyset(&none);
	if (signal(SIGPIPE, SIG_DFL) == SIG_ERR || signal(SIGTERM, SIG_DFL) == SIG_ERR ||
	    signal(SIGINT, SIG_DFL) == SIG_ERR || sigprocmask(SIG_SETMASK, &none, NULL))
		child_fail(err_fd);
	if (dup2(sock, STDIN_FILENO) < 0 || dup2(sock, STDOUT_FILENO) < 0)
		child_fail(err_fd);
	if (err_fd != 3) {
		if (dup3(err_fd, 3, O_CLOEXEC) < 0)
			child_fail(err_fd);
		err_fd = 3;
	}
	if (close_range(4, ~0U, 0) != 0)
		child_fail(err_fd);
	execve(argv[0], argv, envp);
	child_fail(err_fd);
}

int proxy_child_start(struct proxy_child *c, const struct term_options *o)
{
	c->pid = -1;
	c->ssh_fd = -1;
	int sv[2], ep[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		log_error("socketpair: %s", strerror(errno));
		return -1;
	}
	if (pipe2(ep, O_CLOEXEC)) {
		log_error("pipe: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	char service[sizeof(o->service)];
	char ca[sizeof(o->ca)];
	char verbose[] = "3";
	memcpy(service, o->service, sizeof(service));
	memcpy(ca, o->ca, sizeof(ca));
	char localproxy[sizeof(o->localproxy)];
	memcpy(localproxy, o->localproxy, sizeof(localproxy));
	if (o->verbose >= LOG_DEBUG)
		verbose[0] = '4';
	/* --config /dev/null: the relay's settings only, never a config file
	 * of whoever runs it. */
	char *argv[] = {localproxy, "--stdio", service, "-c", ca, "-v", verbose,
			"--config", "/dev/null", NULL};
	char **envp = child_env(o);
	if (!envp) {
		log_error("out of memory");
		close(sv[0]);
		close(sv[1]);
		close(ep[0]);
		close(ep[1]);
		return -1;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		close(ep[0]);
		child(sv[1], ep[1], parent, argv, envp);
	}
	int fork_errno = errno;
	child_env_free(envp);
	close(sv[1]);
	close(ep[1]);
	if (pid < 0) {
		log_error("fork: %s", strerror(fork_errno));
		close(sv[0]);
		close(ep[0]);
		return -1;
	}
	int child_errno = 0;
	ssize_t n;
	do
		n = read(ep[0], &child_errno, sizeof(child_errno));
	while (n < 0 && errno == EINTR);
	close(ep[0]);
	if (n != 0) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		log_error("cannot run %s: %s", o->localproxy,
			  n == (ssize_t)sizeof(child_errno) ? strerror(child_errno) : "setup failed");
		close(sv[0]);
		return -1;
	}
	c->pid = pid;
	c->ssh_fd = sv[0];
	log_debug("localproxy pid %d carries the %s connection", (int)pid, o->service);
	return 0;
}

static void log_status(pid_t pid, int status)
{
	if (WIFEXITED(status))
		log_info("localproxy (pid %d) exited with status %d", (int)pid, WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		log_info("localproxy (pid %d) ended by signal %d", (int)pid, WTERMSIG(status));
}

int proxy_child_exited(struct proxy_child *c)
{
	if (c->pid < 0)
		return 1;
	int status;
	pid_t r = waitpid(c->pid, &status, WNOHANG);
	if (r != c->pid)
		return 0;
	log_status(c->pid, status);
	c->pid = -1;
	return 1;
}

int proxy_child_wait(struct proxy_child *c, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		if (proxy_child_exited(c))
			return 1;
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
	return proxy_child_exited(c);
}

void proxy_child_stop(struct proxy_child *c)
{
	if (c->ssh_fd >= 0) {
		close(c->ssh_fd);
		c->ssh_fd = -1;
	}
	if (c->pid < 0)
		return;
	/* Closing the socket ends localproxy's --stdio connection and so the
	 * process; SIGTERM makes sure, SIGKILL if it does not go in 2 s. */
	kill(c->pid, SIGTERM);
	if (proxy_child_wait(c, 2000))
		return;
	kill(c->pid, SIGKILL);
	int status;
	while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
		;
	log_status(c->pid, status);
	c->pid = -1;
}
