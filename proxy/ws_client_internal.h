/* Private to the WebSocket client (ws_client.c, ws_handshake.c,
 * ws_frames.c): its state and the steps the files call in each other. */
#ifndef PROXY_WS_CLIENT_INTERNAL_H
#define PROXY_WS_CLIENT_INTERNAL_H

#include <netdb.h>
#include <openssl/ssl.h>

#include "proto/wire.h"
#include "proto/ws_codec.h"
#include "proxy/ws_client.h"

/* Each direction of the BIO pair: the most ciphertext held between the
 * socket and OpenSSL, and the most one recv or send moves: two TLS
 * records. */
#define BIO_PAIR_SIZE (32u * 1024u)
/* The plaintext read per SSL_read: one TLS record at most. */
#define READ_CHUNK (16u * 1024u)
/* Work per event, so local sockets get their turn. */
#define PUMP_ROUNDS 4
#define READ_BUDGET (256u * 1024u)
#define MESSAGES_PER_ROUND 2
/* Random bytes drawn at once for frame masks: 256 frames' worth. */
#define MASK_POOL 1024u
#define CONNECT_TIMEOUT_US (20 * 1000000u)
#define CLOSE_TIMEOUT_US (5 * 1000000u)
/* The request (with a token of up to TUNNEL_MAX_ACCESS_TOKEN characters) or an answer's head. */
#define HANDSHAKE_BUFFER (TUNNEL_MAX_ACCESS_TOKEN + WS_MAX_RESPONSE_HEAD)

enum wc_state {
	WC_IDLE,
	WC_CONNECTING,
	WC_PROXY_REQUEST,
	WC_PROXY_ANSWER,
	WC_TLS_HANDSHAKE,
	WC_UPGRADE_REQUEST,
	WC_UPGRADE_ANSWER,
	WC_OPEN,
	WC_CLOSING,     /* our close frame is queued or sent */
};

struct ws_client {
	struct ev_loop *loop;
	struct ws_client_config cfg;
	struct ws_client_handler h;
	SSL_CTX *ssl_ctx;

	/* one connection */
	enum wc_state state;
	struct ev_io io;          /* the socket; io.active while it is open */
	int fd;
	struct addrinfo *addrs, *next_addr;
	SSL *ssl;
	BIO *net;                 /* our end of the BIO pair: ciphertext */
	char key[WS_KEY_LEN + 1];
	uint8_t *hs;              /* handshake text (request out, answer in) */
	size_t hs_len, hs_done;
	struct ws_parser parser;
	bool opened, peer_eof, rx_paused, pollin_on;
	/* The last recv() took less than it had room for: the socket is empty,
	 * so reading waits for the loop to report it readable again (saves a
	 * recv() that would only fail with EAGAIN, once per message). */
	bool drained;
	bool kill;
	bool in_pump;             /* pump() or send_now() is running */
	bool end_when_flushed;    /* end once the close frame is out */
	int http_status;
	char why[256];

	/* sending: one frame at a time in out, then control frames by priority */
	uint8_t *out;
	size_t out_cap, out_len, out_sent;
	bool want_write;
	bool pong_due, ping_due, close_due;
	uint8_t pong[WS_MAX_CONTROL], ping[WS_MAX_CONTROL];
	uint8_t mask_pool[MASK_POOL];
	size_t mask_left;        /* unused bytes at the end of mask_pool */
	size_t pong_len, ping_len;
	int close_code;

	uint8_t in[READ_CHUNK];
	struct ev_timer later;   /* re-runs pump(), or closes a killed connection */
	struct ev_timer retry;   /* tries the next address */
	struct ev_timer timeout; /* connect or close takes too long */
};

/* Ends the connection: the socket is closed from the loop and on_ended
 * reports it. The first reason given is the one reported. */
void wc_end_connection(struct ws_client *wc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Classifies a failed SSL call: 0 = retry later, -1 = the connection ended. */
int wc_ssl_failed(struct ws_client *wc, int rc, const char *doing);
/* Starts one of wc's timers; a failure (out of memory) ends the connection. */
void wc_start_timer(struct ev_timer *t, uint64_t after_us);

/* ws_handshake.c: from connected socket to open WebSocket */
void wc_after_connected(struct ws_client *wc);
void wc_proxy_exchange(struct ws_client *wc, bool *progress);
void wc_handshake(struct ws_client *wc, bool *progress);
/* Wipes and frees the handshake buffer (it held the token). */
void wc_free_handshake_buffer(struct ws_client *wc);

/* ws_frames.c: frames in and out of an open connection */
void wc_deliver(struct ws_client *wc, const uint8_t *data, size_t len);
void wc_app_read(struct ws_client *wc, bool *progress);
void wc_app_write(struct ws_client *wc, bool *progress);
void wc_queue_close(struct ws_client *wc, int code);

#endif
