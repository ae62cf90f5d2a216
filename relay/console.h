/* The operator console's relay side, as the server sees it: built from its
 * options, its routes added to the router, polled when a worker thread
 * wakes the loop, ticked once a second. The console is on only with
 * --users FILE (console_new is not called otherwise). */
#ifndef RELAY_CONSOLE_H
#define RELAY_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "relay/api.h"
#include "relay/console_auth.h"

struct http_api;
struct http_router;
struct registry;
struct things;
struct audit;

struct console_config {
	const char *users_path;      /* --users */
	const char *dir;             /* --console-dir: the static files */
	int64_t idle_s;              /* --console-idle-minutes, in seconds */
	const char *recordings_dir;  /* --recordings; NULL: off */
	int keep_days;               /* --recordings-keep-days */
	struct audit *audit;         /* shared with the API's audit of /api/v1 */
	struct http_api *api;        /* tunnel operations go through it */
	struct registry *registry;
	const struct things *things; /* presence; NULL: none known */
	struct api_hooks plane;      /* the data plane: which sides are connected */
};

/* NULL with the reason in err (users file, static files, memory). */
struct console *console_new(const struct console_config *cfg, char *err, size_t err_cap);
/* Adds the /console/ routes (after termws's /console/api/terminals).
 * Returns 0, or -1 when the table is full. */
int console_register(struct console *c, struct http_router *router);
/* The password thread finished a check: it calls wake(arg) (from its own
 * thread); the loop then calls console_poll. */
void console_set_waker(struct console *c, void (*wake)(void *arg), void *arg);
void console_poll(struct console *c);
/* Once a second: recordings past their retention, a few at a time. */
void console_tick(struct console *c, int64_t now);
void console_free(struct console *c);

#endif
