/* Starting one localproxy: fork + execve of a launch plan. The only place
 * the agent creates a process.
 *
 * In the child, before execve (async-signal-safe calls only: Paho's
 * threads may hold locks in the parent):
 *   - prctl(PR_SET_PDEATHSIG, SIGTERM), then _exit if the parent already
 *     died in between (getppid() changed): the child never outlives the
 *     agent. PDEATHSIG follows the thread that forked: the agent forks from
 *     its main thread, which lives as long as the process;
 *   - every signal's disposition back to the default, then an empty signal
 *     mask (a pending SIGTERM then acts at once);
 *   - stdin from /dev/null, stdout and stderr inherited (journald), every
 *     other descriptor closed (close_range, or a loop if the kernel lacks it);
 *   - execve with exactly the plan's environment.
 * An execve failure comes back through a close-on-exec pipe, so the caller
 * learns it synchronously. */
#ifndef AGENT_SPAWN_H
#define AGENT_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

#include "agent/launch.h"

/* Returns the child's pid, or -1 with the reason in err (the child, if
 * any, is reaped already). */
pid_t spawn_localproxy(const struct launch_plan *p, char *err, size_t err_cap);

#endif
