/* One tunnel-term process (a browser terminal's SSH client, CONSOLE_SPEC
 * §5): spawned with posix_spawn in its own process group, its stdin,
 * stdout and stderr on non-blocking pipes watched by the relay's loop,
 * reaped through a pidfd (libev's child watchers work only on the default
 * loop, and the relay's is not). The tunnel's source token goes only into
 * the child's environment (TUNNEL_TERM_TOKEN), never into argv. Its stderr
 * lines are logged with the terminal's id. Nothing here blocks. */
#ifndef RELAY_TERMINAL_HELPER_H
#define RELAY_TERMINAL_HELPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct relay_loop;

struct terminal_helper_args {
	const char *program;        /* tunnel-term */
	const char *relay;          /* HOST:PORT its localproxy dials */
	const char *ca;             /* NULL: the system's CA bundle */
	const char *thing, *service;
	const char *localproxy;
	const char *known_host_key; /* NULL: none remembered */
	const char *record;         /* NULL: not recorded */
	int cols, rows;
	bool verbose;
	const char *token;          /* the tunnel's source token: into the env only */
};

struct terminal_helper_events {
	/* Bytes from the helper's stdout (frames, split anywhere). */
	void (*output)(void *arg, const uint8_t *data, size_t n);
	/* Its stdout ended. */
	void (*output_end)(void *arg);
	/* Its stdin queue fell back under the low mark (the browser may send again). */
	void (*input_drained)(void *arg);
	/* It exited: status as from waitpid. After this no event comes. */
	void (*exited)(void *arg, int status);
	void *arg;
	const char *log_id;         /* the terminal's id, for its stderr lines */
};

/* Bytes waiting for the helper's stdin above which the browser is paused. */
#define TERMINAL_HELPER_INPUT_HIGH (256u * 1024u)

struct terminal_helper;

/* Spawns the helper. NULL with err filled (never holding the token). */
struct terminal_helper *terminal_helper_start(struct relay_loop *loop,
					      const struct terminal_helper_args *a,
					      const struct terminal_helper_events *ev, char *err,
					      size_t err_cap);
pid_t terminal_helper_pid(const struct terminal_helper *h);
/* Queues bytes for its stdin. Returns 0, or -1 when its stdin is closed or
 * memory runs out. */
int terminal_helper_write(struct terminal_helper *h, const uint8_t *data, size_t n);
size_t terminal_helper_input_queued(const struct terminal_helper *h);
/* Stops (true) or resumes reading its stdout: the browser is behind. */
void terminal_helper_pause_output(struct terminal_helper *h, bool paused);
/* Ends it: closes its stdin (tunnel-term exits on end of input), and
 * sends sig to its process group (0: none). The exit still comes. */
void terminal_helper_stop(struct terminal_helper *h, int sig);
/* Frees h after its exit; before it, kills the group and reaps it
 * (blocking, for the relay's stop only). NULL does nothing. */
void terminal_helper_free(struct terminal_helper *h);

/* Builds the helper's argv (NULL-terminated, pointing into a and into
 * numbers, which must hold 2 × 12 bytes). Returns the count. Pure: for tests. */
#define TERMINAL_HELPER_MAX_ARGS 24
size_t terminal_helper_argv(const struct terminal_helper_args *a, char numbers[2][12],
			    const char *argv[TERMINAL_HELPER_MAX_ARGS]);

#endif
