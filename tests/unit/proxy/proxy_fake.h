/* A fake struct proxy_io for the data plane's unit tests: the relay's
 * WebSocket and the local sockets are records the tests read and drive.
 * Sent WebSocket messages are decoded back into tunnel messages; received
 * ones go in through dispatch_receive, as from the real socket. */
#ifndef TESTS_UNIT_PROXY_FAKE_H
#define TESTS_UNIT_PROXY_FAKE_H

#include <stdlib.h>
#include <string.h>

#include "proxy/proxy.h"

#define FAKE_MAX_SENT 256
#define FAKE_MAX_SOCKS 32

struct fake_sent {
	enum tunnel_msg_type type;
	int32_t stream_id;
	uint32_t connection_id;
	char service_id[TUNNEL_MAX_SERVICE_ID + 1];
	size_t payload_len;
	uint8_t first_byte;        /* of the payload, when there is one */
	size_t frame_len;          /* the whole frame: shows which fields were left out */
};

struct fake_sock {
	struct local_conn *c;
	size_t received;           /* bytes the data plane sent to the socket */
	bool read_paused, ended;
};

struct fake {
	struct proxy p;
	struct proxy_options opt;
	struct proxy_io io;
	/* the relay */
	bool relay_full;           /* relay_sendv takes nothing */
	size_t want_writes, messages;
	bool rx_paused;
	struct fake_sent sent[FAKE_MAX_SENT];
	size_t n_sent;
	/* local */
	size_t listens[TUNNEL_MAX_SERVICES];
	bool listen_fails, dial_fails, send_fails;
	size_t dials;
	struct fake_sock socks[FAKE_MAX_SOCKS];
	size_t n_socks;
	size_t stops;
	uint32_t random_state;     /* the next "random" number (an LCG: repeatable) */
	bool random_fails;
};

static inline struct fake *fake_of(void *user)
{
	return user;
}

static inline void fake_want_write(void *user)
{
	fake_of(user)->want_writes++;
}

static inline void fake_record_frames(struct fake *f, const uint8_t *buf, size_t len)
{
	size_t size;
	while (len > 0 && (size = frame_whole_size(buf, len)) > 0) {
		struct tunnel_msg m;
		assert_int_equal(tunnel_msg_parse(buf + TUNNEL_FRAME_PREFIX, size - TUNNEL_FRAME_PREFIX, &m),
				 TMSG_OK);
		assert_true(f->n_sent < FAKE_MAX_SENT);
		struct fake_sent *s = &f->sent[f->n_sent++];
		s->type = m.type;
		s->stream_id = m.stream_id;
		s->connection_id = m.connection_id;
		snprintf(s->service_id, sizeof(s->service_id), "%s", m.service_id);
		s->payload_len = m.payload_len;
		s->first_byte = m.payload_len ? m.payload[0] : 0;
		s->frame_len = size;
		tunnel_msg_free(&m);
		buf += size;
		len -= size;
	}
	assert_int_equal(len, 0); /* whole frames only */
}

static inline size_t fake_sendv(void *user, const struct ws_piece *pieces, size_t n)
{
	struct fake *f = user;
	if (f->relay_full)
		return 0;
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += pieces[i].len;
	assert_true(total <= SEND_MESSAGE_MAX);
	uint8_t *msg = malloc(total ? total : 1);
	assert_non_null(msg);
	size_t at = 0;
	for (size_t i = 0; i < n; i++) {
		memcpy(msg + at, pieces[i].data, pieces[i].len);
		at += pieces[i].len;
	}
	fake_record_frames(f, msg, total);
	free(msg);
	f->messages++;
	return total;
}

static inline void fake_pause_rx(void *user, bool pause)
{
	fake_of(user)->rx_paused = pause;
}

static inline int fake_listen(void *user, size_t entry)
{
	struct fake *f = user;
	f->listens[entry]++;
	return f->listen_fails ? -1 : 0;
}

static inline struct fake_sock *fake_sock_new(struct fake *f, struct local_conn *c)
{
	assert_true(f->n_socks < FAKE_MAX_SOCKS);
	struct fake_sock *s = &f->socks[f->n_socks++];
	memset(s, 0, sizeof(*s));
	s->c = c;
	c->sock = s;
	return s;
}

static inline int fake_dial(void *user, struct local_conn *c, char *why, size_t why_cap)
{
	struct fake *f = user;
	f->dials++;
	if (f->dial_fails) {
		snprintf(why, why_cap, "Connection refused");
		return -1;
	}
	fake_sock_new(f, c);
	return 0;
}

static inline int fake_send(void *user, struct local_conn *c, const uint8_t *data, size_t len)
{
	struct fake *f = user;
	struct fake_sock *s = c->sock;
	assert_non_null(s);
	assert_false(s->ended);
	if (f->send_fails)
		return -1;
	s->received += len;
	return 0;
}

static inline void fake_pause_read(void *user, struct local_conn *c, bool pause)
{
	struct fake_sock *s = c->sock;
	s->read_paused = pause;
}

static inline void fake_end(void *user, struct local_conn *c)
{
	struct fake_sock *s = c->sock;
	s->ended = true;
}

static inline void fake_stop(void *user)
{
	fake_of(user)->stops++;
}

/* Random numbers the tests can predict: random_state, then the next
 * number of a linear congruential generator (big-endian bytes). */
static inline int fake_random(void *user, uint8_t *buf, size_t len)
{
	struct fake *f = user;
	if (f->random_fails)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		uint32_t r = f->random_state;
		f->random_state = f->random_state * 1103515245u + 12345u;
		for (size_t k = 0; k < 4 && i + k < len; k++)
			buf[i + k] = (uint8_t)(r >> (24 - 8 * k));
	}
	return 0;
}

/* A data plane in mode with the mapping text (-s or -d), connected to the
 * relay with protocol version, on the fake I/O. */
static inline struct fake *fake_new(enum proxy_mode mode, const char *mapping, int version)
{
	struct fake *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->opt.mode = mode;
	f->opt.client_version = version;
	f->opt.destination_type = version;
	f->random_state = 0; /* the first stream id is 1 unless a test sets another */
	snprintf(f->opt.bind_address, sizeof(f->opt.bind_address), "localhost");
	f->io = (struct proxy_io){
		.user = f,
		.relay_want_write = fake_want_write,
		.relay_sendv = fake_sendv,
		.relay_pause_rx = fake_pause_rx,
		.listen = fake_listen,
		.dial = fake_dial,
		.send = fake_send,
		.pause_read = fake_pause_read,
		.end = fake_end,
		.stop = fake_stop,
		.random = fake_random,
	};
	proxy_init(&f->p, &f->opt, &f->io);
	char err[256];
	int rc = mode == PROXY_MODE_SOURCE ? mapping_parse_source(mapping, &f->p.mapping, err, sizeof(err))
					   : mapping_parse_destination(mapping, &f->p.mapping, err, sizeof(err));
	assert_int_equal(rc, 0);
	dispatch_session_open(&f->p);
	return f;
}

static inline void fake_free(struct fake *f)
{
	for (size_t i = 0; i < f->p.max_conns; i++)
		if (f->p.conns[i])
			f->p.conns[i]->sock = NULL;
	proxy_free(&f->p);
	free(f);
}

/* The relay sends m (through the frame decoder, as one WebSocket message). */
static inline void fake_receive(struct fake *f, const struct tunnel_msg *m)
{
	uint8_t buf[TUNNEL_MAX_FRAME];
	size_t len = tunnel_msg_encode(m, buf, sizeof(buf));
	assert_true(len > 0);
	assert_int_equal(dispatch_receive(&f->p, buf, len, true), 0);
}

static inline void fake_receive_type(struct fake *f, enum tunnel_msg_type type, const char *service,
				     int32_t stream_id, uint32_t connection_id)
{
	struct tunnel_msg m = { .type = type, .stream_id = stream_id,
				.connection_id = connection_id, .service_id = service };
	fake_receive(f, &m);
}

static inline void fake_service_ids(struct fake *f, const char *const *ids, size_t n)
{
	struct tunnel_msg m = { .type = TMSG_SERVICE_IDS, .service_id = "", .service_ids = ids,
				.n_service_ids = n };
	fake_receive(f, &m);
}

/* The relay's socket takes messages until nothing is left (or it is full). */
static inline void fake_flush(struct fake *f)
{
	while (f->want_writes > 0 && !f->relay_full) {
		f->want_writes = 0;
		tunnel_send_next(&f->p);
	}
}

/* The index of the first message sent of this type from index `from`, or -1. */
static inline int fake_find_sent(const struct fake *f, size_t from, enum tunnel_msg_type type)
{
	for (size_t i = from; i < f->n_sent; i++)
		if (f->sent[i].type == type)
			return (int)i;
	return -1;
}

/* The fake socket closes, as after local_sock_end's flush or the peer's EOF. */
static inline void fake_close(struct fake *f, struct local_conn *c)
{
	struct fake_sock *s = c->sock;
	s->c = NULL;
	conn_on_local_closed(c);
}

#endif
