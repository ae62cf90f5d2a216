/* tunnel-term's command line and environment. */
#ifndef TERM_OPTIONS_H
#define TERM_OPTIONS_H

#include <limits.h>
#include <stdbool.h>

#include "common/hostport.h"
#include "proto/wire.h"   /* TUNNEL_MAX_SERVICE_ID */

#define TERM_TOKEN_ENV "TUNNEL_TERM_TOKEN"
#define TERM_FINGERPRINT_MAX 96   /* "SHA256:" + 43 base64 characters, with room */
#define TERM_MAX_THING 128        /* as the relay's registry */

struct term_options {
	char relay[HOSTPORT_MAX_HOST + 8];    /* HOST:PORT, handed to localproxy as is */
	char ca[PATH_MAX];
	char thing[TERM_MAX_THING + 1];         /* for log lines only */
	char service[TUNNEL_MAX_SERVICE_ID + 1];
	char localproxy[PATH_MAX];
	char known_host_key[TERM_FINGERPRINT_MAX]; /* "" = not known: ask */
	char record[PATH_MAX];                 /* "" = no recording */
	int cols, rows;
	int verbose;                           /* log level */
	char *token;                           /* heap; wiped by term_options_free */
};

/* Parses argv and takes the token out of the environment (the variable is
 * wiped and unset at once). Returns 0 to run, 1 after --help (exit 0), -1
 * after an error printed to stderr (exit 2). */
int term_options_parse(int argc, char **argv, struct term_options *o);
void term_options_free(struct term_options *o);

#endif
