/* The relay's handshake admission (relay/admit.c) against a registry of two
 * tunnels, built afresh for every input.
 *
 * Input: an HTTP upgrade request head, as a client sends it. The harness
 * takes from it what the relay's server takes (path and local-proxy-mode
 * from the request line, Sec-WebSocket-Protocol, access-token and
 * client-token headers) with the codec's header lookup, each field in its
 * own exact-size allocation (token lengths as found, not NUL-terminated).
 * Checked: an admitted request names a tunnel, a side and a subprotocol; a
 * refusal has a reason and a 4xx status; after admit_commit the same request
 * is admitted again exactly when it carries a client token (a reconnect). */
#include <stdlib.h>
#include <string.h>

#include "proto/ws_codec.h"
#include "relay/admit.h"
#include "relay/registry.h"
#include "tests/fuzz/fuzz_input.h"

#define MODE_ARG "local-proxy-mode="

/* A copy of v[0..len) with a NUL after it; NULL when v is NULL. */
static char *field(const char *v, size_t len)
{
	if (!v)
		return NULL;
	char *s = malloc(len + 1);
	if (!s)
		fuzz_fail("out of memory");
	memcpy(s, v, len);
	s[len] = '\0';
	return s;
}

static char *header(const char *head, size_t len, const char *name, size_t *value_len)
{
	const char *v;
	if (!http_head_header(head, len, name, &v, value_len))
		return NULL;
	return (char *)fuzz_copy((const uint8_t *)v, *value_len);
}

static void check(const struct admit_result *res)
{
	if (res->http_status == 0) {
		if (!res->tunnel || !res->subprotocol || res->version < 1 || res->version > 3)
			fuzz_fail("admitted without a tunnel or subprotocol");
	} else if (res->http_status < 400 || res->http_status > 499 || !res->reason || !res->label) {
		fuzz_fail("a refusal without a 4xx status and a reason");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input input = { data, size };
	size_t len;
	char *head = (char *)fuzz_rest(&input, &len);

	/* "GET /tunnel?local-proxy-mode=source HTTP/1.1" */
	const char *line_end = memchr(head, '\r', len);
	size_t line_len = line_end ? (size_t)(line_end - head) : len;
	const char *uri = memchr(head, ' ', line_len);
	char *path = NULL, *mode = NULL;
	if (uri) {
		uri++;
		const char *uri_end = memchr(uri, ' ', line_len - (size_t)(uri - head));
		size_t uri_len = uri_end ? (size_t)(uri_end - uri) : line_len - (size_t)(uri - head);
		const char *q = memchr(uri, '?', uri_len);
		path = field(uri, q ? (size_t)(q - uri) : uri_len);
		if (q) {
			char *query = field(q + 1, uri_len - (size_t)(q + 1 - uri));
			char *m = strstr(query, MODE_ARG);
			if (m) {
				m += strlen(MODE_ARG);
				mode = field(m, strcspn(m, "&"));
			}
			free(query);
		}
	}
	size_t sub_len, tok_len = 0, ct_len = 0;
	char *sub = header(head, len, "Sec-WebSocket-Protocol", &sub_len);
	char *subprotocols = sub ? field(sub, sub_len) : NULL;
	char *token = header(head, len, "access-token", &tok_len);
	char *client = header(head, len, "client-token", &ct_len);

	struct registry reg;
	char err[200];
	const char *services[] = { "SSH", "HTTP" };
	registry_init(&reg);
	if (registry_add(&reg, "tun", services, 2, "source-access-token-aaaaaaaaaaaaaaaa",
			 "destination-access-token-bbbbbbbbbb", err, sizeof(err)) ||
	    registry_add(&reg, "other", services, 1, "other-src-token", "other-dst-token", err,
			 sizeof(err)))
		fuzz_fail("cannot build the registry");

	struct admit_request req = {
		.path = path ? path : "",
		.mode = mode,
		.subprotocols = subprotocols,
		.access_token = token,
		.access_token_len = tok_len,
		.client_token = client,
		.client_token_len = ct_len,
	};
	struct admit_result res = admit_decide(&reg, &req);
	check(&res);
	if (res.http_status == 0) {
		admit_commit(&res, &req);
		struct admit_result again = admit_decide(&reg, &req);
		check(&again);
		bool want = client != NULL;
		if ((again.http_status == 0) != want || (want && !again.reconnect))
			fuzz_fail("a second handshake with the same tokens: wrong verdict");
	}

	registry_free(&reg);
	free(head);
	free(path);
	free(mode);
	free(sub);
	free(subprotocols);
	free(token);
	free(client);
	return 0;
}
