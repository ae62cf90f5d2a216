/* Unit tests for agent/spawn.c: what a child of tunnel-agent starts with.
 * The child here is /bin/sleep instead of localproxy, inspected through
 * /proc: its environment (exactly the plan's), its command line, its
 * descriptors (0-2 only), its signal mask and dispositions (reset, whatever
 * the agent had); and an exec failure reported to the caller. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/launch.h"
#include "agent/spawn.h"

/* A plan that runs PROGRAM ARG with the plan's two-variable environment. */
static void plan_for(struct launch_plan *p, const char *program, const char *arg)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->program, sizeof(p->program), "%s", program);
	snprintf(p->destinations, sizeof(p->destinations), "%s", arg);
	snprintf(p->env_path, sizeof(p->env_path), "%s", LAUNCH_PATH);
	p->env_token = strdup(LAUNCH_TOKEN_VAR "=secret-token-value");
	assert_non_null(p->env_token);
	p->env_token_len = strlen(p->env_token);
	p->argv[0] = p->program;
	p->argv[1] = p->destinations;
	p->argv[2] = NULL;
	p->envp[0] = p->env_path;
	p->envp[1] = p->env_token;
	p->envp[2] = NULL;
}

/* Reads /proc/PID/NAME whole (NULs kept as they are). */
static size_t read_proc(pid_t pid, const char *name, char *buf, size_t cap)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
	return n;
}

static void stop_child(pid_t pid)
{
	kill(pid, SIGKILL);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
}

/* The child as the agent starts it: sleep, inspected through /proc. By the
 * time spawn_localproxy returns, execve has happened (its pipe closed). */
static void child_state(void **state)
{
	/* As in the agent: the handled signals blocked, some ignored, an
	 * environment of its own, a descriptor left open by mistake. */
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	assert_int_equal(sigprocmask(SIG_BLOCK, &set, &old), 0);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	setenv("AWS_SECRET", "should-not-leak", 1);
	int leak = open("/dev/null", O_RDONLY);
	assert_true(leak > 2);

	struct launch_plan p;
	plan_for(&p, "/bin/sleep", "30");
	char err[256];
	pid_t pid = spawn_localproxy(&p, err, sizeof(err));
	launch_plan_clear(&p);
	close(leak);
	unsetenv("AWS_SECRET");
	signal(SIGPIPE, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0)
		fail_msg("spawn failed: %s", err);

	/* Read everything first, stop the child, then check. The child may
	 * still be starting (/proc refusing access for a moment, the loader
	 * holding a library open): retry for up to 5 s. */
	static char env[8192], cmd[1024], status[8192], fds[64][256];
	size_t env_len = 0, cmd_len = 0;
	for (int tries = 0; tries < 500; tries++) {
		env_len = read_proc(pid, "environ", env, sizeof(env));
		cmd_len = read_proc(pid, "cmdline", cmd, sizeof(cmd));
		read_proc(pid, "status", status, sizeof(status));
		for (int fd = 0; fd < 64; fd++) {
			char path[64];
			snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
			ssize_t len = readlink(path, fds[fd], sizeof(fds[fd]) - 1);
			fds[fd][len > 0 ? len : 0] = '\0';
		}
		/* Also give the dynamic loader of the new program time to close
		 * the libraries it opened: a descriptor still open after 5 s is
		 * a real leak. */
		bool extra = false;
		for (int fd = 3; fd < 64; fd++)
			extra |= fds[fd][0] != '\0';
		/* The exec's pipe closes before the kernel has written the new
		 * program's arguments and environment (mm->env_end is still 0
		 * then, and environ reads empty): wait for them too. */
		if (env_len > 0 && cmd_len > 0 && fds[1][0] != '\0' && fds[2][0] != '\0' && !extra)
			break;
		struct timespec pause = { 0, 10 * 1000000L };
		nanosleep(&pause, NULL);
	}
	stop_child(pid);

	/* Exactly the plan's environment. */
	static const char want_env[] = LAUNCH_PATH "\0" LAUNCH_TOKEN_VAR "=secret-token-value";
	assert_int_equal(env_len, sizeof(want_env));
	assert_memory_equal(env, want_env, sizeof(want_env));
	/* The token is not on the command line. */
	assert_int_equal(cmd_len, sizeof("/bin/sleep\0" "30"));
	assert_memory_equal(cmd, "/bin/sleep\0" "30", cmd_len);
	/* Signal mask empty; nothing the parent ignored is ignored. */
	const char *blk = strstr(status, "SigBlk:\t");
	const char *ign = strstr(status, "SigIgn:\t");
	assert_non_null(blk);
	assert_non_null(ign);
	unsigned long long blocked = strtoull(blk + 8, NULL, 16);
	unsigned long long ignored = strtoull(ign + 8, NULL, 16);
	if (blocked != 0 || (ignored & ((1ULL << (SIGPIPE - 1)) | (1ULL << (SIGINT - 1)))) != 0)
		fail_msg("child SigBlk %llx SigIgn %llx", blocked, ignored);
	/* Descriptors 0, 1 and 2 only; 0 is /dev/null. */
	assert_string_equal(fds[0], "/dev/null");
	assert_true(fds[1][0] != '\0' && fds[2][0] != '\0');
	for (int fd = 3; fd < 64; fd++)
		if (fds[fd][0] != '\0')
			fail_msg("the child has descriptor %d open (%s)", fd, fds[fd]);
}

/* SIGTERM reaches the child (nothing blocked or ignored it). */
static void child_obeys_sigterm(void **state)
{
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	assert_int_equal(sigprocmask(SIG_BLOCK, &set, &old), 0);
	struct launch_plan p;
	plan_for(&p, "/bin/sleep", "30");
	char err[256];
	pid_t pid = spawn_localproxy(&p, err, sizeof(err));
	launch_plan_clear(&p);
	sigprocmask(SIG_SETMASK, &old, NULL);
	assert_true(pid > 0);
	assert_int_equal(kill(pid, SIGTERM), 0);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGTERM);
}

static void exec_failure_is_reported(void **state)
{
	struct launch_plan p;
	plan_for(&p, "/nonexistent/localproxy", "x");
	char err[256];
	assert_int_equal(spawn_localproxy(&p, err, sizeof(err)), -1);
	assert_string_equal(err, "cannot run /nonexistent/localproxy: No such file or directory");
	/* The failed child is reaped already. */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	snprintf(p.program, sizeof(p.program), "/dev/null");
	assert_int_equal(spawn_localproxy(&p, err, sizeof(err)), -1);
	assert_string_equal(err, "cannot run /dev/null: Permission denied");
	launch_plan_clear(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(child_state),
		cmocka_unit_test(child_obeys_sigterm),
		cmocka_unit_test(exec_failure_is_reported),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
