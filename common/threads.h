/* Waiting for helper threads we do not own (Paho MQTT's) to end. */
#ifndef COMMON_THREADS_H
#define COMMON_THREADS_H

/* Waits up to max_ms for this process to have one thread left. Paho ends
 * its worker threads some time after MQTTAsync_destroy returns; exiting
 * before they do loses their OpenSSL per-thread state (a leak report under
 * LeakSanitizer). Returns 0 when single-threaded, -1 on timeout. */
int wait_until_single_threaded(unsigned max_ms);

#endif
