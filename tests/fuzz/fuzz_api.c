/* The management API's request handling (relay/api.c api_handle), with no
 * store, no server hooks and a registry of one tunnel, built afresh for
 * every input.
 *
 * Input: lines method, path, query, Authorization, then the body (the rest,
 * not NUL-terminated). A missing line is an absent field (the query and
 * the Authorization header may be absent; method and path become "").
 * Checked: every answer has a status from 200 to 599 and a JSON body. */
#include <stdlib.h>
#include <string.h>

#include "relay/api.h"
#include "relay/registry.h"
#include "tests/fuzz/fuzz_input.h"

#define API_KEY "fuzz-api-key-0123456789"

/* Thin on purpose: the only place that knows api_env's layout. */
static void handle(struct registry *reg, const struct api_request *req, struct api_response *res)
{
	struct api_env env = {
		.registry = reg,
		.api_key = API_KEY,
		.now = 1795000000,
	};
	api_handle(&env, req, res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input input = { data, size };
	char *method = fuzz_line(&input), *path = fuzz_line(&input);
	char *query = fuzz_line(&input), *auth = fuzz_line(&input);
	size_t body_len;
	char *body = (char *)fuzz_rest(&input, &body_len);

	struct registry reg;
	char err[200];
	const char *services[] = { "SSH" };
	registry_init(&reg);
	if (registry_add(&reg, "tun", services, 1, "source-access-token-aaaaaaaaaaaaaaaa",
			 "destination-access-token-bbbbbbbbbb", err, sizeof(err)))
		fuzz_fail("cannot build the registry");

	struct api_request req = {
		.method = method ? method : "",
		.path = path ? path : "",
		.query = query,
		.authorization = auth,
		.body = body,
		.body_len = body_len,
	};
	struct api_response res;
	handle(&reg, &req, &res);
	if (res.status < 200 || res.status > 599 || !res.body || res.body[0] != '{')
		fuzz_fail("an answer without a status or a JSON body");
	if (memchr(res.log_line, '\0', sizeof(res.log_line)) == NULL)
		fuzz_fail("the log line is not terminated");
	if (res.notify && !res.notify_tunnel)
		fuzz_fail("a notification without a tunnel");
	api_response_free(&res);

	registry_free(&reg);
	free(method);
	free(path);
	free(query);
	free(auth);
	free(body);
	return 0;
}
