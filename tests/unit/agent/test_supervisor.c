/* Unit tests for agent/supervisor.c: the bookkeeping of tunnel-agent's
 * localproxy children (the maxTunnels cap, replacement by tunnel id,
 * SIGKILL deadlines, reaping) and the exit-status text. Pure: pids are
 * made up and time is passed in. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "agent/supervisor.h"

static void start_until_the_cap(void **state)
{
	struct supervisor s;
	supervisor_init(&s, 2);
	pid_t old = 0;
	assert_int_equal(supervisor_plan(&s, "t1", &old), SUPERVISOR_START);
	assert_int_equal(supervisor_add(&s, 101, "t1", "tunnel t1", 0), 0);
	assert_int_equal(supervisor_plan(&s, "t2", &old), SUPERVISOR_START);
	assert_int_equal(supervisor_add(&s, 102, "t2", "tunnel t2", 0), 0);
	assert_int_equal(supervisor_running(&s), 2);
	assert_int_equal(supervisor_plan(&s, "t3", &old), SUPERVISOR_REFUSE_CAP);
	/* At the cap, a known tunnel is still a rotation, not a refusal. */
	assert_int_equal(supervisor_plan(&s, "t2", &old), SUPERVISOR_REPLACE);
	assert_int_equal(old, 102);
	/* A reaped child frees its slot. */
	struct child c;
	assert_true(supervisor_reaped(&s, 101, &c));
	assert_int_equal(c.pid, 101);
	assert_string_equal(c.key, "t1");
	assert_string_equal(c.label, "tunnel t1");
	assert_false(c.stopping);
	assert_int_equal(supervisor_plan(&s, "t3", &old), SUPERVISOR_START);
	supervisor_free(&s);
}

static void replacement_by_tunnel_id(void **state)
{
	struct supervisor s;
	supervisor_init(&s, 1);
	pid_t old = 0;
	assert_int_equal(supervisor_add(&s, 200, "t1", "tunnel t1", 1000), 0);
	assert_int_equal(supervisor_plan(&s, "t1", &old), SUPERVISOR_REPLACE);
	assert_int_equal(old, 200);
	/* The agent stops the old one and starts the new one. */
	assert_true(supervisor_stop(&s, 200, 1500));
	assert_false(supervisor_stop(&s, 200, 1600)); /* once */
	assert_int_equal(supervisor_running(&s), 0);
	assert_int_equal(supervisor_plan(&s, "t1", &old), SUPERVISOR_START);
	assert_int_equal(supervisor_add(&s, 201, "t1", "tunnel t1", 1500), 0);
	assert_int_equal(supervisor_count(&s), 2);  /* the old one until reaped */
	assert_int_equal(supervisor_running(&s), 1); /* only the new one counts */
	/* The next rotation replaces the new child, not the stopping one. */
	assert_int_equal(supervisor_plan(&s, "t1", &old), SUPERVISOR_REPLACE);
	assert_int_equal(old, 201);
	/* The cap of 1 is reached by the new child alone. */
	assert_int_equal(supervisor_plan(&s, "t2", &old), SUPERVISOR_REFUSE_CAP);
	struct child c;
	assert_true(supervisor_reaped(&s, 200, &c));
	assert_true(c.stopping);
	assert_int_equal(supervisor_count(&s), 1);
	supervisor_free(&s);
}

static void kill_deadlines(void **state)
{
	struct supervisor s;
	supervisor_init(&s, 4);
	assert_int_equal(supervisor_next_deadline(&s, 0), -1);
	assert_int_equal(supervisor_add(&s, 301, "a", "tunnel a", 0), 0);
	assert_int_equal(supervisor_add(&s, 302, "b", "tunnel b", 0), 0);
	assert_int_equal(supervisor_next_deadline(&s, 0), -1); /* nothing stopping */
	assert_true(supervisor_stop(&s, 301, 10000));
	assert_int_equal(supervisor_next_deadline(&s, 10000), SUPERVISOR_KILL_AFTER_MS);
	assert_int_equal(supervisor_next_deadline(&s, 12000), SUPERVISOR_KILL_AFTER_MS - 2000);
	assert_int_equal(supervisor_next_kill(&s, 14999), 0);
	assert_int_equal(supervisor_next_kill(&s, 15000), 301);
	assert_int_equal(supervisor_next_kill(&s, 15000), 0); /* SIGKILL once */
	assert_int_equal(supervisor_next_deadline(&s, 15000), -1);
	/* Overdue: 0, not negative. */
	assert_true(supervisor_stop(&s, 302, 0));
	assert_int_equal(supervisor_next_deadline(&s, 999999), 0);
	supervisor_free(&s);
}

static void stop_all_when_the_agent_stops(void **state)
{
	struct supervisor s;
	supervisor_init(&s, 8);
	for (pid_t pid = 400; pid < 405; pid++) {
		char key[16];
		snprintf(key, sizeof(key), "t%d", (int)pid);
		assert_int_equal(supervisor_add(&s, pid, key, key, 0), 0);
	}
	assert_true(supervisor_stop(&s, 402, 100)); /* replaced earlier: keeps its deadline */
	pid_t pids[8];
	size_t n = supervisor_stop_all(&s, 3000, pids, 8);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++)
		assert_int_not_equal(pids[i], 402);
	assert_int_equal(supervisor_running(&s), 0);
	assert_int_equal(supervisor_count(&s), 5);
	assert_int_equal(supervisor_next_kill(&s, 5100), 402);
	assert_int_equal(supervisor_next_kill(&s, 5100), 0);
	size_t killed = 0;
	while (supervisor_next_kill(&s, 8000) != 0)
		killed++;
	assert_int_equal(killed, 4);
	/* Nothing left to stop. */
	assert_int_equal(supervisor_stop_all(&s, 9000, pids, 8), 0);
	for (pid_t pid = 400; pid < 405; pid++)
		assert_true(supervisor_reaped(&s, pid, NULL));
	assert_int_equal(supervisor_count(&s), 0);
	supervisor_free(&s);
}

static void unknown_pids_and_growth(void **state)
{
	struct supervisor s;
	supervisor_init(&s, 64);
	struct child c;
	assert_false(supervisor_reaped(&s, 999, &c));
	assert_false(supervisor_stop(&s, 999, 0));
	for (pid_t pid = 1; pid <= 40; pid++) { /* past the first allocation */
		char key[16];
		snprintf(key, sizeof(key), "k%d", (int)pid);
		assert_int_equal(supervisor_add(&s, pid, key, key, pid), 0);
	}
	assert_int_equal(supervisor_running(&s), 40);
	assert_true(supervisor_reaped(&s, 20, &c));
	assert_string_equal(c.key, "k20");
	assert_int_equal(c.started_ms, 20);
	assert_false(supervisor_reaped(&s, 20, &c));
	pid_t old;
	assert_int_equal(supervisor_plan(&s, "k40", &old), SUPERVISOR_REPLACE);
	assert_int_equal(old, 40);
	/* A lower cap after a reload: running children stay, new ones wait. */
	s.max_running = 2;
	assert_int_equal(supervisor_plan(&s, "new", &old), SUPERVISOR_REFUSE_CAP);
	supervisor_free(&s);
}

static void exit_status_text(void **state)
{
	char text[96];
	supervisor_describe_status(0, text, sizeof(text));
	assert_string_equal(text, "exited with status 0");
	supervisor_describe_status(3 << 8, text, sizeof(text));
	assert_string_equal(text, "exited with status 3");
	supervisor_describe_status(SIGKILL, text, sizeof(text));
	assert_string_equal(text, "killed by signal 9 (SIGKILL)");
	supervisor_describe_status(SIGTERM, text, sizeof(text));
	assert_string_equal(text, "killed by signal 15 (SIGTERM)");
	supervisor_describe_status(SIGSEGV | 0x80, text, sizeof(text));
	assert_string_equal(text, "killed by signal 11 (SIGSEGV), core dumped");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(start_until_the_cap),
		cmocka_unit_test(replacement_by_tunnel_id),
		cmocka_unit_test(kill_deadlines),
		cmocka_unit_test(stop_all_when_the_agent_stops),
		cmocka_unit_test(unknown_pids_and_growth),
		cmocka_unit_test(exit_status_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
