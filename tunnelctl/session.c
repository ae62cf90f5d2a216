/* tunnelctl ssh and forward (see session.h). */
#include "tunnelctl/session.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tunnelctl/http.h"
#include "tunnelctl/render.h"
#include "tunnelctl/request.h"
#include "tunnelctl/session_argv.h"
#include "tunnelctl/url.h"

enum { EXIT_API_ERROR = 1, EXIT_LOCAL = 2, EXIT_UNREACHABLE = 3 };

/* One API call for a copy of a with cmd (and id) replaced: the parsed JSON
 * of a 2xx answer in *root, else the exit status (the error printed). */
static int api_call(const struct tctl_args *a, enum tctl_cmd cmd, const char *id, cJSON **root)
{
	struct tctl_args op = *a;
	op.cmd = cmd;
	op.id = id;
	char err[512];
	struct tctl_request req;
	*root = NULL;
	if (tctl_request_build(&op, &req, err, sizeof(err))) {
		fprintf(stderr, "tunnelctl: %s\n", err);
		return EXIT_LOCAL;
	}
	struct http_request hreq = {
		.method = req.method, .url = req.url, .api_key = a->key, .ca_file = a->ca,
		.body = req.body, .verbose = a->verbose,
	};
	struct http_response resp;
	int rc = 0;
	if (http_perform(&hreq, &resp, err, sizeof(err))) {
		fprintf(stderr, "tunnelctl: %s\n", err);
		rc = EXIT_UNREACHABLE;
	} else {
		if (resp.status / 100 != 2) {
			render_error(resp.status, resp.body, resp.len, stderr);
			rc = EXIT_API_ERROR;
		} else if (!(*root = cJSON_ParseWithLength(resp.body, resp.len))) {
			fprintf(stderr, "tunnelctl: HTTP %ld: the response is not JSON\n", resp.status);
			rc = EXIT_UNREACHABLE;
		}
		if (resp.body)
			tctl_wipe(resp.body); /* it may hold tokens */
		http_response_free(&resp);
	}
	tctl_request_free(&req);
	return rc;
}

static const char *json_str(const cJSON *obj, const char *key)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* Opens the tunnel: its id (malloc'd) and source token (malloc'd). */
static int open_tunnel(const struct tctl_args *a, char **id, char **token)
{
	cJSON *root;
	int rc = api_call(a, CMD_OPEN, NULL, &root);
	if (rc)
		return rc;
	const char *tid = json_str(root, "tunnelId"), *tok = json_str(root, "sourceAccessToken");
	*id = tid ? strdup(tid) : NULL;
	*token = tok ? strdup(tok) : NULL;
	if (tok)
		tctl_wipe(cJSON_GetObjectItemCaseSensitive(root, "sourceAccessToken")->valuestring);
	cJSON_Delete(root);
	if (!*id || !*token) {
		fprintf(stderr, "tunnelctl: the open answer has no %s\n", tid ? "source token" : "tunnel id");
		return EXIT_UNREACHABLE;
	}
	return 0;
}

/* Waits until the device's side is connected: a source that starts a
 * connection before that is refused by the relay. */
static int wait_for_device(const struct tctl_args *a, const char *id)
{
	for (int tries = 0; tries < SESSION_JOIN_TIMEOUT_S * 4; tries++) {
		cJSON *root;
		int rc = api_call(a, CMD_DESCRIBE, id, &root);
		if (rc)
			return rc;
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "tunnel");
		const cJSON *state = cJSON_GetObjectItemCaseSensitive(d ? d : root, "destinationConnectionState");
		const char *status = json_str(state, "status");
		bool up = status && !strcmp(status, "CONNECTED");
		cJSON_Delete(root);
		if (up)
			return 0;
		struct timespec quarter = { 0, 250 * 1000 * 1000 };
		nanosleep(&quarter, NULL);
	}
	fprintf(stderr, "tunnelctl: the device %s did not join the tunnel within %d s "
			"(is its agent running and connected?)\n", a->thing, SESSION_JOIN_TIMEOUT_S);
	return EXIT_API_ERROR;
}

static void close_tunnel(const struct tctl_args *a, const char *id)
{
	cJSON *root;
	if (api_call(a, CMD_CLOSE, id, &root) == 0)
		fprintf(stderr, "tunnelctl: closed tunnel %s\n", id);
	else
		fprintf(stderr, "tunnelctl: could not close tunnel %s; close it with "
				"'tunnelctl close %s'\n", id, id);
	cJSON_Delete(root);
}

/* localproxy next to our own executable (an install or build directory
 * holds both), else whichever PATH finds. */
static void find_localproxy(char *out, size_t cap)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			if ((size_t)snprintf(out, cap, "%s/localproxy", self) < cap && access(out, X_OK) == 0)
				return;
		}
	}
	snprintf(out, cap, "localproxy");
}

/* A free local port for forward (bound and released: localproxy takes it
 * a moment later). */
static int free_port(bool udp)
{
	int fd = socket(AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int port = -1;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* Runs argv with the token in its environment (and no API key), until it
 * exits. stop_on_int: Ctrl-C and SIGTERM stop the child (forward); else
 * Ctrl-C is the child's alone (ssh reads it from the terminal) and SIGTERM
 * is passed on. token_env: a variable that held the token, not passed on. Returns the child's exit status (128+N for signal N). */
static int run_child(char *const *argv, const char *token, const char *token_env, bool stop_on_int)
{
	sigset_t mask, old;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGQUIT);
	sigaddset(&mask, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &mask, &old)) {
		perror("tunnelctl: sigprocmask");
		return EXIT_LOCAL;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		/* The child gets the token once, where localproxy reads (and then
		 * wipes) it; the API key not at all. */
		unsetenv(TCTL_ENV_KEY);
		if (token_env)
			unsetenv(token_env);
		if (setenv(TCTL_ENV_TOKEN, token, 1) == 0)
			execvp(argv[0], argv);
		fprintf(stderr, "tunnelctl: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	int status = 0;
	if (pid < 0) {
		perror("tunnelctl: fork");
		status = -1;
	}
	bool stopping = false;
	while (pid > 0) {
		struct timespec second = { 1, 0 };
		int sig = sigtimedwait(&mask, NULL, &second);
		if ((sig == SIGINT && stop_on_int) || sig == SIGTERM) {
			if (!stopping)
				kill(pid, SIGTERM);
			stopping = true;
		}
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid || (w < 0 && errno != EINTR))
			break;
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (status < 0)
		return EXIT_LOCAL;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	if (stopping && stop_on_int)
		return 0;
	return WEXITSTATUS(status);
}

/* Builds the child's command line and runs it. */
static int run_session(const struct tctl_args *a, const char *token)
{
	char endpoint[300], localproxy[PATH_MAX + 16], local[32], err[256];
	const char *ep = a->url && url_endpoint(a->url, endpoint, sizeof(endpoint)) == 0 ? endpoint : NULL;
	find_localproxy(localproxy, sizeof(localproxy));
	struct session_argv argv;
	int rc;
	if (a->cmd == CMD_SSH) {
		rc = session_ssh_argv(a, localproxy, ep, &argv, err, sizeof(err));
	} else {
		const char *where = a->local;
		if (!where) {
			int port = free_port(false);
			if (port < 0) {
				fprintf(stderr, "tunnelctl: no free local port: %s\n", strerror(errno));
				return EXIT_LOCAL;
			}
			snprintf(local, sizeof(local), "%d", port);
			where = local;
		}
		rc = session_forward_argv(a, localproxy, ep, where, &argv, err, sizeof(err));
		if (rc == 0)
			printf("Forwarding %s of %s on %s%s (Ctrl-C to stop)\n", a->services[0], a->thing,
			       strchr(where, ':') ? "" : "localhost:", where);
	}
	if (rc) {
		fprintf(stderr, "tunnelctl: %s\n", err);
		return EXIT_LOCAL;
	}
	rc = run_child(argv.v, token, a->token_env, a->cmd == CMD_FORWARD);
	session_argv_free(&argv);
	return rc;
}

int session_run(const struct tctl_args *a)
{
	char *token = NULL, *id = NULL;
	char err[512];
	int rc;
	if (a->token_env) {
		const char *t = getenv(a->token_env);
		if (!t || !*t) {
			fprintf(stderr, "tunnelctl: --token-env %s: the variable is not set\n", a->token_env);
			return EXIT_LOCAL;
		}
		token = strdup(t);
		if (!token) {
			fputs("tunnelctl: out of memory\n", stderr);
			return EXIT_LOCAL;
		}
		rc = run_session(a, token);
	} else {
		if (http_global_init(err, sizeof(err))) {
			fprintf(stderr, "tunnelctl: %s\n", err);
			return EXIT_UNREACHABLE;
		}
		rc = open_tunnel(a, &id, &token);
		if (rc == 0) {
			fprintf(stderr, "tunnelctl: opened tunnel %s to %s; waiting for the device\n", id, a->thing);
			rc = wait_for_device(a, id);
			if (rc == 0)
				rc = run_session(a, token);
		}
		if (id)
			close_tunnel(a, id);
		http_global_cleanup();
	}
	if (token) {
		tctl_wipe(token);
		free(token);
	}
	free(id);
	return rc;
}
