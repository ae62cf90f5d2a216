/* Unit tests for a source's stream ids (random first id per session,
 * counting up, wrapping) and for -y V1/V2 in source mode (messages shaped
 * for an older destination over a 3.0 session), through the fake
 * struct proxy_io: proxy/source.c, dispatch.c, tunnel_send.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "tests/unit/proxy/proxy_fake.h"

static const char *const ssh_only[] = { "SSH" };
static const char *const two_services[] = { "SSH", "HTTP" };

/* A source that negotiated 3.0 and shapes its messages for a destination of
 * type (1, 2, or 3 = no -y), ready with the tunnel's services. */
static struct fake *typed_source(const char *mapping, int type, const char *const *ids, size_t n)
{
	struct fake *f = fake_new(PROXY_MODE_SOURCE, mapping, 3);
	f->opt.destination_type = type;
	dispatch_session_open(&f->p);
	assert_int_equal(f->p.version, 3);
	assert_int_equal(f->p.format, type);
	fake_service_ids(f, ids, n);
	assert_true(f->p.ready);
	return f;
}

/* A local client connects on mapping entry `entry`; NULL when refused. */
static struct local_conn *accept_on(struct fake *f, size_t entry)
{
	struct local_conn *c = source_on_accept(&f->p, entry);
	if (c)
		fake_sock_new(f, c);
	fake_flush(f);
	return c;
}

static void receive_data(struct fake *f, const char *service, int32_t stream_id, uint32_t connection_id,
			 size_t len)
{
	static const uint8_t bytes[64] = { 'x' };
	assert_true(len <= sizeof(bytes));
	struct tunnel_msg m = { .type = TMSG_DATA, .stream_id = stream_id, .connection_id = connection_id,
				.service_id = service, .payload = bytes, .payload_len = len };
	fake_receive(f, &m);
}

/* The size of a frame holding only these fields (the encoder leaves out
 * an empty serviceId and a 0 connectionId). */
static size_t bare_frame_len(enum tunnel_msg_type type, int32_t stream_id, size_t payload_len)
{
	static const uint8_t payload[64];
	assert_true(payload_len <= sizeof(payload));
	struct tunnel_msg m = { .type = type, .stream_id = stream_id, .service_id = "",
				.payload = payload_len ? payload : NULL, .payload_len = payload_len };
	return tunnel_msg_encoded_size(&m); /* the 2-byte length prefix included */
}

/* The stream id a random number r gives. */
static int32_t id_of(uint32_t r)
{
	return (int32_t)(r % INT32_MAX) + 1;
}

static void test_first_stream_id_random_per_session(void **state)
{
	(void)state;
	struct fake *f = fake_new(PROXY_MODE_SOURCE, "SSH=2222,HTTP=8080", 3);
	f->random_state = 0x9e3779b9u;
	fake_service_ids(f, two_services, 2);
	assert_non_null(accept_on(f, 0));
	assert_non_null(accept_on(f, 1));
	int32_t ssh1 = f->sent[0].stream_id, http1 = f->sent[1].stream_id;
	assert_int_equal(ssh1, id_of(0x9e3779b9u));
	assert_int_not_equal(http1, ssh1); /* each service draws its own */

	/* The WebSocket drops and comes back: a new session remembers nothing
	 * and draws again, so the relay's destination sees new ids. */
	dispatch_session_closed(&f->p);
	for (size_t i = 0; i < f->n_socks; i++)
		if (f->socks[i].c && f->socks[i].ended)
			fake_close(f, f->socks[i].c);
	dispatch_session_open(&f->p);
	fake_service_ids(f, two_services, 2);
	size_t from = f->n_sent;
	assert_non_null(accept_on(f, 0));
	assert_int_equal(f->sent[from].type, TMSG_STREAM_START);
	int32_t ssh2 = f->sent[from].stream_id;
	assert_true(ssh2 >= 1);
	assert_int_not_equal(ssh2, ssh1);
	assert_int_not_equal(ssh2, ssh1 + 1);
	fake_free(f);
}

static void test_stream_ids_count_up_and_wrap(void **state)
{
	(void)state;
	struct fake *f = fake_new(PROXY_MODE_SOURCE, "2222", 3);
	f->opt.destination_type = 1;
	dispatch_session_open(&f->p);
	f->random_state = INT32_MAX - 1; /* gives INT32_MAX */
	fake_service_ids(f, ssh_only, 1);
	static const int32_t want[] = { INT32_MAX, 1, 2 };
	for (size_t i = 0; i < 3; i++) {
		size_t from = f->n_sent;
		struct local_conn *c = accept_on(f, 0);
		assert_non_null(c);
		assert_int_equal(f->sent[from].type, TMSG_STREAM_START);
		assert_int_equal(f->sent[from].stream_id, want[i]);
		fake_close(f, c);
		fake_flush(f);
		assert_int_equal(f->sent[from + 1].type, TMSG_STREAM_RESET);
		assert_int_equal(f->sent[from + 1].stream_id, want[i]);
	}
	fake_free(f);
}

static void test_no_random_bytes_refuses(void **state)
{
	(void)state;
	struct fake *f = typed_source("SSH=2222", 3, ssh_only, 1);
	f->random_fails = true;
	assert_null(accept_on(f, 0));
	assert_int_equal(f->n_sent, 0);
	assert_int_equal(conn_count(&f->p), 0);
	fake_free(f);
}

static void test_v1_message_shapes(void **state)
{
	(void)state;
	struct fake *f = typed_source("2222", 1, ssh_only, 1);
	f->random_state = 41; /* gives 42 */
	struct local_conn *c = accept_on(f, 0);
	assert_non_null(c);
	/* STREAM_START {type, streamId}: no serviceId, no connectionId. */
	assert_int_equal(f->n_sent, 1);
	assert_int_equal(f->sent[0].type, TMSG_STREAM_START);
	assert_int_equal(f->sent[0].stream_id, 42);
	assert_string_equal(f->sent[0].service_id, "");
	assert_int_equal(f->sent[0].connection_id, 0);
	assert_int_equal(f->sent[0].frame_len, bare_frame_len(TMSG_STREAM_START, 42, 0));
	/* DATA {type, streamId, payload}. */
	uint8_t bytes[10] = { 'a' };
	conn_on_local_data(c, bytes, sizeof(bytes));
	fake_flush(f);
	assert_int_equal(f->sent[1].type, TMSG_DATA);
	assert_int_equal(f->sent[1].stream_id, 42);
	assert_int_equal(f->sent[1].payload_len, 10);
	assert_int_equal(f->sent[1].frame_len, bare_frame_len(TMSG_DATA, 42, 10));
	/* Local close: STREAM_RESET {type, streamId}, never CONNECTION_RESET. */
	fake_close(f, c);
	fake_flush(f);
	assert_int_equal(f->sent[2].type, TMSG_STREAM_RESET);
	assert_int_equal(f->sent[2].stream_id, 42);
	assert_int_equal(f->sent[2].frame_len, bare_frame_len(TMSG_STREAM_RESET, 42, 0));
	assert_int_equal(f->n_sent, 3);
	fake_free(f);
}

static void test_v1_one_connection_at_a_time(void **state)
{
	(void)state;
	struct fake *f = typed_source("2222", 1, ssh_only, 1);
	f->random_state = 99; /* gives 100 */
	struct local_conn *a = accept_on(f, 0);
	assert_non_null(a);
	/* A second client is refused while the first is open: a new stream
	 * would cut the first off at the destination. */
	assert_null(accept_on(f, 0));
	assert_int_equal(f->n_sent, 1);
	assert_false(((struct fake_sock *)a->sock)->ended);
	fake_close(f, a);
	struct local_conn *b = accept_on(f, 0);
	assert_non_null(b);
	/* A new stream each time, never CONNECTION_START. */
	assert_int_equal(f->sent[2].type, TMSG_STREAM_START);
	assert_int_equal(f->sent[2].stream_id, 101);
	assert_int_equal(fake_find_sent(f, 0, TMSG_CONNECTION_START), -1);
	fake_free(f);
}

static void test_v1_ignores_service_ids(void **state)
{
	(void)state;
	struct fake *f = typed_source("SSH=2222", 1, ssh_only, 1);
	struct local_conn *c = accept_on(f, 0);
	struct fake_sock *s = c->sock;
	receive_data(f, "", 1, 0, 3);
	assert_int_equal(s->received, 3);
	/* Whatever serviceId arrives, it is the one service. */
	receive_data(f, "SOMETHING-ELSE", 1, 0, 4);
	assert_int_equal(s->received, 7);
	/* The stream id still has to match. */
	receive_data(f, "", 2, 0, 5);
	assert_int_equal(s->received, 7);
	fake_receive_type(f, TMSG_STREAM_RESET, "OTHER", 1, 0);
	assert_true(s->ended);
	fake_free(f);
}

static void test_v1_drops_data_with_connection_id(void **state)
{
	(void)state;
	struct fake *f = typed_source("2222", 1, ssh_only, 1);
	struct local_conn *c = accept_on(f, 0);
	struct fake_sock *s = c->sock;
	receive_data(f, "", 1, 1, 3);
	receive_data(f, "", 1, 7, 3);
	assert_int_equal(s->received, 0);
	receive_data(f, "", 1, 0, 3);
	assert_int_equal(s->received, 3);
	fake_free(f);
}

static void test_v2_names_services_without_connection_ids(void **state)
{
	(void)state;
	struct fake *f = typed_source("SSH=2222,HTTP=8080", 2, two_services, 2);
	struct local_conn *a = accept_on(f, 0);
	assert_non_null(a);
	assert_int_equal(f->sent[0].type, TMSG_STREAM_START);
	assert_string_equal(f->sent[0].service_id, "SSH");
	assert_int_equal(f->sent[0].connection_id, 0);
	int32_t ssh = f->sent[0].stream_id;
	/* One connection per service at a time; the other service is free. */
	assert_null(accept_on(f, 0));
	struct local_conn *h = accept_on(f, 1);
	assert_non_null(h);
	assert_string_equal(f->sent[1].service_id, "HTTP");
	/* serviceIds are checked: an unknown one is not delivered. */
	receive_data(f, "RDP", ssh, 0, 3);
	assert_int_equal(((struct fake_sock *)a->sock)->received, 0);
	receive_data(f, "SSH", ssh, 0, 3);
	assert_int_equal(((struct fake_sock *)a->sock)->received, 3);
	receive_data(f, "SSH", ssh, 1, 3);
	assert_int_equal(((struct fake_sock *)a->sock)->received, 3);
	fake_close(f, a);
	fake_flush(f);
	assert_int_equal(f->sent[2].type, TMSG_STREAM_RESET);
	assert_string_equal(f->sent[2].service_id, "SSH");
	assert_int_equal(f->sent[2].stream_id, ssh);
	assert_int_equal(f->sent[2].connection_id, 0);
	/* The next SSH client gets the next stream. */
	assert_non_null(accept_on(f, 0));
	assert_int_equal(f->sent[3].type, TMSG_STREAM_START);
	assert_int_equal(f->sent[3].stream_id, ssh + 1);
	fake_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_stream_id_random_per_session),
		cmocka_unit_test(test_stream_ids_count_up_and_wrap),
		cmocka_unit_test(test_no_random_bytes_refuses),
		cmocka_unit_test(test_v1_message_shapes),
		cmocka_unit_test(test_v1_one_connection_at_a_time),
		cmocka_unit_test(test_v1_ignores_service_ids),
		cmocka_unit_test(test_v1_drops_data_with_connection_id),
		cmocka_unit_test(test_v2_names_services_without_connection_ids),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
