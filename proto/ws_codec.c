#include "proto/ws_codec.h"

#include "proto/wire.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* RFC 6455 section 1.3: appended to the key before hashing. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

void ws_key_from_nonce(const uint8_t nonce[WS_NONCE_LEN], char key[WS_KEY_LEN + 1])
{
	EVP_EncodeBlock((unsigned char *)key, nonce, WS_NONCE_LEN);
}

int ws_accept_for_key(const char *key, char accept[WS_ACCEPT_LEN + 1])
{
	char joined[WS_KEY_LEN + sizeof(ws_guid)];
	size_t key_len = strlen(key);
	if (key_len > WS_KEY_LEN)
		return -1;
	memcpy(joined, key, key_len);
	memcpy(joined + key_len, ws_guid, sizeof(ws_guid) - 1);
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_len = 0;
	if (!EVP_Digest(joined, key_len + sizeof(ws_guid) - 1, digest, &digest_len, EVP_sha1(), NULL) ||
	    digest_len != 20)
		return -1;
	EVP_EncodeBlock((unsigned char *)accept, digest, 20);
	return 0;
}

static bool has_line_break(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

size_t ws_request_build(const struct ws_request *r, char *out, size_t cap)
{
	const char *fields[] = { r->host, r->path, r->subprotocol, r->key, r->access_token,
				 r->client_token };
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (has_line_break(fields[i]))
			return 0;
	bool ipv6 = strchr(r->host, ':') != NULL; /* a literal: goes in brackets */
	int n = snprintf(out, cap,
			 "GET %s HTTP/1.1\r\n"
			 "Host: %s%s%s\r\n"
			 "Upgrade: websocket\r\n"
			 "Connection: Upgrade\r\n"
			 "Sec-WebSocket-Key: %s\r\n"
			 "Sec-WebSocket-Version: 13\r\n"
			 "Sec-WebSocket-Protocol: %s\r\n"
			 WIRE_HEADER_ACCESS_TOKEN ": %s\r\n"
			 "%s%s%s"
			 "\r\n",
			 r->path, ipv6 ? "[" : "", r->host, ipv6 ? "]" : "", r->key, r->subprotocol, r->access_token,
			 r->client_token[0] ? WIRE_HEADER_CLIENT_TOKEN ": " : "", r->client_token,
			 r->client_token[0] ? "\r\n" : "");
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

size_t http_connect_build(const char *host, int port, char *out, size_t cap)
{
	if (has_line_break(host))
		return 0;
	/* An IPv6 literal goes in brackets. */
	const char *open = strchr(host, ':') ? "[" : "", *close = strchr(host, ':') ? "]" : "";
	int n = snprintf(out, cap, "CONNECT %s%s%s:%d HTTP/1.1\r\nHost: %s%s%s:%d\r\n\r\n", open, host,
			 close, port, open, host, close, port);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

size_t http_head_length(const uint8_t *buf, size_t len)
{
	for (size_t i = 3; i < len; i++)
		if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r')
			return i + 1;
	return 0;
}

int http_head_status(const char *head, size_t len)
{
	/* "HTTP/1.x NNN" */
	if (len < 12 || strncmp(head, "HTTP/1.", 7) != 0 || (head[7] != '0' && head[7] != '1') ||
	    head[8] != ' ')
		return -1;
	int status = 0;
	for (size_t i = 9; i < 12; i++) {
		if (head[i] < '0' || head[i] > '9')
			return -1;
		status = status * 10 + (head[i] - '0');
	}
	if (len > 12 && head[12] != ' ' && head[12] != '\r')
		return -1;
	return status;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

bool http_head_header(const char *head, size_t len, const char *name,
		      const char **value, size_t *value_len)
{
	size_t name_len = strlen(name);
	const char *end = head + len;
	const char *line = memchr(head, '\n', len);
	while (line && ++line < end) {
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		if (!eol)
			break;
		size_t line_len = (size_t)(eol - line);
		if (line_len > name_len && line[name_len] == ':' &&
		    strncasecmp(line, name, name_len) == 0) {
			const char *v = line + name_len + 1, *v_end = eol;
			while (v < v_end && is_blank(*v))
				v++;
			while (v_end > v && (is_blank(v_end[-1]) || v_end[-1] == '\r'))
				v_end--;
			*value = v;
			*value_len = (size_t)(v_end - v);
			return true;
		}
		line = eol;
	}
	return false;
}

/* True when the comma-separated list holds token (case-insensitive). */
static bool list_has_token(const char *list, size_t len, const char *token)
{
	size_t token_len = strlen(token);
	size_t i = 0;
	while (i < len) {
		while (i < len && (is_blank(list[i]) || list[i] == ','))
			i++;
		size_t start = i;
		while (i < len && list[i] != ',')
			i++;
		size_t end = i;
		while (end > start && is_blank(list[end - 1]))
			end--;
		if (end - start == token_len && strncasecmp(list + start, token, token_len) == 0)
			return true;
	}
	return false;
}

static bool header_equals(const char *head, size_t len, const char *name, const char *want,
			  bool case_sensitive)
{
	const char *v;
	size_t v_len;
	if (!http_head_header(head, len, name, &v, &v_len) || v_len != strlen(want))
		return false;
	return case_sensitive ? memcmp(v, want, v_len) == 0 : strncasecmp(v, want, v_len) == 0;
}

enum ws_upgrade_result ws_upgrade_check(const char *head, size_t len, const char *key,
					const char *subprotocol, int *status,
					char *err, size_t err_cap)
{
	*status = http_head_status(head, len);
	if (*status < 0) {
		snprintf(err, err_cap, "the answer is not HTTP/1.1");
		return WS_UPGRADE_INVALID;
	}
	if (*status != 101)
		return WS_UPGRADE_REFUSED;
	const char *v;
	size_t v_len;
	char accept[WS_ACCEPT_LEN + 1];
	if (!header_equals(head, len, "Upgrade", "websocket", false))
		snprintf(err, err_cap, "no 'Upgrade: websocket' header");
	else if (!http_head_header(head, len, "Connection", &v, &v_len) ||
		 !list_has_token(v, v_len, "upgrade"))
		snprintf(err, err_cap, "no 'Connection: upgrade' header");
	else if (ws_accept_for_key(key, accept))
		snprintf(err, err_cap, "cannot compute Sec-WebSocket-Accept");
	else if (!header_equals(head, len, "Sec-WebSocket-Accept", accept, true))
		snprintf(err, err_cap, "wrong or missing Sec-WebSocket-Accept");
	else if (!header_equals(head, len, "Sec-WebSocket-Protocol", subprotocol, true))
		snprintf(err, err_cap, "the server did not accept subprotocol %s", subprotocol);
	else if (http_head_header(head, len, "Sec-WebSocket-Extensions", &v, &v_len))
		snprintf(err, err_cap, "the server chose an extension we did not offer");
	else
		return WS_UPGRADE_OK;
	return WS_UPGRADE_INVALID;
}

size_t ws_frame_header(uint8_t out[WS_MAX_HEADER], enum ws_opcode op, uint64_t payload_len,
		       const uint8_t mask[4])
{
	size_t n = 0;
	uint8_t masked = mask ? 0x80 : 0;
	out[n++] = (uint8_t)(0x80 | op); /* FIN: we never fragment */
	if (payload_len < 126) {
		out[n++] = (uint8_t)(masked | payload_len);
	} else if (payload_len <= 0xFFFF) {
		out[n++] = masked | 126;
		out[n++] = (uint8_t)(payload_len >> 8);
		out[n++] = (uint8_t)payload_len;
	} else {
		out[n++] = masked | 127;
		for (int shift = 56; shift >= 0; shift -= 8)
			out[n++] = (uint8_t)(payload_len >> shift);
	}
	if (!mask)
		return n;
	memcpy(out + n, mask, 4);
	return n + 4;
}

void ws_mask_copy(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t mask[4])
{
	uint8_t mask8[8];
	memcpy(mask8, mask, 4);
	memcpy(mask8 + 4, mask, 4);
	uint64_t word_mask;
	memcpy(&word_mask, mask8, 8); /* the mask in memory order, whatever the endianness */
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t w;
		memcpy(&w, src + i, 8);
		w ^= word_mask;
		memcpy(dst + i, &w, 8);
	}
	for (; i < len; i++)
		dst[i] = src[i] ^ mask[i & 3];
}

bool ws_close_code_valid(int code)
{
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}

void ws_parser_init(struct ws_parser *p)
{
	memset(p, 0, sizeof(*p));
}

void ws_parser_init_server(struct ws_parser *p)
{
	ws_parser_init(p);
	p->from_client = true;
}

static struct ws_event parser_fail(struct ws_parser *p, const char *why)
{
	p->failed = why;
	struct ws_event ev = { .type = WS_EV_ERROR, .close_code = WS_CLOSE_PROTOCOL_ERROR, .error = why };
	return ev;
}

static bool is_control(unsigned op)
{
	return op & 0x8;
}

/* Checks the first two header bytes; returns NULL or what is wrong. */
static const char *check_header_start(const struct ws_parser *p, uint8_t b0, uint8_t b1)
{
	unsigned op = b0 & 0x0F;
	if (b0 & 0x70)
		return "a frame has reserved bits set";
	if (p->from_client && !(b1 & 0x80))
		return "the client sent an unmasked frame";
	if (!p->from_client && (b1 & 0x80))
		return "the server masked a frame";
	if (op != WS_OP_CONTINUATION && op != WS_OP_TEXT && op != WS_OP_BINARY &&
	    op != WS_OP_CLOSE && op != WS_OP_PING && op != WS_OP_PONG)
		return "a frame has an unknown opcode";
	if (is_control(op) && (!(b0 & 0x80) || (b1 & 0x7F) > WS_MAX_CONTROL))
		return "a control frame is fragmented or longer than 125 bytes";
	if (op == WS_OP_CONTINUATION && !p->in_message)
		return "a continuation frame outside a message";
	if ((op == WS_OP_TEXT || op == WS_OP_BINARY) && p->in_message)
		return "a new message inside a fragmented one";
	return NULL;
}

static size_t header_size(uint8_t b1)
{
	unsigned len7 = b1 & 0x7F;
	return (len7 == 127 ? 10 : len7 == 126 ? 4 : 2) + (b1 & 0x80 ? 4 : 0);
}

/* Reads header bytes; true once the whole header is in and checked. */
static bool take_header(struct ws_parser *p, const uint8_t **in, size_t *len, const char **error)
{
	size_t need = p->header_have < 2 ? 2 : header_size(p->header[1]);
	while (p->header_have < need) {
		if (*len == 0)
			return false;
		p->header[p->header_have++] = *(*in)++;
		(*len)--;
		if (p->header_have == 2) {
			if ((*error = check_header_start(p, p->header[0], p->header[1])))
				return false;
			need = header_size(p->header[1]);
		}
	}
	size_t len_bytes = need - (p->header[1] & 0x80 ? 4 : 0);
	if (p->header[1] & 0x80)
		memcpy(p->mask, p->header + len_bytes, 4);
	uint64_t payload = p->header[1] & 0x7F;
	if (len_bytes == 4)
		payload = (uint64_t)p->header[2] << 8 | p->header[3];
	else if (len_bytes == 10) {
		payload = 0;
		for (size_t i = 2; i < 10; i++)
			payload = payload << 8 | p->header[i];
		if (payload >> 63) {
			*error = "a frame length has its top bit set";
			return false;
		}
	}
	p->frame_opcode = (enum ws_opcode)(p->header[0] & 0x0F);
	p->frame_fin = p->header[0] & 0x80;
	p->payload_left = payload;
	p->payload_done = 0;
	p->header_have = 0;
	p->in_frame = true;
	p->control_have = 0;
	if (p->frame_opcode == WS_OP_TEXT || p->frame_opcode == WS_OP_BINARY) {
		p->in_message = true;
		p->message_started = false;
		p->message_opcode = p->frame_opcode;
	}
	return true;
}

struct ws_event ws_parser_next(struct ws_parser *p, const uint8_t **in, size_t *len)
{
	struct ws_event ev = { .type = WS_EV_NONE };
	if (p->failed)
		return parser_fail(p, p->failed);
	if (!p->in_frame) {
		const char *error = NULL;
		if (!take_header(p, in, len, &error))
			return error ? parser_fail(p, error) : ev;
	}
	size_t take = *len < p->payload_left ? *len : (size_t)p->payload_left;
	if (is_control(p->frame_opcode)) {
		memcpy(p->control + p->control_have, *in, take);
		p->control_have += take;
		*in += take;
		*len -= take;
		p->payload_left -= take;
		if (p->payload_left)
			return ev;
		p->in_frame = false;
		if (p->from_client)
			ws_mask_copy(p->control, p->control, p->control_have, p->mask);
		ev.type = WS_EV_CONTROL;
		ev.opcode = p->frame_opcode;
		ev.data = p->control;
		ev.len = p->control_have;
		return ev;
	}
	/* A data frame: hand over what the input holds of it (an empty frame
	 * still yields one event, so an empty message is seen). */
	if (take == 0 && p->payload_left)
		return ev;
	ev.type = WS_EV_DATA;
	ev.opcode = p->message_opcode;
	ev.first = !p->message_started;
	ev.data = *in;
	ev.len = take;
	p->payload_done += take;
	p->payload_left -= take;
	*in += take;
	*len -= take;
	p->message_started = true;
	if (p->payload_left == 0) {
		p->in_frame = false;
		if (p->frame_fin) {
			ev.last = true;
			p->in_message = false;
		}
	}
	return ev;
}

struct ws_event ws_parser_next_unmask(struct ws_parser *p, uint8_t **in, size_t *len)
{
	const uint8_t *start = *in, *cur = *in;
	struct ws_event ev = ws_parser_next(p, &cur, len);
	*in += cur - start;
	if (ev.type == WS_EV_DATA && p->from_client && ev.len) {
		/* The piece is ours to change: it lies in *in, which is writable. */
		uint8_t *piece = (uint8_t *)*in - (cur - ev.data);
		uint64_t at = p->payload_done - ev.len; /* its offset in the frame */
		uint8_t mask[4];
		for (unsigned i = 0; i < 4; i++)
			mask[i] = p->mask[(at + i) & 3];
		ws_mask_copy(piece, piece, ev.len, mask);
		ev.data = piece;
	}
	return ev;
}
