#include "relay/tunnel_ws.h"

#include <errno.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/tcp_liveness.h"
#include "proto/frame.h"
#include "proto/wire.h"
#include "proto/ws_codec.h"
#include "relay/event_loop.h"

/* Plaintext per SSL_read: one TLS record at most. One buffer for all
 * connections (one thread): what a read brings is parsed before the next. */
#define RX_CHUNK (16u * 1024u + 256u)
/* OpenSSL's read-ahead buffer while a connection is busy (given back when
 * it empties: SSL_MODE_RELEASE_BUFFERS): a few records per read(). */
#define READ_AHEAD_BYTES (64u * 1024u)
/* Work per wake-up of one connection, so that the others get their turn. */
#define READ_BUDGET (256u * 1024u)
#define MESSAGES_PER_TURN 16
/* How long the client has to answer our close frame. */
#define CLOSE_WAIT_MS 5000
/* The sweep asks the kernel about a connection's path (TCP_INFO) only once
 * nothing came in for this long. Every segment the client sends carries an
 * ACK, so a connection heard from within the last HEARD_RECENTLY_MS had an
 * ACK within it too and cannot yet fail the check's rule (no ACK for
 * TCP_LIVENESS_SECONDS); one sweep period is the margin. Clients that ping
 * every 20 s (localproxy's interval) are then never asked about: at 19,800
 * connections with a 20-s threshold, the getsockopt calls of those just
 * due to ping were still 2% of the relay's idle CPU. */
#define HEARD_RECENTLY_MS ((TCP_LIVENESS_SECONDS - TUNNEL_WS_SWEEP_S) * 1000)

enum tws_state {
	TWS_HANDOVER, /* lws still holds the socket. Next: STARTING (tunnel_ws_start),
		       * or freed (tunnel_ws_abandon). */
	TWS_STARTING, /* lws let go; the loop's next round opens it. Next: OPEN, ENDED. */
	TWS_OPEN,     /* reading and writing. Next: CLOSING, ENDED. */
	TWS_CLOSING,  /* a close frame is queued or out; data is no longer
		       * delivered. Next: ENDED (the client's close, its EOF, or
		       * the deadline). */
	TWS_ENDED,    /* socket closed, peer told; freed before the loop waits. */
};

struct tunnel_ws {
	struct tunnel_ws_set *set;
	struct tunnel_ws *prev, *next; /* the set's connections, the longest silent first */
	struct tunnel_ws *work_next;   /* on the set's work list (queued) or starting list */
	struct tunnel_ws *read_next;   /* on the set's readers list (read_queued) */
	struct tunnel_ws *dead_next;   /* on the set's dead list */
	struct relay_fd_watch *watch;
	SSL *ssl;
	struct peer *peer;
	int fd;
	enum tws_state state;
	bool queued;           /* on the work list: something to write */
	bool read_queued;      /* on the readers list: OpenSSL may hold data
				* the socket no longer signals, or reading resumed */
	bool peer_wants_write;
	bool rx_paused;        /* backpressure from the other side */
	bool our_close;        /* the close frame in ctl is ours: wait for the answer */
	bool end_after_ctl;    /* end once ctl is out (our answer to the client's close) */
	bool ctl_in_flight;    /* SSL_write of ctl must be retried */
	uint8_t ctl_len;       /* a pong or close frame waiting in ctl */
	struct bytequeue *out_q; /* a message of out_len bytes in flight from this queue */
	size_t out_len;
	bool drained;          /* the last read() took all the socket had */
	int64_t deadline_ms;   /* 0, or when to drop the connection */
	int64_t heard_ms;      /* when bytes last came in */
	uint8_t ctl[2 + WS_MAX_CONTROL];
	struct ws_parser parser;
	const char *failed;    /* why a write failed */
	char who[120];
};

struct tunnel_ws_set {
	struct relay_loop *loop;
	struct tunnel_ws_hooks hooks;
	struct tunnel_ws *all, *tail; /* by heard_ms: the sweep looks only at the silent head */
	size_t count;
	size_t deadlines;             /* connections with deadline_ms set */
	struct tunnel_ws *work, **work_tail; /* connections with something to write */
	struct tunnel_ws *readers, **readers_tail; /* connections to read from again */
	struct tunnel_ws *starting;          /* opened before the loop waits */
	struct tunnel_ws *dead;              /* freed before the loop waits */
	BIO_METHOD *bio_method;              /* sockets that report a drained read */
	uint8_t rx[RX_CHUNK];
};

static void end_conn(struct tunnel_ws *c, bool clean, const char *why);

/* ---- the set's work list ------------------------------------------------ */

static void queue_work(struct tunnel_ws *c)
{
	struct tunnel_ws_set *set = c->set;
	if (c->queued || c->state < TWS_OPEN || c->state == TWS_ENDED)
		return;
	c->queued = true;
	c->work_next = NULL;
	*set->work_tail = c;
	set->work_tail = &c->work_next;
}

static void queue_read(struct tunnel_ws *c)
{
	struct tunnel_ws_set *set = c->set;
	if (c->read_queued || c->state < TWS_OPEN || c->state == TWS_ENDED)
		return;
	c->read_queued = true;
	c->read_next = NULL;
	*set->readers_tail = c;
	set->readers_tail = &c->read_next;
}

static void update_watch(struct tunnel_ws *c)
{
	if (c->state != TWS_OPEN && c->state != TWS_CLOSING)
		return;
	bool blocked = c->out_q || c->ctl_in_flight;
	relay_fd_watch_want(c->watch, !c->rx_paused, blocked);
}

/* ---- writing ------------------------------------------------------------ */

/* Why an SSL call failed, for the log. */
static const char *ssl_failure(int e, int n, const char *otherwise)
{
	unsigned long err = ERR_get_error();
	if (e == SSL_ERROR_ZERO_RETURN)
		return "the client ended TLS";
	if (err && ERR_reason_error_string(err))
		return ERR_reason_error_string(err);
	if (e == SSL_ERROR_SYSCALL && n < 0 && errno)
		return strerror(errno);
	return otherwise;
}

/* 1: written; 0: in flight (retry with the same bytes when writable); -1:
 * failed (c->failed says why; the caller ends the connection). */
static int ssl_write_result(struct tunnel_ws *c, int n)
{
	if (n > 0)
		return 1;
	int e = SSL_get_error(c->ssl, n);
	if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
		return 0;
	c->failed = ssl_failure(e, n, "write failed");
	return -1;
}

/* The message in flight: its header goes in the queue's headroom, so that
 * header and payload leave in one SSL_write (one TLS record per 16 KiB).
 * A retry writes the same bytes: the queue only grows at its tail. */
static int write_message(struct tunnel_ws *c)
{
	uint8_t hdr[WS_MAX_HEADER];
	size_t hlen = ws_frame_header(hdr, WS_OP_BINARY, c->out_len, NULL);
	uint8_t *p = bytequeue_peek(c->out_q) - hlen;
	memcpy(p, hdr, hlen);
	ERR_clear_error();
	int rc = ssl_write_result(c, SSL_write(c->ssl, p, (int)(hlen + c->out_len)));
	if (rc == 1) {
		bytequeue_consume(c->out_q, c->out_len);
		c->out_q = NULL;
		c->out_len = 0;
	}
	return rc;
}

static int write_ctl(struct tunnel_ws *c)
{
	ERR_clear_error();
	int rc = ssl_write_result(c, SSL_write(c->ssl, c->ctl, c->ctl_len));
	c->ctl_in_flight = rc == 0;
	if (rc == 1)
		c->ctl_len = 0;
	return rc;
}

/* The peer's queue: whole tunnel frames up to one message, so the receiver
 * never has to reassemble one (it can, at the cost of a copy and a buffer). */
static size_t message_span(struct bytequeue *q)
{
	size_t queued = bytequeue_len(q), len = 0, size;
	const uint8_t *head = bytequeue_peek(q);
	while ((size = frame_whole_size(head + len, queued - len)) &&
	       len + size <= TUNNEL_MAX_WS_MESSAGE)
		len += size;
	if (len == 0) /* not frames after all: any cut is allowed */
		len = queued < TUNNEL_MAX_WS_MESSAGE ? queued : TUNNEL_MAX_WS_MESSAGE;
	return len;
}

/* Writes until the socket is full or nothing waits: what is in flight,
 * then a control frame, then the peer's messages. */
static void pump_write(struct tunnel_ws *c)
{
	for (int turn = 0; c->state == TWS_OPEN || c->state == TWS_CLOSING;) {
		int rc;
		if (c->out_q)
			rc = write_message(c);
		else if (c->ctl_len) {
			rc = write_ctl(c);
			if (rc == 1 && c->end_after_ctl) {
				end_conn(c, true, "closed by the client");
				return;
			}
		} else if (c->peer_wants_write && c->state == TWS_OPEN && c->peer) {
			if (++turn > MESSAGES_PER_TURN) {
				queue_work(c);
				break;
			}
			c->peer_wants_write = false;
			/* -1 with a close frame queued (CLOSING): it goes out next. */
			if (peer_writeable(c->peer) < 0 && c->state == TWS_OPEN) {
				end_conn(c, false, c->failed ? c->failed : "closed by the relay");
				return;
			}
			continue;
		} else
			break;
		if (rc < 0) {
			end_conn(c, false, c->failed);
			return;
		}
		if (rc == 0)
			break;
	}
	update_watch(c);
}

static void set_deadline(struct tunnel_ws *c, int64_t by)
{
	if (!c->deadline_ms)
		c->set->deadlines++;
	if (!c->deadline_ms || c->deadline_ms > by)
		c->deadline_ms = by;
}

static void set_ctl(struct tunnel_ws *c, enum ws_opcode op, const uint8_t *payload, size_t len)
{
	size_t n = ws_frame_header(c->ctl, op, len, NULL);
	memcpy(c->ctl + n, payload, len);
	c->ctl_len = (uint8_t)(n + len);
}

/* false when it cannot be queued (closing already, or a pong is half out). */
static bool queue_close(struct tunnel_ws *c, int code, const char *reason, bool answer)
{
	if (c->state != TWS_OPEN || c->ctl_in_flight)
		return false;
	uint8_t payload[WS_MAX_CONTROL];
	size_t len = 0;
	if (code != WS_CLOSE_NO_STATUS) {
		payload[0] = (uint8_t)(code >> 8);
		payload[1] = (uint8_t)code;
		size_t rlen = strlen(reason);
		if (rlen > WS_MAX_CONTROL - 2)
			rlen = WS_MAX_CONTROL - 2;
		memcpy(payload + 2, reason, rlen);
		len = 2 + rlen;
	}
	set_ctl(c, WS_OP_CLOSE, payload, len);
	c->state = TWS_CLOSING;
	c->our_close = !answer;
	c->end_after_ctl = answer;
	set_deadline(c, now_ms() + CLOSE_WAIT_MS);
	queue_work(c);
	return true;
}

/* ---- reading ------------------------------------------------------------ */

static void on_control(struct tunnel_ws *c, const struct ws_event *ev)
{
	switch (ev->opcode) {
	case WS_OP_PING:
		/* Answered at once; a pong already on its way answers it too. */
		if (c->state == TWS_OPEN && !c->ctl_in_flight)
			set_ctl(c, WS_OP_PONG, ev->data, ev->len);
		return;
	case WS_OP_CLOSE: {
		if (c->our_close) {
			end_conn(c, true, "closed");
			return;
		}
		int code = ev->len >= 2 ? ev->data[0] << 8 | ev->data[1] : WS_CLOSE_NO_STATUS;
		log_debug("%s: the client closes (%d)", c->who, code);
		/* Echo its code (RFC 6455 section 5.5.1), or none for none. */
		int answer = code == WS_CLOSE_NO_STATUS || ws_close_code_valid(code) ? code
										     : WS_CLOSE_PROTOCOL_ERROR;
		if (!queue_close(c, answer, "", true))
			end_conn(c, false, "closed by the client");
		return;
	}
	default: /* a pong */
		return;
	}
}

static void deliver(struct tunnel_ws *c, uint8_t *in, size_t len)
{
	while (c->state == TWS_OPEN || c->state == TWS_CLOSING) {
		struct ws_event ev = ws_parser_next_unmask(&c->parser, &in, &len);
		switch (ev.type) {
		case WS_EV_NONE:
			return;
		case WS_EV_DATA:
			if (c->state == TWS_OPEN && c->peer)
				peer_receive(c->peer, ev.data, ev.len, ev.opcode == WS_OP_BINARY, ev.first);
			break;
		case WS_EV_CONTROL:
			on_control(c, &ev);
			break;
		case WS_EV_ERROR:
			log_warn("%s: %s: closing with %d", c->who, ev.error, ev.close_code);
			if (!queue_close(c, ev.close_code, ev.error, false))
				end_conn(c, false, ev.error);
			c->rx_paused = true; /* nothing after a broken frame makes sense */
			return;
		}
	}
}

static void flush_writes(struct tunnel_ws_set *set);
static void list_remove(struct tunnel_ws *c);
static void list_append(struct tunnel_ws *c);

/* Bytes came in: the connection goes to the tail of the set's list. */
static void heard(struct tunnel_ws *c)
{
	c->heard_ms = now_ms();
	if (c->set->tail != c) {
		list_remove(c);
		list_append(c);
	}
}

static void pump_read(struct tunnel_ws *c)
{
	size_t got = 0;
	c->drained = false;
	while ((c->state == TWS_OPEN || c->state == TWS_CLOSING) && !c->rx_paused) {
		/* The socket was empty after the last read and OpenSSL holds
		 * nothing: another SSL_read would only cost a read() that says
		 * EAGAIN. The loop's epoll (level-triggered) calls again. */
		if (c->drained && !SSL_has_pending(c->ssl))
			return;
		if (got >= READ_BUDGET) {
			queue_read(c); /* the socket may be drained into OpenSSL already */
			return;
		}
		ERR_clear_error();
		int n = SSL_read(c->ssl, c->set->rx, sizeof(c->set->rx));
		if (n <= 0) {
			int e = SSL_get_error(c->ssl, n);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				return;
			end_conn(c, false, ssl_failure(e, n, "the client hung up"));
			return;
		}
		if (!got)
			heard(c);
		got += (size_t)n;
		deliver(c, c->set->rx, (size_t)n);
		/* Forward each record as it comes: the other side's queue stays
		 * small (no regrowing it per burst) and the bytes go out sooner. */
		flush_writes(c->set);
	}
}

/* Connections others gave something to write. */
static void flush_writes(struct tunnel_ws_set *set)
{
	while (set->work) {
		struct tunnel_ws *w = set->work;
		set->work = w->work_next;
		if (!set->work)
			set->work_tail = &set->work;
		w->queued = false;
		pump_write(w);
	}
}

/* Writes, then the reads that were put off (budget spent, reading resumed). */
static void run_work(struct tunnel_ws_set *set)
{
	for (;;) {
		flush_writes(set);
		struct tunnel_ws *r = set->readers;
		if (!r)
			return;
		set->readers = r->read_next;
		if (!set->readers)
			set->readers_tail = &set->readers;
		r->read_queued = false;
		pump_read(r);
		pump_write(r);
	}
}

static void on_io(void *arg, bool readable, bool writable)
{
	struct tunnel_ws *c = arg;
	if (readable)
		pump_read(c);
	pump_write(c);
	/* What this brought for the other side goes out now, not in another round. */
	run_work(c->set);
}

/* ---- life --------------------------------------------------------------- */

static void list_remove(struct tunnel_ws *c)
{
	struct tunnel_ws_set *set = c->set;
	if (c->prev)
		c->prev->next = c->next;
	else
		set->all = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		set->tail = c->prev;
	c->prev = c->next = NULL;
}

static void list_append(struct tunnel_ws *c)
{
	struct tunnel_ws_set *set = c->set;
	c->prev = set->tail;
	c->next = NULL;
	if (set->tail)
		set->tail->next = c;
	else
		set->all = c;
	set->tail = c;
}

static void unlink_conn(struct tunnel_ws *c)
{
	list_remove(c);
	if (c->deadline_ms)
		c->set->deadlines--;
	c->set->count--;
}

static void end_conn(struct tunnel_ws *c, bool clean, const char *why)
{
	if (c->state == TWS_ENDED)
		return;
	bool counted = c->state != TWS_HANDOVER;
	c->state = TWS_ENDED;
	log_debug("%s: connection ended: %s", c->who, why);
	relay_fd_watch_free(c->watch);
	c->watch = NULL;
	if (clean)
		(void)SSL_shutdown(c->ssl); /* best effort: a close_notify if the socket takes it */
	SSL_free(c->ssl);
	c->ssl = NULL;
	close(c->fd);
	unlink_conn(c);
	if (counted && c->set->hooks.counted)
		c->set->hooks.counted(c->set->hooks.arg, false);
	struct peer *p = c->peer;
	c->peer = NULL;
	peer_closed(p);
	/* Freed before the loop waits: it may still be on the work list. */
	c->dead_next = c->set->dead;
	c->set->dead = c;
}

/* ---- the socket under OpenSSL ------------------------------------------ */

/* OpenSSL's socket BIO, except that a read tells the connection whether it
 * emptied the socket (fewer bytes than asked for). With read-ahead OpenSSL
 * asks for all the room it has, so a short read means nothing more was
 * there: pump_read stops without the read() that would say EAGAIN (one
 * system call of four per forwarded message or answered ping). */
static int (*socket_read)(BIO *, char *, int);

static int read_noting_drained(BIO *b, char *buf, int len)
{
	int n = socket_read(b, buf, len);
	struct tunnel_ws *c = BIO_get_app_data(b);
	if (c)
		c->drained = n < len;
	return n;
}

static BIO_METHOD *bio_method_new(void)
{
	const BIO_METHOD *sock = BIO_s_socket();
	socket_read = BIO_meth_get_read(sock);
	int type = BIO_get_new_index();
	BIO_METHOD *m = type < 0 ? NULL
				 : BIO_meth_new(type | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
						"tunnel_ws socket");
	if (!m || !socket_read || !BIO_meth_set_read(m, read_noting_drained) ||
	    !BIO_meth_set_write(m, BIO_meth_get_write(sock)) ||
	    !BIO_meth_set_puts(m, BIO_meth_get_puts(sock)) ||
	    !BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(sock)) ||
	    !BIO_meth_set_create(m, BIO_meth_get_create(sock)) ||
	    !BIO_meth_set_destroy(m, BIO_meth_get_destroy(sock))) {
		BIO_meth_free(m);
		return NULL;
	}
	return m;
}

/* lws's descriptor for this session was a throwaway: give OpenSSL the socket. */
static int attach_socket(struct tunnel_ws *c)
{
	BIO *b = BIO_new(c->set->bio_method);
	if (!b)
		return -1;
	BIO_set_fd(b, c->fd, BIO_NOCLOSE);
	BIO_set_app_data(b, c);
	SSL_set_bio(c->ssl, b, b);
	return 0;
}

static void open_conn(struct tunnel_ws *c)
{
	if (attach_socket(c)) {
		end_conn(c, false, "cannot attach the socket to TLS");
		return;
	}
	SSL_set_mode(c->ssl, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_set_default_read_buffer_len(c->ssl, READ_AHEAD_BYTES);
	SSL_set_read_ahead(c->ssl, 1);
	c->watch = relay_fd_watch_new_rw(c->set->loop, c->fd, on_io, c);
	if (!c->watch) {
		end_conn(c, false, "out of memory");
		return;
	}
	c->state = TWS_OPEN;
	on_io(c, true, false); /* a record lws half-read may wait inside OpenSSL */
}

static void before_wait(void *arg)
{
	struct tunnel_ws_set *set = arg;
	while (set->starting) {
		struct tunnel_ws *c = set->starting;
		set->starting = c->work_next;
		c->work_next = NULL;
		open_conn(c);
	}
	run_work(set);
	while (set->dead) {
		struct tunnel_ws *c = set->dead;
		set->dead = c->dead_next;
		free(c);
	}
}

struct tunnel_ws_set *tunnel_ws_set_new(struct relay_loop *loop, const struct tunnel_ws_hooks *hooks)
{
	struct tunnel_ws_set *set = calloc(1, sizeof(*set));
	if (!set)
		return NULL;
	set->loop = loop;
	if (hooks)
		set->hooks = *hooks;
	set->work_tail = &set->work;
	set->readers_tail = &set->readers;
	set->bio_method = bio_method_new();
	if (!set->bio_method || relay_loop_before_wait(loop, before_wait, set)) {
		BIO_meth_free(set->bio_method);
		free(set);
		return NULL;
	}
	return set;
}

void tunnel_ws_set_free(struct tunnel_ws_set *set)
{
	if (!set)
		return;
	while (set->starting) {
		struct tunnel_ws *c = set->starting;
		set->starting = c->work_next;
		end_conn(c, false, "the relay is stopping");
	}
	while (set->all)
		end_conn(set->all, false, "the relay is stopping");
	while (set->dead) {
		struct tunnel_ws *c = set->dead;
		set->dead = c->dead_next;
		free(c);
	}
	BIO_meth_free(set->bio_method);
	free(set);
}

void tunnel_ws_sweep(struct tunnel_ws_set *set)
{
	int64_t now = now_ms();
	/* Closes in progress are few and short: a walk of all only then. */
	for (struct tunnel_ws *c = set->deadlines ? set->all : NULL, *next; c; c = next) {
		next = c->next;
		if (c->deadline_ms && now >= c->deadline_ms && c->state >= TWS_OPEN) {
			log_info("%s: did not close in time; dropping the connection", c->who);
			end_conn(c, false, "close timed out");
		}
	}
	/* The silent ones are at the head; the first one heard recently ends the walk. */
	for (struct tunnel_ws *c = set->all, *next; c && now - c->heard_ms >= HEARD_RECENTLY_MS;
	     c = next) {
		next = c->next;
		if (c->state != TWS_OPEN && c->state != TWS_CLOSING)
			continue;
		if (tcp_path_dead(c->fd, TCP_LIVENESS_SECONDS)) {
			/* A peer that stopped reading still ACKs our probes: only silence counts. */
			log_warn("%s: no ACK for %d s with data or probes outstanding: dead path; "
				 "dropping the connection", c->who, TCP_LIVENESS_SECONDS);
			end_conn(c, false, "dead path");
		}
	}
}

size_t tunnel_ws_count(const struct tunnel_ws_set *set)
{
	return set->count;
}

struct tunnel_ws *tunnel_ws_new(struct tunnel_ws_set *set, int fd, SSL *ssl, const char *who)
{
	struct tunnel_ws *c = calloc(1, sizeof(*c));
	if (!c || !SSL_up_ref(ssl)) {
		free(c);
		return NULL;
	}
	c->set = set;
	c->fd = fd;
	c->ssl = ssl;
	c->state = TWS_HANDOVER;
	c->heard_ms = now_ms();
	ws_parser_init_server(&c->parser);
	snprintf(c->who, sizeof(c->who), "%s", who);
	if (tcp_set_liveness(fd, TCP_LIVENESS_SECONDS) < 0)
		log_debug("%s: TCP keepalive: %s", who, strerror(errno));
	list_append(c);
	set->count++;
	return c;
}

void tunnel_ws_bind(struct tunnel_ws *c, struct peer *peer)
{
	c->peer = peer;
}

void tunnel_ws_start(struct tunnel_ws *c)
{
	struct tunnel_ws_set *set = c->set;
	if (set->hooks.counted)
		set->hooks.counted(set->hooks.arg, true);
	c->state = TWS_STARTING;
	c->work_next = set->starting;
	set->starting = c;
}

void tunnel_ws_abandon(struct tunnel_ws *c)
{
	/* lws closes the socket itself: only our reference to the session goes. */
	SSL_free(c->ssl);
	unlink_conn(c);
	struct peer *p = c->peer;
	c->peer = NULL;
	peer_closed(p);
	free(c);
}

/* ---- struct peer_io ----------------------------------------------------- */

static void io_want_write(void *conn)
{
	struct tunnel_ws *c = conn;
	c->peer_wants_write = true;
	queue_work(c);
}

static void io_pause_reading(void *conn, bool pause)
{
	struct tunnel_ws *c = conn;
	if (c->rx_paused == pause || c->state == TWS_CLOSING)
		return;
	c->rx_paused = pause;
	update_watch(c);
	if (!pause)
		queue_read(c);
}

static void io_close_within(void *conn, unsigned secs)
{
	set_deadline(conn, now_ms() + (int64_t)secs * 1000);
}

static int io_send(void *conn, struct bytequeue *q)
{
	struct tunnel_ws *c = conn;
	if (c->out_q || !bytequeue_len(q))
		return 0; /* one message at a time: the one in flight goes first */
	c->out_q = q;
	c->out_len = message_span(q);
	return write_message(c) < 0 ? -1 : 0;
}

static void io_close(void *conn, int code, const char *reason)
{
	queue_close(conn, code, reason, false);
}

const struct peer_io tunnel_ws_io = {
	.want_write = io_want_write,
	.pause_reading = io_pause_reading,
	.close_within = io_close_within,
	.send = io_send,
	.close = io_close,
};
