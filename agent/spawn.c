#include "agent/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* The error pipe's descriptor in the child, above stdin/stdout/stderr. */
#define CHILD_ERR_FD 3

/* Child only: report errno to the parent and give up. */
static _Noreturn void child_fail(int fd, int err)
{
	ssize_t unused = write(fd, &err, sizeof(err));
	(void)unused;
	_exit(127);
}

static _Noreturn void child(const struct launch_plan *p, pid_t parent, int err_fd,
			    unsigned max_fd)
{
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0)
		child_fail(err_fd, errno);
	if (getppid() != parent)
		_exit(1); /* the agent died before prctl: nothing to serve */

	struct sigaction dfl;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &dfl, NULL); /* EINVAL for glibc's internal ones */

	/* The error pipe to fd 3 (dup3 keeps it close-on-exec), stdin from
	 * /dev/null, then everything above 3 closed. */
	if (err_fd != CHILD_ERR_FD) {
		if (dup3(err_fd, CHILD_ERR_FD, O_CLOEXEC) < 0)
			child_fail(err_fd, errno);
		err_fd = CHILD_ERR_FD;
	}
	int null_fd = open("/dev/null", O_RDONLY);
	if (null_fd < 0)
		child_fail(err_fd, errno);
	if (null_fd != STDIN_FILENO) {
		if (dup2(null_fd, STDIN_FILENO) < 0)
			child_fail(err_fd, errno);
		if (null_fd > CHILD_ERR_FD)
			close(null_fd);
	}
	if (close_range(CHILD_ERR_FD + 1, ~0U, 0) != 0)
		for (unsigned fd = CHILD_ERR_FD + 1; fd < max_fd; fd++)
			close((int)fd);

	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	execve(p->argv[0], p->argv, p->envp);
	child_fail(err_fd, errno);
}

pid_t spawn_localproxy(const struct launch_plan *p, char *err, size_t err_cap)
{
	/* Everything the child needs is computed before fork(). */
	struct rlimit rl;
	unsigned max_fd = 65536;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < max_fd)
		max_fd = (unsigned)rl.rlim_cur;
	int pipe_fd[2];
	if (pipe2(pipe_fd, O_CLOEXEC) != 0) {
		snprintf(err, err_cap, "cannot make a pipe: %s", strerror(errno));
		return -1;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(pipe_fd[0]);
		close(pipe_fd[1]);
		snprintf(err, err_cap, "fork failed: %s", strerror(e));
		return -1;
	}
	if (pid == 0) {
		close(pipe_fd[0]);
		child(p, parent, pipe_fd[1], max_fd);
	}
	close(pipe_fd[1]);
	int child_errno = 0;
	ssize_t n;
	do
		n = read(pipe_fd[0], &child_errno, sizeof(child_errno));
	while (n < 0 && errno == EINTR);
	close(pipe_fd[0]);
	if (n == 0)
		return pid; /* EOF: execve succeeded and closed the pipe */
	/* The child failed before or at execve and is exiting: reap it here. */
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	snprintf(err, err_cap, "cannot run %s: %s", p->argv[0],
		 n == (ssize_t)sizeof(child_errno) ? strerror(child_errno) : "setup failed");
	return -1;
}
