#include "common/threads.h"

#include <dirent.h>
#include <time.h>

int thread_count(void)
{
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

int wait_until_threads_at_most(int want, unsigned max_ms)
{
	for (unsigned waited = 0; waited <= max_ms; waited += 5) {
		int n = thread_count();
		if (n <= want)
			return n < 0 ? -1 : 0;
		struct timespec t = { 0, 5 * 1000000L };
		nanosleep(&t, NULL);
	}
	return -1;
}
