/* Unit tests for tunnel message parse/encode (proto/message.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "proto/message.h"
#include "proto/tunnel.pb-c.h"
#include "tests/tunnel_msg_same.h"

static const uint8_t hello[] = "hello";
static const char *const three_ids[] = {"ssh", "web_1", "a:b-c"};

/* Encodes m, checks the prefix, returns the frame length. */
static size_t encode(const struct tunnel_msg *m, uint8_t *out, size_t cap)
{
	size_t n = tunnel_msg_encode(m, out, cap);

	assert_true(n >= 2);
	assert_int_equal(((size_t)out[0] << 8 | out[1]), n - 2);
	assert_true(tunnel_msg_encoded_size(m) >= n);
	return n;
}

/* Packs a protobuf-c message directly, bypassing tunnel_msg_encode's
 * checks, to build bodies that break a limit. Returns a malloc'd body. */
static uint8_t *pack_raw(const Com__Amazonaws__Iot__Securedtunneling__Message *pm,
			 size_t *len)
{
	uint8_t *body;

	*len = com__amazonaws__iot__securedtunneling__message__get_packed_size(pm);
	body = malloc(*len + 1);
	assert_non_null(body);
	assert_int_equal(com__amazonaws__iot__securedtunneling__message__pack(pm,
									      body),
			 *len);
	return body;
}

/* out may point into the encoded body (DATA is read in place): it stays
 * valid until the next call. */
static enum tunnel_msg_status roundtrip(const struct tunnel_msg *in,
					struct tunnel_msg *out)
{
	static uint8_t buf[512];
	size_t n = encode(in, buf, sizeof(buf));

	return tunnel_msg_parse(buf + 2, n - 2, out);
}

static void test_roundtrip_every_type(void **state)
{
	static const enum tunnel_msg_type types[] = {
		TMSG_DATA, TMSG_STREAM_START, TMSG_STREAM_RESET,
		TMSG_SESSION_RESET, TMSG_SERVICE_IDS, TMSG_CONNECTION_START,
		TMSG_CONNECTION_RESET,
	};
	size_t i, j;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct tunnel_msg m = {0}, p;
		bool is_ids = types[i] == TMSG_SERVICE_IDS;

		m.type = types[i];
		m.stream_id = types[i] == TMSG_SESSION_RESET || is_ids ?
				      0 : 2147483647;
		m.connection_id = is_ids ? 0 : 4000000000u;
		m.service_id = is_ids ? "" : "ssh";
		if (types[i] == TMSG_DATA) {
			m.payload = hello;
			m.payload_len = 5;
		}
		if (is_ids) {
			m.service_ids = three_ids;
			m.n_service_ids = 3;
		}
		assert_int_equal(roundtrip(&m, &p), TMSG_OK);
		assert_int_equal(p.type, m.type);
		assert_int_equal(p.stream_id, m.stream_id);
		assert_int_equal(p.connection_id, m.connection_id);
		assert_false(p.ignorable);
		assert_string_equal(p.service_id, m.service_id);
		assert_int_equal(p.payload_len, m.payload_len);
		if (m.payload_len > 0)
			assert_memory_equal(p.payload, hello, 5);
		assert_int_equal(p.n_service_ids, m.n_service_ids);
		for (j = 0; j < p.n_service_ids; j++)
			assert_string_equal(p.service_ids[j], three_ids[j]);
		/* DATA is read in place; the others are protobuf-c's. */
		if (m.type == TMSG_DATA)
			assert_null(p.owned_);
		else
			assert_non_null(p.owned_);
		tunnel_msg_free(&p);
		assert_null(p.owned_);
	}
}

static void test_ignorable_known_type_kept(void **state)
{
	struct tunnel_msg m = {0}, p;

	m.type = TMSG_STREAM_RESET;
	m.stream_id = 9;
	m.ignorable = true;
	assert_int_equal(roundtrip(&m, &p), TMSG_OK);
	assert_true(p.ignorable);
	assert_int_equal(p.type, TMSG_STREAM_RESET);
	/* Absent fields come back as their defaults. */
	assert_string_equal(p.service_id, "");
	assert_int_equal(p.connection_id, 0);
	assert_int_equal(p.payload_len, 0);
	assert_int_equal(p.n_service_ids, 0);
	tunnel_msg_free(&p);
}

/* Hand-computed wire bytes: proto3 defaults never appear. */
static void test_exact_bytes(void **state)
{
	uint8_t buf[64];
	struct tunnel_msg m = {0};
	size_t n;

	/* DATA, stream 1, payload "hi", connection 0, ignorable false:
	 * type(1)=1, streamId(2)=1, payload(4)="hi"; no field 3 or 7. */
	static const uint8_t data[] = {0x00, 0x08, 0x08, 0x01, 0x10, 0x01,
				       0x22, 0x02, 'h', 'i'};
	m.type = TMSG_DATA;
	m.stream_id = 1;
	m.payload = (const uint8_t *)"hi";
	m.payload_len = 2;
	n = tunnel_msg_encode(&m, buf, sizeof(buf));
	assert_int_equal(n, sizeof(data));
	assert_memory_equal(buf, data, sizeof(data));

	/* STREAM_START, stream 1, service "ssh", connection 1, ignorable. */
	static const uint8_t start[] = {0x00, 0x0d, 0x08, 0x02, 0x10, 0x01,
					0x18, 0x01, 0x2a, 0x03, 's',  's',
					'h',  0x38, 0x01};
	m.type = TMSG_STREAM_START;
	m.payload = NULL;
	m.payload_len = 0;
	m.service_id = "ssh";
	m.connection_id = 1;
	m.ignorable = true;
	n = tunnel_msg_encode(&m, buf, sizeof(buf));
	assert_int_equal(n, sizeof(start));
	assert_memory_equal(buf, start, sizeof(start));

	/* SESSION_RESET: only the type. */
	static const uint8_t reset[] = {0x00, 0x02, 0x08, 0x04};
	memset(&m, 0, sizeof(m));
	m.type = TMSG_SESSION_RESET;
	m.service_id = NULL; /* treated as absent */
	n = tunnel_msg_encode(&m, buf, sizeof(buf));
	assert_int_equal(n, sizeof(reset));
	assert_memory_equal(buf, reset, sizeof(reset));

	/* An all-default message is an empty body. */
	memset(&m, 0, sizeof(m));
	n = tunnel_msg_encode(&m, buf, sizeof(buf));
	assert_int_equal(n, 2);
	assert_int_equal(buf[0], 0);
	assert_int_equal(buf[1], 0);

	/* SERVICE_IDS ["a", "b"]. */
	static const uint8_t ids[] = {0x00, 0x08, 0x08, 0x05, 0x32, 0x01,
				      'a',  0x32, 0x01, 'b'};
	static const char *const ab[] = {"a", "b"};
	m.type = TMSG_SERVICE_IDS;
	m.service_ids = ab;
	m.n_service_ids = 2;
	n = tunnel_msg_encode(&m, buf, sizeof(buf));
	assert_int_equal(n, sizeof(ids));
	assert_memory_equal(buf, ids, sizeof(ids));
}

static void test_encode_cap(void **state)
{
	uint8_t buf[64];
	struct tunnel_msg m = {0};
	size_t n;

	m.type = TMSG_DATA;
	m.stream_id = 1;
	m.payload = hello;
	m.payload_len = 5;
	n = tunnel_msg_encode(&m, buf, sizeof(buf));
	assert_int_equal(n, 2 + 11); /* 08 01 10 01 22 05 "hello" */
	assert_int_equal(tunnel_msg_encode(&m, buf, n), n);
	assert_int_equal(tunnel_msg_encode(&m, buf, n - 1), 0);
	assert_int_equal(tunnel_msg_encode(&m, NULL, 0), 0);

	/* Inconsistent pointers are refused, not dereferenced. */
	m.payload = NULL;
	assert_int_equal(tunnel_msg_encode(&m, buf, sizeof(buf)), 0);
	assert_int_equal(tunnel_msg_encoded_size(&m), 0);
	m.payload_len = 0;
	m.n_service_ids = 1;
	assert_int_equal(tunnel_msg_encode(&m, buf, sizeof(buf)), 0);
}

static void test_payload_limit(void **state)
{
	size_t cap = TUNNEL_MAX_FRAME, n, len;
	uint8_t *buf = malloc(cap);
	uint8_t *payload = malloc(TUNNEL_MAX_PAYLOAD + 1);
	struct tunnel_msg m = {0}, p;
	Com__Amazonaws__Iot__Securedtunneling__Message pm;
	uint8_t *body;

	assert_non_null(buf);
	assert_non_null(payload);
	memset(payload, 0xab, TUNNEL_MAX_PAYLOAD + 1);
	m.type = TMSG_DATA;
	m.stream_id = 1;
	m.service_id = "ssh";
	m.payload = payload;

	m.payload_len = TUNNEL_MAX_PAYLOAD;
	n = encode(&m, buf, cap);
	assert_int_equal(tunnel_msg_parse(buf + 2, n - 2, &p), TMSG_OK);
	assert_int_equal(p.payload_len, TUNNEL_MAX_PAYLOAD);
	assert_memory_equal(p.payload, payload, TUNNEL_MAX_PAYLOAD);
	tunnel_msg_free(&p);

	m.payload_len = TUNNEL_MAX_PAYLOAD + 1;
	assert_int_equal(tunnel_msg_encode(&m, buf, cap), 0);

	/* The same message packed behind the encoder's back is rejected. */
	com__amazonaws__iot__securedtunneling__message__init(&pm);
	pm.type = COM__AMAZONAWS__IOT__SECUREDTUNNELING__MESSAGE__TYPE__DATA;
	pm.streamid = 1;
	pm.payload.data = payload;
	pm.payload.len = TUNNEL_MAX_PAYLOAD + 1;
	body = pack_raw(&pm, &len);
	assert_true(len <= TUNNEL_MAX_FRAME_BODY);
	assert_int_equal(tunnel_msg_parse(body, len, &p),
			 TMSG_ERR_PAYLOAD_TOO_BIG);
	tunnel_msg_free(&p);
	free(body);
	free(buf);
	free(payload);
}

/* Body of exactly TUNNEL_MAX_FRAME_BODY encodes and parses; one more byte
 * is refused both ways. A full payload plus one long availableServiceIds
 * entry (not checked outside SERVICE_IDS) fills the body exactly. */
static void test_frame_body_limit(void **state)
{
	size_t cap = TUNNEL_MAX_FRAME + 16, n, len;
	uint8_t *buf = malloc(cap);
	uint8_t *payload = calloc(1, TUNNEL_MAX_PAYLOAD);
	/* type 2 + streamId 2 + payload 1+3+64512 + entry 1+2+L */
	const size_t fill = TUNNEL_MAX_FRAME_BODY - (2 + 2 + 4 + TUNNEL_MAX_PAYLOAD + 3);
	char *id = malloc(fill + 2);
	const char *ids[1];
	struct tunnel_msg m = {0}, p;
	Com__Amazonaws__Iot__Securedtunneling__Message pm;
	uint8_t *body;

	assert_non_null(buf);
	assert_non_null(payload);
	assert_non_null(id);
	memset(id, 'x', fill + 1);
	id[fill] = '\0';
	ids[0] = id;
	m.type = TMSG_DATA;
	m.stream_id = 1;
	m.payload = payload;
	m.payload_len = TUNNEL_MAX_PAYLOAD;
	m.service_ids = ids;
	m.n_service_ids = 1;
	n = encode(&m, buf, cap);
	assert_int_equal(n, TUNNEL_MAX_FRAME);
	assert_int_equal(tunnel_msg_parse(buf + 2, n - 2, &p), TMSG_OK);
	assert_int_equal(p.payload_len, TUNNEL_MAX_PAYLOAD);
	assert_int_equal(p.n_service_ids, 0); /* only exposed for SERVICE_IDS */
	tunnel_msg_free(&p);

	id[fill] = 'x';
	id[fill + 1] = '\0';
	assert_int_equal(tunnel_msg_encode(&m, buf, cap), 0);

	com__amazonaws__iot__securedtunneling__message__init(&pm);
	pm.type = COM__AMAZONAWS__IOT__SECUREDTUNNELING__MESSAGE__TYPE__DATA;
	pm.streamid = 1;
	pm.payload.data = payload;
	pm.payload.len = TUNNEL_MAX_PAYLOAD;
	pm.n_availableserviceids = 1;
	pm.availableserviceids = &id;
	body = pack_raw(&pm, &len);
	assert_int_equal(len, TUNNEL_MAX_FRAME_BODY + 1);
	assert_int_equal(tunnel_msg_parse(body, len, &p),
			 TMSG_ERR_FRAME_TOO_BIG);
	tunnel_msg_free(&p);
	free(body);
	free(id);
	free(buf);
	free(payload);
}

static void test_stream_id_required(void **state)
{
	static const enum tunnel_msg_type need[] = {
		TMSG_DATA, TMSG_STREAM_START, TMSG_STREAM_RESET,
		TMSG_CONNECTION_START, TMSG_CONNECTION_RESET,
	};
	struct tunnel_msg m = {0}, p;
	size_t i;

	for (i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		m.type = need[i];
		m.stream_id = 0;
		assert_int_equal(roundtrip(&m, &p), TMSG_ERR_NO_STREAM_ID);
		m.stream_id = -1;
		assert_int_equal(roundtrip(&m, &p), TMSG_ERR_NO_STREAM_ID);
		m.stream_id = 1;
		assert_int_equal(roundtrip(&m, &p), TMSG_OK);
		tunnel_msg_free(&p);
	}
	m.stream_id = 0;
	m.type = TMSG_SESSION_RESET;
	assert_int_equal(roundtrip(&m, &p), TMSG_OK);
	assert_int_equal(p.type, TMSG_SESSION_RESET);
	tunnel_msg_free(&p);
	m.type = TMSG_SERVICE_IDS;
	assert_int_equal(roundtrip(&m, &p), TMSG_OK);
	assert_int_equal(p.type, TMSG_SERVICE_IDS);
	assert_int_equal(p.n_service_ids, 0);
	tunnel_msg_free(&p);
}

static void test_unknown_type(void **state)
{
	static const int types[] = {0, 8, 1000, -1};
	struct tunnel_msg m = {0}, p, zero;
	size_t i;

	memset(&zero, 0, sizeof(zero));
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		m.type = (enum tunnel_msg_type)types[i];
		m.stream_id = 3;
		m.ignorable = true;
		memset(&p, 0x5a, sizeof(p));
		assert_int_equal(roundtrip(&m, &p), TMSG_SKIP);
		assert_memory_equal(&p, &zero, sizeof(p));
		tunnel_msg_free(&p);
		m.ignorable = false;
		memset(&p, 0x5a, sizeof(p));
		assert_int_equal(roundtrip(&m, &p), TMSG_ERR_UNKNOWN_TYPE);
		assert_memory_equal(&p, &zero, sizeof(p));
		tunnel_msg_free(&p);
	}
}

static void test_service_id(void **state)
{
	char id[TUNNEL_MAX_SERVICE_ID + 2];
	struct tunnel_msg m = {0}, p;

	memset(id, 'a', sizeof(id));
	id[TUNNEL_MAX_SERVICE_ID] = '\0';
	assert_true(tunnel_service_id_valid(id));
	m.type = TMSG_STREAM_START;
	m.stream_id = 1;
	m.service_id = id;
	assert_int_equal(roundtrip(&m, &p), TMSG_OK);
	assert_int_equal(strlen(p.service_id), TUNNEL_MAX_SERVICE_ID);
	tunnel_msg_free(&p);

	id[TUNNEL_MAX_SERVICE_ID] = 'a';
	id[TUNNEL_MAX_SERVICE_ID + 1] = '\0';
	assert_false(tunnel_service_id_valid(id));
	assert_int_equal(roundtrip(&m, &p), TMSG_ERR_BAD_SERVICE_ID);

	m.service_id = "ss h";
	assert_int_equal(roundtrip(&m, &p), TMSG_ERR_BAD_SERVICE_ID);
	m.service_id = "ssh/1";
	assert_int_equal(roundtrip(&m, &p), TMSG_ERR_BAD_SERVICE_ID);
	m.service_id = "caf\xc3\xa9";
	assert_int_equal(roundtrip(&m, &p), TMSG_ERR_BAD_SERVICE_ID);
	m.service_id = "Az09_:-";
	assert_int_equal(roundtrip(&m, &p), TMSG_OK);
	tunnel_msg_free(&p);

	assert_true(tunnel_service_id_valid("x"));
	assert_true(tunnel_service_id_valid("SSH:22-a_b"));
	assert_false(tunnel_service_id_valid(""));
	assert_false(tunnel_service_id_valid(NULL));
	assert_false(tunnel_service_id_valid("a.b"));
	assert_false(tunnel_service_id_valid("a\n"));
}

static void test_service_ids_list(void **state)
{
	const char *ids[4] = {"a", "b", "c", "d"};
	struct tunnel_msg m = {0}, p;

	m.type = TMSG_SERVICE_IDS;
	m.service_ids = ids;
	m.n_service_ids = 3;
	assert_int_equal(roundtrip(&m, &p), TMSG_OK);
	assert_int_equal(p.n_service_ids, 3);
	assert_string_equal(p.service_ids[2], "c");
	tunnel_msg_free(&p);

	m.n_service_ids = 4;
	assert_int_equal(roundtrip(&m, &p), TMSG_ERR_TOO_MANY_SERVICES);

	m.n_service_ids = 2;
	ids[1] = "";
	assert_int_equal(roundtrip(&m, &p), TMSG_ERR_TOO_MANY_SERVICES);
	ids[1] = "bad id";
	assert_int_equal(roundtrip(&m, &p), TMSG_ERR_TOO_MANY_SERVICES);
	ids[1] = "ok";
	m.service_id = "not valid!";
	assert_int_equal(roundtrip(&m, &p), TMSG_ERR_BAD_SERVICE_ID);
}

/* A valid body cut short inside a field is garbage. */
static void test_truncated(void **state)
{
	uint8_t buf[64];
	struct tunnel_msg m = {0}, p;
	size_t n, cut;

	m.type = TMSG_DATA;
	m.stream_id = 300; /* two-byte varint */
	m.payload = hello;
	m.payload_len = 5;
	/* body: 08 01 | 10 ac 02 | 22 05 h e l l o */
	n = encode(&m, buf, sizeof(buf));
	assert_int_equal(n, 2 + 12);
	assert_int_equal(tunnel_msg_parse(buf + 2, 12, &p), TMSG_OK);
	tunnel_msg_free(&p);
	for (cut = 1; cut < 12; cut++) {
		enum tunnel_msg_status st = tunnel_msg_parse(buf + 2, cut, &p);

		if (cut == 2) /* {type}: a clean boundary, no stream id */
			assert_int_equal(st, TMSG_ERR_NO_STREAM_ID);
		else if (cut == 5) /* {type, stream}: DATA with empty payload */
			assert_int_equal(st, TMSG_OK);
		else
			assert_int_equal(st, TMSG_ERR_GARBAGE);
		tunnel_msg_free(&p);
	}
}

static void test_zero_length_body(void **state)
{
	static const uint8_t byte = 0;
	struct tunnel_msg p;

	assert_int_equal(tunnel_msg_parse(&byte, 0, &p), TMSG_ERR_UNKNOWN_TYPE);
	assert_int_equal(tunnel_msg_parse(NULL, 0, &p), TMSG_ERR_UNKNOWN_TYPE);
	assert_int_equal(tunnel_msg_parse(NULL, 3, &p), TMSG_ERR_GARBAGE);
	tunnel_msg_free(&p);
	tunnel_msg_free(NULL);
}

/* Random bytes (fixed seed) never crash; whatever parses OK obeys every
 * documented invariant. */
static void test_random_garbage(void **state)
{
	static uint8_t body[600];
	int iter, ok = 0, garbage = 0;
	size_t i;

	srand(4242);
	for (iter = 0; iter < 50000; iter++) {
		size_t len = (size_t)rand() % sizeof(body);
		struct tunnel_msg p;
		enum tunnel_msg_status st;

		for (i = 0; i < len; i++)
			body[i] = (uint8_t)rand();
		/* Often start with a plausible type field so parsing goes deeper. */
		if (len >= 2 && rand() % 2) {
			body[0] = 0x08;
			body[1] = (uint8_t)(rand() % 9);
		}
		st = tunnel_msg_parse(body, len, &p);
		if (st == TMSG_OK) {
			ok++;
			assert_true(p.type >= TMSG_DATA &&
				    p.type <= TMSG_CONNECTION_RESET);
			assert_true(p.payload_len <= TUNNEL_MAX_PAYLOAD);
			assert_non_null(p.service_id);
			assert_true(p.service_id[0] == '\0' ||
				    tunnel_service_id_valid(p.service_id));
			assert_true(p.n_service_ids <= TUNNEL_MAX_SERVICES);
		} else {
			assert_null(p.owned_);
			garbage += st == TMSG_ERR_GARBAGE;
		}
		tunnel_msg_free(&p);
	}
	assert_true(ok > 0);
	assert_true(garbage > 1000);
}

/* A DATA message is read in place: its payload is not copied, and nothing
 * is allocated. */
static void test_data_read_in_place(void **state)
{
	uint8_t payload[300], buf[512];
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7);
	struct tunnel_msg m = { .type = TMSG_DATA, .stream_id = 9, .connection_id = 4,
				.service_id = "SSH", .payload = payload,
				.payload_len = sizeof(payload) };
	size_t n = encode(&m, buf, sizeof(buf));
	struct tunnel_msg p;
	assert_int_equal(tunnel_msg_parse(buf + 2, n - 2, &p), TMSG_OK);
	assert_null(p.owned_);
	assert_true(p.payload > buf && p.payload + p.payload_len <= buf + n);
	assert_memory_equal(p.payload, payload, sizeof(payload));
	assert_int_equal(p.stream_id, 9);
	assert_int_equal(p.connection_id, 4);
	assert_string_equal(p.service_id, "SSH");
	tunnel_msg_free(&p);
	/* Other types still go through protobuf-c. */
	m.type = TMSG_STREAM_START;
	n = encode(&m, buf, sizeof(buf));
	assert_int_equal(tunnel_msg_parse(buf + 2, n - 2, &p), TMSG_OK);
	assert_non_null(p.owned_);
	tunnel_msg_free(&p);
}

/* Bodies near valid DATA messages (fixed seed): bytes changed, cut,
 * fields appended again (protobuf's last one wins), unknown fields, long
 * varints. The in-place reading answers as protobuf-c does, each time. */
static void test_in_place_agrees_with_protobuf_c(void **state)
{
	static const uint8_t extras[][12] = {
		{ 0x10, 0x05 },                               /* streamId again */
		{ 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 }, /* -1 */
		{ 0x08, 0x81, 0x80, 0x80, 0x80, 0x00 },       /* type 1, padded */
		{ 0x2a, 0x03, 'W', 'E', 'B' },                /* serviceId again */
		{ 0x2a, 0x03, 'a', 0, 'b' },                  /* a NUL in it */
		{ 0x22, 0x02, 'h', 'i' },                     /* payload again */
		{ 0x40, 0x01 },                               /* field 8 */
		{ 0x18, 0x02 },                               /* ignorable = 2 */
		{ 0x38, 0xff, 0xff, 0xff, 0xff, 0x1f },       /* connectionId > 2^32 */
		{ 0x32, 0x01, 'x' },                          /* availableServiceIds */
		{ 0x0a, 0x00 },                               /* type with wire type 2 */
	};
	uint8_t payload[40], base[3][256], body[300];
	size_t base_len[3];
	memset(payload, 'p', sizeof(payload));
	const char *services[3] = { "", "SSH", "web_1" };
	for (int i = 0; i < 3; i++) {
		struct tunnel_msg m = { .type = TMSG_DATA, .stream_id = 3 + i,
					.connection_id = (uint32_t)i, .ignorable = i == 2,
					.service_id = services[i], .payload = payload,
					.payload_len = sizeof(payload) };
		base_len[i] = encode(&m, base[i], sizeof(base[i])) - 2;
		memmove(base[i], base[i] + 2, base_len[i]);
	}
	uint32_t x = 2463534242u;
	int ok = 0, other = 0;
	for (int iter = 0; iter < 30000; iter++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		int b = (int)(x % 3);
		size_t len = base_len[b];
		memcpy(body, base[b], len);
		switch ((x >> 8) % 4) {
		case 0: /* change a few bytes */
			for (int k = 0; k < 1 + (int)((x >> 12) % 3); k++) {
				x ^= x << 13, x ^= x >> 17, x ^= x << 5;
				body[x % len] = (uint8_t)(x >> 16);
			}
			break;
		case 1: /* cut */
			len = (x >> 12) % len;
			break;
		default: { /* a field appended */
			const uint8_t *e = extras[(x >> 12) % (sizeof(extras) / sizeof(extras[0]))];
			size_t elen = e[0] == 0x10 && e[1] == 0xff ? 11 :
				      e[0] == 0x08 || e[0] == 0x38 ? 6 :
				      e[0] == 0x2a ? 5 : e[0] == 0x22 ? 4 : e[0] == 0x32 ? 3 : 2;
			memcpy(body + len, e, elen);
			len += elen;
		}
		}
		struct tunnel_msg fast, ref;
		enum tunnel_msg_status a = tunnel_msg_parse(body, len, &fast);
		enum tunnel_msg_status r = tunnel_msg_parse_unpacked(body, len, &ref);
		assert_int_equal(a, r);
		if (a == TMSG_OK) {
			assert_true(tunnel_msg_same(&fast, &ref));
			ok++;
		} else {
			other++;
		}
		tunnel_msg_free(&fast);
		tunnel_msg_free(&ref);
	}
	assert_true(ok > 1000);
	assert_true(other > 1000);
}

static void test_strings(void **state)
{
	assert_string_equal(tunnel_msg_type_str(TMSG_DATA), "DATA");
	assert_string_equal(tunnel_msg_type_str(TMSG_STREAM_START),
			    "STREAM_START");
	assert_string_equal(tunnel_msg_type_str(TMSG_CONNECTION_RESET),
			    "CONNECTION_RESET");
	assert_string_equal(tunnel_msg_type_str(0), "UNKNOWN");
	assert_string_equal(tunnel_msg_type_str(8), "UNKNOWN");
	assert_string_equal(tunnel_msg_type_str(-5), "UNKNOWN");
	assert_string_equal(tunnel_msg_status_str(TMSG_ERR_GARBAGE),
			    "garbage protobuf");
	assert_string_equal(tunnel_msg_status_str(TMSG_ERR_UNKNOWN_TYPE),
			    "unknown message type (not ignorable)");
	assert_non_null(tunnel_msg_status_str((enum tunnel_msg_status)99));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_every_type),
		cmocka_unit_test(test_ignorable_known_type_kept),
		cmocka_unit_test(test_exact_bytes),
		cmocka_unit_test(test_encode_cap),
		cmocka_unit_test(test_payload_limit),
		cmocka_unit_test(test_frame_body_limit),
		cmocka_unit_test(test_stream_id_required),
		cmocka_unit_test(test_unknown_type),
		cmocka_unit_test(test_service_id),
		cmocka_unit_test(test_service_ids_list),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_zero_length_body),
		cmocka_unit_test(test_random_garbage),
		cmocka_unit_test(test_data_read_in_place),
		cmocka_unit_test(test_in_place_agrees_with_protobuf_c),
		cmocka_unit_test(test_strings),
	};

	return cmocka_run_group_tests_name("message", tests, NULL, NULL);
}
