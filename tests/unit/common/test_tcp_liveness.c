/* Unit tests for common/tcp_liveness.c: the dead-path verdict and the
 * socket options behind it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/tcp_liveness.h"

/* ---- tcp_liveness_dead ---------------------------------------------------- */

static void test_liveness_verdict(void **state)
{
	(void)state;
	/* Data in flight, no ACK for the whole time: dead; a moment less: not yet. */
	struct tcp_liveness_view v = {.unacked = 3, .probes = 0, .last_ack_ms = 45000};
	assert_true(tcp_liveness_dead(&v, 45));
	v.last_ack_ms = 44999;
	assert_false(tcp_liveness_dead(&v, 45));
	/* Idle for hours with nothing outstanding: alive (keepalive's job). */
	struct tcp_liveness_view idle = {.unacked = 0, .probes = 0, .last_ack_ms = 7200000};
	assert_false(tcp_liveness_dead(&idle, 45));
	/* A frozen peer: window shut, one probe out, its answer on the way. */
	struct tcp_liveness_view frozen = {.unacked = 0, .probes = 1, .last_ack_ms = 110000};
	assert_false(tcp_liveness_dead(&frozen, 45));
	/* Two probes in a row unanswered, and long silence: dead. */
	struct tcp_liveness_view silent = {.unacked = 0, .probes = 2, .last_ack_ms = 60000};
	assert_true(tcp_liveness_dead(&silent, 45));
	silent.last_ack_ms = 1000;
	assert_false(tcp_liveness_dead(&silent, 45));
}

/* tcp_set_liveness on a real (unconnected) socket: the kernel keeps what we
 * set, and idle + interval * count stays within the budget. */
static void test_liveness_socket_options(void **state)
{
	(void)state;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(tcp_set_liveness(fd, 45), 0);
	int on = 0, idle = 0, intvl = 0, cnt = 0;
	socklen_t len = sizeof(int);
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, &len), 0);
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, &len), 0);
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, &len), 0);
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, &len), 0);
	assert_true(on);
	assert_true(idle >= 1 && intvl >= 1 && cnt >= 1);
	assert_true(idle + intvl * cnt <= 45);
	/* Nothing sent, nothing outstanding: not dead. */
	assert_false(tcp_path_dead(fd, 45));
	close(fd);
	/* A bad descriptor: an error, not a crash. */
	assert_int_equal(tcp_set_liveness(-1, 45), -1);
	assert_false(tcp_path_dead(-1, 45));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_liveness_verdict),
		cmocka_unit_test(test_liveness_socket_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
