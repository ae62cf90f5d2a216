/* The PROXY protocol header parser (relay/proxy_header.c), fed as the
 * listener feeds it: the bytes received so far, growing chunk by chunk.
 *
 * Input: byte n, n chunk sizes, then the connection's first bytes.
 * Checked: NEED_MORE asks for 1 or more bytes and never past the longest
 * header; DONE names a length within what was given and no longer than the
 * longest header, and parsing exactly those bytes gives the same answer; an
 * address is a NUL-terminated IPv4 or IPv6 address; INVALID has a reason;
 * once DONE or INVALID, more bytes never change the answer. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "relay/proxy_header.h"
#include "tests/fuzz/fuzz_input.h"

static void check_address(const struct proxy_header *h)
{
	uint8_t a[16];
	if (!memchr(h->address, '\0', sizeof(h->address)))
		fuzz_fail("address not terminated");
	if (h->address[0] && inet_pton(AF_INET, h->address, a) != 1 &&
	    inet_pton(AF_INET6, h->address, a) != 1)
		fuzz_fail("address is neither IPv4 nor IPv6");
}

static void check(const uint8_t *buf, size_t len, const struct proxy_header *h)
{
	switch (h->verdict) {
	case PROXY_NEED_MORE:
		if (h->need == 0 || len + h->need > PROXY_HEADER_MAX)
			fuzz_fail("NEED_MORE of nothing, or past the longest header");
		break;
	case PROXY_DONE: {
		if (h->length == 0 || h->length > len || h->length > PROXY_HEADER_MAX)
			fuzz_fail("DONE with a length outside the input");
		check_address(h);
		uint8_t *exact = fuzz_copy(buf, h->length);
		struct proxy_header again;
		proxy_header_parse(exact, h->length, &again);
		free(exact);
		if (again.verdict != PROXY_DONE || again.length != h->length ||
		    strcmp(again.address, h->address) || again.port != h->port)
			fuzz_fail("the header alone parses differently");
		break;
	}
	case PROXY_INVALID:
		if (!h->why || !h->why[0])
			fuzz_fail("INVALID without a reason");
		break;
	default:
		fuzz_fail("unknown verdict");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input input = {data, size};
	uint8_t sizes[FUZZ_MAX_SIZES];
	size_t n_sizes = fuzz_sizes(&input, sizes);
	size_t len;
	uint8_t *stream = fuzz_rest(&input, &len);
	struct proxy_header first = { .verdict = PROXY_NEED_MORE };
	for (size_t have = 0, k = 0;;) {
		uint8_t *seen = fuzz_copy(stream, have);
		struct proxy_header h;
		proxy_header_parse(seen, have, &h);
		check(seen, have, &h);
		free(seen);
		if (first.verdict != PROXY_NEED_MORE) {
			if (h.verdict != first.verdict ||
			    (h.verdict == PROXY_DONE && (h.length != first.length ||
							 strcmp(h.address, first.address))))
				fuzz_fail("more bytes changed a final answer");
		} else {
			first = h;
		}
		if (have == len)
			break;
		size_t step = n_sizes ? (size_t)sizes[k++ % n_sizes] + 1 : len - have;
		have = step > len - have ? len : have + step;
	}
	free(stream);
	return 0;
}
