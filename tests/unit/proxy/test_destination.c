/* Unit tests for localproxy's data plane in destination mode
 * (proxy/destination.c, dispatch.c, conn_life.c, tunnel_send.c,
 * conn_table.c) through a fake struct proxy_io: no sockets, no event loop. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "tests/unit/proxy/proxy_fake.h"

static const char *const two_services[] = { "SSH", "HTTP" };

static struct fake *ready_destination(void)
{
	struct fake *f = fake_new(PROXY_MODE_DESTINATION, "SSH=22,HTTP=127.0.0.1:80", 3);
	fake_service_ids(f, two_services, 2);
	assert_true(f->p.ready);
	assert_int_equal(f->listens[0], 0); /* a destination does not listen */
	return f;
}

static struct local_conn *conn_of(struct fake *f, const char *service, int32_t stream, uint32_t id)
{
	int s = !strcmp(service, "SSH") ? 0 : 1;
	return conn_find(&f->p, (size_t)s, stream, id);
}

static void test_stream_start_dials(void **state)
{
	(void)state;
	struct fake *f = ready_destination();
	fake_receive_type(f, TMSG_STREAM_START, "SSH", 5, 1);
	assert_int_equal(f->dials, 1);
	struct local_conn *c = conn_of(f, "SSH", 5, 1);
	assert_non_null(c);
	destination_on_connected(c);
	fake_receive_type(f, TMSG_CONNECTION_START, "SSH", 5, 2);
	assert_int_equal(f->dials, 2);
	assert_non_null(conn_of(f, "SSH", 5, 2));
	/* A repeated start opens nothing. */
	fake_receive_type(f, TMSG_CONNECTION_START, "SSH", 5, 2);
	assert_int_equal(f->dials, 2);
	fake_flush(f);
	assert_int_equal(f->n_sent, 0); /* nothing to say */
	fake_free(f);
}

static void test_data_both_ways(void **state)
{
	(void)state;
	struct fake *f = ready_destination();
	fake_receive_type(f, TMSG_STREAM_START, "HTTP", 3, 1);
	struct local_conn *c = conn_of(f, "HTTP", 3, 1);
	destination_on_connected(c);
	uint8_t bytes[500];
	memset(bytes, 'd', sizeof(bytes));
	struct tunnel_msg m = { .type = TMSG_DATA, .stream_id = 3, .connection_id = 1,
				.service_id = "HTTP", .payload = bytes, .payload_len = sizeof(bytes) };
	fake_receive(f, &m);
	assert_int_equal(((struct fake_sock *)c->sock)->received, sizeof(bytes));
	conn_on_local_data(c, bytes, 10);
	fake_flush(f);
	assert_int_equal(f->n_sent, 1);
	assert_int_equal(f->sent[0].type, TMSG_DATA);
	assert_int_equal(f->sent[0].stream_id, 3);
	assert_string_equal(f->sent[0].service_id, "HTTP");
	assert_int_equal(f->sent[0].payload_len, 10);
	fake_free(f);
}

static void test_dial_failure_at_once_resets_stream(void **state)
{
	(void)state;
	struct fake *f = ready_destination();
	f->dial_fails = true;
	fake_receive_type(f, TMSG_STREAM_START, "SSH", 7, 1);
	fake_flush(f);
	assert_int_equal(f->n_sent, 1);
	assert_int_equal(f->sent[0].type, TMSG_STREAM_RESET);
	assert_int_equal(f->sent[0].stream_id, 7);
	assert_int_equal(conn_count(&f->p), 0);
	assert_int_equal(f->p.services[0].stream_id, 0);
	fake_free(f);
}

static void test_later_dial_failure_resets_connection(void **state)
{
	(void)state;
	struct fake *f = ready_destination();
	fake_receive_type(f, TMSG_STREAM_START, "SSH", 7, 1);
	fake_receive_type(f, TMSG_CONNECTION_START, "SSH", 7, 2);
	struct local_conn *first = conn_of(f, "SSH", 7, 1), *second = conn_of(f, "SSH", 7, 2);
	destination_on_connected(first);
	destination_on_connect_failed(second, "Connection refused");
	fake_flush(f);
	/* Only the connection that failed; the stream lives on. */
	assert_int_equal(f->n_sent, 1);
	assert_int_equal(f->sent[0].type, TMSG_CONNECTION_RESET);
	assert_int_equal(f->sent[0].connection_id, 2);
	assert_int_equal(conn_count(&f->p), 1);
	assert_false(((struct fake_sock *)first->sock)->ended);
	/* The stream's first connection failing ends the whole stream. */
	fake_receive_type(f, TMSG_CONNECTION_START, "SSH", 7, 3);
	struct local_conn *third = conn_of(f, "SSH", 7, 3);
	destination_on_connect_failed(first, "gone");
	fake_flush(f);
	assert_int_equal(f->sent[1].type, TMSG_STREAM_RESET);
	assert_true(((struct fake_sock *)third->sock)->ended);
	fake_free(f);
}

static void test_eleventh_connection_refused(void **state)
{
	(void)state;
	struct fake *f = ready_destination();
	fake_receive_type(f, TMSG_STREAM_START, "SSH", 1, 1);
	for (uint32_t id = 2; id <= 10; id++)
		fake_receive_type(f, TMSG_CONNECTION_START, "SSH", 1, id);
	assert_int_equal(conn_count(&f->p), 10);
	fake_receive_type(f, TMSG_CONNECTION_START, "SSH", 1, 11);
	fake_flush(f);
	assert_int_equal(f->dials, 10);
	assert_int_equal(f->n_sent, 1);
	assert_int_equal(f->sent[0].type, TMSG_CONNECTION_RESET);
	assert_int_equal(f->sent[0].connection_id, 11);
	fake_free(f);
}

static void test_start_for_inactive_stream_refused(void **state)
{
	(void)state;
	struct fake *f = ready_destination();
	fake_receive_type(f, TMSG_CONNECTION_START, "SSH", 4, 2);
	fake_flush(f);
	assert_int_equal(f->dials, 0);
	assert_int_equal(f->n_sent, 1);
	assert_int_equal(f->sent[0].type, TMSG_CONNECTION_RESET);
	fake_free(f);
}

static void test_new_stream_replaces_old(void **state)
{
	(void)state;
	struct fake *f = ready_destination();
	fake_receive_type(f, TMSG_STREAM_START, "SSH", 1, 1);
	struct local_conn *old = conn_of(f, "SSH", 1, 1);
	fake_receive_type(f, TMSG_STREAM_START, "SSH", 2, 1);
	assert_true(((struct fake_sock *)old->sock)->ended);
	assert_int_equal(f->p.services[0].stream_id, 2);
	fake_free(f);
}

static void test_stream_reset_ends_every_connection(void **state)
{
	(void)state;
	struct fake *f = ready_destination();
	fake_receive_type(f, TMSG_STREAM_START, "SSH", 1, 1);
	fake_receive_type(f, TMSG_CONNECTION_START, "SSH", 1, 2);
	fake_receive_type(f, TMSG_STREAM_START, "HTTP", 1, 1);
	struct local_conn *a = conn_of(f, "SSH", 1, 1), *b = conn_of(f, "SSH", 1, 2);
	struct local_conn *h = conn_of(f, "HTTP", 1, 1);
	fake_receive_type(f, TMSG_STREAM_RESET, "SSH", 1, 0);
	assert_true(((struct fake_sock *)a->sock)->ended);
	assert_true(((struct fake_sock *)b->sock)->ended);
	assert_false(((struct fake_sock *)h->sock)->ended);
	/* Ending ones take no more data and are not found. */
	assert_null(conn_of(f, "SSH", 1, 1));
	fake_close(f, a);
	fake_close(f, b);
	fake_flush(f);
	assert_int_equal(f->n_sent, 0);
	fake_free(f);
}

static void test_unknown_service_and_early_messages_ignored(void **state)
{
	(void)state;
	struct fake *f = fake_new(PROXY_MODE_DESTINATION, "SSH=22", 3);
	static const char *const ssh[] = { "SSH" };
	fake_receive_type(f, TMSG_STREAM_START, "SSH", 1, 1); /* before SERVICE_IDS */
	assert_int_equal(f->dials, 0);
	fake_service_ids(f, ssh, 1);
	fake_receive_type(f, TMSG_STREAM_START, "RDP", 1, 1);
	assert_int_equal(f->dials, 0);
	fake_receive_type(f, TMSG_STREAM_START, "", 1, 1); /* "" = the only service */
	assert_int_equal(f->dials, 1);
	fake_free(f);
}

static void test_bad_frame_rejected(void **state)
{
	(void)state;
	struct fake *f = ready_destination();
	const uint8_t garbage[] = { 0x00, 0x03, 0xff, 0xff, 0xff };
	assert_int_equal(dispatch_receive(&f->p, garbage, sizeof(garbage), true), -1);
	fake_free(f);
}

static void test_v1_one_unnamed_service(void **state)
{
	(void)state;
	struct fake *f = fake_new(PROXY_MODE_DESTINATION, "22", 1);
	dispatch_ready_v1(&f->p);
	assert_true(f->p.ready);
	fake_receive_type(f, TMSG_STREAM_START, "", 1, 0);
	assert_int_equal(f->dials, 1);
	struct local_conn *c = conn_of(f, "SSH", 1, 1);
	assert_non_null(c);
	fake_close(f, c);
	fake_flush(f);
	/* Before V3 a connection's end is its stream's end. */
	assert_int_equal(f->sent[0].type, TMSG_STREAM_RESET);
	assert_string_equal(f->sent[0].service_id, "");
	fake_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_start_dials),
		cmocka_unit_test(test_data_both_ways),
		cmocka_unit_test(test_dial_failure_at_once_resets_stream),
		cmocka_unit_test(test_later_dial_failure_resets_connection),
		cmocka_unit_test(test_eleventh_connection_refused),
		cmocka_unit_test(test_start_for_inactive_stream_refused),
		cmocka_unit_test(test_new_stream_replaces_old),
		cmocka_unit_test(test_stream_reset_ends_every_connection),
		cmocka_unit_test(test_unknown_service_and_early_messages_ignored),
		cmocka_unit_test(test_bad_frame_rejected),
		cmocka_unit_test(test_v1_one_unnamed_service),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
