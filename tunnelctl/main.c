/* tunnelctl: operator CLI for the tunnel relay's management API.
 * Parse the command line, send one request, render the answer; or, for
 * ssh and forward, run a whole session (tunnelctl/session.c). */
#include <stdio.h>
#include <stdlib.h>

#include "tunnelctl/cli.h"
#include "tunnelctl/http.h"
#include "tunnelctl/render.h"
#include "tunnelctl/request.h"
#include "tunnelctl/session.h"

enum { EXIT_OK = 0, EXIT_SERVER_ERROR = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

static int run(const struct tctl_args *a)
{
	char err[512];
	struct tctl_request req;
	if (tctl_request_build(a, &req, err, sizeof(err))) {
		fprintf(stderr, "tunnelctl: %s\n", err);
		return EXIT_UNREACHABLE;
	}
	if (http_global_init(err, sizeof(err))) {
		fprintf(stderr, "tunnelctl: %s\n", err);
		tctl_request_free(&req);
		return EXIT_UNREACHABLE;
	}
	struct http_request hreq = {
		.method = req.method, .url = req.url, .api_key = a->key, .ca_file = a->ca,
		.body = req.body, .verbose = a->verbose,
	};
	struct http_response resp;
	int rc;
	if (http_perform(&hreq, &resp, err, sizeof(err))) {
		fprintf(stderr, "tunnelctl: %s\n", err);
		rc = EXIT_UNREACHABLE;
	} else {
		if (a->verbose)
			fprintf(stderr, "tunnelctl: %s %s: HTTP %ld, %zu bytes\n", req.method, req.url,
				resp.status, resp.len);
		rc = render_response(a, resp.status, resp.body, resp.len, stdout, stderr);
		http_response_free(&resp);
	}
	http_global_cleanup();
	tctl_request_free(&req);
	return rc;
}

int main(int argc, char **argv)
{
	struct tctl_args a;
	char err[512];
	int rc = tctl_parse(argc, argv, &a, err, sizeof(err));
	if (rc) {
		const char *cmd = tctl_cmd_name(a.cmd);
		fprintf(stderr, "tunnelctl: %s\nTry 'tunnelctl %s%s--help'.\n", err, cmd,
			*cmd ? " " : "");
		tctl_args_free(&a);
		return EXIT_USAGE;
	}
	if (a.help) {
		tctl_usage(a.cmd, stdout);
		tctl_args_free(&a);
		return EXIT_OK;
	}
	if (a.key_on_command_line)
		fputs("tunnelctl: warning: an API key on the command line is visible to other users "
		      "(ps, shell history); set " TCTL_ENV_KEY " instead\n", stderr);
	rc = a.cmd == CMD_SSH || a.cmd == CMD_FORWARD ? session_run(&a) : run(&a);
	if (fflush(stdout) != 0 && rc == EXIT_OK) {
		perror("tunnelctl: stdout");
		rc = EXIT_SERVER_ERROR;
	}
	tctl_args_free(&a);
	return rc;
}
