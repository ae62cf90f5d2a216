/* Waiting for helper threads we do not own (Paho MQTT's) to end. */
#ifndef COMMON_THREADS_H
#define COMMON_THREADS_H

/* The number of threads this process has now, or -1. */
int thread_count(void);

/* Waits up to max_ms for this process to have at most n threads left.
 * Paho ends its worker threads some time after MQTTAsync_destroy returns;
 * exiting before they do loses their OpenSSL per-thread state (a leak
 * report under LeakSanitizer). n is the count from before Paho started:
 * threads of our own (the relay's store worker) are not waited for.
 * Returns 0 when down to n, -1 on timeout. */
int wait_until_threads_at_most(int n, unsigned max_ms);

#endif
