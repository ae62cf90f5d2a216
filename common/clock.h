/* The one clock the loops measure timeouts with. */
#ifndef COMMON_CLOCK_H
#define COMMON_CLOCK_H

#include <stdint.h>

/* Milliseconds on CLOCK_MONOTONIC (never jumps with the wall clock). */
int64_t now_ms(void);

/* When the machine booted, in Unix seconds: the wall clock less the time
 * since boot (CLOCK_BOOTTIME counts suspend too). 0 if either clock fails. */
int64_t boot_time_unix(void);

#endif
