/* localproxy's settings from the command line (AWS localproxy's flags), the
 * environment and a config file, in that order of precedence. */
#ifndef PROXY_OPTIONS_H
#define PROXY_OPTIONS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/hostport.h"
#include "proto/wire.h"

#define UDP_IDLE_DEFAULT_S 60

enum proxy_mode { PROXY_MODE_SOURCE, PROXY_MODE_DESTINATION };

struct proxy_options {
	enum proxy_mode mode;
	char *access_token;             /* heap; wiped by proxy_options_free */
	char client_token[TUNNEL_MAX_CLIENT_TOKEN + 1];
	struct hostport endpoint;
	char source_listen[512];        /* -s text: "2222" or "SSH=2222,HTTP=8080" */
	char destination_app[1024];     /* -d text */
	char bind_address[HOSTPORT_MAX_HOST];
	char capath[PATH_MAX];          /* "" = system CAs */
	bool no_verify;
	int verbose;
	int client_version;             /* subprotocol: 3; destination -y V1/V2: 1/2 */
	int destination_type;           /* -y V1/V2: 1/2, else 3. A source still
					 * negotiates 3.0 but shapes its messages for
					 * a V1/V2 destination (AWS's 3.1.2+ flag) */
	int udp_idle_s;                 /* a UDP flow without datagrams ends after this */
	struct hostport https_proxy;    /* host "" = none */
	char config_used[PATH_MAX];     /* the config file read, "" if none */
};

/* Parses argv, then the environment, then a config file. Returns 0 to run,
 * 1 when --help or --version was printed (exit 0), -1 on an error already
 * printed to stderr (exit 2). A token given with -t is wiped from argv. */
int proxy_options_parse(int argc, char **argv, struct proxy_options *o);
void proxy_options_free(struct proxy_options *o);

/* Pure helpers, exposed for tests. */
/* Endpoint of an AWS region: data.tunneling.iot.REGION.amazonaws.com(.cn). */
int region_endpoint(const char *region, char *out, size_t cap);

#endif
