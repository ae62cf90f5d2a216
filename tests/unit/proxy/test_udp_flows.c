/* Unit tests for proxy/udp_flows.c: which client address is which UDP
 * flow, the table's bound, and idleness. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "proxy/udp_flows.h"

static struct sockaddr_in v4(const char *ip, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
	return a;
}

#define SA(a) ((const struct sockaddr *)&(a)), sizeof(a)

static void test_flows_by_address_and_port(void **state)
{
	struct udp_flows t;
	(void)state;
	udp_flows_init(&t);
	struct sockaddr_in a = v4("127.0.0.1", 4000), b = v4("127.0.0.1", 4001), c = v4("127.0.0.2", 4000);
	assert_int_equal(udp_flows_find(&t, SA(a)), -1);
	int sa = udp_flows_add(&t, SA(a), 0);
	int sb = udp_flows_add(&t, SA(b), 0);
	int sc = udp_flows_add(&t, SA(c), 0);
	assert_true(sa >= 0 && sb >= 0 && sc >= 0 && sa != sb && sb != sc && sa != sc);
	/* The padding of a sockaddr_in does not matter. */
	struct sockaddr_in a2 = a;
	memset(a2.sin_zero, 0xff, sizeof(a2.sin_zero));
	assert_int_equal(udp_flows_find(&t, SA(a2)), sa);
	assert_int_equal(udp_flows_find(&t, SA(b)), sb);
	assert_int_equal(udp_flows_find(&t, SA(c)), sc);
	udp_flows_remove(&t, sb);
	assert_int_equal(udp_flows_find(&t, SA(b)), -1);
	assert_int_equal(udp_flows_find(&t, SA(a)), sa);
}

static void test_flows_ipv6(void **state)
{
	struct udp_flows t;
	(void)state;
	udp_flows_init(&t);
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(53), .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct sockaddr_in6 b = a;
	b.sin6_port = htons(54);
	struct sockaddr_in v = v4("127.0.0.1", 53);
	int sa = udp_flows_add(&t, SA(a), 0);
	assert_true(sa >= 0);
	assert_int_equal(udp_flows_find(&t, SA(a)), sa);
	assert_int_equal(udp_flows_find(&t, SA(b)), -1);
	assert_int_equal(udp_flows_find(&t, SA(v)), -1);
}

static void test_flows_bounded_and_ip_only(void **state)
{
	struct udp_flows t;
	(void)state;
	udp_flows_init(&t);
	for (int i = 0; i < UDP_FLOWS_MAX; i++) {
		struct sockaddr_in a = v4("127.0.0.1", 1000 + i);
		assert_int_equal(udp_flows_add(&t, SA(a), 0), i);
	}
	struct sockaddr_in more = v4("127.0.0.1", 999);
	assert_int_equal(udp_flows_add(&t, SA(more), 0), -1);
	udp_flows_remove(&t, 3);
	assert_int_equal(udp_flows_add(&t, SA(more), 0), 3);

	udp_flows_init(&t);
	struct sockaddr_un u = { .sun_family = AF_UNIX };
	assert_int_equal(udp_flows_add(&t, SA(u), 0), -1);
	struct sockaddr_in a = v4("127.0.0.1", 1);
	/* A length too short for its family is refused. */
	assert_int_equal(udp_flows_add(&t, (const struct sockaddr *)&a, 4, 0), -1);
	assert_int_equal(udp_flows_find(&t, (const struct sockaddr *)&a, 4), -1);
}

static void test_flows_idle(void **state)
{
	struct udp_flows t;
	(void)state;
	udp_flows_init(&t);
	struct sockaddr_in a = v4("127.0.0.1", 4000);
	int s = udp_flows_add(&t, SA(a), 1000);
	assert_false(udp_flows_idle(&t, s, 1000 + 59999999, 60000000));
	assert_true(udp_flows_idle(&t, s, 1000 + 60000000, 60000000));
	udp_flows_touch(&t, s, 50000000);
	assert_false(udp_flows_idle(&t, s, 1000 + 60000000, 60000000));
	assert_true(udp_flows_idle(&t, s, 110000000, 60000000));
	udp_flows_remove(&t, s);
	/* A free slot is never idle. */
	assert_false(udp_flows_idle(&t, s, UINT64_MAX, 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flows_by_address_and_port),
		cmocka_unit_test(test_flows_ipv6),
		cmocka_unit_test(test_flows_bounded_and_ip_only),
		cmocka_unit_test(test_flows_idle),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
