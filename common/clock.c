#include "common/clock.h"

#include <time.h>

int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t boot_time_unix(void)
{
	struct timespec wall, up;
	if (clock_gettime(CLOCK_REALTIME, &wall) != 0 || clock_gettime(CLOCK_BOOTTIME, &up) != 0)
		return 0;
	return (int64_t)wall.tv_sec - (int64_t)up.tv_sec;
}
