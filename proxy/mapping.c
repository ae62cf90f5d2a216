#include "proxy/mapping.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "proto/message.h"

typedef int (*entry_parser)(const char *value, struct mapping_entry *e, char *err, size_t err_cap);

#define UDP_PREFIX "udp:"
#define UNIX_PREFIX "unix:"

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* "unix:/path" or "/path": 1 with e filled, 0 when value is neither, -1 on
 * an error. */
static int parse_unix(const char *value, struct mapping_entry *e, char *err, size_t err_cap)
{
	if (has_prefix(value, UNIX_PREFIX))
		value += strlen(UNIX_PREFIX);
	else if (value[0] != '/')
		return 0;
	if (value[0] != '/') {
		snprintf(err, err_cap, "'%s': a Unix socket path must be absolute", value);
		return -1;
	}
	if (strlen(value) >= sizeof(e->unix_path)) {
		snprintf(err, err_cap, "Unix socket path longer than %zu characters",
			 sizeof(e->unix_path) - 1);
		return -1;
	}
	strcpy(e->unix_path, value);
	e->kind = MAPPING_UNIX;
	return 1;
}

static int parse_listen(const char *value, struct mapping_entry *e, char *err, size_t err_cap)
{
	int rc = parse_unix(value, e, err, err_cap);
	if (rc)
		return rc < 0 ? -1 : 0;
	if (!strcmp(value, "-")) {
		e->kind = MAPPING_STDIO;
		return 0;
	}
	if (has_prefix(value, UDP_PREFIX)) {
		e->kind = MAPPING_UDP;
		value += strlen(UDP_PREFIX);
	}
	e->listen_port = port_parse(value);
	if (e->listen_port < 0) {
		snprintf(err, err_cap, "'%s' is not a port (1-65535)", value);
		return -1;
	}
	return 0;
}

static int parse_target(const char *value, struct mapping_entry *e, char *err, size_t err_cap)
{
	int rc = parse_unix(value, e, err, err_cap);
	if (rc)
		return rc < 0 ? -1 : 0;
	if (has_prefix(value, UDP_PREFIX)) {
		e->kind = MAPPING_UDP;
		value += strlen(UDP_PREFIX);
	}
	if (hostport_parse(value, 0, &e->target, err, err_cap))
		return -1;
	if (!e->target.host[0])
		strcpy(e->target.host, "127.0.0.1");
	return 0;
}

/* Splits "A,B,C" into entries, each "VALUE" or "SERVICE=VALUE". */
static int parse_list(const char *text, struct mapping *m, entry_parser parse,
		      char *err, size_t err_cap)
{
	memset(m, 0, sizeof(*m));
	char item[512];
	const char *p = text;
	while (*p) {
		size_t len = strcspn(p, ",");
		if (len == 0 || len >= sizeof(item)) {
			snprintf(err, err_cap, "'%s': empty or overlong entry", text);
			return -1;
		}
		if (m->n == TUNNEL_MAX_SERVICES) {
			snprintf(err, err_cap, "'%s': at most %u services", text, TUNNEL_MAX_SERVICES);
			return -1;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		struct mapping_entry *e = &m->entry[m->n];
		char *eq = strchr(item, '=');
		const char *value = item;
		if (eq) {
			*eq = '\0';
			if (!tunnel_service_id_valid(item)) {
				snprintf(err, err_cap, "'%s': service name must be 1-128 of [A-Za-z0-9_:-]", item);
				return -1;
			}
			for (size_t i = 0; i < m->n; i++) {
				if (!strcmp(m->entry[i].service, item)) {
					snprintf(err, err_cap, "service %s is mapped twice", item);
					return -1;
				}
			}
			strcpy(e->service, item);
			value = eq + 1;
		}
		if (parse(value, e, err, err_cap))
			return -1;
		m->n++;
		p += len;
		if (*p == ',' && *++p == '\0') {
			snprintf(err, err_cap, "'%s': trailing comma", text);
			return -1;
		}
	}
	if (m->n == 0) {
		snprintf(err, err_cap, "empty mapping");
		return -1;
	}
	for (size_t i = 0; i < m->n; i++) {
		if (!m->entry[i].service[0] && m->n > 1) {
			snprintf(err, err_cap, "'%s': name every service when mapping several (SSH=...,HTTP=...)", text);
			return -1;
		}
	}
	return 0;
}

int mapping_parse_source(const char *text, struct mapping *m, char *err, size_t err_cap)
{
	if (parse_list(text, m, parse_listen, err, err_cap))
		return -1;
	char a[MAPPING_TEXT_MAX], b[MAPPING_TEXT_MAX];
	for (size_t i = 0; i < m->n; i++)
		for (size_t j = i + 1; j < m->n; j++)
			if (!strcmp(mapping_entry_text(&m->entry[i], a, sizeof(a)),
				    mapping_entry_text(&m->entry[j], b, sizeof(b)))) {
				snprintf(err, err_cap, "%s is used twice", a);
				return -1;
			}
	return 0;
}

const char *mapping_entry_text(const struct mapping_entry *e, char *buf, size_t cap)
{
	switch (e->kind) {
	case MAPPING_UNIX:
		snprintf(buf, cap, UNIX_PREFIX "%s", e->unix_path);
		break;
	case MAPPING_STDIO:
		snprintf(buf, cap, "stdin/stdout");
		break;
	case MAPPING_TCP:
	case MAPPING_UDP:
		snprintf(buf, cap, "%s%s%s%d", e->kind == MAPPING_UDP ? UDP_PREFIX : "", e->target.host,
			 e->target.host[0] ? ":" : "", e->target.port ? e->target.port : e->listen_port);
		break;
	}
	return buf;
}

int mapping_parse_destination(const char *text, struct mapping *m, char *err, size_t err_cap)
{
	return parse_list(text, m, parse_target, err, err_cap);
}

int mapping_resolve(const struct mapping *m, const char *const *services, size_t n_services,
		    size_t *entry_of, char *err, size_t err_cap)
{
	if (n_services == 0) {
		snprintf(err, err_cap, "the relay announced no services");
		return -1;
	}
	if (m->n == 1 && !m->entry[0].service[0]) {
		if (n_services != 1) {
			snprintf(err, err_cap, "the tunnel has %zu services; map each by name "
				 "(e.g. %s=...)", n_services, services[0]);
			return -1;
		}
		entry_of[0] = 0;
		return 0;
	}
	for (size_t s = 0; s < n_services; s++) {
		size_t i = 0;
		while (i < m->n && strcmp(m->entry[i].service, services[s]))
			i++;
		if (i == m->n) {
			snprintf(err, err_cap, "the tunnel's service %s is not mapped (add %s=... to the mapping)",
				 services[s], services[s]);
			return -1;
		}
		entry_of[s] = i;
	}
	return 0;
}
