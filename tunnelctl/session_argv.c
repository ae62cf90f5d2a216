#include "tunnelctl/session_argv.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* OpenSSH's options that take a value (ssh(1)). */
#define SSH_VALUED_OPTIONS "BbcDEeFIiJLlmOoPpQRSWw"

int session_ssh_options(char *const *args, int n, int *dashdash)
{
	*dashdash = 0;
	int i = 0;
	while (i < n) {
		const char *arg = args[i];
		if (!strcmp(arg, "--")) {
			*dashdash = 1;
			return i;
		}
		if (arg[0] != '-' || arg[1] == '\0')
			return i;
		i++;
		/* "-vp22": flags, then one valued option with its value attached
		 * or in the next argument. */
		for (const char *p = arg + 1; *p; p++) {
			if (strchr(SSH_VALUED_OPTIONS, *p)) {
				if (p[1] == '\0' && i < n)
					i++;
				break;
			}
		}
	}
	return i;
}

/* Appends text to buf (at *len, capacity cap) as one sh word in single
 * quotes, with '%' doubled: ssh expands %-tokens in a ProxyCommand. */
static int put_word(char *buf, size_t cap, size_t *len, const char *text)
{
	size_t need = 3;
	for (const char *p = text; *p; p++)
		need += *p == '\'' ? 4 : *p == '%' ? 2 : 1;
	if (*len + need + 1 > cap)
		return -1;
	char *w = buf + *len;
	if (*len)
		*w++ = ' ';
	*w++ = '\'';
	for (const char *p = text; *p; p++) {
		if (*p == '\'') {
			memcpy(w, "'\\''", 4);
			w += 4;
		} else {
			if (*p == '%')
				*w++ = '%';
			*w++ = *p;
		}
	}
	*w++ = '\'';
	*w = '\0';
	*len = (size_t)(w - buf);
	return 0;
}

/* a + b, malloc'd. */
static char *concat(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = malloc(la + lb + 1);
	if (s) {
		memcpy(s, a, la);
		memcpy(s + la, b, lb + 1);
	}
	return s;
}

/* The relay flags every localproxy command line here carries. */
static void add_relay_flags(struct session_argv *out, const struct tctl_args *a, const char *endpoint)
{
	if (endpoint) {
		out->v[out->n++] = "-e";
		out->v[out->n++] = (char *)endpoint;
	}
	if (a->ca) {
		out->v[out->n++] = "-c";
		out->v[out->n++] = (char *)a->ca;
	}
}

static int alloc_argv(struct session_argv *out, int n_extra, char *err, size_t err_cap)
{
	memset(out, 0, sizeof(*out));
	out->v = calloc((size_t)n_extra + 16, sizeof(char *));
	if (!out->v)
		snprintf(err, err_cap, "out of memory");
	return out->v ? 0 : -1;
}

int session_ssh_argv(const struct tctl_args *a, const char *localproxy, const char *endpoint,
		     struct session_argv *out, char *err, size_t err_cap)
{
	if (alloc_argv(out, a->n_ssh_args, err, err_cap))
		return -1;
	/* The ProxyCommand: localproxy --stdio SERVICE [-e ENDPOINT] [-c CA]. */
	struct session_argv words;
	char cmd[4 * 4096 + 64];
	size_t len = 0;
	cmd[0] = '\0';
	if (alloc_argv(&words, 0, err, err_cap)) {
		session_argv_free(out);
		return -1;
	}
	words.v[words.n++] = (char *)localproxy;
	words.v[words.n++] = "--stdio";
	words.v[words.n++] = (char *)a->services[0];
	add_relay_flags(&words, a, endpoint);
	int rc = 0;
	for (int i = 0; rc == 0 && i < words.n; i++)
		rc = put_word(cmd, sizeof(cmd), &len, words.v[i]);
	session_argv_free(&words);
	out->proxy_command = rc ? NULL : concat("ProxyCommand=", cmd);
	out->host_key_alias = concat("HostKeyAlias=", a->thing);
	if (!out->proxy_command || !out->host_key_alias) {
		snprintf(err, err_cap, rc ? "the localproxy path or CA path is too long" : "out of memory");
		session_argv_free(out);
		return -1;
	}
	int dashdash;
	int n_opts = session_ssh_options(a->ssh_args, a->n_ssh_args, &dashdash);
	out->v[out->n++] = "ssh";
	for (int i = 0; i < n_opts; i++)
		out->v[out->n++] = a->ssh_args[i];
	out->v[out->n++] = "-o";
	out->v[out->n++] = out->proxy_command;
	out->v[out->n++] = "-o";
	out->v[out->n++] = out->host_key_alias;
	if (a->ssh_user) {
		out->v[out->n++] = "-l";
		out->v[out->n++] = (char *)a->ssh_user;
	}
	/* "--": nothing after the host is read as an option of ssh. */
	out->v[out->n++] = "--";
	out->v[out->n++] = (char *)a->thing;
	for (int i = n_opts + dashdash; i < a->n_ssh_args; i++)
		out->v[out->n++] = a->ssh_args[i];
	out->v[out->n] = NULL;
	return 0;
}

int session_forward_argv(const struct tctl_args *a, const char *localproxy, const char *endpoint,
			 const char *local, struct session_argv *out, char *err, size_t err_cap)
{
	if (alloc_argv(out, 0, err, err_cap))
		return -1;
	char service[TCTL_MAX_SERVICE_ID + 2];
	snprintf(service, sizeof(service), "%s=", a->services[0]);
	out->source_map = concat(service, local);
	if (!out->source_map) {
		snprintf(err, err_cap, "out of memory");
		session_argv_free(out);
		return -1;
	}
	out->v[out->n++] = (char *)localproxy;
	out->v[out->n++] = "-s";
	out->v[out->n++] = out->source_map;
	add_relay_flags(out, a, endpoint);
	out->v[out->n] = NULL;
	return 0;
}

void session_argv_free(struct session_argv *s)
{
	free(s->v);
	free(s->proxy_command);
	free(s->host_key_alias);
	free(s->source_map);
	memset(s, 0, sizeof(*s));
}
