/* The pure half of agent/config.h: the JSON text to a checked
 * struct agent_config. No file is touched here (see config_files.c). */
#include "agent/config.h"
#include "agent/config_report.h"
#include "common/hostport.h"
#include "agent/json_type.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- syntax helpers (pure) ------------------------------------------------- */

bool agent_id_valid(const char *s, size_t max)
{
	if (s == NULL)
		return false;
	size_t len = 0;
	for (; s[len] != '\0'; len++) {
		unsigned char ch = (unsigned char)s[len];
		bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
			  (ch >= '0' && ch <= '9') || ch == '_' || ch == ':' || ch == '-';
		if (!ok || len >= max)
			return false;
	}
	return len > 0;
}

static bool has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* Keys of one JSON object: each must be known and appear once. */
static int check_keys(const struct pctx *c, const cJSON *obj, const char *prefix,
		      const char *const *known)
{
	for (const cJSON *it = obj->child; it != NULL; it = it->next) {
		char path[192];
		snprintf(path, sizeof(path), "%s%.128s", prefix, it->string ? it->string : "");
		bool found = false;
		for (size_t i = 0; known[i] != NULL && !found; i++)
			found = strcmp(known[i], it->string) == 0;
		if (!found) {
			char list[256] = "";
			for (size_t i = 0; known[i] != NULL; i++) {
				size_t used = strlen(list);
				snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", known[i]);
			}
			return fail(c, path, "unknown key (known keys: %s)", list);
		}
		for (const cJSON *prev = obj->child; prev != it; prev = prev->next)
			if (strcmp(prev->string, it->string) == 0)
				return fail(c, path, "given twice");
	}
	return 0;
}

/* A string member. Returns 1 (copied), 0 (absent; out untouched) or -1. */
static int get_string(const struct pctx *c, const cJSON *obj, const char *key, const char *path,
		      char *out, size_t cap)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (it == NULL)
		return 0;
	if (!cJSON_IsString(it) || it->valuestring == NULL)
		return fail(c, path, "want a string, got %s", json_type_name(it));
	if (it->valuestring[0] == '\0')
		return fail(c, path, "is empty");
	if (strlen(it->valuestring) >= cap)
		return fail(c, path, "longer than %zu characters", cap - 1);
	if (has_control(it->valuestring))
		return fail(c, path, "contains a control character");
	strcpy(out, it->valuestring);
	return 1;
}

static int get_int(const struct pctx *c, const cJSON *obj, const char *key, const char *path,
		   int min, int max, int *out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (it == NULL)
		return 0;
	if (!cJSON_IsNumber(it))
		return fail(c, path, "want an integer from %d to %d, got %s", min, max,
			    json_type_name(it));
	double v = it->valuedouble;
	if (!(v >= min && v <= max) || v != (double)(int)v)
		return fail(c, path, "want an integer from %d to %d, got %g", min, max, v);
	*out = (int)v;
	return 1;
}

static int get_bool(const struct pctx *c, const cJSON *obj, const char *key, const char *path,
		    bool *out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (it == NULL)
		return 0;
	if (!cJSON_IsBool(it))
		return fail(c, path, "want true or false, got %s", json_type_name(it));
	*out = cJSON_IsTrue(it);
	return 1;
}

static int get_object(const struct pctx *c, const cJSON *obj, const char *key,
		      const cJSON **out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	*out = NULL;
	if (it == NULL)
		return 0;
	if (!cJSON_IsObject(it))
		return fail(c, key, "want an object, got %s", json_type_name(it));
	*out = it;
	return 1;
}

/* A file name: as given if absolute, else relative to the config file's
 * directory (so "ca.pem" next to agent.json works whatever the working
 * directory; under systemd it is /). */
static int get_path(const struct pctx *c, const cJSON *obj, const char *key, const char *path,
		    char *out, size_t cap)
{
	char given[PATH_MAX];
	int rc = get_string(c, obj, key, path, given, sizeof(given));
	if (rc <= 0)
		return rc;
	const char *slash = strrchr(c->name, '/');
	int n;
	if (given[0] == '/' || slash == NULL)
		n = snprintf(out, cap, "%s", given);
	else
		n = snprintf(out, cap, "%.*s/%s", (int)(slash - c->name), c->name, given);
	if (n < 0 || (size_t)n >= cap)
		return fail(c, path, "%s: path too long", given);
	return 1;
}

static int require(const struct pctx *c, int rc, const char *path)
{
	if (rc == 0)
		return fail(c, path, "missing (required)");
	return rc < 0 ? -1 : 0;
}

/* ---- individual keys -------------------------------------------------------- */

static int parse_broker_uri(const struct pctx *c, const char *uri)
{
	const char *rest = NULL;
	if (strncmp(uri, "ssl://", 6) == 0)
		rest = uri + 6;
	else if (strncmp(uri, "mqtts://", 8) == 0)
		rest = uri + 8;
	if (rest == NULL)
		return fail(c, "broker.uri",
			    "'%s' must start with ssl:// or mqtts:// (TLS with the device certificate "
			    "is required), e.g. ssl://broker.example:8883",
			    uri);
	if (strchr(rest, '/') != NULL)
		return fail(c, "broker.uri", "'%s': want ssl://HOST:PORT without a path", uri);
	struct hostport hp;
	char why[384];
	if (hostport_parse(rest, 0, &hp, why, sizeof(why)) != 0)
		return fail(c, "broker.uri", "'%s': %s (e.g. ssl://broker.example:8883)", uri, why);
	if (hp.host[0] == '\0')
		return fail(c, "broker.uri", "'%s': a host name is required", uri);
	return 0;
}

/* Expands {thing} in the template of key into out (AGENT_MAX_TOPIC bytes). */
static int parse_topic(const struct pctx *c, const char *key, const char *tmpl,
		       const struct agent_config *cfg, char *out)
{
	if (strpbrk(tmpl, "+#") != NULL)
		return fail(c, key,
			    "'%s' contains an MQTT wildcard ('+' or '#'); a device %s its "
			    "own topic only", tmpl,
			    strcmp(key, "notifyTopic") == 0 ? "subscribes to" : "publishes on");
	const size_t ph = strlen(AGENT_THING_PLACEHOLDER);
	size_t w = 0;
	for (const char *p = tmpl; *p != '\0';) {
		const char *piece = p;
		size_t n = 1;
		if (strncmp(p, AGENT_THING_PLACEHOLDER, ph) == 0) {
			piece = cfg->thing_name;
			n = strlen(cfg->thing_name);
			p += ph;
		} else {
			p++;
		}
		if (w + n >= AGENT_MAX_TOPIC)
			return fail(c, key, "longer than %d characters once {thing} is "
				    "replaced", AGENT_MAX_TOPIC - 1);
		memcpy(out + w, piece, n);
		w += n;
	}
	out[w] = '\0';
	return 0;
}

/* A topic key: its template (or the default) expanded into out. */
static int parse_topic_key(const struct pctx *c, const cJSON *root, const char *key,
			   const char *fallback, const struct agent_config *cfg, char *out)
{
	char tmpl[AGENT_MAX_TOPIC];
	int rc = get_string(c, root, key, key, tmpl, sizeof(tmpl));
	if (rc < 0)
		return -1;
	return parse_topic(c, key, rc > 0 ? tmpl : fallback, cfg, out);
}

static bool target_char_ok(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
	       ch == '.' || ch == '-' || ch == '_' || ch == ':' || ch == '[' || ch == ']';
}

static int parse_target(const struct pctx *c, const char *path, const cJSON *it, char *out,
			size_t cap)
{
	if (!cJSON_IsString(it) || it->valuestring == NULL)
		return fail(c, path, "want a string (\"HOST:PORT\", \"PORT\", \"udp:HOST:PORT\" or "
			    "a Unix socket path), got %s", json_type_name(it));
	const char *v = it->valuestring;
	if (v[0] == '\0')
		return fail(c, path, "is empty (want \"HOST:PORT\", e.g. \"127.0.0.1:22\")");
	if (v[0] == '/') {
		if (strlen(v) > AGENT_MAX_UNIX_PATH)
			return fail(c, path, "Unix socket path longer than %d characters",
				    AGENT_MAX_UNIX_PATH);
		if (has_control(v) || strchr(v, ',') != NULL)
			return fail(c, path, "'%s': a Unix socket path must not contain ',' or "
				    "control characters", v);
	} else {
		for (const char *p = v; *p != '\0'; p++)
			if (!target_char_ok(*p))
				return fail(c, path, "'%.*s' is not HOST:PORT, PORT, udp:HOST:PORT or "
					    "an absolute Unix socket path", 200, v);
		struct hostport hp;
		char why[384];
		/* "udp:[HOST:]PORT": a UDP service (localproxy's -d form). */
		const char *hostport = strncmp(v, "udp:", 4) == 0 ? v + 4 : v;
		if (hostport_parse(hostport, 0, &hp, why, sizeof(why)) != 0)
			return fail(c, path, "%s", why);
	}
	if (strlen(v) >= cap)
		return fail(c, path, "longer than %zu characters", cap - 1);
	strcpy(out, v);
	return 0;
}

static int parse_services(const struct pctx *c, const cJSON *root, struct agent_config *cfg)
{
	const cJSON *obj = cJSON_GetObjectItemCaseSensitive(root, "services");
	if (obj == NULL)
		return fail(c, "services", "missing (required), e.g. {\"SSH\": \"127.0.0.1:22\"}");
	if (!cJSON_IsObject(obj))
		return fail(c, "services", "want an object such as {\"SSH\": \"127.0.0.1:22\"}, "
			    "got %s", json_type_name(obj));
	cfg->n_services = 0;
	for (const cJSON *it = obj->child; it != NULL; it = it->next) {
		char path[192];
		snprintf(path, sizeof(path), "services.%.128s", it->string);
		if (!agent_id_valid(it->string, AGENT_MAX_SERVICE)) {
			snprintf(path, sizeof(path), "services.\"%.64s%s\"", it->string,
				 strlen(it->string) > 64 ? "..." : "");
			return fail(c, path, "a service name must be 1-%d of [A-Za-z0-9_:-]",
				    AGENT_MAX_SERVICE);
		}
		for (size_t i = 0; i < cfg->n_services; i++)
			if (strcmp(cfg->services[i].name, it->string) == 0)
				return fail(c, path, "given twice");
		if (cfg->n_services == AGENT_MAX_SERVICES)
			return fail(c, "services", "more than %d services", AGENT_MAX_SERVICES);
		struct agent_service *s = &cfg->services[cfg->n_services];
		if (parse_target(c, path, it, s->target, sizeof(s->target)) != 0)
			return -1;
		strcpy(s->name, it->string);
		cfg->n_services++;
	}
	if (cfg->n_services == 0)
		return fail(c, "services", "is empty: map at least one service, e.g. "
			    "{\"SSH\": \"127.0.0.1:22\"}");
	return 0;
}

static int parse_broker(const struct pctx *c, const cJSON *root, struct agent_config *cfg)
{
	static const char *const keys[] = {"uri", "ca", "cert", "key", "clientId",
					   "keepAliveSeconds", NULL};
	const cJSON *b;
	int rc = get_object(c, root, "broker", &b);
	if (require(c, rc, "broker") != 0)
		return -1;
	if (check_keys(c, b, "broker.", keys) != 0)
		return -1;
	if (require(c, get_string(c, b, "uri", "broker.uri", cfg->broker_uri,
				  sizeof(cfg->broker_uri)), "broker.uri") != 0 ||
	    parse_broker_uri(c, cfg->broker_uri) != 0)
		return -1;
	if (require(c, get_path(c, b, "ca", "broker.ca", cfg->broker_ca, sizeof(cfg->broker_ca)),
		    "broker.ca") != 0 ||
	    require(c, get_path(c, b, "cert", "broker.cert", cfg->broker_cert,
				sizeof(cfg->broker_cert)), "broker.cert") != 0 ||
	    require(c, get_path(c, b, "key", "broker.key", cfg->broker_key,
				sizeof(cfg->broker_key)), "broker.key") != 0)
		return -1;
	rc = get_string(c, b, "clientId", "broker.clientId", cfg->client_id, sizeof(cfg->client_id));
	if (rc < 0)
		return -1;
	if (rc == 0)
		strcpy(cfg->client_id, cfg->thing_name);
	for (const char *p = cfg->client_id; *p != '\0'; p++)
		if (*p == ' ' || (unsigned char)*p > '~')
			return fail(c, "broker.clientId", "want printable ASCII without spaces");
	if (get_int(c, b, "keepAliveSeconds", "broker.keepAliveSeconds", AGENT_MIN_KEEPALIVE,
		    AGENT_MAX_KEEPALIVE, &cfg->keepalive_s) < 0)
		return -1;
	return 0;
}

static int parse_relay(const struct pctx *c, const cJSON *root, struct agent_config *cfg)
{
	static const char *const keys[] = {"endpoint", "ca", NULL};
	const cJSON *r;
	int rc = get_object(c, root, "relay", &r);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		if (cfg->use_notified_endpoint)
			return 0;
		return fail(c, "relay", "missing (required unless useNotifiedEndpoint is true), "
			    "e.g. {\"endpoint\": \"relay.example:443\", \"ca\": \"ca.pem\"}");
	}
	if (check_keys(c, r, "relay.", keys) != 0)
		return -1;
	rc = get_string(c, r, "endpoint", "relay.endpoint", cfg->relay_endpoint,
			sizeof(cfg->relay_endpoint));
	if (rc < 0)
		return -1;
	if (rc == 0 && !cfg->use_notified_endpoint)
		return fail(c, "relay.endpoint", "missing (required unless useNotifiedEndpoint is true)");
	if (rc > 0) {
		struct hostport hp;
		char why[384];
		if (hostport_parse(cfg->relay_endpoint, 443, &hp, why, sizeof(why)) != 0)
			return fail(c, "relay.endpoint", "%s (want HOST:PORT)", why);
		if (hp.host[0] == '\0')
			return fail(c, "relay.endpoint", "'%s': a host name is required (want HOST:PORT)",
				    cfg->relay_endpoint);
	}
	if (get_path(c, r, "ca", "relay.ca", cfg->relay_ca, sizeof(cfg->relay_ca)) < 0)
		return -1;
	return 0;
}

static void set_defaults(struct agent_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->keepalive_s = AGENT_DEFAULT_KEEPALIVE;
	cfg->max_tunnels = AGENT_DEFAULT_MAX_TUNNELS;
	cfg->log_level = AGENT_DEFAULT_LOG_LEVEL;
	strcpy(cfg->localproxy, AGENT_DEFAULT_LOCALPROXY);
}

static void line_col(const char *text, size_t pos, int *line, int *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < pos; i++) {
		if (text[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

static int parse_root(const struct pctx *c, const cJSON *root, struct agent_config *cfg)
{
	static const char *const keys[] = {"thingName", "broker", "notifyTopic", "presenceTopic",
					   "relay", "localproxy", "services", "maxTunnels",
					   "logLevel", "useNotifiedEndpoint", NULL};
	if (!cJSON_IsObject(root))
		return fail(c, NULL, "want a JSON object ({...}), got %s", json_type_name(root));
	if (check_keys(c, root, "", keys) != 0)
		return -1;
	/* thingName first: broker.clientId and notifyTopic default to it. */
	char thing[AGENT_MAX_TOPIC];
	int rc = get_string(c, root, "thingName", "thingName", thing, sizeof(thing));
	if (require(c, rc, "thingName") != 0)
		return -1;
	if (!agent_id_valid(thing, AGENT_MAX_THING))
		return fail(c, "thingName", "'%.64s%s' is not a thing name (1-%d of [A-Za-z0-9_:-])",
			    thing, strlen(thing) > 64 ? "..." : "", AGENT_MAX_THING);
	strcpy(cfg->thing_name, thing);
	/* useNotifiedEndpoint before relay: it decides whether relay is required. */
	if (get_bool(c, root, "useNotifiedEndpoint", "useNotifiedEndpoint",
		     &cfg->use_notified_endpoint) < 0)
		return -1;
	if (parse_broker(c, root, cfg) != 0)
		return -1;
	if (parse_topic_key(c, root, "notifyTopic", AGENT_DEFAULT_TOPIC, cfg,
			    cfg->notify_topic) != 0 ||
	    parse_topic_key(c, root, "presenceTopic", AGENT_DEFAULT_PRESENCE_TOPIC, cfg,
			    cfg->presence_topic) != 0)
		return -1;
	if (parse_relay(c, root, cfg) != 0)
		return -1;
	if (get_path(c, root, "localproxy", "localproxy", cfg->localproxy,
		     sizeof(cfg->localproxy)) < 0)
		return -1;
	if (parse_services(c, root, cfg) != 0)
		return -1;
	if (get_int(c, root, "maxTunnels", "maxTunnels", 1, AGENT_MAX_MAX_TUNNELS,
		    &cfg->max_tunnels) < 0 ||
	    get_int(c, root, "logLevel", "logLevel", 0, 6, &cfg->log_level) < 0)
		return -1;
	return 0;
}

int agent_config_parse(const char *text, size_t len, const char *name, struct agent_config *cfg,
		       char *err, size_t err_cap)
{
	struct pctx c = {.name = name ? name : "config", .err = err, .err_cap = err_cap};
	if (err != NULL && err_cap > 0)
		err[0] = '\0';
	set_defaults(cfg);
	if (len == 0)
		return fail(&c, NULL, "is empty (want a JSON object; see tunnel-agent --help)");
	if (memchr(text, '\0', len) != NULL)
		return fail(&c, NULL, "contains a NUL byte: not a JSON text file");
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (root == NULL) {
		size_t pos = (end != NULL && end >= text && end <= text + len) ? (size_t)(end - text)
									      : 0;
		int line, col;
		line_col(text, pos, &line, &col);
		return fail(&c, NULL, "not valid JSON at line %d, column %d", line, col);
	}
	size_t pos = (size_t)(end - text);
	while (pos < len && strchr(" \t\r\n", text[pos]) != NULL)
		pos++;
	int rc;
	if (pos < len) {
		int line, col;
		line_col(text, pos, &line, &col);
		rc = fail(&c, NULL, "unexpected text after the JSON object at line %d, column %d",
			  line, col);
	} else {
		rc = parse_root(&c, root, cfg);
	}
	cJSON_Delete(root);
	return rc;
}

const char *agent_config_service(const struct agent_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_services; i++)
		if (strcmp(cfg->services[i].name, name) == 0)
			return cfg->services[i].target;
	return NULL;
}

bool agent_config_apply_reload(struct agent_config *cur, const struct agent_config *next)
{
	bool restart = strcmp(cur->thing_name, next->thing_name) != 0 ||
		       strcmp(cur->broker_uri, next->broker_uri) != 0 ||
		       strcmp(cur->broker_ca, next->broker_ca) != 0 ||
		       strcmp(cur->broker_cert, next->broker_cert) != 0 ||
		       strcmp(cur->broker_key, next->broker_key) != 0 ||
		       strcmp(cur->client_id, next->client_id) != 0 ||
		       cur->keepalive_s != next->keepalive_s ||
		       strcmp(cur->notify_topic, next->notify_topic) != 0 ||
		       strcmp(cur->presence_topic, next->presence_topic) != 0;
	memcpy(cur->relay_endpoint, next->relay_endpoint, sizeof(cur->relay_endpoint));
	memcpy(cur->relay_ca, next->relay_ca, sizeof(cur->relay_ca));
	memcpy(cur->localproxy, next->localproxy, sizeof(cur->localproxy));
	memcpy(cur->services, next->services, sizeof(cur->services));
	cur->n_services = next->n_services;
	cur->max_tunnels = next->max_tunnels;
	cur->log_level = next->log_level;
	cur->use_notified_endpoint = next->use_notified_endpoint;
	return restart;
}
