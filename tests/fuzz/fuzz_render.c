/* tunnelctl's rendering of the API's answers (tunnelctl/render.c).
 *
 * Input: a command byte (cmd = byte % 6, or things with bit 4, listing all
 * unless bit 5; bit 7: --json), a status byte
 * (an index into the statuses below), then the body (the rest, not
 * NUL-terminated). Output goes to memory streams. Checked: render_error
 * writes exactly one line that starts "tunnelctl: HTTP "; the exit status
 * is 0 or 1, and 1 for every status outside 2xx. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz_input.h"
#include "tunnelctl/cli.h"
#include "tunnelctl/render.h"

static const long statuses[] = { 200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 500, 502 };

static void one_line(const char *text, size_t len)
{
	static const char start[] = "tunnelctl: HTTP ";
	if (len == 0 || text[len - 1] != '\n' || memchr(text, '\n', len) != text + len - 1 ||
	    strncmp(text, start, sizeof(start) - 1))
		fuzz_fail("render_error did not write one error line");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input input = { data, size };
	uint8_t cmd = fuzz_byte(&input);
	long status = statuses[fuzz_byte(&input) % (sizeof(statuses) / sizeof(statuses[0]))];
	size_t len;
	char *body = (char *)fuzz_rest(&input, &len);

	bool things = (cmd & 0x10) != 0;
	struct tctl_args a = {
		.cmd = things ? CMD_THINGS : (enum tctl_cmd)(cmd % 6),
		.json = (cmd & 0x80) != 0,
		.url = "https://relay.example:8443",
		.ca = (cmd & 0x40) ? "/etc/tunnel relay/ca.pem" : NULL,
		.thing = "nanopi-01",
		.services = { "SSH", "HTTP" },
		.n_services = (cmd & 0x20) ? 2 : 1,
		.id = "tun-1",
		.mode = "ALL",
	};
	if (things && !(cmd & 0x20))
		a.thing = NULL; /* tunnelctl things: the list */
	char *out_text = NULL, *err_text = NULL;
	size_t out_len = 0, err_len = 0;
	FILE *out = open_memstream(&out_text, &out_len);
	FILE *err = open_memstream(&err_text, &err_len);
	if (!out || !err)
		fuzz_fail("out of memory");

	int rc = render_response(&a, status, len ? body : NULL, len, out, err);
	if ((rc != 0 && rc != 1) || ((status < 200 || status > 299) && rc != 1))
		fuzz_fail("a wrong exit status");

	if (fflush(err))
		fuzz_fail("cannot flush");
	size_t before = err_len;
	render_error(status, body, len, err);
	if (fflush(err))
		fuzz_fail("cannot flush");
	one_line(err_text + before, err_len - before);

	fclose(out);
	fclose(err);
	free(out_text);
	free(err_text);
	free(body);
	return 0;
}
