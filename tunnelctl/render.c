/* Output of tunnelctl: the server's JSON as tables, key: value lines and
 * ready-to-run commands. Strings from the server are printed with control
 * characters replaced, so a hostile description cannot drive the terminal. */
#include "tunnelctl/render.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tunnelctl/url.h"

/* ---- safe text -------------------------------------------------------- */

/* Length of the control character (C0, DEL, or UTF-8-encoded C1) at s, or 0. */
static size_t control_len(const unsigned char *s)
{
	if (*s < 0x20 || *s == 0x7f)
		return 1;
	if (s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f)
		return 2;
	return 0;
}

static void put_clean(FILE *out, const char *text)
{
	const unsigned char *s = (const unsigned char *)text;
	while (*s) {
		size_t n = control_len(s);
		if (n) {
			fputc('?', out);
			s += n;
		} else {
			fputc(*s++, out);
		}
	}
}

/* Columns that put_clean(text) takes: one per character (not per byte). */
static size_t clean_width(const char *text)
{
	size_t w = 0;
	const unsigned char *s = (const unsigned char *)text;
	while (*s) {
		size_t n = control_len(s);
		if (n) {
			w++;
			s += n;
		} else {
			if ((*s & 0xc0) != 0x80)
				w++;
			s++;
		}
	}
	return w;
}

static void put_padded(FILE *out, const char *text, size_t width)
{
	put_clean(out, text);
	for (size_t w = clean_width(text); w < width; w++)
		fputc(' ', out);
}

/* A shell word: as is when it only has safe characters, else single-quoted. */
static void put_shell_word(FILE *out, const char *text)
{
	bool safe = *text != '\0';
	for (const char *p = text; *p && safe; p++)
		safe = isalnum((unsigned char)*p) || strchr("_@%+=:,./-", *p);
	if (safe) {
		put_clean(out, text);
		return;
	}
	fputc('\'', out);
	for (const char *p = text; *p; p++) {
		if (*p == '\'') {
			fputs("'\\''", out);
		} else {
			char one[2] = {*p, '\0'};
			put_clean(out, one);
		}
	}
	fputc('\'', out);
}

/* ---- JSON access ------------------------------------------------------ */

static const char *get_str(const cJSON *obj, const char *key)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(item) ? item->valuestring : NULL;
}

static const char *or_dash(const char *s)
{
	return s && *s ? s : "-";
}

static void missing(long status, const char *what, FILE *err)
{
	fprintf(err, "tunnelctl: HTTP %ld: the response has no %s\n", status, what);
}

/* ---- errors ----------------------------------------------------------- */

void render_error(long status, const char *body, size_t len, FILE *err)
{
	cJSON *root = body ? cJSON_ParseWithLength(body, len) : NULL;
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
	const char *code = get_str(e, "code"), *message = get_str(e, "message");
	const char *field = get_str(e, "field");

	fprintf(err, "tunnelctl: HTTP %ld", status);
	if (code || message) {
		if (code) {
			fputs(": ", err);
			put_clean(err, code);
		}
		if (message) {
			fputs(": ", err);
			put_clean(err, message);
		}
		if (field && *field) {
			fputs(" (field: ", err);
			put_clean(err, field);
			fputc(')', err);
		}
	} else if (body && len > 0) {
		/* Not our error JSON (a proxy's HTML page...): its first line, short. */
		char start[121];
		/* The body need not be NUL-terminated: look no further than len. */
		size_t n = 0;
		while (n < len && body[n] != '\r' && body[n] != '\n' && body[n] != '\0')
			n++;
		if (n > sizeof(start) - 1)
			n = sizeof(start) - 1;
		memcpy(start, body, n);
		start[n] = '\0';
		fputs(": ", err);
		put_clean(err, start);
		if (n < len && body[n] != '\r' && body[n] != '\n')
			fputs("...", err);
	} else {
		fputs(": (empty response)", err);
	}
	fputc('\n', err);
	cJSON_Delete(root);
}

/* ---- open --------------------------------------------------------------- */

static bool prefix(const char *s, const char *p)
{
	return strncasecmp(s, p, strlen(p)) == 0;
}

void render_connect_commands(const struct tctl_args *a, const char *source_token, FILE *out)
{
	char endpoint[300];
	if (url_endpoint(a->url, endpoint, sizeof(endpoint)))
		snprintf(endpoint, sizeof(endpoint), "RELAY_HOST:PORT");

	fputs("  AWSIOT_TUNNEL_ACCESS_TOKEN=", out);
	put_shell_word(out, source_token);
	fputs(" localproxy -s ", out);
	if (a->n_services == 1) {
		fprintf(out, "%d", RENDER_FIRST_PORT);
	} else {
		for (int i = 0; i < a->n_services; i++) {
			fputs(i ? "," : "", out);
			put_clean(out, a->services[i]);
			fprintf(out, "=%d", RENDER_FIRST_PORT + i);
		}
	}
	fputs(" -e ", out);
	put_shell_word(out, endpoint);
	if (a->ca) {
		fputs(" -c ", out);
		put_shell_word(out, a->ca);
	}
	fputc('\n', out);

	for (int i = 0; i < a->n_services; i++) {
		const char *s = a->services[i];
		int port = RENDER_FIRST_PORT + i;
		if (prefix(s, "SSH")) {
			fprintf(out, "  ssh -p %d <user>@localhost\n", port);
		} else {
			fputs("  # ", out);
			put_clean(out, s);
			if (prefix(s, "HTTPS"))
				fprintf(out, ": https://localhost:%d/\n", port);
			else if (prefix(s, "HTTP"))
				fprintf(out, ": http://localhost:%d/\n", port);
			else
				fprintf(out, ": connect your client to localhost:%d\n", port);
		}
	}
}

static void put_notification(const cJSON *root, FILE *out)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, "notification");
	const cJSON *delivered = cJSON_GetObjectItemCaseSensitive(n, "delivered");
	bool pending = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(n, "pending"));
	const char *detail = get_str(n, "detail");
	fputs("Device notified over MQTT: ", out);
	fputs(!cJSON_IsBool(delivered) ? "unknown" : cJSON_IsTrue(delivered) ? "yes" :
	      pending ? "not yet, pending" : "no", out);
	if (detail && *detail) {
		fputs(" (", out);
		put_clean(out, detail);
		fputc(')', out);
	}
	fputc('\n', out);
}

static bool notification_flag(const cJSON *root, const char *key)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, "notification");
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(n, key));
}

static int render_open(const struct tctl_args *a, long status, const cJSON *root, FILE *out,
		       FILE *err)
{
	const char *id = get_str(root, "tunnelId");
	const char *token = get_str(root, "sourceAccessToken");
	if (!id || !*id || !token || !*token) {
		missing(status, !id || !*id ? "tunnelId" : "sourceAccessToken", err);
		return 1;
	}
	fputs("Tunnel ", out);
	put_clean(out, id);
	fputs(" open for ", out);
	put_clean(out, or_dash(a->thing));
	fputs(" (", out);
	for (int i = 0; i < a->n_services; i++) {
		fputs(i ? ", " : "", out);
		put_clean(out, a->services[i]);
	}
	fputs(") until ", out);
	put_clean(out, or_dash(get_str(root, "expiresAt")));
	fputs(".\n", out);
	put_notification(root, out);
	if (notification_flag(root, "pending")) {
		fputs("The relay sends it once the broker is back; the device's agent starts its "
		      "side then.\n", out);
	} else if (!notification_flag(root, "delivered")) {
		fputs("The device's agent starts its side only when notified: run 'tunnelctl rotate ", out);
		put_clean(out, id);
		fputs(" --mode DESTINATION' to notify it again, or use --json to get the "
		      "destination token.\n", out);
	}
	fputs("On your PC run:\n", out);
	render_connect_commands(a, token, out);
	return 0;
}

/* ---- list --------------------------------------------------------------- */

/* A table: the header, then nrows rows of ncol cells (row-major), each
 * column as wide as its widest cell, two spaces apart. */
static void put_table(FILE *out, const char *const *head, int ncol, const char *const *cells,
		      size_t nrows)
{
	size_t width[8];
	for (int c = 0; c < ncol; c++)
		width[c] = strlen(head[c]);
	for (size_t r = 0; r < nrows; r++)
		for (int c = 0; c < ncol; c++) {
			size_t w = clean_width(cells[r * (size_t)ncol + (size_t)c]);
			if (w > width[c])
				width[c] = w;
		}
	for (size_t r = 0; r <= nrows; r++) {
		for (int c = 0; c < ncol; c++) {
			const char *v = r ? cells[(r - 1) * (size_t)ncol + (size_t)c] : head[c];
			if (c < ncol - 1) {
				put_padded(out, v, width[c]);
				fputs("  ", out);
			} else {
				put_clean(out, v);
			}
		}
		fputc('\n', out);
	}
}

static int render_list(long status, const cJSON *root, FILE *out, FILE *err)
{
	static const char *const head[] = {"ID", "THING", "STATUS", "CREATED", "EXPIRES"};
	static const char *const keys[] = {"tunnelId", "thingName", "status", "createdAt",
					   "expiresAt"};
	enum { NCOL = 5 };
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "tunnelSummaries");
	if (!cJSON_IsArray(list)) {
		missing(status, "tunnelSummaries list", err);
		return 1;
	}
	size_t n = (size_t)cJSON_GetArraySize(list);
	if (n == 0) {
		fputs("No tunnels.\n", out);
		return 0;
	}
	const char **cells = calloc(n * NCOL, sizeof(*cells));
	if (!cells) {
		fputs("tunnelctl: out of memory\n", err);
		return 1;
	}
	size_t r = 0;
	const cJSON *t;
	cJSON_ArrayForEach(t, list) {
		for (int c = 0; c < NCOL; c++)
			cells[r * NCOL + (size_t)c] = or_dash(get_str(t, keys[c]));
		r++;
	}
	put_table(out, head, NCOL, cells, n);
	free(cells);
	return 0;
}

static void kv(FILE *out, const char *key, const char *value);

/* ---- things ------------------------------------------------------------- */

/* "SSH,HTTP" (cleaned when printed), or "-". */
static void services_text(const cJSON *services, char *out, size_t cap)
{
	size_t used = 0;
	const cJSON *s;
	out[0] = '\0';
	cJSON_ArrayForEach(s, services) {
		if (!cJSON_IsString(s))
			continue;
		int w = snprintf(out + used, cap - used, "%s%s", used ? "," : "", s->valuestring);
		if (w < 0 || (size_t)w >= cap - used)
			break;
		used += (size_t)w;
	}
	if (!used)
		snprintf(out, cap, "-");
}

static void number_text(const cJSON *num, char out[24])
{
	if (cJSON_IsNumber(num))
		snprintf(out, 24, "%.0f", num->valuedouble);
	else
		snprintf(out, 24, "-");
}

static int render_thing(const cJSON *t, FILE *out)
{
	char services[1024], open[24], max[24];
	services_text(cJSON_GetObjectItemCaseSensitive(t, "services"), services, sizeof(services));
	number_text(cJSON_GetObjectItemCaseSensitive(t, "openTunnels"), open);
	number_text(cJSON_GetObjectItemCaseSensitive(t, "maxTunnels"), max);
	kv(out, "Thing:", get_str(t, "thingName"));
	kv(out, "State:", get_str(t, "state"));
	kv(out, "Since:", get_str(t, "since"));
	kv(out, "Services:", services);
	kv(out, "Agent version:", get_str(t, "agentVersion"));
	kv(out, "Boot time:", get_str(t, "bootTime"));
	kv(out, "Open tunnels:", open);
	kv(out, "Max tunnels:", max);
	return 0;
}

static int render_things(const struct tctl_args *a, long status, const cJSON *root, FILE *out,
			 FILE *err)
{
	if (a->thing)
		return render_thing(root, out);
	static const char *const head[] = {"THING", "STATE", "SINCE", "SERVICES", "AGENT", "OPEN",
					   "MAX"};
	enum { NCOL = 7, CELL = 1024 };
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "things");
	if (!cJSON_IsArray(list)) {
		missing(status, "things list", err);
		return 1;
	}
	size_t n = (size_t)cJSON_GetArraySize(list);
	if (n == 0) {
		fputs("No things.\n", out);
		return 0;
	}
	/* Numbers and service lists are made here: each row owns its text. */
	const char **cells = calloc(n * NCOL, sizeof(*cells));
	char (*made)[3][CELL] = calloc(n, sizeof(*made));
	if (!cells || !made) {
		free(cells);
		free(made);
		fputs("tunnelctl: out of memory\n", err);
		return 1;
	}
	size_t r = 0;
	const cJSON *t;
	cJSON_ArrayForEach(t, list) {
		services_text(cJSON_GetObjectItemCaseSensitive(t, "services"), made[r][0], CELL);
		number_text(cJSON_GetObjectItemCaseSensitive(t, "openTunnels"), made[r][1]);
		number_text(cJSON_GetObjectItemCaseSensitive(t, "maxTunnels"), made[r][2]);
		const char *row[NCOL] = {
			or_dash(get_str(t, "thingName")), or_dash(get_str(t, "state")),
			or_dash(get_str(t, "since")), made[r][0], or_dash(get_str(t, "agentVersion")),
			made[r][1], made[r][2],
		};
		memcpy(&cells[r * NCOL], row, sizeof(row));
		r++;
	}
	put_table(out, head, NCOL, cells, n);
	free(cells);
	free(made);
	return 0;
}

/* ---- describe ----------------------------------------------------------- */

static void kv(FILE *out, const char *key, const char *value)
{
	fprintf(out, "%-18s", key);
	put_clean(out, or_dash(value));
	fputc('\n', out);
}

static void kv_state(FILE *out, const char *key, const cJSON *state)
{
	const char *st = get_str(state, "status"), *at = get_str(state, "lastUpdatedAt");
	fprintf(out, "%-18s", key);
	put_clean(out, or_dash(st));
	if (at && *at) {
		fputs(" since ", out);
		put_clean(out, at);
	}
	fputc('\n', out);
}

static void kv_number(FILE *out, const char *key, const cJSON *num, const char *unit)
{
	if (cJSON_IsNumber(num))
		fprintf(out, "%-18s%.0f%s\n", key, num->valuedouble, unit);
	else
		fprintf(out, "%-18s-\n", key);
}

/* A notification the relay still keeps: "pending since T (detail)" or
 * "failed (detail)". Nothing when none is kept. */
static void kv_notice(FILE *out, const cJSON *n)
{
	if (!cJSON_IsObject(n))
		return;
	bool failed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(n, "failed"));
	const char *since = get_str(n, "since"), *detail = get_str(n, "detail");
	fprintf(out, "%-18s%s", "Notification:", failed ? "failed" : "pending");
	if (!failed && since && *since) {
		fputs(" since ", out);
		put_clean(out, since);
	}
	if (detail && *detail) {
		fputs(" (", out);
		put_clean(out, detail);
		fputc(')', out);
	}
	fputc('\n', out);
}

static int render_describe(long status, const cJSON *root, FILE *out, FILE *err)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "tunnel");
	if (!cJSON_IsObject(t)) {
		missing(status, "tunnel object", err);
		return 1;
	}
	const cJSON *dest = cJSON_GetObjectItemCaseSensitive(t, "destinationConfig");
	const cJSON *timeout = cJSON_GetObjectItemCaseSensitive(t, "timeoutConfig");
	kv(out, "Tunnel:", get_str(t, "tunnelId"));
	kv(out, "Status:", get_str(t, "status"));
	kv(out, "Description:", get_str(t, "description"));
	kv(out, "Thing:", get_str(dest, "thingName"));

	fprintf(out, "%-18s", "Services:");
	const cJSON *services = cJSON_GetObjectItemCaseSensitive(dest, "services"), *s;
	int n = 0;
	cJSON_ArrayForEach(s, services) {
		if (cJSON_IsString(s)) {
			fputs(n++ ? ", " : "", out);
			put_clean(out, s->valuestring);
		}
	}
	fputs(n ? "\n" : "-\n", out);

	kv_state(out, "Source:", cJSON_GetObjectItemCaseSensitive(t, "sourceConnectionState"));
	kv_state(out, "Destination:",
		 cJSON_GetObjectItemCaseSensitive(t, "destinationConnectionState"));
	kv_number(out, "Lifetime:",
		  cJSON_GetObjectItemCaseSensitive(timeout, "maxLifetimeTimeoutMinutes"),
		  " minutes");
	kv(out, "Created:", get_str(t, "createdAt"));
	kv(out, "Expires:", get_str(t, "expiresAt"));
	if (get_str(t, "closedAt"))
		kv(out, "Closed:", get_str(t, "closedAt"));
	kv_number(out, "Live connections:", cJSON_GetObjectItemCaseSensitive(t, "liveConnections"),
		  "");
	kv_notice(out, cJSON_GetObjectItemCaseSensitive(t, "notification"));
	return 0;
}

/* ---- rotate, close ------------------------------------------------------ */

static int render_rotate(const struct tctl_args *a, long status, const cJSON *root, FILE *out,
			 FILE *err)
{
	const char *id = get_str(root, "tunnelId");
	const char *src = get_str(root, "sourceAccessToken");
	const char *dst = get_str(root, "destinationAccessToken");
	if (!src && !dst) {
		missing(status, "sourceAccessToken or destinationAccessToken", err);
		return 1;
	}
	fputs("Tunnel ", out);
	put_clean(out, id ? id : or_dash(a->id));
	fputs(src && dst ? ": new source and destination tokens; the previous ones no longer work.\n"
		  : src ? ": new source token; the previous one no longer works.\n"
			: ": new destination token; the previous one no longer works.\n",
	      out);
	if (src) {
		fputs("Source token: ", out);
		put_clean(out, src);
		fputs("\n  (run localproxy with AWSIOT_TUNNEL_ACCESS_TOKEN set to it)\n", out);
	}
	if (dst) {
		fputs("Destination token: issued (printed only with --json)\n", out);
		put_notification(root, out);
	}
	return 0;
}

static int render_close(const struct tctl_args *a, const cJSON *root, FILE *out)
{
	const char *id = get_str(root, "tunnelId");
	fputs("Tunnel ", out);
	put_clean(out, id && *id ? id : or_dash(a->id));
	fputs(" closed.\n", out);
	return 0;
}

/* ---- dispatch ----------------------------------------------------------- */

static int print_json(const cJSON *root, FILE *out)
{
	char *text = cJSON_Print(root);
	if (!text)
		return -1;
	fputs(text, out);
	fputc('\n', out);
	cJSON_free(text);
	return 0;
}

int render_response(const struct tctl_args *a, long status, const char *body, size_t len,
		    FILE *out, FILE *err)
{
	bool ok = status >= 200 && status <= 299;
	cJSON *root = body && len ? cJSON_ParseWithLength(body, len) : NULL;
	int rc = 1;

	if (!ok) {
		if (a->json && root)
			print_json(root, out);
		render_error(status, body, len, err);
	} else if (!cJSON_IsObject(root)) {
		fprintf(err, "tunnelctl: HTTP %ld: the response is not a JSON object\n", status);
	} else if (a->json) {
		rc = print_json(root, out) ? 1 : 0;
		if (rc)
			fputs("tunnelctl: out of memory\n", err);
	} else {
		switch (a->cmd) {
		case CMD_OPEN: rc = render_open(a, status, root, out, err); break;
		case CMD_LIST: rc = render_list(status, root, out, err); break;
		case CMD_DESCRIBE: rc = render_describe(status, root, out, err); break;
		case CMD_ROTATE: rc = render_rotate(a, status, root, out, err); break;
		case CMD_CLOSE: rc = render_close(a, root, out); break;
		case CMD_THINGS: rc = render_things(a, status, root, out, err); break;
		case CMD_SSH: /* tunnelctl/session.c reads their answers itself */
		case CMD_FORWARD:
		case CMD_NONE: break;
		}
	}
	cJSON_Delete(root);
	return rc;
}
