/* Turns the management API's answer into what tunnelctl prints: readable
 * text by default, the server's JSON (pretty) with --json, and one error
 * line on err for an HTTP error. Pure: no I/O but the two streams. */
#ifndef TUNNELCTL_RENDER_H
#define TUNNELCTL_RENDER_H

#include <stddef.h>
#include <stdio.h>

#include "tunnelctl/cli.h"

#define RENDER_FIRST_PORT 2222 /* local ports suggested for localproxy -s */

/* Renders the response to a->cmd. Returns the exit status: 0 for a 2xx
 * answer with the expected JSON, 1 for an HTTP error or an unusable
 * answer (with a "tunnelctl: HTTP N: ..." line on err). */
int render_response(const struct tctl_args *a, long status, const char *body, size_t len,
		    FILE *out, FILE *err);

/* "tunnelctl: HTTP 404: NotFound: no tunnel with id X (field: f)\n" from an
 * {"error":{"code","message","field"}} body, or the start of any other body. */
void render_error(long status, const char *body, size_t len, FILE *err);

/* The source localproxy command and one client line per service, as
 * printed by open (each line indented by two spaces). */
void render_connect_commands(const struct tctl_args *a, const char *source_token, FILE *out);

#endif
