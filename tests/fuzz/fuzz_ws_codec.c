/* The WebSocket client codec (proto/ws_codec.c).
 *
 * Input: a selector byte, then by (selector % 3):
 *  0: frames from a server: one byte n, n chunk-size bytes ((b & 0x7f) + 1,
 *     cycling), then the byte stream, fed to ws_parser_next in chunks, each
 *     in its own exact-size allocation. Checked: DATA events point into the
 *     chunk, CONTROL events hold at most 125 bytes, the parser always makes
 *     progress, and after an ERROR every call repeats it.
 *  1: an HTTP response head (not NUL-terminated): head length, status,
 *     headers and the upgrade check against a fixed key and subprotocol.
 *  2: lines host, path, subprotocol, access token, client token for
 *     ws_request_build. Checked: a built request is exactly one HTTP head
 *     and its access-token header reads back as given. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/wire.h"
#include "proto/ws_codec.h"
#include "tests/fuzz/fuzz_input.h"

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="

static void server_frames(struct fuzz_input *input)
{
	uint8_t sizes[FUZZ_MAX_SIZES];
	size_t n_sizes = fuzz_sizes(input, sizes);
	size_t len;
	uint8_t *stream = fuzz_rest(input, &len);
	struct ws_parser p;
	ws_parser_init(&p);
	bool failed = false;
	for (size_t pos = 0, k = 0; pos < len && !failed;) {
		size_t chunk_len = n_sizes ? (size_t)(sizes[k++ % n_sizes] & 0x7f) + 1 : len;
		if (chunk_len > len - pos)
			chunk_len = len - pos;
		uint8_t *chunk = fuzz_copy(stream + pos, chunk_len);
		pos += chunk_len;
		const uint8_t *in = chunk;
		size_t left = chunk_len;
		for (;;) {
			size_t before = left;
			struct ws_event ev = ws_parser_next(&p, &in, &left);
			if (ev.type == WS_EV_NONE) {
				if (left)
					fuzz_fail("NONE with input left over");
				break;
			}
			if (ev.type == WS_EV_ERROR) {
				if (!ev.error || ev.close_code < 1000)
					fuzz_fail("an error without a reason or close code");
				struct ws_event again = ws_parser_next(&p, &in, &left);
				if (again.type != WS_EV_ERROR)
					fuzz_fail("the parser went on after an error");
				failed = true;
				break;
			}
			if (ev.type == WS_EV_DATA) {
				if (ev.len && (ev.data < chunk || ev.data + ev.len > chunk + chunk_len))
					fuzz_fail("DATA points outside the input");
				if (ev.opcode != WS_OP_TEXT && ev.opcode != WS_OP_BINARY)
					fuzz_fail("DATA of a message that is neither text nor binary");
			} else if (ev.type == WS_EV_CONTROL) {
				if (ev.len > WS_MAX_CONTROL)
					fuzz_fail("a control frame longer than 125 bytes");
			}
			/* An empty data or control frame may take no payload bytes,
			 * but its header was consumed: progress either way. */
			if (left > before)
				fuzz_fail("the parser gave input back");
		}
		free(chunk);
	}
	free(stream);
}

static void response_head(struct fuzz_input *input)
{
	size_t len;
	char *head = (char *)fuzz_rest(input, &len);
	size_t head_len = http_head_length((const uint8_t *)head, len);
	if (head_len > len)
		fuzz_fail("head length beyond the input");
	size_t use = head_len ? head_len : len;
	(void)http_head_status(head, use);
	static const char *const names[] = { "Upgrade", "Connection", "Sec-WebSocket-Accept",
					     "Sec-WebSocket-Protocol", "Content-Length" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *v;
		size_t v_len;
		if (http_head_header(head, use, names[i], &v, &v_len) &&
		    (v < head || v + v_len > head + use))
			fuzz_fail("a header value outside the head");
	}
	int status = 0;
	char err[160];
	err[0] = '\0';
	enum ws_upgrade_result r =
		ws_upgrade_check(head, use, KEY, SUBPROTOCOL_V2, &status, err, sizeof(err));
	if (r == WS_UPGRADE_INVALID && !err[0])
		fuzz_fail("an invalid upgrade without a reason");
	if (r == WS_UPGRADE_OK && status != 101)
		fuzz_fail("an upgrade accepted without 101");
	free(head);
}

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

static void request_build(struct fuzz_input *input)
{
	char *f[5];
	for (size_t i = 0; i < 5; i++) {
		f[i] = fuzz_line(input);
		if (!f[i])
			f[i] = calloc(1, 1);
		if (!f[i])
			fuzz_fail("out of memory");
	}
	struct ws_request r = { .host = f[0], .path = f[1], .subprotocol = f[2], .key = KEY,
				.access_token = f[3], .client_token = f[4] };
	char out[TUNNEL_MAX_HTTP_REQUEST];
	size_t n = ws_request_build(&r, out, sizeof(out));
	if (n) {
		if (http_head_length((const uint8_t *)out, n) != n)
			fuzz_fail("a built request is not exactly one HTTP head");
		const char *v;
		size_t v_len, tok_len = strlen(f[3]);
		bool plain = tok_len && !blank(f[3][0]) && !blank(f[3][tok_len - 1]);
		if (plain && (!http_head_header(out, n, "access-token", &v, &v_len) ||
			      v_len != tok_len || memcmp(v, f[3], tok_len)))
			fuzz_fail("the access-token header does not read back");
	}
	for (size_t i = 0; i < 5; i++)
		free(f[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input input = { data, size };
	switch (fuzz_byte(&input) % 3) {
	case 0: server_frames(&input); break;
	case 1: response_head(&input); break;
	default: request_build(&input); break;
	}
	return 0;
}
