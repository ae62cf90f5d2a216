/* The client side of WebSocket (RFC 6455) and of an HTTP CONNECT proxy, as
 * pure functions: building the requests, checking the answers, framing and
 * masking what we send, and parsing the server's frames in bulk. No I/O;
 * proxy/ws_client.c drives these over TLS. The relay's tunnel connections
 * (relay/tunnel_ws.c) use the framing and parsing from the server's side. */
#ifndef TUNNEL_WS_CODEC_H
#define TUNNEL_WS_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WS_NONCE_LEN 16
#define WS_KEY_LEN 24         /* base64 of the 16-byte nonce */
#define WS_ACCEPT_LEN 28      /* base64 of a SHA-1 */
#define WS_MAX_HEADER 14      /* 2 + 8-byte length + 4-byte mask */
#define WS_MAX_CONTROL 125    /* a control frame's payload limit */
/* The longest HTTP response head (status line + headers) we accept. */
#define WS_MAX_RESPONSE_HEAD 8192u

enum ws_opcode {
	WS_OP_CONTINUATION = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xA,
};

/* Close codes we send or report. */
#define WS_CLOSE_NORMAL 1000
#define WS_CLOSE_GOING_AWAY 1001
#define WS_CLOSE_PROTOCOL_ERROR 1002
#define WS_CLOSE_NO_STATUS 1005
#define WS_CLOSE_SERVICE_RESTART 1012

/* ---- the opening handshake ---------------------------------------------- */

/* Sec-WebSocket-Key: base64 of a fresh random nonce. */
void ws_key_from_nonce(const uint8_t nonce[WS_NONCE_LEN], char key[WS_KEY_LEN + 1]);
/* The Sec-WebSocket-Accept a server must answer to key. 0, or -1 on a
 * crypto library failure. */
int ws_accept_for_key(const char *key, char accept[WS_ACCEPT_LEN + 1]);

struct ws_request {
	const char *host;        /* Host header, without a port (AWS's relay wants that) */
	const char *path;        /* with the query */
	const char *subprotocol;
	const char *key;         /* from ws_key_from_nonce */
	const char *access_token;
	const char *client_token; /* "" = none */
};

/* Writes the GET upgrade request into out. Returns its length, or 0 when it
 * does not fit in cap or a field holds a CR or LF. */
size_t ws_request_build(const struct ws_request *r, char *out, size_t cap);

/* Writes "CONNECT host:port" for an HTTP proxy. Returns its length, or 0. */
size_t http_connect_build(const char *host, int port, char *out, size_t cap);

/* Length of the response head (through the blank line) at the start of
 * buf, or 0 while it is incomplete. */
size_t http_head_length(const uint8_t *buf, size_t len);

/* The status code of a response head ("HTTP/1.1 101 ..."), or -1. */
int http_head_status(const char *head, size_t len);

/* Finds a header by name (case-insensitive). Sets *value and *value_len
 * (surrounding blanks trimmed) and returns true when present. */
bool http_head_header(const char *head, size_t len, const char *name,
		      const char **value, size_t *value_len);

enum ws_upgrade_result {
	WS_UPGRADE_OK,
	WS_UPGRADE_REFUSED,      /* a status other than 101: *status says which */
	WS_UPGRADE_INVALID,      /* 101, but the headers are wrong: err says how */
};

/* Checks the server's answer to our upgrade request. */
enum ws_upgrade_result ws_upgrade_check(const char *head, size_t len, const char *key,
					const char *subprotocol, int *status,
					char *err, size_t err_cap);

/* ---- frames we send -------------------------------------------------------- */

/* Writes the header of one final frame of payload_len bytes: a client's,
 * masked with mask, or a server's (mask NULL, never masked). Returns the
 * header length (6, 8 or 14 masked; 2, 4 or 10 not). */
size_t ws_frame_header(uint8_t out[WS_MAX_HEADER], enum ws_opcode op, uint64_t payload_len,
		       const uint8_t mask[4]);

/* dst = src XOR mask, a word at a time. dst and src may be equal. */
void ws_mask_copy(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t mask[4]);

/* ---- frames we receive ------------------------------------------------- */

/* Whether a close frame may carry this code (RFC 6455 section 7.4): the
 * defined codes that may be sent, and 3000-4999 for libraries and
 * applications. 1005, 1006 and 1015 only ever stand for "no code". */
bool ws_close_code_valid(int code);

enum ws_event_type {
	WS_EV_NONE,     /* the input is used up */
	WS_EV_DATA,     /* a piece of a text or binary message */
	WS_EV_CONTROL,  /* a whole close, ping or pong frame */
	WS_EV_ERROR,    /* the server broke the protocol: close with close_code */
};

struct ws_event {
	enum ws_event_type type;
	enum ws_opcode opcode;   /* DATA: the message's (text/binary); CONTROL: the frame's */
	bool first;              /* DATA: the message starts with this piece */
	bool last;               /* DATA: the message ends with this piece */
	const uint8_t *data;     /* points into the input, or (CONTROL) into the parser */
	size_t len;
	uint16_t close_code;     /* ERROR */
	const char *error;       /* ERROR: what was wrong */
};

struct ws_parser {
	uint8_t header[WS_MAX_HEADER];
	size_t header_have;
	uint64_t payload_left;   /* of the current frame, once its header is read */
	bool in_frame;           /* a header was read; payload_left bytes follow */
	enum ws_opcode frame_opcode;
	bool frame_fin;
	bool in_message;         /* a fragmented data message is open */
	bool message_started;    /* a piece of the current message was delivered */
	enum ws_opcode message_opcode;
	bool from_client;        /* the server's side: frames must be masked (ws_parser_init_server) */
	uint8_t mask[4];         /* the current frame's, with from_client */
	uint64_t payload_done;   /* of the current frame: bytes handed out so far */
	uint8_t control[WS_MAX_CONTROL];
	size_t control_have;
	const char *failed;      /* the first protocol error, NULL while none */
};

void ws_parser_init(struct ws_parser *p);
/* For a server: the peer is a client, whose frames must all be masked
 * (RFC 6455 section 5.1); use ws_parser_next_unmask. */
void ws_parser_init_server(struct ws_parser *p);

/* Consumes server frames from *in, *len (advancing them) and returns the
 * next event. Data is not copied: a DATA event points into the input.
 * Call until it returns WS_EV_NONE. After WS_EV_ERROR every call repeats it. */
struct ws_event ws_parser_next(struct ws_parser *p, const uint8_t **in, size_t *len);
/* The same for a server's parser: the input is unmasked in place, so a
 * DATA event's bytes (and a CONTROL's) are the payload as sent. */
struct ws_event ws_parser_next_unmask(struct ws_parser *p, uint8_t **in, size_t *len);

#endif
