#include "relay/terminals.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "common/bytequeue.h"
#include "common/log.h"
#include "common/term_frame.h"
#include "relay/api.h"
#include "relay/audit.h"
#include "relay/host_keys.h"
#include "relay/http_api.h"
#include "relay/http_router.h"
#include "relay/terminal.h"
#include "relay/terminal_helper.h"

/* How long a terminal's tunnel waits for the browser's WebSocket. */
#define SOCKET_WAIT_S 60
/* How long the socket waits for the device's end of the tunnel, and how
 * often it looks. */
#define DEVICE_WAIT_S 30
#define DEVICE_POLL_US (100 * LWS_US_PER_MS)
/* How long a helper told to stop may take before it is killed. */
#define KILL_AFTER_S 3
/* Bytes queued for the browser above which the helper's output is not read. */
#define TO_BROWSER_HIGH (256u * 1024u)

struct terminal {
	struct terminals *ts;
	struct terminal *next;
	char id[TERMINAL_ID_LEN + 1];
	struct console_identity who;
	char thing[REGISTRY_MAX_THING + 1];
	char service[TUNNEL_MAX_SERVICE_ID + 1];
	char tunnel_id[REGISTRY_MAX_ID + 1];
	/* The tunnel's source token, from its opening until it is handed to
	 * the helper (or the terminal closes): wiped then. */
	char token[API_TOKEN_LEN + 1];
	enum terminal_state state;
	int64_t since;                /* when the state began */
	struct http_request *req;     /* the POST that waits for the tunnel */
	/* The tunnel's open and close in flight. Two handles: a call clears
	 * its own when it ends, after its callback, which may start the other. */
	struct api_call *open_call, *close_call;
	bool finished;                /* all done: freed on the next tick */
	bool tunnel_open;             /* opened, its close not asked yet */
	/* The browser's WebSocket (NULL: not yet, or gone). */
	struct lws *wsi;
	struct terminal **slot;
	bool claimed;                 /* an upgrade took it (one socket per terminal) */
	bool close_socket;            /* close the socket once its queue is sent */
	char close_reason[120];
	int cols, rows;
	struct terminal_helper *helper;
	bool helper_exited, output_ended;
	int exit_status;
	int64_t kill_at;              /* SIGKILL then, if it has not exited */
	struct term_frame_decoder from_helper;
	/* Helper frames for the browser, as they came ([type][u32][payload]). */
	struct bytequeue to_browser;
	bool output_paused;
	bool opening;                 /* the open call has not answered yet */
	lws_sorted_usec_list_t device_poll; /* WAITING_DEVICE: look again soon */
	bool told_waiting;            /* the browser knows it waits for the device */
	bool started;                 /* the helper ran: terminal.start was audited */
	struct terminal_hostkey_watch keys;
	char end_detail[160];         /* terminal.end's detail */
};

struct terminals {
	struct terminal_options opt;
	struct terminals_deps deps;
	struct terminal *list;
	/* The upgrade confirmed and not yet established (lws runs both
	 * within one service call, one connection at a time). */
	struct lws *pending_wsi;
	struct terminal *pending;
};

static void maybe_finish(struct terminal *t);
static void begin_close(struct terminal *t, const char *reason);
static void close_tunnel(struct terminal *t);
static void check_device(struct terminal *t);

struct terminals *terminals_new(const struct terminal_options *opt, const struct terminals_deps *deps)
{
	struct terminals *ts = calloc(1, sizeof(*ts));
	if (!ts)
		return NULL;
	ts->opt = *opt;
	ts->deps = *deps;
	return ts;
}

const struct terminals_deps *terminals_deps(const struct terminals *ts)
{
	return &ts->deps;
}

static void audit(struct terminal *t, const char *action, const char *detail)
{
	struct audit_event ev = {
		.who = t->who.user,
		.role = console_role_name(t->who.role),
		.from = t->who.from,
		.action = action,
		.thing = t->thing,
		.tunnel_id = t->tunnel_id[0] ? t->tunnel_id : NULL,
		.detail = detail,
	};
	audit_record(console_audit(t->ts->deps.console), &ev);
}

static void set_state(struct terminal *t, enum terminal_event ev)
{
	int next = terminal_next(t->state, ev);
	if (next < 0) {
		log_error("terminal %s: event %d in state %s: ignored", t->id, (int)ev,
			  terminal_state_name(t->state));
		return;
	}
	if ((enum terminal_state)next != t->state)
		t->since = time(NULL);
	t->state = (enum terminal_state)next;
}

static void wipe_token(struct terminal *t)
{
	OPENSSL_cleanse(t->token, sizeof(t->token));
}

static void free_terminal(struct terminal *t)
{
	if (t->ts->pending == t) {
		t->ts->pending = NULL;
		t->ts->pending_wsi = NULL;
	}
	if (t->slot)
		*t->slot = NULL;
	lws_sul_cancel(&t->device_poll);
	http_api_cancel(t->ts->deps.api, t->open_call);
	http_api_cancel(t->ts->deps.api, t->close_call);
	terminal_helper_free(t->helper);
	wipe_token(t);
	bytequeue_free(&t->to_browser);
	free(t);
}

/* Ends the terminal: the helper is told to stop, the socket to close once
 * its queue is sent, the tunnel to close. Again later: only what is left. */
static void begin_close(struct terminal *t, const char *reason)
{
	if (t->state != TERMINAL_CLOSING && t->state != TERMINAL_CLOSED) {
		set_state(t, TERMINAL_EV_CLOSE);
		if (!t->end_detail[0])
			snprintf(t->end_detail, sizeof(t->end_detail), "%s", reason);
		log_info("terminal %s: closing: %s", t->id, reason);
	}
	wipe_token(t);
	if (t->helper && !t->helper_exited && !t->kill_at) {
		terminal_helper_stop(t->helper, SIGTERM);
		t->kill_at = time(NULL) + KILL_AFTER_S;
	}
	if (t->wsi && !t->close_socket) {
		t->close_socket = true;
		snprintf(t->close_reason, sizeof(t->close_reason), "%s", reason);
		lws_callback_on_writable(t->wsi);
	}
	close_tunnel(t);
	maybe_finish(t);
}

/* Once the socket, the helper and the tunnel are all done: CLOSED, and
 * freed on the next tick (this may run inside an API call's callback,
 * which still uses the terminal's handle when it returns). */
static void maybe_finish(struct terminal *t)
{
	if (t->state != TERMINAL_CLOSING || t->wsi || t->opening || t->tunnel_open || t->req ||
	    (t->helper && (!t->helper_exited || !t->output_ended)))
		return;
	set_state(t, TERMINAL_EV_ALL_DONE);
	if (t->started)
		audit(t, "terminal.end", t->end_detail);
	log_info("terminal %s: closed (%s)", t->id, t->end_detail);
	t->finished = true;
}

/* ---- the tunnel ------------------------------------------------------------ */

/* A JSON body of /api/v1 for http_api_run. */
static int run_call(struct terminal *t, const char *method, const char *path, const char *body,
		    http_api_done_fn done, struct api_call **handle)
{
	struct api_request areq = {
		.method = method,
		.path = path,
		.trusted = true,
		.body = body,
		.body_len = body ? strlen(body) : 0,
	};
	return http_api_run(t->ts->deps.api, &areq, done, t, handle);
}

static void on_tunnel_closed(void *arg, const struct api_response *res)
{
	struct terminal *t = arg;
	if (res->status != 200)
		log_warn("terminal %s: closing tunnel %s: HTTP %d", t->id, t->tunnel_id, res->status);
	t->tunnel_open = false;
	maybe_finish(t);
}

static void close_tunnel(struct terminal *t)
{
	if (!t->tunnel_open || t->close_call)
		return;
	char path[sizeof("/api/v1/tunnels/") + REGISTRY_MAX_ID];
	snprintf(path, sizeof(path), "/api/v1/tunnels/%s", t->tunnel_id);
	if (run_call(t, "DELETE", path, NULL, on_tunnel_closed, &t->close_call)) {
		log_error("terminal %s: cannot close tunnel %s: out of memory (it expires later)",
			  t->id, t->tunnel_id);
		t->tunnel_open = false;
	}
}

/* The API's refusal of an open, worded for a person. */
static void refuse_open(struct terminal *t, const struct api_response *res)
{
	char msg[300];
	cJSON *root = res->body ? cJSON_Parse(res->body) : NULL;
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
	const char *why = cJSON_IsString(m) ? m->valuestring : "the tunnel could not be opened";
	if (res->status == 429)
		snprintf(msg, sizeof(msg), "%s cannot get another tunnel: %s; close one first",
			 t->thing, why);
	else
		snprintf(msg, sizeof(msg), "cannot open a tunnel to %s: %s", t->thing, why);
	cJSON_Delete(root);
	int status = res->status >= 400 && res->status < 600 ? res->status : 500;
	console_respond_error(t->req, status, msg);
	t->req = NULL;
}

/* Reads tunnelId and sourceAccessToken from the open's answer. */
static int take_tunnel(struct terminal *t, const struct api_response *res)
{
	cJSON *root = res->body ? cJSON_Parse(res->body) : NULL;
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "tunnelId");
	const cJSON *tok = cJSON_GetObjectItemCaseSensitive(root, "sourceAccessToken");
	int rc = -1;
	if (cJSON_IsString(id) && cJSON_IsString(tok) && strlen(id->valuestring) <= REGISTRY_MAX_ID &&
	    strlen(tok->valuestring) <= API_TOKEN_LEN) {
		strcpy(t->tunnel_id, id->valuestring);
		strcpy(t->token, tok->valuestring);
		rc = 0;
	}
	api_delete_wiped(root);
	return rc;
}

static void on_tunnel_opened(void *arg, const struct api_response *res)
{
	struct terminal *t = arg;
	t->opening = false;
	bool opened = res->status == 201 && take_tunnel(t, res) == 0;
	if (!opened) {
		log_warn("terminal %s: opening a tunnel to %s: HTTP %d", t->id, t->thing, res->status);
		if (t->req)
			refuse_open(t, res);
		set_state(t, TERMINAL_EV_TUNNEL_FAILED);
		snprintf(t->end_detail, sizeof(t->end_detail), "tunnel not opened (HTTP %d)",
			 res->status);
		maybe_finish(t);
		return;
	}
	t->tunnel_open = true;
	set_state(t, TERMINAL_EV_TUNNEL_OPENED);
	if (t->state == TERMINAL_CLOSING || !t->req) {
		/* Closed meanwhile, or nobody is there to use it. */
		if (t->req) {
			console_respond_error(t->req, 503, "the relay is stopping");
			t->req = NULL;
		}
		begin_close(t, "nobody waits for it");
		return;
	}
	char body[128 + TERMINAL_ID_LEN + REGISTRY_MAX_ID];
	snprintf(body, sizeof(body), "{\"terminalId\":\"%s\",\"tunnelId\":\"%s\"}", t->id,
		 t->tunnel_id);
	console_respond_json(t->req, 200, body);
	t->req = NULL;
	log_info("terminal %s: %s opened tunnel %s to %s (%s); waiting for the browser", t->id,
		 t->who.user, t->tunnel_id, t->thing, t->service);
}

void terminals_open(struct terminals *ts, const struct console_identity *who, const char *thing,
		    const char *service, struct http_request *req)
{
	struct terminal *t = calloc(1, sizeof(*t));
	uint8_t rnd[TERMINAL_ID_LEN / 2];
	if (!t || RAND_bytes(rnd, sizeof(rnd)) != 1) {
		free(t);
		console_respond_error(req, 503, "out of memory or randomness");
		return;
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(t->id + 2 * i, 3, "%02x", rnd[i]);
	t->ts = ts;
	t->who = *who;
	snprintf(t->thing, sizeof(t->thing), "%s", thing);
	snprintf(t->service, sizeof(t->service), "%s", service);
	t->state = TERMINAL_OPENING_TUNNEL;
	t->since = time(NULL);
	t->req = req;
	t->cols = 80;
	t->rows = 24;
	bytequeue_init(&t->to_browser, LWS_PRE);
	term_frame_decoder_init(&t->from_helper);
	t->next = ts->list;
	ts->list = t;

	cJSON *root = cJSON_CreateObject();
	char desc[sizeof(TERMINAL_DESCRIPTION_PREFIX) + sizeof(who->user)];
	snprintf(desc, sizeof(desc), TERMINAL_DESCRIPTION_PREFIX "%s", who->user);
	cJSON *dest = cJSON_AddObjectToObject(root, "destinationConfig");
	cJSON *services = cJSON_AddArrayToObject(dest, "services");
	cJSON *timeout = cJSON_AddObjectToObject(root, "timeoutConfig");
	char *body = NULL;
	if (services && timeout && cJSON_AddStringToObject(root, "description", desc) &&
	    cJSON_AddStringToObject(dest, "thingName", thing) &&
	    cJSON_AddItemToArray(services, cJSON_CreateString(service)) &&
	    cJSON_AddNumberToObject(timeout, "maxLifetimeTimeoutMinutes", ts->opt.lifetime_minutes))
		body = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	t->opening = true;
	int rc = body ? run_call(t, "POST", "/api/v1/tunnels", body, on_tunnel_opened, &t->open_call)
		      : -1;
	free(body);
	if (rc) {
		t->req = NULL;
		t->opening = false;
		console_respond_error(req, 503, "out of memory");
		set_state(t, TERMINAL_EV_TUNNEL_FAILED);
		maybe_finish(t);
	}
}

void terminals_request_gone(struct terminals *ts, struct http_request *req)
{
	for (struct terminal *t = ts->list; t; t = t->next)
		if (t->req == req)
			t->req = NULL; /* its tunnel is closed once opened */
}

int terminals_close(struct terminals *ts, const struct console_identity *who, const char *id)
{
	for (struct terminal *t = ts->list; t; t = t->next) {
		if (strcmp(t->id, id))
			continue;
		if (strcmp(t->who.user, who->user) && who->role != CONSOLE_ADMIN)
			return 404;
		snprintf(t->end_detail, sizeof(t->end_detail), "closed by %s", who->user);
		begin_close(t, "closed from the console");
		return 0;
	}
	return 404;
}

static void ignore_answer(void *arg, const struct api_response *res)
{
	(void)arg;
	(void)res;
}

size_t terminals_close_orphans(struct terminals *ts)
{
	/* The calls end on their own; nothing waits for their answer. */
	static struct api_call *unwatched;
	const struct registry *r = ts->deps.registry;
	size_t n = 0;
	for (size_t i = 0; i < r->n; i++) {
		const struct registry_tunnel *tun = r->tunnels[i];
		if (tun->closed_at || tun->deleted ||
		    strncmp(tun->description, TERMINAL_DESCRIPTION_PREFIX,
			    sizeof(TERMINAL_DESCRIPTION_PREFIX) - 1))
			continue;
		char path[sizeof("/api/v1/tunnels/") + REGISTRY_MAX_ID];
		snprintf(path, sizeof(path), "/api/v1/tunnels/%s", tun->id);
		struct api_request areq = { .method = "DELETE", .path = path, .trusted = true };
		log_info("tunnel %s: a browser terminal's, left open when the relay stopped; closing it",
			 tun->id);
		if (http_api_run(ts->deps.api, &areq, ignore_answer, NULL, &unwatched))
			log_error("tunnel %s: cannot close it: out of memory", tun->id);
		else
			n++;
	}
	return n;
}

/* ---- the helper ------------------------------------------------------------ */

/* The helper's output and exit are both in: the terminal ends. */
static void helper_done(struct terminal *t)
{
	if (!t->helper_exited || !t->output_ended)
		return;
	char why[80];
	int st = t->exit_status;
	if (WIFEXITED(st))
		snprintf(why, sizeof(why), "exit status %d", WEXITSTATUS(st));
	else
		snprintf(why, sizeof(why), "killed by signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	/* terminal.end says why it ended and, when that was not the helper's
	 * own end, how the helper took it. */
	size_t n = strlen(t->end_detail);
	snprintf(t->end_detail + n, sizeof(t->end_detail) - n, "%s%s", n ? "; helper " : "", why);
	begin_close(t, why);
}

/* A frame for the browser, in the pipe's form (sent as [type][payload]). */
static void to_browser(struct terminal *t, uint8_t type, const uint8_t *payload, size_t len)
{
	if (!t->wsi || t->close_socket)
		return; /* nobody to show it to */
	uint8_t header[TERM_FRAME_HEADER];
	if (term_frame_header(header, type, len) ||
	    bytequeue_append(&t->to_browser, header, sizeof(header)) ||
	    bytequeue_append(&t->to_browser, payload, len)) {
		begin_close(t, "out of memory");
		return;
	}
	lws_callback_on_writable(t->wsi);
}

static void helper_frame(struct terminal *t, uint8_t type, const uint8_t *payload, size_t len)
{
	if (!terminal_helper_may_send(type)) {
		log_error("terminal %s: the helper sent a '%c' frame, which only the browser may send; "
			  "stopping it", t->id, type);
		begin_close(t, "the terminal helper broke the protocol");
		return;
	}
	if (terminal_hostkey_from_helper(&t->keys, type, payload, len) == TERMINAL_HOSTKEY_REFUSED) {
		log_warn("terminal %s: %s showed another SSH host key than the one remembered; refused",
			 t->id, t->thing);
		audit(t, "hostkey.refused", "the device's host key changed");
	}
	to_browser(t, type, payload, len);
}

static void on_helper_output(void *arg, const uint8_t *data, size_t n)
{
	struct terminal *t = arg;
	while (n && !t->output_ended) {
		size_t used = 0;
		enum term_frame_result r = term_frame_decode(&t->from_helper, data, n, &used);
		data += used;
		n -= used;
		if (r == TERM_FRAME_READY) {
			helper_frame(t, t->from_helper.type, t->from_helper.payload, t->from_helper.len);
			continue;
		}
		if (r != TERM_FRAME_NEED_MORE) {
			log_error("terminal %s: the helper's output is not frames (%s); stopping it", t->id,
				  r == TERM_FRAME_BAD_TYPE ? "unknown type" : "frame too long");
			begin_close(t, "the terminal helper broke the protocol");
			return;
		}
	}
	if (t->helper && !t->output_paused && bytequeue_len(&t->to_browser) >= TO_BROWSER_HIGH) {
		t->output_paused = true; /* the browser is behind: read on when it caught up */
		terminal_helper_pause_output(t->helper, true);
	}
}

static void on_helper_output_end(void *arg)
{
	struct terminal *t = arg;
	t->output_ended = true;
	helper_done(t);
}

static void on_helper_input_drained(void *arg)
{
	struct terminal *t = arg;
	if (t->wsi)
		lws_rx_flow_control(t->wsi, 1);
}

static void on_helper_exit(void *arg, int status)
{
	struct terminal *t = arg;
	t->helper_exited = true;
	t->exit_status = status;
	log_info("terminal %s: helper %d ended (status 0x%x)", t->id,
		 (int)terminal_helper_pid(t->helper), (unsigned)status);
	helper_done(t);
	maybe_finish(t);
}

/* DIR/THING/YYYYmmddTHHMMSSZ-USER-TERMID.cast (tunnel-term makes the
 * directories, 0700); "" when recordings are off. */
static void recording_path(struct terminal *t, char *out, size_t cap)
{
	out[0] = '\0';
	const char *dir = t->ts->opt.recordings;
	if (!dir)
		return;
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	if (!gmtime_r(&now, &tm) || !strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm))
		snprintf(stamp, sizeof(stamp), "%lld", (long long)now);
	/* Console user names are [A-Za-z0-9._-] (console_user_name_valid), and
	 * the name parses back with relay/recording_name.h. */
	int n = snprintf(out, cap, "%s/%s/%s-%s-%s.cast", dir, t->thing, stamp, t->who.user, t->id);
	if (n < 0 || (size_t)n >= cap)
		out[0] = '\0';
}

static int start_helper(struct terminal *t)
{
	const struct terminal_options *o = &t->ts->opt;
	char record[4096];
	recording_path(t, record, sizeof(record));
	struct terminal_helper_args a = {
		.program = o->helper,
		.relay = o->relay,
		.ca = o->ca,
		.thing = t->thing,
		.service = t->service,
		.localproxy = o->localproxy,
		.known_host_key = host_keys_find(t->ts->deps.host_keys, t->thing),
		.record = record[0] ? record : NULL,
		.cols = t->cols,
		.rows = t->rows,
		.verbose = o->verbose,
		.token = t->token,
	};
	struct terminal_helper_events ev = {
		.output = on_helper_output,
		.output_end = on_helper_output_end,
		.input_drained = on_helper_input_drained,
		.exited = on_helper_exit,
		.arg = t,
		.log_id = t->id,
	};
	char err[256];
	t->helper = terminal_helper_start(t->ts->deps.loop, &a, &ev, err, sizeof(err));
	wipe_token(t); /* in the helper's environment now, or of no use */
	if (!t->helper) {
		log_error("terminal %s: %s", t->id, err);
		return -1;
	}
	t->started = true;
	log_info("terminal %s: helper %d runs for %s on %s (%s)%s", t->id,
		 (int)terminal_helper_pid(t->helper), t->who.user, t->thing, t->service,
		 a.known_host_key ? "; host key known" : "");
	audit(t, "terminal.start", t->service);
	return 0;
}

/* ---- the device's end ------------------------------------------------------ */

static bool device_connected(struct terminal *t)
{
	const struct api_hooks *plane = &t->ts->deps.plane;
	const struct registry_tunnel *tun = registry_find_id(t->ts->deps.registry, t->tunnel_id);
	return tun && plane->side_connected &&
	       plane->side_connected(plane->server, tun, SIDE_DESTINATION);
}

static void on_device_poll(lws_sorted_usec_list_t *sul)
{
	check_device(lws_container_of(sul, struct terminal, device_poll));
}

/* WAITING_DEVICE: the helper starts once the device's agent has connected
 * its end of the tunnel (its MQTT notification may take a moment); until
 * then the socket waits, looking every 100 ms. */
static void check_device(struct terminal *t)
{
	if (t->state != TERMINAL_WAITING_DEVICE)
		return;
	if (device_connected(t)) {
		set_state(t, TERMINAL_EV_DEVICE);
		if (start_helper(t))
			begin_close(t, "the terminal helper could not start");
		return;
	}
	if (time(NULL) - t->since > DEVICE_WAIT_S) {
		begin_close(t, "the device did not connect its end of the tunnel");
		return;
	}
	if (!t->wsi)
		return;
	if (!t->told_waiting) {
		static const char waiting[] = "{\"state\":\"connecting\",\"message\":\"waiting for "
					      "the device to connect its end of the tunnel\"}";
		t->told_waiting = true;
		to_browser(t, 's', (const uint8_t *)waiting, sizeof(waiting) - 1);
	}
	lws_sul_schedule(lws_get_context(t->wsi), 0, &t->device_poll, on_device_poll,
			 DEVICE_POLL_US);
}

/* ---- the WebSocket --------------------------------------------------------- */

static struct terminal *find(struct terminals *ts, const char *id)
{
	for (struct terminal *t = ts->list; t; t = t->next)
		if (!strcmp(t->id, id) && !t->finished)
			return t;
	return NULL;
}

int terminals_claim(struct terminals *ts, struct lws *wsi, const char *id, const char *user,
		    int cols, int rows, const char **why)
{
	struct terminal *t = find(ts, id);
	if (!t || strcmp(t->who.user, user)) {
		*why = "no such terminal of yours";
		return 404;
	}
	if (t->claimed || t->state != TERMINAL_WAITING_SOCKET) {
		*why = "this terminal is already open in another window, or closed";
		return 409;
	}
	t->claimed = true;
	t->cols = cols;
	t->rows = rows;
	ts->pending_wsi = wsi;
	ts->pending = t;
	return 0;
}

struct terminal *terminals_attach(struct terminals *ts, struct lws *wsi, struct terminal **slot)
{
	struct terminal *t = ts->pending;
	if (!t || ts->pending_wsi != wsi)
		return NULL;
	ts->pending = NULL;
	ts->pending_wsi = NULL;
	if (t->state != TERMINAL_WAITING_SOCKET)
		return NULL; /* closed between the upgrade's check and now */
	t->wsi = wsi;
	t->slot = slot;
	*slot = t;
	set_state(t, TERMINAL_EV_SOCKET);
	check_device(t);
	return t;
}

int terminals_browser_message(struct terminal *t, const uint8_t *msg, size_t n)
{
	if (!n || !terminal_browser_may_send(msg[0]) || n - 1 > TERM_FRAME_MAX) {
		log_warn("terminal %s: the browser sent a frame it may not (type 0x%02x, %zu bytes); "
			 "closing", t->id, n ? msg[0] : 0, n);
		static const char reason[] = "frame type not allowed";
		lws_close_reason(t->wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)reason,
				 sizeof(reason) - 1);
		return -1;
	}
	if (t->state != TERMINAL_HELPER_RUNNING || !t->helper || t->helper_exited)
		return 0; /* ending: what it types goes nowhere */
	const char *fp = NULL;
	if (terminal_hostkey_from_browser(&t->keys, msg[0], &fp) == TERMINAL_HOSTKEY_ACCEPTED) {
		log_info("terminal %s: %s accepted the SSH host key %s of %s", t->id, t->who.user, fp,
			 t->thing);
		if (host_keys_remember(t->ts->deps.host_keys, t->thing, fp) == 0)
			audit(t, "hostkey.accept", fp);
	}
	uint8_t header[TERM_FRAME_HEADER];
	if (term_frame_header(header, msg[0], n - 1) ||
	    terminal_helper_write(t->helper, header, sizeof(header)) ||
	    terminal_helper_write(t->helper, msg + 1, n - 1)) {
		begin_close(t, "the terminal helper stopped reading");
		return 0;
	}
	if (terminal_helper_input_queued(t->helper) >= TERMINAL_HELPER_INPUT_HIGH)
		lws_rx_flow_control(t->wsi, 0); /* resumed by on_helper_input_drained */
	return 0;
}

int terminals_writeable(struct terminal *t)
{
	struct bytequeue *q = &t->to_browser;
	if (bytequeue_len(q) >= TERM_FRAME_HEADER) {
		uint8_t *p = bytequeue_peek(q);
		size_t len = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
		/* [type][payload] starts one byte before the payload; the queue
		 * keeps LWS_PRE bytes before p for lws. */
		p[4] = p[0];
		if (lws_write(t->wsi, p + 4, len + 1, LWS_WRITE_BINARY) < (int)(len + 1))
			return -1;
		bytequeue_consume(q, TERM_FRAME_HEADER + len);
	}
	if (t->output_paused && t->helper && bytequeue_len(q) < TO_BROWSER_HIGH / 2) {
		t->output_paused = false;
		terminal_helper_pause_output(t->helper, false);
	}
	if (bytequeue_len(q)) {
		lws_callback_on_writable(t->wsi);
		return 0;
	}
	if (t->close_socket) {
		lws_close_reason(t->wsi, LWS_CLOSE_STATUS_NORMAL, (unsigned char *)t->close_reason,
				 strlen(t->close_reason));
		return -1;
	}
	return 0;
}

void terminals_browser_gone(struct terminal *t)
{
	t->wsi = NULL;
	t->slot = NULL;
	bytequeue_free(&t->to_browser);
	if (t->output_paused && t->helper) {
		/* Nobody to wait for now: read on to the helper's end (dropped). */
		t->output_paused = false;
		terminal_helper_pause_output(t->helper, false);
	}
	begin_close(t, "the browser closed the terminal");
	maybe_finish(t);
}

/* ---- time and the end ------------------------------------------------------ */

void terminals_tick(struct terminals *ts, int64_t now)
{
	if (!ts)
		return;
	struct terminal **p = &ts->list;
	while (*p) {
		struct terminal *t = *p;
		if (t->finished) {
			*p = t->next;
			free_terminal(t);
			continue;
		}
		p = &t->next;
		if (t->state == TERMINAL_WAITING_SOCKET && now - t->since > SOCKET_WAIT_S)
			begin_close(t, "the browser did not connect in time");
		if (t->kill_at && now >= t->kill_at && t->helper && !t->helper_exited) {
			log_warn("terminal %s: helper still running %d s after SIGTERM; killing it",
				 t->id, KILL_AFTER_S);
			terminal_helper_stop(t->helper, SIGKILL);
			t->kill_at = INT64_MAX;
		}
	}
}

void terminals_shutdown(struct terminals *ts)
{
	ts->pending = NULL;
	ts->pending_wsi = NULL;
	for (struct terminal *t = ts->list; t; t = t->next) {
		if (t->slot)
			*t->slot = NULL;
		t->slot = NULL;
		t->wsi = NULL; /* lws closes the sockets next */
		lws_sul_cancel(&t->device_poll); /* the context's timers go with it */
		if (t->helper && !t->helper_exited) {
			terminal_helper_free(t->helper); /* kills and reaps: the relay stops */
			t->helper = NULL;
			if (!t->end_detail[0])
				snprintf(t->end_detail, sizeof(t->end_detail), "the relay stopped");
		}
		begin_close(t, "the relay stopped");
	}
}

void terminals_free(struct terminals *ts)
{
	if (!ts)
		return;
	while (ts->list) {
		struct terminal *t = ts->list;
		ts->list = t->next;
		free_terminal(t);
	}
	free(ts);
}
