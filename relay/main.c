/* tunnel-relay: parse options, load tunnels, run the server loop. */
#include <errno.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/lws_glue.h"
#include "relay/adduser.h"
#include "relay/aws_keys.h"
#include "relay/fd_limit.h"
#include "relay/notify.h"
#include "relay/registry.h"
#include "relay/relay_check.h"
#include "relay/relay_conf.h"
#include "relay/relay_options.h"
#include "relay/server.h"
#include "relay/store.h"
#include "relay/store_pg.h"
#include "relay/store_rows.h"
#include "relay/store_sqlite.h"
#include "relay/store_uri.h"
#include "relay/terminals.h"

/* The shortest API key accepted, from a file or the environment alike. */
#define API_KEY_MIN 16

/* Reads the API key: from --api-key-file, else TUNNEL_RELAY_API_KEY, else
 * none (the API is off). A key that is too short or too long is an error
 * wherever it comes from, never a silently disabled API. Returns 0, or -1
 * after logging why (never the key itself). */
static int read_api_key(const char *path, char *key, size_t cap)
{
	const char *source = "TUNNEL_RELAY_API_KEY";
	key[0] = '\0';
	if (!path) {
		const char *env = getenv(source);
		if (!env || !*env)
			return 0;
		if (strlen(env) >= cap) {
			log_fatal("the API key in %s is longer than %zu characters", source, cap - 1);
			return -1;
		}
		strcpy(key, env);
	} else {
		source = path;
		FILE *f = fopen(path, "r");
		if (!f) {
			log_fatal("cannot read the API key file %s: %s", path, strerror(errno));
			return -1;
		}
		if (!fgets(key, (int)cap, f))
			key[0] = '\0';
		bool whole_line = strchr(key, '\n') || feof(f);
		fclose(f);
		if (!whole_line) {
			OPENSSL_cleanse(key, cap);
			log_fatal("the API key in %s is longer than %zu characters", path, cap - 2);
			return -1;
		}
		key[strcspn(key, "\r\n")] = '\0';
	}
	if (strlen(key) < API_KEY_MIN) {
		OPENSSL_cleanse(key, cap);
		log_fatal("the API key in %s is shorter than %d characters", source, API_KEY_MIN);
		return -1;
	}
	return 0;
}

/* Every connection has a 128 KiB receive buffer (lws), nearly all
 * untouched while idle (the data plane's own buffers are freed when the
 * connection has nothing in flight). glibc mmaps blocks of 128 KiB
 * and more, so untouched pages cost nothing, but it raises that threshold
 * after the first such block is freed, and from then on they come from
 * the heap, where freed-and-reused pages stay resident: 140 KiB per idle
 * tunnel instead of 72 (make bench-scale, 1000 tunnels). Setting the
 * threshold fixes it at 128 KiB. */
#define RELAY_MMAP_THRESHOLD (128 * 1024)

/* The system's CA bundle (Debian's ca-certificates), for --console-ca. */
#define SYSTEM_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

/* PATH of a program installed beside tunnel-relay itself, into out. */
static const char *beside_self(const char *program, char *out, size_t cap)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		snprintf(out, cap, "%s", program); /* looked up nowhere: posix_spawn fails, logged */
		return out;
	}
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	snprintf(out, cap, "%s/%s", self, program);
	return out;
}

/* This node's name: --node-id, else the host name, made one if it is not
 * (cut to STORE_MAX_NODE_ID, other characters as '-': a single relay must
 * not refuse to start over its host's name). */
static void node_id(const struct relay_options *opt, char out[STORE_MAX_NODE_ID + 1])
{
	if (opt->node_id) {
		snprintf(out, STORE_MAX_NODE_ID + 1, "%s", opt->node_id);
		return;
	}
	char host[256] = "";
	if (gethostname(host, sizeof(host) - 1) != 0 || !host[0])
		snprintf(host, sizeof(host), "relay");
	size_t len = strnlen(host, STORE_MAX_NODE_ID);
	memcpy(out, host, len);
	out[len] = '\0';
	if (store_node_id_valid(out) && !strcmp(out, host))
		return;
	for (char *c = out; *c; c++)
		if (!strchr("._-", *c) && !((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
					   (*c >= '0' && *c <= '9')))
			*c = '-';
	log_warn("the host name is no node id (1-%d of [A-Za-z0-9._-]): using %s; "
		 "set --node-id", STORE_MAX_NODE_ID, out);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "adduser"))
		return adduser_main(argc - 1, argv + 1);
	/* relay.conf's settings go before the command line's (relay_conf.h). */
	struct relay_args args;
	if (relay_conf_merge(argc, argv, relay_options_table(), &args))
		return args.check ? 1 : 2;
	struct relay_options opt;
	int rc = relay_options_parse(args.argc, args.argv, &opt);
	if (rc || opt.check) {
		rc = rc > 0 ? 0 : rc < 0 ? (args.check ? 1 : 2) : relay_check(&opt);
		relay_args_free(&args);
		return rc;
	}
	log_init("tunnel-relay", opt.verbose);
	log_route_lws();
	if (mallopt(M_MMAP_THRESHOLD, RELAY_MMAP_THRESHOLD) != 1)
		log_debug("mallopt(M_MMAP_THRESHOLD) refused: idle connections will use more memory");

	struct registry reg;
	registry_init(&reg);
	struct store *store = NULL;
	char err[512];
	char api_key[256];
	struct aws_keys *aws_keys = NULL;
	char node[STORE_MAX_NODE_ID + 1], mqtt_id[STORE_MAX_NODE_ID + 32];
	rc = 1;
	node_id(&opt, node);
	log_info("node id: %s", node);
	snprintf(mqtt_id, sizeof(mqtt_id), "tunnel-relay-%s", node);
	if (read_api_key(opt.api_key_file, api_key, sizeof(api_key)))
		goto out;
	if (opt.aws_credentials) {
		aws_keys = malloc(sizeof(*aws_keys));
		if (!aws_keys || aws_keys_load(opt.aws_credentials, aws_keys, err, sizeof(err)) < 0) {
			log_fatal("AWS credentials: %s", aws_keys ? err : "out of memory");
			goto out;
		}
		log_info("AWS API on for %zu access key%s", aws_keys->n, aws_keys->n > 1 ? "s" : "");
	}
	if (opt.db) {
		if (store_uri_is_postgres(opt.db)) {
			char shown[256];
			store_uri_mask(opt.db, shown, sizeof(shown));
			log_info("store: PostgreSQL %s", shown);
			store = store_pg_open(opt.db, err, sizeof(err));
		} else {
			store = store_sqlite_open(opt.db, err, sizeof(err));
		}
		/* Before the load, so that it reads the cleared rows. */
		long reset = store ? store_reset_node(store, node, err, sizeof(err)) : 0;
		if (!store || reset < 0 || store_load(store, &reg, err, sizeof(err)) < 0) {
			log_fatal("%s", err);
			goto out;
		}
		if (reset > 0)
			log_info("node %s: %ld tunnel%s said a side was connected here before this "
				 "start; cleared for the other nodes", node, reset, reset > 1 ? "s" : "");
	}
	if (opt.tunnels_file && registry_load_file(&reg, opt.tunnels_file, err, sizeof(err)) < 0) {
		log_fatal("%s", err);
		goto out;
	}
	struct notify_config notify = {
		.uri = opt.mqtt_uri,
		.ca = opt.mqtt_ca,
		.cert = opt.mqtt_cert,
		.key = opt.mqtt_key,
		.client_id = opt.mqtt_client_id ? opt.mqtt_client_id : mqtt_id,
		.topic_template = opt.notify_topic,
		.endpoint = opt.public_endpoint,
		.region = opt.region,
	};
	size_t fd_limit = fd_limit_raise();
	if (fd_limit && fd_limit < FD_LIMIT_MIN) {
		log_fatal("the descriptor limit %zu is too low: the relay needs at least %d "
			  "(raise it with ulimit -n or LimitNOFILE=)", fd_limit, FD_LIMIT_MIN);
		goto out;
	}
	char helper[4200], localproxy[4200], console_relay[32];
	snprintf(console_relay, sizeof(console_relay), "127.0.0.1:%d", opt.port);
	if (opt.proxy_protocol && opt.users && !opt.console_relay)
		log_warn("--proxy-protocol: browser terminals dial %s without a PROXY header and "
			 "will be refused; set --console-relay to the load balancer's address",
			 console_relay);
	struct terminal_options terminal = {
		.helper = opt.term_helper ? opt.term_helper
					  : beside_self("tunnel-term", helper, sizeof(helper)),
		.localproxy = opt.localproxy ? opt.localproxy
					     : beside_self("localproxy", localproxy, sizeof(localproxy)),
		.relay = opt.console_relay ? opt.console_relay : console_relay,
		.ca = opt.console_ca ? opt.console_ca : SYSTEM_CA_BUNDLE,
		.lifetime_minutes = opt.terminal_lifetime_minutes,
		.recordings = opt.recordings,
		.verbose = opt.verbose >= LOG_DEBUG,
	};
	struct relay_server_config cfg = {
		.bind = opt.bind,
		.port = opt.port,
		.proxy_protocol = opt.proxy_protocol,
		.cert = opt.cert,
		.key = opt.key,
		.max_connections = opt.max_connections,
		.max_tunnels = opt.max_tunnels,
		.max_tunnels_per_thing = opt.max_tunnels_per_thing,
		.store = store,
		.node_id = node,
		.shared_store = opt.db && store_uri_is_postgres(opt.db),
		.api_key = api_key[0] ? api_key : NULL,
		.aws_keys = aws_keys,
		.notify = opt.mqtt_uri ? &notify : NULL,
		.presence_filter = opt.presence_topic,
		.fd_limit = fd_limit,
		.keep_closed = opt.keep_closed,
		.users = opt.users,
		.console_dir = opt.console_dir,
		.console_idle_s = opt.console_idle_s,
		.audit_log = opt.audit_log,
		.recordings = opt.recordings,
		.recordings_keep_days = opt.recordings_keep_days,
		.terminal = &terminal,
	};
	struct relay_server *srv = relay_server_start(&cfg, &reg);
	if (srv) {
		rc = relay_server_run(srv);
		relay_server_stop(srv);
	}
out:
	OPENSSL_cleanse(api_key, sizeof(api_key));
	if (aws_keys)
		aws_keys_wipe(aws_keys);
	free(aws_keys);
	store_close(store);
	registry_free(&reg);
	relay_args_free(&args);
	return rc;
}
