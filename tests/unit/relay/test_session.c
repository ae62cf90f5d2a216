/* Unit tests for relay/session.c: the data-plane rules of one tunnel. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "relay/session.h"

#define SRC SIDE_SOURCE
#define DST SIDE_DESTINATION

/* One registry with a single-service tunnel "one" and a three-service "three". */
struct fixture {
	struct registry reg;
	struct registry_tunnel *one;
	struct registry_tunnel *three;
	struct session s;   /* on "one", both sides V3, 10 connections */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *ssh[] = { "SSH" };
	const char *three[] = { "SSH", "HTTP", "RDP" };
	char err[256];
	if (f == NULL)
		return -1;
	registry_init(&f->reg);
	if (registry_add(&f->reg, "one", ssh, 1, "src-token-1", "dst-token-1", err,
			 sizeof(err)) != 0 ||
	    registry_add(&f->reg, "three", three, 3, "src-token-3", "dst-token-3", err,
			 sizeof(err)) != 0) {
		registry_free(&f->reg);
		free(f);
		return -1;
	}
	/* Pointers into the registry are taken once it stops growing. */
	f->one = registry_find_id(&f->reg, "one");
	f->three = registry_find_id(&f->reg, "three");
	if (session_init(&f->s, f->one, TUNNEL_DEFAULT_MAX_CONNECTIONS) != 0) {
		registry_free(&f->reg);
		free(f);
		return -1;
	}
	session_peer_joined(&f->s, SRC, 3);
	session_peer_joined(&f->s, DST, 3);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	session_free(&f->s);
	registry_free(&f->reg);
	free(f);
	return 0;
}

static struct tunnel_msg msg(enum tunnel_msg_type type, int32_t stream, uint32_t conn,
			     const char *service)
{
	struct tunnel_msg m;
	memset(&m, 0, sizeof(m));
	m.type = type;
	m.stream_id = stream;
	m.connection_id = conn;
	m.service_id = service;
	return m;
}

static struct session_action on(struct session *s, enum tunnel_side from,
				enum tunnel_msg_type type, int32_t stream, uint32_t conn,
				const char *service)
{
	struct tunnel_msg m = msg(type, stream, conn, service);
	return session_on_message(s, from, &m);
}

static void expect_verdict(struct session_action a, enum session_verdict v, const char *reason)
{
	assert_int_equal(a.verdict, v);
	if (reason == NULL) {
		assert_null(a.reason);
		return;
	}
	assert_non_null(a.reason);
	if (strstr(a.reason, reason) == NULL)
		fail_msg("reason \"%s\" does not contain \"%s\"", a.reason, reason);
}

static void expect_forward(struct session_action a)
{
	expect_verdict(a, SV_FORWARD, NULL);
	assert_false(a.limit_reached);
}

static void expect_reply(struct session_action a, enum tunnel_msg_type type, int32_t stream,
			 uint32_t conn, const char *service_storage, const char *reason,
			 bool limit)
{
	expect_verdict(a, SV_REPLY, reason);
	assert_int_equal(a.reply.type, type);
	assert_int_equal(a.reply.stream_id, stream);
	assert_int_equal(a.reply.connection_id, conn);
	/* The reply names the registry's own string, not the request's. */
	assert_ptr_equal(a.reply.service_id, service_storage);
	assert_null(a.reply.payload);
	assert_int_equal(a.reply.payload_len, 0);
	assert_int_equal(a.limit_reached, limit);
}

/* ---- message types and sides ----------------------------------------------- */

static void test_relay_only_types(void **state)
{
	struct fixture *f = *state;
	for (int side = SRC; side <= DST; side++) {
		expect_verdict(on(&f->s, side, TMSG_SERVICE_IDS, 0, 0, ""), SV_PROTOCOL_ERROR,
			       "only the relay sends SERVICE_IDS");
		expect_verdict(on(&f->s, side, TMSG_SESSION_RESET, 0, 0, ""), SV_PROTOCOL_ERROR,
			       "only the relay sends SESSION_RESET");
		expect_verdict(on(&f->s, side, TMSG_UNKNOWN, 1, 1, "SSH"), SV_PROTOCOL_ERROR,
			       "unexpected message type");
		expect_verdict(on(&f->s, side, (enum tunnel_msg_type)42, 1, 1, "SSH"),
			       SV_PROTOCOL_ERROR, "unexpected message type");
	}
}

static void test_starts_only_from_source(void **state)
{
	struct fixture *f = *state;
	expect_verdict(on(&f->s, DST, TMSG_STREAM_START, 1, 1, "SSH"), SV_PROTOCOL_ERROR,
		       "only the source sends STREAM_START");
	expect_verdict(on(&f->s, DST, TMSG_CONNECTION_START, 1, 2, "SSH"), SV_PROTOCOL_ERROR,
		       "only the source sends CONNECTION_START");
	assert_int_equal(session_live_count(&f->s), 0);
}

static void test_missing_stream_id(void **state)
{
	struct fixture *f = *state;
	expect_verdict(on(&f->s, SRC, TMSG_STREAM_START, 0, 1, "SSH"), SV_PROTOCOL_ERROR,
		       "without streamId");
	expect_verdict(on(&f->s, DST, TMSG_DATA, -1, 1, "SSH"), SV_PROTOCOL_ERROR,
		       "without streamId");
}

/* ---- service ids ------------------------------------------------------------- */

static void test_empty_service_single(void **state)
{
	struct fixture *f = *state;
	/* A V1 peer sends no service id: it means the only service. */
	expect_forward(on(&f->s, SRC, TMSG_STREAM_START, 1, 0, ""));
	expect_forward(on(&f->s, DST, TMSG_DATA, 1, 0, ""));
	expect_forward(on(&f->s, SRC, TMSG_DATA, 1, 1, "SSH"));
	struct tunnel_msg m = msg(TMSG_DATA, 1, 0, NULL);
	expect_forward(session_on_message(&f->s, SRC, &m));
	assert_int_equal(session_live_count(&f->s), 1);
	assert_int_equal(f->s.active_stream[0], 1);
}

static void test_empty_service_multi(void **state)
{
	struct fixture *f = *state;
	struct session s;
	assert_int_equal(session_init(&s, f->three, 10), 0);
	session_peer_joined(&s, SRC, 3);
	session_peer_joined(&s, DST, 3);
	expect_verdict(on(&s, SRC, TMSG_STREAM_START, 1, 1, ""), SV_PROTOCOL_ERROR,
		       "message without serviceId in a multi-service tunnel");
	expect_verdict(on(&s, DST, TMSG_STREAM_RESET, 1, 0, ""), SV_PROTOCOL_ERROR,
		       "message without serviceId in a multi-service tunnel");
	expect_forward(on(&s, SRC, TMSG_STREAM_START, 1, 1, "RDP"));
	assert_int_equal(s.active_stream[2], 1);
	session_free(&s);
}

static void test_unknown_service(void **state)
{
	struct fixture *f = *state;
	expect_verdict(on(&f->s, SRC, TMSG_STREAM_START, 1, 1, "HTTP"), SV_PROTOCOL_ERROR,
		       "unknown service id");
	expect_verdict(on(&f->s, DST, TMSG_DATA, 1, 1, "ssh"), SV_PROTOCOL_ERROR,
		       "unknown service id");
	expect_verdict(on(&f->s, DST, TMSG_CONNECTION_RESET, 1, 1, "SSHX"), SV_PROTOCOL_ERROR,
		       "unknown service id");
	assert_int_equal(session_live_count(&f->s), 0);
}

/* ---- STREAM_START --------------------------------------------------------- */

static void test_stream_start_no_destination(void **state)
{
	struct fixture *f = *state;
	session_peer_left(&f->s, DST, NULL, NULL);
	struct session_action a = on(&f->s, SRC, TMSG_STREAM_START, 7, 0, "SSH");
	/* connection id 0 stays 0 in the STREAM_RESET reply */
	expect_reply(a, TMSG_STREAM_RESET, 7, 0, f->one->services[0], "no destination connected",
		     false);
	a = on(&f->s, SRC, TMSG_STREAM_START, 8, 1, "");
	expect_reply(a, TMSG_STREAM_RESET, 8, 1, f->one->services[0], "no destination connected",
		     false);
	assert_int_equal(session_live_count(&f->s), 0);
	assert_int_equal(f->s.active_stream[0], 0);
}

static void test_stream_start_records(void **state)
{
	struct fixture *f = *state;
	expect_forward(on(&f->s, SRC, TMSG_STREAM_START, 5, 1, "SSH"));
	assert_int_equal(session_live_count(&f->s), 1);
	assert_int_equal(f->s.active_stream[0], 5);
	assert_int_equal(f->s.live[0].stream_id, 5);
	assert_int_equal(f->s.live[0].connection_id, 1);
	/* connection 0 was stored as 1: a CONNECTION_START 1 is a duplicate */
	expect_forward(on(&f->s, SRC, TMSG_STREAM_START, 6, 0, "SSH"));
	assert_int_equal(f->s.live[0].connection_id, 1);
	expect_verdict(on(&f->s, SRC, TMSG_CONNECTION_START, 6, 1, "SSH"), SV_DROP,
		       "duplicate CONNECTION_START");
}

static void test_stream_start_replaces_old_stream(void **state)
{
	struct fixture *f = *state;
	expect_forward(on(&f->s, SRC, TMSG_STREAM_START, 1, 1, "SSH"));
	expect_forward(on(&f->s, SRC, TMSG_CONNECTION_START, 1, 2, "SSH"));
	expect_forward(on(&f->s, SRC, TMSG_CONNECTION_START, 1, 3, "SSH"));
	assert_int_equal(session_live_count(&f->s), 3);

	expect_forward(on(&f->s, SRC, TMSG_STREAM_START, 2, 1, "SSH"));
	assert_int_equal(session_live_count(&f->s), 1);
	assert_int_equal(f->s.active_stream[0], 2);
	/* The old stream is gone: its DATA is dropped, it takes no new connection. */
	expect_verdict(on(&f->s, DST, TMSG_DATA, 1, 2, "SSH"), SV_DROP,
		       "DATA for unknown connection");
	expect_reply(on(&f->s, SRC, TMSG_CONNECTION_START, 1, 4, "SSH"), TMSG_CONNECTION_RESET,
		     1, 4, f->one->services[0], "stream not active", false);
	expect_forward(on(&f->s, DST, TMSG_DATA, 2, 1, "SSH"));
}

static void test_stream_start_only_replaces_own_service(void **state)
{
	struct fixture *f = *state;
	struct session s;
	assert_int_equal(session_init(&s, f->three, 10), 0);
	session_peer_joined(&s, SRC, 3);
	session_peer_joined(&s, DST, 3);
	expect_forward(on(&s, SRC, TMSG_STREAM_START, 1, 1, "SSH"));
	expect_forward(on(&s, SRC, TMSG_CONNECTION_START, 1, 2, "SSH"));
	/* Stream ids are per service: stream 1 of HTTP is another stream. */
	expect_forward(on(&s, SRC, TMSG_STREAM_START, 1, 1, "HTTP"));
	assert_int_equal(session_live_count(&s), 3);
	expect_forward(on(&s, SRC, TMSG_STREAM_START, 2, 1, "HTTP"));
	assert_int_equal(session_live_count(&s), 3);
	assert_int_equal(s.active_stream[0], 1);
	assert_int_equal(s.active_stream[1], 2);
	expect_forward(on(&s, DST, TMSG_DATA, 1, 2, "SSH"));
	expect_verdict(on(&s, DST, TMSG_DATA, 1, 1, "HTTP"), SV_DROP, "unknown connection");
	session_free(&s);
}

static void test_stream_start_limit(void **state)
{
	struct fixture *f = *state;
	struct session s;
	assert_int_equal(session_init(&s, f->three, 2), 0);
	session_peer_joined(&s, SRC, 3);
	session_peer_joined(&s, DST, 3);
	expect_forward(on(&s, SRC, TMSG_STREAM_START, 1, 1, "SSH"));
	expect_forward(on(&s, SRC, TMSG_CONNECTION_START, 1, 2, "SSH"));
	expect_reply(on(&s, SRC, TMSG_STREAM_START, 4, 0, "RDP"), TMSG_STREAM_RESET, 4, 0,
		     f->three->services[2], "connection limit reached", true);
	assert_int_equal(session_live_count(&s), 2);
	assert_int_equal(s.active_stream[2], 0);
	expect_forward(on(&s, SRC, TMSG_DATA, 1, 1, "SSH"));
	expect_forward(on(&s, DST, TMSG_DATA, 1, 2, "SSH"));
	/* A new SSH stream frees its own service's slots first, so it fits. */
	expect_forward(on(&s, SRC, TMSG_STREAM_START, 2, 1, "SSH"));
	assert_int_equal(session_live_count(&s), 1);
	session_free(&s);
}

static void test_zero_limit(void **state)
{
	struct fixture *f = *state;
	struct session s;
	assert_int_equal(session_init(&s, f->one, 0), 0);
	session_peer_joined(&s, SRC, 3);
	session_peer_joined(&s, DST, 3);
	expect_reply(on(&s, SRC, TMSG_STREAM_START, 1, 1, "SSH"), TMSG_STREAM_RESET, 1, 1,
		     f->one->services[0], "connection limit reached", true);
	assert_int_equal(session_live_count(&s), 0);
	session_free(&s);
}

/* ---- CONNECTION_START ----------------------------------------------------- */

static void test_connection_start_needs_v3_source(void **state)
{
	struct fixture *f = *state;
	session_peer_joined(&f->s, SRC, 2);
	expect_forward(on(&f->s, SRC, TMSG_STREAM_START, 1, 1, "SSH"));
	expect_verdict(on(&f->s, SRC, TMSG_CONNECTION_START, 1, 2, "SSH"), SV_PROTOCOL_ERROR,
		       "V3");
	session_peer_joined(&f->s, SRC, 1);
	expect_verdict(on(&f->s, SRC, TMSG_CONNECTION_START, 1, 2, "SSH"), SV_PROTOCOL_ERROR,
		       "V3");
	assert_int_equal(session_live_count(&f->s), 1);
}

static void test_connection_start_no_destination(void **state)
{
	struct fixture *f = *state;
	expect_forward(on(&f->s, SRC, TMSG_STREAM_START, 1, 1, "SSH"));
	session_peer_left(&f->s, DST, NULL, NULL);
	expect_reply(on(&f->s, SRC, TMSG_CONNECTION_START, 1, 2, "SSH"), TMSG_CONNECTION_RESET,
		     1, 2, f->one->services[0], "no destination connected", false);
}

static void test_connection_start_v2_destination(void **state)
{
	struct fixture *f = *state;
	session_peer_joined(&f->s, DST, 2);
	expect_forward(on(&f->s, SRC, TMSG_STREAM_START, 1, 1, "SSH"));
	expect_reply(on(&f->s, SRC, TMSG_CONNECTION_START, 1, 2, ""), TMSG_CONNECTION_RESET, 1, 2,
		     f->one->services[0], "destination speaks V1/V2: one connection per stream",
		     false);
	assert_int_equal(session_live_count(&f->s), 1);
	/* The first connection carries on. */
	expect_forward(on(&f->s, DST, TMSG_DATA, 1, 0, ""));
}

static void test_connection_start_stream_not_active(void **state)
{
	struct fixture *f = *state;
	/* No stream at all yet. */
	expect_reply(on(&f->s, SRC, TMSG_CONNECTION_START, 1, 2, "SSH"), TMSG_CONNECTION_RESET,
		     1, 2, f->one->services[0], "stream not active", false);
	expect_forward(on(&f->s, SRC, TMSG_STREAM_START, 3, 1, "SSH"));
	expect_reply(on(&f->s, SRC, TMSG_CONNECTION_START, 4, 2, "SSH"), TMSG_CONNECTION_RESET,
		     4, 2, f->one->services[0], "stream not active", false);
	/* After a STREAM_RESET of the active stream, nothing is active. */
	expect_forward(on(&f->s, DST, TMSG_STREAM_RESET, 3, 0, "SSH"));
	expect_reply(on(&f->s, SRC, TMSG_CONNECTION_START, 3, 2, "SSH"), TMSG_CONNECTION_RESET,
		     3, 2, f->one->services[0], "stream not active", false);
	assert_int_equal(session_live_count(&f->s), 0);
}

static void test_connection_start_duplicate(void **state)
{
	struct fixture *f = *state;
	expect_forward(on(&f->s, SRC, TMSG_STREAM_START, 1, 1, "SSH"));
	expect_forward(on(&f->s, SRC, TMSG_CONNECTION_START, 1, 2, "SSH"));
	expect_verdict(on(&f->s, SRC, TMSG_CONNECTION_START, 1, 2, "SSH"), SV_DROP,
		       "duplicate CONNECTION_START");
	expect_verdict(on(&f->s, SRC, TMSG_CONNECTION_START, 1, 0, "SSH"), SV_DROP,
		       "duplicate CONNECTION_START");
	assert_int_equal(session_live_count(&f->s), 2);
}

static void test_eleventh_connection_refused(void **state)
{
	struct fixture *f = *state;
	expect_forward(on(&f->s, SRC, TMSG_STREAM_START, 1, 1, "SSH"));
	for (uint32_t c = 2; c <= 10; c++)
		expect_forward(on(&f->s, SRC, TMSG_CONNECTION_START, 1, c, "SSH"));
	assert_int_equal(session_live_count(&f->s), 10);

	struct session_action a = on(&f->s, SRC, TMSG_CONNECTION_START, 1, 11, "SSH");
	expect_reply(a, TMSG_CONNECTION_RESET, 1, 11, f->one->services[0],
		     "connection limit reached", true);
	assert_int_equal(session_live_count(&f->s), 10);
	/* The other ten are untouched, both ways. */
	for (uint32_t c = 1; c <= 10; c++) {
		expect_forward(on(&f->s, SRC, TMSG_DATA, 1, c, "SSH"));
		expect_forward(on(&f->s, DST, TMSG_DATA, 1, c, "SSH"));
	}
	expect_verdict(on(&f->s, DST, TMSG_DATA, 1, 11, "SSH"), SV_DROP, "unknown connection");
	/* One ends: the next one fits. */
	expect_forward(on(&f->s, DST, TMSG_CONNECTION_RESET, 1, 4, "SSH"));
	expect_forward(on(&f->s, SRC, TMSG_CONNECTION_START, 1, 12, "SSH"));
	assert_int_equal(session_live_count(&f->s), 10);
}

/* ---- DATA ---------------------------------------------------------------- */

static void test_data(void **state)
{
	struct fixture *f = *state;
	expect_verdict(on(&f->s, SRC, TMSG_DATA, 1, 1, "SSH"), SV_DROP,
		       "DATA for unknown connection");
	expect_forward(on(&f->s, SRC, TMSG_STREAM_START, 1, 1, "SSH"));
	expect_forward(on(&f->s, SRC, TMSG_DATA, 1, 1, "SSH"));
	expect_forward(on(&f->s, DST, TMSG_DATA, 1, 0, "SSH"));
	expect_verdict(on(&f->s, DST, TMSG_DATA, 2, 1, "SSH"), SV_DROP,
		       "DATA for unknown connection");
	expect_verdict(on(&f->s, SRC, TMSG_DATA, 1, 2, "SSH"), SV_DROP,
		       "DATA for unknown connection");
}

static void test_data_peer_not_connected(void **state)
{
	struct fixture *f = *state;
	expect_forward(on(&f->s, SRC, TMSG_STREAM_START, 1, 1, "SSH"));
	f->s.version[DST] = 0; /* only the version: the live entry is still there */
	expect_verdict(on(&f->s, SRC, TMSG_DATA, 1, 1, "SSH"), SV_DROP, "peer not connected");
	f->s.version[DST] = 3;
	f->s.version[SRC] = 0;
	expect_verdict(on(&f->s, DST, TMSG_DATA, 1, 1, "SSH"), SV_DROP, "peer not connected");
}

/* ---- resets -------------------------------------------------------------- */

static void test_connection_reset(void **state)
{
	struct fixture *f = *state;
	expect_forward(on(&f->s, SRC, TMSG_STREAM_START, 1, 1, "SSH"));
	expect_forward(on(&f->s, SRC, TMSG_CONNECTION_START, 1, 2, "SSH"));
	expect_forward(on(&f->s, SRC, TMSG_CONNECTION_RESET, 1, 2, "SSH"));
	assert_int_equal(session_live_count(&f->s), 1);
	/* The destination answers a reset with a reset: dropped quietly. */
	expect_verdict(on(&f->s, DST, TMSG_CONNECTION_RESET, 1, 2, "SSH"), SV_DROP,
		       "reset for unknown connection");
	/* connection 0 means 1 */
	expect_forward(on(&f->s, DST, TMSG_CONNECTION_RESET, 1, 0, "SSH"));
	assert_int_equal(session_live_count(&f->s), 0);
	expect_verdict(on(&f->s, DST, TMSG_CONNECTION_RESET, 9, 1, "SSH"), SV_DROP,
		       "reset for unknown connection");
	/* The stream stays active: a new connection may start in it. */
	expect_forward(on(&f->s, SRC, TMSG_CONNECTION_START, 1, 3, "SSH"));
}

static void test_connection_reset_peer_gone(void **state)
{
	struct fixture *f = *state;
	expect_forward(on(&f->s, SRC, TMSG_STREAM_START, 1, 1, "SSH"));
	f->s.version[DST] = 0;
	expect_verdict(on(&f->s, SRC, TMSG_CONNECTION_RESET, 1, 1, "SSH"), SV_DROP,
		       "peer not connected");
	assert_int_equal(session_live_count(&f->s), 0); /* removed all the same */
}

static void test_stream_reset(void **state)
{
	struct fixture *f = *state;
	expect_forward(on(&f->s, SRC, TMSG_STREAM_START, 1, 1, "SSH"));
	expect_forward(on(&f->s, SRC, TMSG_CONNECTION_START, 1, 2, "SSH"));
	expect_forward(on(&f->s, SRC, TMSG_CONNECTION_START, 1, 3, "SSH"));
	/* A reset of another stream changes nothing but is still forwarded. */
	expect_forward(on(&f->s, SRC, TMSG_STREAM_RESET, 9, 0, "SSH"));
	assert_int_equal(session_live_count(&f->s), 3);
	assert_int_equal(f->s.active_stream[0], 1);
	/* The destination could not reach the service: the whole stream ends. */
	expect_forward(on(&f->s, DST, TMSG_STREAM_RESET, 1, 0, ""));
	assert_int_equal(session_live_count(&f->s), 0);
	assert_int_equal(f->s.active_stream[0], 0);
	expect_verdict(on(&f->s, SRC, TMSG_DATA, 1, 2, "SSH"), SV_DROP, "unknown connection");
	/* Source side too. */
	expect_forward(on(&f->s, SRC, TMSG_STREAM_START, 2, 1, "SSH"));
	expect_forward(on(&f->s, SRC, TMSG_STREAM_RESET, 2, 1, "SSH"));
	assert_int_equal(session_live_count(&f->s), 0);
}

static void test_stream_reset_multi_service(void **state)
{
	struct fixture *f = *state;
	struct session s;
	assert_int_equal(session_init(&s, f->three, 10), 0);
	session_peer_joined(&s, SRC, 3);
	session_peer_joined(&s, DST, 3);
	expect_forward(on(&s, SRC, TMSG_STREAM_START, 1, 1, "SSH"));
	expect_forward(on(&s, SRC, TMSG_STREAM_START, 1, 1, "HTTP"));
	expect_forward(on(&s, SRC, TMSG_CONNECTION_START, 1, 2, "HTTP"));
	expect_forward(on(&s, DST, TMSG_STREAM_RESET, 1, 0, "HTTP"));
	assert_int_equal(session_live_count(&s), 1);
	assert_int_equal(s.active_stream[0], 1);
	assert_int_equal(s.active_stream[1], 0);
	expect_forward(on(&s, DST, TMSG_DATA, 1, 1, "SSH"));
	session_free(&s);
}

static void test_stream_reset_peer_gone(void **state)
{
	struct fixture *f = *state;
	expect_forward(on(&f->s, SRC, TMSG_STREAM_START, 1, 1, "SSH"));
	f->s.version[SRC] = 0;
	expect_verdict(on(&f->s, DST, TMSG_STREAM_RESET, 1, 0, "SSH"), SV_DROP,
		       "peer not connected");
	assert_int_equal(session_live_count(&f->s), 0);
	assert_int_equal(f->s.active_stream[0], 0);
}

/* ---- peers joining and leaving --------------------------------------------- */

static void test_peer_joined_records_version(void **state)
{
	struct fixture *f = *state;
	struct session s;
	assert_int_equal(session_init(&s, f->one, 10), 0);
	assert_int_equal(s.version[SRC], 0);
	assert_int_equal(s.version[DST], 0);
	assert_int_equal(s.n_services, 1);
	assert_ptr_equal(s.services, f->one->services);
	assert_int_equal(s.max_live, 10);
	session_peer_joined(&s, DST, 2);
	session_peer_joined(&s, SRC, 1);
	assert_int_equal(s.version[SRC], 1);
	assert_int_equal(s.version[DST], 2);
	session_free(&s);
	assert_null(s.live);
}

/* What session_peer_left tells the survivor, in order. */
struct told {
	size_t n;
	struct tunnel_msg m[16];
};

static void record(void *ctx, const struct tunnel_msg *m)
{
	struct told *t = ctx;
	assert_true(t->n < 16);
	t->m[t->n++] = *m;
}

static void expect_told(const struct told *t, size_t i, enum tunnel_msg_type type,
			int32_t stream, uint32_t conn, const char *service)
{
	assert_true(i < t->n);
	assert_int_equal(t->m[i].type, type);
	assert_int_equal(t->m[i].stream_id, stream);
	assert_int_equal(t->m[i].connection_id, conn);
	assert_string_equal(t->m[i].service_id, service);
}

static void test_peer_left_clears_everything(void **state)
{
	struct fixture *f = *state;
	struct session s;
	struct told told = { 0 };
	assert_int_equal(session_init(&s, f->three, 10), 0);
	session_peer_joined(&s, SRC, 3);
	session_peer_joined(&s, DST, 3);
	expect_forward(on(&s, SRC, TMSG_STREAM_START, 1, 1, "SSH"));
	expect_forward(on(&s, SRC, TMSG_CONNECTION_START, 1, 2, "SSH"));
	expect_forward(on(&s, SRC, TMSG_STREAM_START, 5, 1, "RDP"));
	assert_int_equal(session_live_count(&s), 3);

	/* The destination leaves: the V3 source hears of each connection,
	 * never of the stream (after a STREAM_RESET, AWS's source stops
	 * reading until its next local client) nor SESSION_RESET. */
	session_peer_left(&s, DST, record, &told);
	assert_int_equal(told.n, 3);
	expect_told(&told, 0, TMSG_CONNECTION_RESET, 1, 1, "SSH");
	expect_told(&told, 1, TMSG_CONNECTION_RESET, 1, 2, "SSH");
	expect_told(&told, 2, TMSG_CONNECTION_RESET, 5, 1, "RDP");
	assert_ptr_equal(told.m[0].service_id, f->three->services[0]);
	assert_int_equal(s.version[DST], 0);
	assert_int_equal(s.version[SRC], 3);
	assert_int_equal(session_live_count(&s), 0);
	for (size_t i = 0; i < TUNNEL_MAX_SERVICES; i++)
		assert_int_equal(s.active_stream[i], 0);
	expect_verdict(on(&s, SRC, TMSG_DATA, 1, 1, "SSH"), SV_DROP, "peer not connected");
	/* Its answers to those resets are expected and go nowhere. */
	expect_verdict(on(&s, SRC, TMSG_CONNECTION_RESET, 1, 1, "SSH"), SV_DROP,
		       "unknown connection");
	expect_reply(on(&s, SRC, TMSG_CONNECTION_START, 1, 3, "SSH"), TMSG_CONNECTION_RESET, 1, 3,
		     f->three->services[0], "no destination connected", false);

	/* A destination comes back: the source's next connection on its kept
	 * stream starts that stream there; old connections stay gone. */
	session_peer_joined(&s, DST, 3);
	expect_verdict(on(&s, DST, TMSG_DATA, 1, 1, "SSH"), SV_DROP, "unknown connection");
	struct session_action a = on(&s, SRC, TMSG_CONNECTION_START, 1, 4, "SSH");
	expect_verdict(a, SV_FORWARD_AS, "kept through a destination change");
	assert_int_equal(a.reply.type, TMSG_STREAM_START);
	assert_int_equal(a.reply.stream_id, 1);
	assert_int_equal(a.reply.connection_id, 4);
	assert_ptr_equal(a.reply.service_id, f->three->services[0]);
	expect_forward(on(&s, SRC, TMSG_DATA, 1, 4, "SSH"));
	expect_forward(on(&s, DST, TMSG_DATA, 1, 4, "SSH"));
	expect_forward(on(&s, SRC, TMSG_CONNECTION_START, 1, 5, "SSH"));
	/* Only the kept stream of each service: RDP's 5 was not continued,
	 * and a stream that is live again is not restarted twice. */
	expect_reply(on(&s, SRC, TMSG_CONNECTION_START, 7, 1, "RDP"), TMSG_CONNECTION_RESET, 7, 1,
		     f->three->services[2], "stream not active", false);
	expect_verdict(on(&s, SRC, TMSG_CONNECTION_START, 1, 5, "SSH"), SV_DROP, "duplicate");

	/* The source leaves: the destination hears of each active stream. */
	memset(&told, 0, sizeof(told));
	session_peer_left(&s, SRC, record, &told);
	assert_int_equal(told.n, 1);
	expect_told(&told, 0, TMSG_STREAM_RESET, 1, 0, "SSH");
	assert_int_equal(session_live_count(&s), 0);
	assert_int_equal(s.version[SRC], 0);
	expect_verdict(on(&s, DST, TMSG_DATA, 1, 1, "SSH"), SV_DROP, "peer not connected");

	/* A new source starts over: nothing is kept for it. */
	session_peer_joined(&s, SRC, 3);
	expect_reply(on(&s, SRC, TMSG_CONNECTION_START, 1, 6, "SSH"), TMSG_CONNECTION_RESET, 1, 6,
		     f->three->services[0], "stream not active", false);
	expect_forward(on(&s, SRC, TMSG_STREAM_START, 2, 1, "SSH"));
	session_free(&s);
}

static void test_peer_left_nobody_to_tell(void **state)
{
	struct fixture *f = *state;
	struct told told = { 0 };
	expect_forward(on(&f->s, SRC, TMSG_STREAM_START, 1, 1, "SSH"));
	session_peer_left(&f->s, DST, record, &told);
	session_peer_left(&f->s, SRC, record, &told);
	/* The first departure told the source; the second had no survivor. */
	assert_int_equal(told.n, 1);
	expect_told(&told, 0, TMSG_CONNECTION_RESET, 1, 1, "SSH");
	assert_int_equal(session_live_count(&f->s), 0);
}

/* Survivors that write V1- or V2-style messages are answered in kind. */
static void test_peer_left_follows_survivor_style(void **state)
{
	struct fixture *f = *state;
	struct told told = { 0 };

	/* A V2 source (subprotocol 2.0): STREAM_RESET with the service, no
	 * connection id. */
	session_peer_joined(&f->s, SRC, 2);
	expect_forward(on(&f->s, SRC, TMSG_STREAM_START, 4, 0, "SSH"));
	session_peer_left(&f->s, DST, record, &told);
	assert_int_equal(told.n, 1);
	expect_told(&told, 0, TMSG_STREAM_RESET, 4, 0, "SSH");

	/* A V3 source writing V1 style (AWS's -y V1: no service, no connection
	 * id): CONNECTION_RESET in the same style. */
	session_peer_joined(&f->s, DST, 3);
	session_peer_joined(&f->s, SRC, 3);
	expect_forward(on(&f->s, SRC, TMSG_STREAM_START, 9, 0, ""));
	memset(&told, 0, sizeof(told));
	session_peer_left(&f->s, DST, record, &told);
	assert_int_equal(told.n, 1);
	expect_told(&told, 0, TMSG_CONNECTION_RESET, 9, 0, "");

	/* A V1 destination (AWS IoT Device Client): STREAM_RESET without
	 * service or connection id. */
	session_peer_joined(&f->s, DST, 1);
	session_peer_joined(&f->s, SRC, 3);
	expect_forward(on(&f->s, SRC, TMSG_STREAM_START, 11, 0, ""));
	memset(&told, 0, sizeof(told));
	session_peer_left(&f->s, SRC, record, &told);
	assert_int_equal(told.n, 1);
	expect_told(&told, 0, TMSG_STREAM_RESET, 11, 0, "");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_relay_only_types),
		T(test_starts_only_from_source),
		T(test_missing_stream_id),
		T(test_empty_service_single),
		T(test_empty_service_multi),
		T(test_unknown_service),
		T(test_stream_start_no_destination),
		T(test_stream_start_records),
		T(test_stream_start_replaces_old_stream),
		T(test_stream_start_only_replaces_own_service),
		T(test_stream_start_limit),
		T(test_zero_limit),
		T(test_connection_start_needs_v3_source),
		T(test_connection_start_no_destination),
		T(test_connection_start_v2_destination),
		T(test_connection_start_stream_not_active),
		T(test_connection_start_duplicate),
		T(test_eleventh_connection_refused),
		T(test_data),
		T(test_data_peer_not_connected),
		T(test_connection_reset),
		T(test_connection_reset_peer_gone),
		T(test_stream_reset),
		T(test_stream_reset_multi_service),
		T(test_stream_reset_peer_gone),
		T(test_peer_joined_records_version),
		T(test_peer_left_clears_everything),
		T(test_peer_left_nobody_to_tell),
		T(test_peer_left_follows_survivor_style),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
