/* Unit tests for relay/peer.c: the relay's data plane, driven through a
 * mock of its I/O interface (struct peer_io) instead of libwebsockets. Each
 * mock connection records what the data plane asked of it: the messages
 * sent, write requests, pauses, the close code. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytequeue.h"
#include "proto/frame.h"
#include "proto/message.h"
#include "relay/peer.h"
#include "relay/registry.h"
#include "relay/store.h"

#define SRC SIDE_SOURCE
#define DST SIDE_DESTINATION
#define HEADROOM 16

/* ---- mock connections ------------------------------------------------------ */

struct mock_conn {
	bool want_write;
	bool paused;
	unsigned close_within;
	int close_code;
	char close_reason[128];
	size_t n_sends;
	bool fail_send;
	struct bytequeue sent;       /* every byte sent, in order */
};

static void mock_want_write(void *conn)
{
	((struct mock_conn *)conn)->want_write = true;
}

static void mock_pause_reading(void *conn, bool pause)
{
	((struct mock_conn *)conn)->paused = pause;
}

static void mock_close_within(void *conn, unsigned secs)
{
	((struct mock_conn *)conn)->close_within = secs;
}

static int mock_send(void *conn, struct bytequeue *q)
{
	struct mock_conn *c = conn;
	if (c->fail_send)
		return -1;
	size_t len = bytequeue_len(q);
	assert_int_equal(bytequeue_append(&c->sent, bytequeue_peek(q), len), 0);
	bytequeue_consume(q, len);
	c->n_sends++;
	return 0;
}

static void mock_close(void *conn, int code, const char *reason)
{
	struct mock_conn *c = conn;
	c->close_code = code;
	snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason);
}

static const struct peer_io mock_io = {
	.want_write = mock_want_write,
	.pause_reading = mock_pause_reading,
	.close_within = mock_close_within,
	.send = mock_send,
	.close = mock_close,
};

/* ---- a fake store that answers later ---------------------------------------- */

/* Records each save and answers it only when polled, as a real backend
 * does from its thread or socket. */
struct fake_store {
	struct store base;
	int saves;
	struct registry_tunnel last;  /* the copy taken at store_save */
	size_t n_pending;             /* saves not yet answered */
	store_done_fn done[4];
	void *ctx[4];
	const char *fail;             /* non-NULL: every save fails with this */
	int answered;
};

static int fake_save(struct store *s, const struct registry_tunnel *t, store_done_fn done,
		     void *ctx, char *err, size_t err_cap)
{
	struct fake_store *fs = (struct fake_store *)s;
	assert_true(fs->n_pending < 4); /* the tests poll after each step */
	fs->saves++;
	fs->last = *t;
	fs->done[fs->n_pending] = done;
	fs->ctx[fs->n_pending++] = ctx;
	return 0;
}

static void fake_poll(struct store *s)
{
	struct fake_store *fs = (struct fake_store *)s;
	for (size_t i = 0; i < fs->n_pending; i++) {
		fs->answered++;
		fs->done[i](fs->ctx[i], fs->fail);
	}
	fs->n_pending = 0;
}

static const struct store_ops fake_ops = { .save = fake_save, .poll = fake_poll };

/* ---- fixture ---------------------------------------------------------------- */

struct fx {
	struct registry reg;
	struct registry_tunnel *t;
	struct relay_metrics metrics;
	struct dataplane *dp;
	struct mock_conn conn[3];    /* source, destination, a reconnecting source */
	struct peer *peer[3];
	struct fake_store store;
};

static int setup_with_limit(void **state, size_t limit)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	registry_init(&f->reg);
	const char *services[] = { "SSH", "HTTP" };
	char err[256];
	if (registry_add(&f->reg, "t1", services, 2, "source-token", "destination-token",
			 err, sizeof(err)))
		return -1;
	f->t = registry_find_id(&f->reg, "t1");
	f->store.base.ops = &fake_ops;
	for (int i = 0; i < 3; i++)
		bytequeue_init(&f->conn[i].sent, 0);
	struct dataplane_config cfg = {
		.io = &mock_io,
		.queue_headroom = HEADROOM,
		.store = &f->store.base,
		.metrics = &f->metrics,
		.max_connections = limit,
	};
	f->dp = dataplane_new(&cfg);
	*state = f;
	return f->dp ? 0 : -1;
}

static int setup(void **state)
{
	return setup_with_limit(state, 2);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i < 3; i++) {
		peer_closed(f->peer[i]);
		store_poll(&f->store.base);
		bytequeue_free(&f->conn[i].sent);
	}
	dataplane_free(f->dp);
	registry_free(&f->reg);
	free(f);
	return 0;
}

/* ---- helpers -------------------------------------------------------------------- */

static struct peer *join(struct fx *f, int slot, enum tunnel_side side, int version, bool reconnect)
{
	struct admit_result res = { .tunnel = f->t, .side = side, .version = version,
				    .reconnect = reconnect };
	f->peer[slot] = peer_join(f->dp, &f->conn[slot], &res, version, "127.0.0.1");
	assert_non_null(f->peer[slot]);
	store_poll(&f->store.base); /* the loop collects the save's answer */
	return f->peer[slot];
}

static void leave(struct fx *f, int slot)
{
	peer_closed(f->peer[slot]);
	f->peer[slot] = NULL;
	store_poll(&f->store.base);
}

/* Lets the connection write while it asks to. Returns peer_writeable's -1
 * when the connection must end, else 0. */
static int drain(struct fx *f, int slot)
{
	struct mock_conn *c = &f->conn[slot];
	while (c->want_write) {
		c->want_write = false;
		if (peer_writeable(f->peer[slot]))
			return -1;
	}
	return 0;
}

/* Takes the next frame the connection was sent, decoded into m (free it).
 * Returns false when nothing more was sent. */
static bool next_msg(struct fx *f, int slot, struct tunnel_msg *m)
{
	struct bytequeue *q = &f->conn[slot].sent;
	if (bytequeue_len(q) == 0)
		return false;
	assert_true(bytequeue_len(q) >= TUNNEL_FRAME_PREFIX);
	const uint8_t *p = bytequeue_peek(q);
	size_t body = (size_t)p[0] << 8 | p[1];
	assert_true(bytequeue_len(q) >= TUNNEL_FRAME_PREFIX + body);
	assert_int_equal(tunnel_msg_parse(p + TUNNEL_FRAME_PREFIX, body, m), TMSG_OK);
	/* m points into its own storage: the queue may move on. */
	bytequeue_consume(q, TUNNEL_FRAME_PREFIX + body);
	return true;
}

static void expect_msg(struct fx *f, int slot, enum tunnel_msg_type type, int32_t stream,
		       uint32_t conn)
{
	struct tunnel_msg m;
	if (!next_msg(f, slot, &m))
		fail_msg("connection %d: expected %s, got nothing", slot, tunnel_msg_type_str(type));
	if ((int)m.type != (int)type)
		fail_msg("connection %d: expected %s, got %s", slot, tunnel_msg_type_str(type),
			 tunnel_msg_type_str(m.type));
	assert_int_equal(m.stream_id, stream);
	assert_int_equal(m.connection_id, conn);
	tunnel_msg_free(&m);
}

static void expect_nothing(struct fx *f, int slot)
{
	assert_int_equal(bytequeue_len(&f->conn[slot].sent), 0);
}

static size_t encode(enum tunnel_msg_type type, int32_t stream, uint32_t conn,
		     const char *service, const uint8_t *payload, size_t payload_len,
		     uint8_t *out, size_t cap)
{
	struct tunnel_msg m = {
		.type = type,
		.stream_id = stream,
		.connection_id = conn,
		.service_id = service,
		.payload = payload,
		.payload_len = payload_len,
	};
	size_t len = tunnel_msg_encode(&m, out, cap);
	assert_true(len > 0);
	return len;
}

/* A DATA frame (stream 1, connection 1) of n patterned payload bytes. */
static size_t data_frame(uint8_t *payload, size_t n, uint8_t *frame, size_t cap)
{
	for (size_t i = 0; i < n; i++)
		payload[i] = (uint8_t)(i * 31);
	return encode(TMSG_DATA, 1, 1, "SSH", payload, n, frame, cap);
}

/* Sends one message from the peer in slot, as one WebSocket message. */
static void from(struct fx *f, int slot, enum tunnel_msg_type type, int32_t stream, uint32_t conn,
		 const char *service)
{
	uint8_t buf[256];
	size_t len = encode(type, stream, conn, service, NULL, 0, buf, sizeof(buf));
	peer_receive(f->peer[slot], buf, len, true, true);
}

static void assert_totals(struct fx *f, size_t want_peers, size_t want_live)
{
	size_t peers, live;
	dataplane_totals(f->dp, &peers, &live);
	assert_int_equal(peers, want_peers);
	assert_int_equal(live, want_live);
}

/* Both sides connected (V3), SERVICE_IDS taken, a stream of SSH open. */
static void pair_with_stream(struct fx *f)
{
	join(f, DST, DST, 3, false);
	join(f, SRC, SRC, 3, false);
	assert_int_equal(drain(f, SRC), 0);
	assert_int_equal(drain(f, DST), 0);
	expect_msg(f, SRC, TMSG_SERVICE_IDS, 0, 0);
	expect_msg(f, DST, TMSG_SERVICE_IDS, 0, 0);
	from(f, SRC, TMSG_STREAM_START, 1, 1, "SSH");
	assert_int_equal(drain(f, DST), 0);
	expect_msg(f, DST, TMSG_STREAM_START, 1, 1);
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_pairing(void **state)
{
	struct fx *f = *state;
	join(f, DST, DST, 3, false);
	assert_true(dataplane_side_connected(f->dp, f->t, DST));
	assert_false(dataplane_side_connected(f->dp, f->t, SRC));
	assert_true(f->conn[DST].want_write);
	assert_int_equal(drain(f, DST), 0);
	struct tunnel_msg m;
	assert_true(next_msg(f, DST, &m));
	assert_int_equal(m.type, TMSG_SERVICE_IDS);
	assert_int_equal(m.n_service_ids, 2);
	assert_string_equal(m.service_ids[0], "SSH");
	assert_string_equal(m.service_ids[1], "HTTP");
	tunnel_msg_free(&m);
	assert_true(f->t->side_changed_at[DST] > 0);
	/* A V1 peer gets no SERVICE_IDS. */
	join(f, SRC, SRC, 1, false);
	assert_true(dataplane_side_connected(f->dp, f->t, SRC));
	assert_int_equal(drain(f, SRC), 0);
	expect_nothing(f, SRC);
	assert_totals(f, 2, 0);
}

static void test_forward_data_both_ways(void **state)
{
	struct fx *f = *state;
	pair_with_stream(f);
	uint8_t payload[1000], frame[1100];
	size_t len = data_frame(payload, sizeof(payload), frame, sizeof(frame));
	uint64_t before = f->metrics.bytes_from[SRC];
	peer_receive(f->peer[SRC], frame, len, true, true);
	assert_int_equal(f->metrics.bytes_from[SRC] - before, len);
	assert_int_equal(drain(f, DST), 0);
	/* Forwarded unchanged, byte for byte. */
	assert_int_equal(bytequeue_len(&f->conn[DST].sent), len);
	assert_memory_equal(bytequeue_peek(&f->conn[DST].sent), frame, len);
	bytequeue_consume(&f->conn[DST].sent, len);

	/* The other way, in two pieces of one WebSocket message. */
	len = encode(TMSG_DATA, 1, 1, "SSH", payload, 10, frame, sizeof(frame));
	peer_receive(f->peer[DST], frame, 3, true, true);
	peer_receive(f->peer[DST], frame + 3, len - 3, true, false);
	assert_int_equal(f->metrics.bytes_from[DST], len);
	assert_int_equal(drain(f, SRC), 0);
	assert_int_equal(bytequeue_len(&f->conn[SRC].sent), len);
	assert_memory_equal(bytequeue_peek(&f->conn[SRC].sent), frame, len);
	assert_int_equal(dataplane_live_connections(f->dp, f->t), 1);
}

static void test_connection_limit(void **state)
{
	struct fx *f = *state;
	pair_with_stream(f);
	from(f, SRC, TMSG_CONNECTION_START, 1, 2, "SSH");
	assert_int_equal(drain(f, DST), 0);
	expect_msg(f, DST, TMSG_CONNECTION_START, 1, 2);
	assert_int_equal(dataplane_live_connections(f->dp, f->t), 2);
	/* The third is refused back to the source, and not forwarded. */
	from(f, SRC, TMSG_CONNECTION_START, 1, 3, "SSH");
	assert_int_equal(drain(f, SRC), 0);
	assert_int_equal(drain(f, DST), 0);
	expect_msg(f, SRC, TMSG_CONNECTION_RESET, 1, 3);
	expect_nothing(f, DST);
	assert_int_equal(dataplane_live_connections(f->dp, f->t), 2);
	assert_totals(f, 2, 2);
}

static void test_leaving_resets_the_survivor(void **state)
{
	struct fx *f = *state;
	pair_with_stream(f);
	leave(f, SRC);
	assert_false(dataplane_side_connected(f->dp, f->t, SRC));
	assert_true(dataplane_side_connected(f->dp, f->t, DST));
	assert_int_equal(dataplane_live_connections(f->dp, f->t), 0);
	/* The destination hears of the stream, never SESSION_RESET. */
	assert_int_equal(drain(f, DST), 0);
	expect_msg(f, DST, TMSG_STREAM_RESET, 1, 0);
	expect_nothing(f, DST);
	/* Data for the old stream is dropped: nobody to forward it to. */
	from(f, DST, TMSG_DATA, 1, 1, "SSH");
	assert_int_equal(drain(f, DST), 0);
	expect_nothing(f, DST);
	leave(f, DST);
	assert_totals(f, 0, 0);
	assert_false(dataplane_side_connected(f->dp, f->t, DST));
}

/* A V3 source whose destination leaves hears of each connection, so that
 * it keeps reading; its stream then continues at the next destination. */
static void test_destination_leaving_keeps_the_source_stream(void **state)
{
	struct fx *f = *state;
	pair_with_stream(f);
	from(f, SRC, TMSG_CONNECTION_START, 1, 2, "SSH");
	assert_int_equal(drain(f, DST), 0);
	expect_msg(f, DST, TMSG_CONNECTION_START, 1, 2);
	leave(f, DST);
	assert_int_equal(drain(f, SRC), 0);
	expect_msg(f, SRC, TMSG_CONNECTION_RESET, 1, 1);
	expect_msg(f, SRC, TMSG_CONNECTION_RESET, 1, 2);
	expect_nothing(f, SRC);
	join(f, 2, DST, 3, true);
	assert_int_equal(drain(f, 2), 0);
	expect_msg(f, 2, TMSG_SERVICE_IDS, 0, 0);
	from(f, SRC, TMSG_CONNECTION_START, 1, 3, "SSH");
	assert_int_equal(drain(f, 2), 0);
	expect_msg(f, 2, TMSG_STREAM_START, 1, 3);
}

static void test_reconnect_replaces(void **state)
{
	struct fx *f = *state;
	pair_with_stream(f);
	join(f, 2, SRC, 3, true);
	/* The old socket is told to go, the other side starts over. */
	assert_int_equal(drain(f, SRC), -1);
	assert_int_equal(f->conn[SRC].close_code, 1001);
	assert_string_equal(f->conn[SRC].close_reason, "replaced by a reconnect");
	assert_int_equal(f->conn[SRC].close_within, PEER_CLOSE_TIMEOUT_S);
	assert_int_equal(drain(f, DST), 0);
	expect_msg(f, DST, TMSG_STREAM_RESET, 1, 0);
	/* The old socket's close changes nothing for the new one. */
	leave(f, SRC);
	assert_true(dataplane_side_connected(f->dp, f->t, SRC));
	assert_int_equal(drain(f, 2), 0);
	expect_msg(f, 2, TMSG_SERVICE_IDS, 0, 0);
	from(f, 2, TMSG_STREAM_START, 2, 1, "SSH");
	assert_int_equal(drain(f, DST), 0);
	expect_msg(f, DST, TMSG_STREAM_START, 2, 1);
}

/* A destination that does not read stops the relay reading its source;
 * once it has taken enough, the source is read again. */
static void test_backpressure(void **state)
{
	struct fx *f = *state;
	pair_with_stream(f);
	uint8_t payload[16000], frame[16100];
	memset(payload, 'x', sizeof(payload));
	size_t len = encode(TMSG_DATA, 1, 1, "SSH", payload, sizeof(payload), frame, sizeof(frame));
	int sent = 0;
	while (!f->conn[SRC].paused) {
		peer_receive(f->peer[SRC], frame, len, true, true);
		sent++;
		assert_true(sent <= (int)(PEER_QUEUE_HIGH / len) + 1);
	}
	assert_true((size_t)sent * len > PEER_QUEUE_HIGH);
	assert_false(f->conn[DST].paused);
	/* What arrives while the pause lands is still forwarded. */
	peer_receive(f->peer[SRC], frame, len, true, true);
	assert_int_equal(drain(f, DST), 0);
	assert_false(f->conn[SRC].paused);
	assert_int_equal(bytequeue_len(&f->conn[DST].sent), (size_t)(sent + 1) * len);
}

/* A queue past the bound (data still arriving though the sender was told
 * to pause) closes the peer that does not read (1008). */
static void test_queue_bound(void **state)
{
	struct fx *f = *state;
	pair_with_stream(f);
	uint8_t payload[16000], frame[16100];
	memset(payload, 'y', sizeof(payload));
	size_t len = encode(TMSG_DATA, 1, 1, "SSH", payload, sizeof(payload), frame, sizeof(frame));
	size_t bound = PEER_QUEUE_HIGH + 2 * TUNNEL_MAX_WS_MESSAGE;
	size_t n = 0;
	while (!f->conn[SRC].close_code && n * len <= bound + len) {
		peer_receive(f->peer[DST], frame, len, true, true);
		n++;
		if (f->conn[SRC].close_within)
			break;
	}
	assert_true(f->conn[DST].paused);
	assert_true(n * len > bound);
	assert_int_equal(f->conn[SRC].close_within, PEER_CLOSE_TIMEOUT_S);
	assert_int_equal(drain(f, SRC), -1);
	assert_int_equal(f->conn[SRC].close_code, 1008);
	assert_string_equal(f->conn[SRC].close_reason, "not reading what the relay sends");
}

static void test_close_on_expiry(void **state)
{
	struct fx *f = *state;
	pair_with_stream(f);
	dataplane_close_side(f->dp, f->t, -1, 1000, "tunnel expired");
	for (int s = 0; s < 2; s++) {
		assert_false(dataplane_side_connected(f->dp, f->t, s));
		assert_int_equal(f->conn[s].close_within, PEER_CLOSE_TIMEOUT_S);
		assert_int_equal(drain(f, s), -1);
		assert_int_equal(f->conn[s].close_code, 1000);
		assert_string_equal(f->conn[s].close_reason, "tunnel expired");
	}
	/* Only the closing is left: what they still send is ignored. */
	from(f, SRC, TMSG_STREAM_START, 3, 1, "SSH");
	expect_nothing(f, DST);
	leave(f, SRC);
	leave(f, DST);
	assert_totals(f, 0, 0);
}

static void test_close_one_side(void **state)
{
	struct fx *f = *state;
	pair_with_stream(f);
	dataplane_close_side(f->dp, f->t, DST, 1000, "access token rotated");
	assert_true(dataplane_side_connected(f->dp, f->t, SRC));
	assert_false(dataplane_side_connected(f->dp, f->t, DST));
	assert_int_equal(drain(f, DST), -1);
	assert_int_equal(f->conn[DST].close_code, 1000);
	assert_false(f->conn[SRC].want_write);
}

static void test_bad_input_closes(void **state)
{
	struct fx *f = *state;
	pair_with_stream(f);
	uint8_t text[] = "hello";
	peer_receive(f->peer[SRC], text, 5, false, true);
	assert_int_equal(drain(f, SRC), -1);
	assert_int_equal(f->conn[SRC].close_code, 1003);

	uint8_t garbage[] = { 0x00, 0x03, 0xff, 0xff, 0xff };
	peer_receive(f->peer[DST], garbage, sizeof(garbage), true, true);
	assert_int_equal(drain(f, DST), -1);
	assert_int_equal(f->conn[DST].close_code, 1002);
	assert_non_null(strstr(f->conn[DST].close_reason, "bad frame"));
}

static void test_message_too_large(void **state)
{
	struct fx *f = *state;
	pair_with_stream(f);
	static uint8_t zeros[TUNNEL_MAX_WS_MESSAGE + 1];
	peer_receive(f->peer[SRC], zeros, sizeof(zeros), true, true);
	assert_int_equal(drain(f, SRC), -1);
	assert_int_equal(f->conn[SRC].close_code, 1009);
}

/* Joining and leaving save the tunnel through the store seam; a failed
 * save is only logged and the data plane goes on. */
static void test_join_and_leave_are_saved(void **state)
{
	struct fx *f = *state;
	join(f, DST, DST, 3, false);
	assert_int_equal(f->store.saves, 1);
	assert_string_equal(f->store.last.id, "t1");
	assert_true(f->store.last.side_changed_at[DST] > 0);
	assert_int_equal(f->store.last.side_changed_at[SRC], 0);
	f->store.fail = "disk full";
	join(f, SRC, SRC, 3, false);
	assert_int_equal(f->store.saves, 2);
	assert_int_equal(f->store.answered, 2);
	assert_true(dataplane_side_connected(f->dp, f->t, SRC));
	assert_true(f->store.last.side_changed_at[SRC] > 0);
	f->store.fail = NULL;
	f->t->side_changed_at[SRC] = 1; /* so that leaving visibly sets it again */
	leave(f, SRC);
	assert_int_equal(f->store.saves, 3);
	assert_true(f->store.last.side_changed_at[SRC] > 1);
	assert_true(dataplane_side_connected(f->dp, f->t, DST));
}

/* Releasing idle buffers keeps what is in flight: a queued message and a
 * partial frame both arrive whole. */
static void test_release_idle_keeps_what_is_in_flight(void **state)
{
	struct fx *f = *state;
	pair_with_stream(f);
	uint8_t payload[300], frame[400];
	size_t len = data_frame(payload, sizeof(payload), frame, sizeof(frame));
	peer_receive(f->peer[SRC], frame, len, true, true); /* queued for DST, not sent */
	peer_receive(f->peer[DST], frame, 5, true, true);  /* a partial frame from DST */
	dataplane_release_idle(f->dp);
	peer_receive(f->peer[DST], frame + 5, len - 5, true, false);
	assert_int_equal(drain(f, DST), 0);
	assert_int_equal(drain(f, SRC), 0);
	assert_int_equal(bytequeue_len(&f->conn[DST].sent), len);
	assert_memory_equal(bytequeue_peek(&f->conn[DST].sent), frame, len);
	assert_int_equal(bytequeue_len(&f->conn[SRC].sent), len);
	assert_memory_equal(bytequeue_peek(&f->conn[SRC].sent), frame, len);
	/* Idle now: released (once: the walk then finds no holder), and used
	 * again as if new; the peers close while holding a queue again. */
	assert_true(dataplane_release_idle(f->dp) >= TUNNEL_MAX_FRAME);
	assert_int_equal(dataplane_release_idle(f->dp), 0);
	bytequeue_consume(&f->conn[DST].sent, len);
	peer_receive(f->peer[SRC], frame, len, true, true);
	assert_int_equal(drain(f, DST), 0);
	assert_int_equal(bytequeue_len(&f->conn[DST].sent), len);
}

static void test_failed_send_ends_the_connection(void **state)
{
	struct fx *f = *state;
	join(f, DST, DST, 3, false);
	f->conn[DST].fail_send = true;
	assert_int_equal(drain(f, DST), -1);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_pairing),
		T(test_forward_data_both_ways),
		T(test_connection_limit),
		T(test_leaving_resets_the_survivor),
		T(test_destination_leaving_keeps_the_source_stream),
		T(test_reconnect_replaces),
		T(test_backpressure),
		T(test_queue_bound),
		T(test_close_on_expiry),
		T(test_close_one_side),
		T(test_bad_input_closes),
		T(test_message_too_large),
		T(test_join_and_leave_are_saved),
		T(test_failed_send_ends_the_connection),
		T(test_release_idle_keeps_what_is_in_flight),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
