#include "relay/fd_limit.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#include "common/log.h"

/* A hard limit of "unlimited" is taken as this: lws sizes a table by the
 * limit (8 bytes a descriptor) and the kernel's nr_open default is 2^20. */
#define FD_LIMIT_CAP ((rlim_t)1 << 20)

size_t fd_limit_raise(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl)) {
		log_warn("cannot read the descriptor limit: %s", strerror(errno));
		return 0;
	}
	rlim_t was = rl.rlim_cur;
	rlim_t want = rl.rlim_max == RLIM_INFINITY ? FD_LIMIT_CAP : rl.rlim_max;
	if (want > rl.rlim_cur) {
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl)) {
			log_warn("cannot raise the descriptor limit from %llu to %llu: %s",
				 (unsigned long long)was, (unsigned long long)want, strerror(errno));
			rl.rlim_cur = was;
		}
	}
	log_info("descriptor limit: %llu (soft, was %llu), hard %llu; about %llu tunnels",
		 (unsigned long long)rl.rlim_cur, (unsigned long long)was,
		 (unsigned long long)rl.rlim_max,
		 rl.rlim_cur > FD_HEADROOM ? (unsigned long long)(rl.rlim_cur - FD_HEADROOM) / 2 : 0ull);
	return (size_t)rl.rlim_cur;
}
