/* Unit tests for relay/tunnel_ws.c: the relay's own WebSocket data plane,
 * driven over real TLS on a socket pair. The test is the client (masking
 * its frames), and it stands in for relay/peer.c (peer_receive,
 * peer_writeable, peer_closed) and for the loop (relay/event_loop.h: one
 * poll() per round): defined here, the linker takes them instead. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/bytequeue.h"
#include "proto/ws_codec.h"
#include "relay/event_loop.h"
#include "relay/tunnel_ws.h"

/* ---- the stand-in for relay/peer.c -------------------------------------- */

struct fake_peer {
	void *conn;
	uint8_t *got;             /* what peer_receive was given */
	size_t got_len, got_cap;
	size_t messages;          /* pieces that started a message */
	bool text_seen;
	struct bytequeue out;     /* what peer_writeable sends */
	int close_code;           /* peer_writeable closes with this instead */
	bool closed;              /* peer_closed was called */
};

void peer_receive(struct peer *p, const uint8_t *in, size_t len, bool binary, bool first_fragment)
{
	struct fake_peer *fp = (struct fake_peer *)p;
	if (fp->got_len + len > fp->got_cap) {
		fp->got_cap = (fp->got_len + len) * 2;
		fp->got = realloc(fp->got, fp->got_cap);
		assert_non_null(fp->got);
	}
	memcpy(fp->got + fp->got_len, in, len);
	fp->got_len += len;
	fp->messages += first_fragment;
	fp->text_seen |= !binary;
}

int peer_writeable(struct peer *p)
{
	struct fake_peer *fp = (struct fake_peer *)p;
	if (fp->close_code) {
		tunnel_ws_io.close(fp->conn, fp->close_code, "bye now");
		return -1;
	}
	if (tunnel_ws_io.send(fp->conn, &fp->out))
		return -1;
	if (bytequeue_len(&fp->out))
		tunnel_ws_io.want_write(fp->conn);
	return 0;
}

void peer_closed(struct peer *p)
{
	if (p)
		((struct fake_peer *)p)->closed = true;
}

/* ---- the stand-in for relay/event_loop.c --------------------------------- */

struct relay_fd_watch {
	int fd;
	bool read, write;
	void (*cb)(void *arg, bool readable, bool writable);
	void *arg;
};

static struct relay_fd_watch *watched; /* the one connection's */
static void (*before_wait_cb)(void *arg);
static void *before_wait_arg;

struct relay_fd_watch *relay_fd_watch_new_rw(struct relay_loop *loop, int fd,
					     void (*cb)(void *arg, bool readable, bool writable),
					     void *arg)
{
	struct relay_fd_watch *w = calloc(1, sizeof(*w));
	assert_non_null(w);
	w->fd = fd;
	w->cb = cb;
	w->arg = arg;
	watched = w;
	return w;
}

void relay_fd_watch_want(struct relay_fd_watch *w, bool read, bool write)
{
	w->read = read;
	w->write = write;
}

void relay_fd_watch_free(struct relay_fd_watch *w)
{
	if (w == watched)
		watched = NULL;
	free(w);
}

int relay_loop_before_wait(struct relay_loop *loop, void (*cb)(void *arg), void *arg)
{
	before_wait_cb = cb;
	before_wait_arg = arg;
	return 0;
}

/* ---- TLS on a socket pair ------------------------------------------------ */

static int counted_open;

static void counted(void *arg, bool opened)
{
	counted_open += opened ? 1 : -1;
}

struct fixture {
	struct tunnel_ws_set *set;
	SSL_CTX *server_ctx, *client_ctx;
	SSL *client;
	int client_fd;
	struct tunnel_ws *conn;
	struct fake_peer peer;
	struct ws_parser parser;  /* the client's, of the relay's frames */
};

static SSL_CTX *server_ctx_new(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *cert = X509_new();
	assert_non_null(key);
	assert_non_null(cert);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(cert), 1), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(cert), -60));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(cert), 3600));
	assert_int_equal(X509_set_pubkey(cert, key), 1);
	X509_NAME *name = X509_get_subject_name(cert);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
						    (const unsigned char *)"relay.test", -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(cert, name), 1);
	assert_true(X509_sign(cert, key, EVP_sha256()) > 0);
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_use_certificate(ctx, cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, key), 1);
	X509_free(cert);
	EVP_PKEY_free(key);
	return ctx;
}

static void set_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);
	assert_true(flags >= 0);
	assert_int_equal(fcntl(fd, F_SETFL, flags | O_NONBLOCK), 0);
}

/* A few rounds of the loop, without blocking. */
static void spin(struct fixture *f)
{
	for (int i = 0; i < 3; i++) {
		if (watched && (watched->read || watched->write)) {
			struct pollfd p = { .fd = watched->fd,
					    .events = (short)((watched->read ? POLLIN : 0) |
							      (watched->write ? POLLOUT : 0)) };
			if (poll(&p, 1, 0) > 0)
				watched->cb(watched->arg, p.revents & (POLLIN | POLLHUP | POLLERR),
					    p.revents & POLLOUT);
		}
		before_wait_cb(before_wait_arg);
	}
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	static char loop_stand_in;
	struct tunnel_ws_hooks hooks = { .counted = counted };
	f->set = tunnel_ws_set_new((struct relay_loop *)&loop_stand_in, &hooks);
	assert_non_null(f->set);
	f->server_ctx = server_ctx_new();
	f->client_ctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(f->client_ctx);

	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	set_nonblocking(sv[0]);
	set_nonblocking(sv[1]);
	SSL *server = SSL_new(f->server_ctx);
	f->client = SSL_new(f->client_ctx);
	assert_non_null(server);
	assert_non_null(f->client);
	assert_int_equal(SSL_set_fd(server, sv[0]), 1);
	assert_int_equal(SSL_set_fd(f->client, sv[1]), 1);
	f->client_fd = sv[1];
	SSL_set_accept_state(server);
	SSL_set_connect_state(f->client);
	/* The handshake, as lws would have run it. */
	int done = 0;
	for (int i = 0; i < 100 && done != 3; i++) {
		if (!(done & 1) && SSL_do_handshake(server) == 1)
			done |= 1;
		if (!(done & 2) && SSL_do_handshake(f->client) == 1)
			done |= 2;
	}
	assert_int_equal(done, 3);

	/* The hand-over, as relay/peer_lws.c does it. */
	f->conn = tunnel_ws_new(f->set, sv[0], server, "test client");
	assert_non_null(f->conn);
	SSL_free(server); /* lws's reference */
	f->peer.conn = f->conn;
	bytequeue_init(&f->peer.out, TUNNEL_WS_HEADROOM);
	tunnel_ws_bind(f->conn, (struct peer *)&f->peer);
	tunnel_ws_start(f->conn);
	ws_parser_init(&f->parser);
	spin(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	tunnel_ws_set_free(f->set);
	assert_true(f->peer.closed);
	assert_int_equal(counted_open, 0);
	SSL_free(f->client);
	close(f->client_fd);
	SSL_CTX_free(f->client_ctx);
	SSL_CTX_free(f->server_ctx);
	bytequeue_free(&f->peer.out);
	free(f->peer.got);
	free(f);
	return 0;
}

/* ---- the client's side --------------------------------------------------- */

static void client_write(struct fixture *f, const uint8_t *data, size_t len)
{
	size_t done = 0;
	for (int i = 0; done < len && i < 100000; i++) {
		int n = SSL_write(f->client, data + done, (int)(len - done));
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		assert_int_equal(SSL_get_error(f->client, n), SSL_ERROR_WANT_WRITE);
		spin(f); /* the relay reads, making room */
	}
	assert_int_equal(done, len);
}

static void client_frame(struct fixture *f, enum ws_opcode op, bool fin, const uint8_t *payload,
			 size_t len)
{
	static const uint8_t mask[4] = { 0x9A, 0x01, 0x7C, 0xE3 };
	uint8_t *frame = malloc(WS_MAX_HEADER + len);
	assert_non_null(frame);
	size_t n = ws_frame_header(frame, op, len, mask);
	if (!fin)
		frame[0] &= 0x7F;
	ws_mask_copy(frame + n, payload, len, mask);
	client_write(f, frame, n + len);
	free(frame);
}

/* Reads from the relay until an event arrives (the loop runs meanwhile);
 * data events append to *data. Returns the event's type. */
static struct ws_event client_next(struct fixture *f, uint8_t *buf, size_t cap, size_t *have,
				   size_t *at)
{
	for (int i = 0; i < 100000; i++) {
		const uint8_t *in = buf + *at;
		size_t len = *have - *at;
		struct ws_event ev = ws_parser_next(&f->parser, &in, &len);
		*at = (size_t)(in - buf);
		if (ev.type != WS_EV_NONE)
			return ev;
		*have = *at = 0;
		int n = SSL_read(f->client, buf, (int)cap);
		if (n > 0) {
			*have = (size_t)n;
			continue;
		}
		int e = SSL_get_error(f->client, n);
		if (e != SSL_ERROR_WANT_READ)
			return (struct ws_event){ .type = WS_EV_ERROR, .error = "connection ended" };
		spin(f);
	}
	fail_msg("no event from the relay");
	return (struct ws_event){ .type = WS_EV_NONE };
}

/* The next frame from the relay, which must be a control frame of op (its
 * payload stays in the client's parser). */
static struct ws_event client_expect_control(struct fixture *f, enum ws_opcode op)
{
	uint8_t buf[256];
	size_t have = 0, at = 0;
	struct ws_event ev = client_next(f, buf, sizeof(buf), &have, &at);
	assert_int_equal(ev.type, WS_EV_CONTROL);
	assert_int_equal(ev.opcode, op);
	return ev;
}

static int close_code(const struct ws_event *ev)
{
	assert_true(ev->len >= 2);
	return ev->data[0] << 8 | ev->data[1];
}

/* ---- tests --------------------------------------------------------------- */

/* A message in two fragments with a ping between them, and a 200 KiB one:
 * the peer gets the bytes as sent, the ping its pong at once. */
static void test_receives_and_answers_pings(void **state)
{
	struct fixture *f = *state;
	enum { BIG = 200 * 1024 };
	uint8_t *big = malloc(BIG);
	assert_non_null(big);
	for (size_t i = 0; i < BIG; i++)
		big[i] = (uint8_t)(i * 13 + (i >> 11));
	client_frame(f, WS_OP_BINARY, false, big, 1000);
	client_frame(f, WS_OP_PING, true, (const uint8_t *)"are you there", 13);
	client_frame(f, WS_OP_CONTINUATION, true, big + 1000, 24);
	client_frame(f, WS_OP_BINARY, true, big, BIG);
	spin(f);

	struct ws_event ev = client_expect_control(f, WS_OP_PONG);
	assert_int_equal(ev.len, 13);
	assert_memory_equal(ev.data, "are you there", 13);

	for (int i = 0; i < 100 && f->peer.got_len < 1024 + BIG; i++)
		spin(f);
	assert_int_equal(f->peer.got_len, 1024 + BIG);
	assert_int_equal(f->peer.messages, 2);
	assert_false(f->peer.text_seen);
	assert_memory_equal(f->peer.got, big, 1024);
	assert_memory_equal(f->peer.got + 1024, big, BIG);
	free(big);
}

/* 4 MiB of tunnel data while the client reads nothing at first: the relay
 * writes until the socket is full, keeps the rest in flight and queued,
 * and everything arrives in order once the client reads. */
static void test_sends_through_a_full_socket(void **state)
{
	struct fixture *f = *state;
	enum { TOTAL = 4 * 1024 * 1024 };
	uint8_t *data = malloc(TOTAL);
	assert_non_null(data);
	for (size_t i = 0; i < TOTAL; i++)
		data[i] = (uint8_t)(i * 31 + (i >> 13));
	assert_int_equal(bytequeue_append(&f->peer.out, data, TOTAL), 0);
	tunnel_ws_io.want_write(f->conn);
	spin(f);
	assert_true(bytequeue_len(&f->peer.out) > 0); /* the socket filled up */

	uint8_t *got = malloc(TOTAL), buf[32768];
	assert_non_null(got);
	size_t got_len = 0, have = 0, at = 0, messages = 0;
	while (got_len < TOTAL) {
		struct ws_event ev = client_next(f, buf, sizeof(buf), &have, &at);
		assert_int_equal(ev.type, WS_EV_DATA);
		assert_int_equal(ev.opcode, WS_OP_BINARY);
		assert_true(got_len + ev.len <= TOTAL);
		memcpy(got + got_len, ev.data, ev.len);
		got_len += ev.len;
		messages += ev.first;
	}
	assert_memory_equal(got, data, TOTAL);
	/* Messages of at most TUNNEL_MAX_WS_MESSAGE (these bytes are no frames). */
	assert_true(messages >= TOTAL / 131076);
	free(got);
	free(data);
}

/* The client closes: the relay answers with a close frame and ends the
 * connection, and the peer is told. */
static void test_client_close_is_answered(void **state)
{
	struct fixture *f = *state;
	static const uint8_t normal[2] = { 0x03, 0xE8 };
	client_frame(f, WS_OP_CLOSE, true, normal, 2);
	spin(f);
	struct ws_event ev = client_expect_control(f, WS_OP_CLOSE);
	assert_int_equal(ev.len, 2);
	assert_int_equal(close_code(&ev), 1000);
	assert_true(f->peer.closed);
	assert_int_equal(tunnel_ws_count(f->set), 0);
	assert_int_equal(counted_open, 0);
}

/* The tunnel logic closes a side: its close frame goes out, and the
 * connection ends when the client answers. */
static void test_relay_close_waits_for_the_answer(void **state)
{
	struct fixture *f = *state;
	f->peer.close_code = 1008;
	tunnel_ws_io.want_write(f->conn);
	spin(f);
	struct ws_event ev = client_expect_control(f, WS_OP_CLOSE);
	assert_int_equal(close_code(&ev), 1008);
	assert_int_equal(ev.len, 2 + strlen("bye now"));
	assert_memory_equal(ev.data + 2, "bye now", strlen("bye now"));
	assert_false(f->peer.closed);
	static const uint8_t answer[2] = { 0x03, 0xF0 };
	client_frame(f, WS_OP_CLOSE, true, answer, 2);
	spin(f);
	assert_true(f->peer.closed);
	assert_int_equal(tunnel_ws_count(f->set), 0);
}

/* An unmasked frame breaks RFC 6455: close 1002, nothing delivered. */
static void test_unmasked_frame_closes_1002(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[WS_MAX_HEADER + 3];
	size_t n = ws_frame_header(frame, WS_OP_BINARY, 3, NULL);
	memcpy(frame + n, "abc", 3);
	client_write(f, frame, n + 3);
	spin(f);
	struct ws_event ev = client_expect_control(f, WS_OP_CLOSE);
	assert_int_equal(close_code(&ev), 1002);
	assert_int_equal(f->peer.got_len, 0);
}

/* The client vanishes: the connection ends and the peer is told. */
static void test_hang_up_ends_the_connection(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(tunnel_ws_count(f->set), 1);
	assert_int_equal(counted_open, 1);
	assert_int_equal(shutdown(f->client_fd, SHUT_RDWR), 0);
	for (int i = 0; i < 100 && !f->peer.closed; i++)
		spin(f);
	assert_true(f->peer.closed);
	assert_int_equal(tunnel_ws_count(f->set), 0);
	assert_int_equal(counted_open, 0);
}

/* A close that does not finish in time: the sweep drops the connection,
 * and leaves a healthy one alone. */
static void test_sweep_drops_an_overdue_close(void **state)
{
	struct fixture *f = *state;
	tunnel_ws_sweep(f->set);
	assert_false(f->peer.closed);
	assert_int_equal(tunnel_ws_count(f->set), 1);
	tunnel_ws_io.close_within(f->conn, 0);
	tunnel_ws_sweep(f->set);
	assert_true(f->peer.closed);
	assert_int_equal(tunnel_ws_count(f->set), 0);
	assert_int_equal(counted_open, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_receives_and_answers_pings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sends_through_a_full_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_close_is_answered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relay_close_waits_for_the_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmasked_frame_closes_1002, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hang_up_ends_the_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweep_drops_an_overdue_close, setup, teardown),
	};
	signal(SIGPIPE, SIG_IGN); /* as the relay: a write to a hung-up client is an error return */
	return cmocka_run_group_tests_name("tunnel_ws", tests, NULL, NULL);
}
