/* Slows down password guessing: failed sign-ins are counted per user name
 * and per client address; from the third failure on, the next try must
 * wait 1 s, then 2, 4, … up to 60 s after the last failure. A success
 * clears the user name's count (not the address's: one good password does
 * not license guessing others from there). Memory is bounded: when the
 * table is full the entry seen longest ago goes. Pure: time is passed in. */
#ifndef RELAY_SIGNIN_THROTTLE_H
#define RELAY_SIGNIN_THROTTLE_H

#include <stddef.h>
#include <stdint.h>

#define THROTTLE_FREE_FAILURES 2   /* failures before any wait */
#define THROTTLE_MAX_WAIT_S 60
#define THROTTLE_FORGET_S 3600     /* a quiet hour clears an entry */
#define THROTTLE_DEFAULT_SLOTS 4096

struct throttle_entry {
	char key[80];              /* "u:NAME" or "a:ADDRESS"; "" = free */
	unsigned failures;
	int64_t last_failure;      /* Unix s */
};

struct signin_throttle {
	struct throttle_entry *slot;
	size_t cap;
};

int signin_throttle_init(struct signin_throttle *t, size_t cap);
void signin_throttle_free(struct signin_throttle *t);
/* Seconds this sign-in must still wait (the larger of the user's and the
 * address's), 0 when it may go ahead. */
int64_t signin_throttle_wait(const struct signin_throttle *t, const char *user, const char *addr,
			     int64_t now);
void signin_throttle_failed(struct signin_throttle *t, const char *user, const char *addr, int64_t now);
void signin_throttle_succeeded(struct signin_throttle *t, const char *user);

#endif
