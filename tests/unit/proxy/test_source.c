/* Unit tests for localproxy's data plane in source mode (proxy/source.c,
 * dispatch.c, conn_life.c, tunnel_send.c, conn_table.c) through a fake
 * struct proxy_io: no sockets, no event loop. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "tests/unit/proxy/proxy_fake.h"

static const char *const two_services[] = { "SSH", "HTTP" };

/* A V3 source for SSH=2222,HTTP=8080 that got SERVICE_IDS. */
static struct fake *ready_source(void)
{
	struct fake *f = fake_new(PROXY_MODE_SOURCE, "SSH=2222,HTTP=8080", 3);
	fake_service_ids(f, two_services, 2);
	assert_true(f->p.ready);
	return f;
}

/* A local client connects on the SSH port (mapping entry 0). */
static struct local_conn *accept_one(struct fake *f)
{
	struct local_conn *c = source_on_accept(&f->p, 0);
	if (c)
		fake_sock_new(f, c);
	fake_flush(f);
	return c;
}

static void test_service_ids_listen(void **state)
{
	(void)state;
	struct fake *f = ready_source();
	assert_int_equal(f->listens[0], 1);
	assert_int_equal(f->listens[1], 1);
	assert_int_equal(f->stops, 0);
	/* A repeated SERVICE_IDS changes nothing. */
	fake_service_ids(f, two_services, 2);
	assert_int_equal(f->listens[0], 1);
	fake_free(f);
}

static void test_service_ids_mismatch_exits(void **state)
{
	(void)state;
	struct fake *f = fake_new(PROXY_MODE_SOURCE, "SSH=2222,HTTP=8080", 3);
	static const char *const other[] = { "RDP" };
	fake_service_ids(f, other, 1);
	assert_false(f->p.ready);
	assert_true(f->p.exiting);
	assert_int_equal(f->p.exit_code, 1);
	assert_int_equal(f->stops, 1);
	assert_int_equal(f->listens[0], 0);
	fake_free(f);
}

static void test_listen_failure_exits(void **state)
{
	(void)state;
	struct fake *f = fake_new(PROXY_MODE_SOURCE, "SSH=2222,HTTP=8080", 3);
	f->listen_fails = true;
	fake_service_ids(f, two_services, 2);
	assert_int_equal(f->stops, 1);
	assert_int_equal(f->p.exit_code, 1);
	fake_free(f);
}

static void test_accept_before_ready_refused(void **state)
{
	(void)state;
	struct fake *f = fake_new(PROXY_MODE_SOURCE, "SSH=2222", 3);
	assert_null(source_on_accept(&f->p, 0));
	assert_int_equal(f->n_sent, 0);
	fake_free(f);
}

static void test_stream_start_then_connection_start(void **state)
{
	(void)state;
	struct fake *f = ready_source();
	struct local_conn *a = accept_one(f), *b = accept_one(f);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(f->n_sent, 2);
	assert_int_equal(f->sent[0].type, TMSG_STREAM_START);
	assert_int_equal(f->sent[0].stream_id, 1);
	assert_int_equal(f->sent[0].connection_id, 1);
	assert_string_equal(f->sent[0].service_id, "SSH");
	assert_int_equal(f->sent[1].type, TMSG_CONNECTION_START);
	assert_int_equal(f->sent[1].stream_id, 1);
	assert_int_equal(f->sent[1].connection_id, 2);
	/* Another service starts its own stream. */
	struct local_conn *h = source_on_accept(&f->p, 1);
	assert_non_null(h);
	fake_sock_new(f, h);
	fake_flush(f);
	assert_int_equal(f->sent[2].type, TMSG_STREAM_START);
	assert_string_equal(f->sent[2].service_id, "HTTP");
	assert_int_equal(conn_count(&f->p), 3);
	fake_free(f);
}

static void test_data_both_ways(void **state)
{
	(void)state;
	struct fake *f = ready_source();
	struct local_conn *c = accept_one(f);
	uint8_t bytes[100000];
	memset(bytes, 'x', sizeof(bytes));
	conn_on_local_data(c, bytes, sizeof(bytes));
	fake_flush(f);
	/* Split at the largest payload, in order. */
	assert_int_equal(f->n_sent, 3);
	assert_int_equal(f->sent[1].type, TMSG_DATA);
	assert_int_equal(f->sent[1].payload_len, TUNNEL_MAX_PAYLOAD);
	assert_int_equal(f->sent[2].payload_len, sizeof(bytes) - TUNNEL_MAX_PAYLOAD);
	assert_int_equal(f->sent[2].connection_id, 1);

	struct tunnel_msg m = { .type = TMSG_DATA, .stream_id = 1, .connection_id = 1,
				.service_id = "SSH", .payload = bytes, .payload_len = 1000 };
	fake_receive(f, &m);
	assert_int_equal(((struct fake_sock *)c->sock)->received, 1000);
	/* DATA for a connection we do not have is dropped. */
	m.connection_id = 9;
	fake_receive(f, &m);
	assert_int_equal(((struct fake_sock *)c->sock)->received, 1000);
	fake_free(f);
}

static void test_connection_reset_by_peer(void **state)
{
	(void)state;
	struct fake *f = ready_source();
	struct local_conn *a = accept_one(f), *b = accept_one(f);
	size_t sent = f->n_sent;
	fake_receive_type(f, TMSG_CONNECTION_RESET, "SSH", 1, 2);
	struct fake_sock *sb = b->sock;
	assert_true(sb->ended);
	assert_false(((struct fake_sock *)a->sock)->ended);
	/* Once its socket closed, the peer is not told again. */
	fake_close(f, b);
	fake_flush(f);
	assert_int_equal(f->n_sent, sent);
	assert_int_equal(conn_count(&f->p), 1);
	fake_free(f);
}

static void test_local_close_sends_reset(void **state)
{
	(void)state;
	struct fake *f = ready_source();
	struct local_conn *a = accept_one(f);
	uint8_t byte = 'q';
	conn_on_local_data(a, &byte, 1);
	fake_close(f, a);
	fake_flush(f);
	/* Its data first, then the reset. */
	int data = fake_find_sent(f, 0, TMSG_DATA), reset = fake_find_sent(f, 0, TMSG_CONNECTION_RESET);
	assert_true(data >= 0 && reset > data);
	assert_int_equal(f->sent[reset].connection_id, 1);
	assert_int_equal(conn_count(&f->p), 0);
	fake_free(f);
}

static void test_stream_reset_ends_every_connection(void **state)
{
	(void)state;
	struct fake *f = ready_source();
	struct local_conn *a = accept_one(f), *b = accept_one(f);
	struct local_conn *h = source_on_accept(&f->p, 1);
	fake_sock_new(f, h);
	fake_receive_type(f, TMSG_STREAM_RESET, "SSH", 1, 0);
	assert_true(((struct fake_sock *)a->sock)->ended);
	assert_true(((struct fake_sock *)b->sock)->ended);
	assert_false(((struct fake_sock *)h->sock)->ended);
	/* The next SSH connection starts a new stream. */
	fake_close(f, a);
	fake_close(f, b);
	size_t sent = f->n_sent;
	fake_flush(f);
	assert_int_equal(fake_find_sent(f, sent, TMSG_CONNECTION_RESET), -1);
	sent = f->n_sent;
	assert_non_null(accept_one(f));
	int start = fake_find_sent(f, sent, TMSG_STREAM_START);
	assert_true(start >= 0);
	assert_int_equal(f->sent[start].stream_id, 2);
	fake_free(f);
}

static void test_session_reset_ends_all(void **state)
{
	(void)state;
	struct fake *f = ready_source();
	struct local_conn *a = accept_one(f);
	struct local_conn *h = source_on_accept(&f->p, 1);
	fake_sock_new(f, h);
	fake_receive_type(f, TMSG_SESSION_RESET, "", 0, 0);
	assert_true(((struct fake_sock *)a->sock)->ended);
	assert_true(((struct fake_sock *)h->sock)->ended);
	assert_int_equal(f->p.services[0].stream_id, 0);
	fake_free(f);
}

static void test_eleventh_connection_refused(void **state)
{
	(void)state;
	struct fake *f = ready_source();
	for (int i = 0; i < 10; i++)
		assert_non_null(accept_one(f));
	size_t sent = f->n_sent;
	assert_null(source_on_accept(&f->p, 0));
	assert_int_equal(f->n_sent, sent);
	assert_int_equal(conn_count(&f->p), 10);
	fake_free(f);
}

static void test_slow_local_reader_pauses_relay(void **state)
{
	(void)state;
	struct fake *f = ready_source();
	struct local_conn *a = accept_one(f), *b = accept_one(f);
	conn_on_local_mark(a, true);
	assert_true(f->rx_paused);
	conn_on_local_mark(b, true);
	conn_on_local_mark(a, false);
	assert_true(f->rx_paused); /* b still has too much queued */
	conn_on_local_mark(b, false);
	assert_false(f->rx_paused);
	/* A connection that closes while over the mark stops counting. */
	conn_on_local_mark(a, true);
	assert_true(f->rx_paused);
	fake_close(f, a);
	assert_false(f->rx_paused);
	fake_free(f);
}

static void test_full_relay_pauses_local_reads(void **state)
{
	(void)state;
	struct fake *f = ready_source();
	struct local_conn *c = accept_one(f);
	struct fake_sock *s = c->sock;
	f->relay_full = true;
	uint8_t bytes[CONN_QUEUE_HIGH];
	memset(bytes, 'y', sizeof(bytes));
	conn_on_local_data(c, bytes, sizeof(bytes) / 2);
	fake_flush(f);
	assert_false(s->read_paused);
	conn_on_local_data(c, bytes, sizeof(bytes));
	assert_true(s->read_paused);
	f->relay_full = false;
	f->want_writes = 1;
	fake_flush(f);
	assert_false(s->read_paused);
	assert_int_equal(bytequeue_len(&c->to_tunnel), 0);
	fake_free(f);
}

static void test_connections_share_messages(void **state)
{
	(void)state;
	struct fake *f = ready_source();
	struct local_conn *a = accept_one(f), *b = accept_one(f);
	f->relay_full = true;
	uint8_t bytes[TUNNEL_MAX_PAYLOAD];
	memset(bytes, 'a', sizeof(bytes));
	conn_on_local_data(a, bytes, sizeof(bytes));
	conn_on_local_data(a, bytes, sizeof(bytes));
	memset(bytes, 'b', sizeof(bytes));
	conn_on_local_data(b, bytes, sizeof(bytes));
	f->relay_full = false;
	size_t sent = f->n_sent;
	f->p.next_turn = 0; /* a's slot is served first */
	fake_flush(f);
	/* One frame per message, the connections in turn: b's frame does not
	 * wait behind both of a's. */
	assert_int_equal(f->messages, 3 + 2); /* and the two starts */
	assert_int_equal(f->n_sent - sent, 3);
	assert_int_equal(f->sent[sent].first_byte, 'a');
	assert_int_equal(f->sent[sent + 1].first_byte, 'b');
	assert_int_equal(f->sent[sent + 2].first_byte, 'a');
	fake_free(f);
}

static void test_relay_gone_ends_everything(void **state)
{
	(void)state;
	struct fake *f = ready_source();
	struct local_conn *a = accept_one(f);
	dispatch_session_closed(&f->p);
	assert_true(((struct fake_sock *)a->sock)->ended);
	assert_false(f->p.ready);
	size_t sent = f->n_sent;
	fake_close(f, a);
	assert_int_equal(f->n_sent, sent);
	assert_int_equal(conn_count(&f->p), 0);
	fake_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_service_ids_listen),
		cmocka_unit_test(test_service_ids_mismatch_exits),
		cmocka_unit_test(test_listen_failure_exits),
		cmocka_unit_test(test_accept_before_ready_refused),
		cmocka_unit_test(test_stream_start_then_connection_start),
		cmocka_unit_test(test_data_both_ways),
		cmocka_unit_test(test_connection_reset_by_peer),
		cmocka_unit_test(test_local_close_sends_reset),
		cmocka_unit_test(test_stream_reset_ends_every_connection),
		cmocka_unit_test(test_session_reset_ends_all),
		cmocka_unit_test(test_eleventh_connection_refused),
		cmocka_unit_test(test_slow_local_reader_pauses_relay),
		cmocka_unit_test(test_full_relay_pauses_local_reads),
		cmocka_unit_test(test_connections_share_messages),
		cmocka_unit_test(test_relay_gone_ends_everything),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
