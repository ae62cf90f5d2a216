/* tunnel-relay: parse options, load tunnels, run the server loop. */
#include <stdio.h>

#include "common/log.h"
#include "relay/registry.h"
#include "relay/relay_options.h"
#include "relay/ws_server.h"

int main(int argc, char **argv)
{
	struct relay_options opt;
	int rc = relay_options_parse(argc, argv, &opt);
	if (rc)
		return rc > 0 ? 0 : 2;
	log_init("tunnel-relay", opt.verbose);
	log_route_lws();

	struct registry reg;
	registry_init(&reg);
	char err[256];
	int n = registry_load_file(&reg, opt.tunnels_file, err, sizeof(err));
	if (n < 0) {
		log_fatal("%s", err);
		registry_free(&reg);
		return 1;
	}
	struct relay_server_config cfg = {
		.bind = opt.bind,
		.port = opt.port,
		.cert = opt.cert,
		.key = opt.key,
		.max_connections = opt.max_connections,
	};
	struct relay_server *srv = relay_server_start(&cfg, &reg);
	if (!srv) {
		registry_free(&reg);
		return 1;
	}
	rc = relay_server_run(srv);
	relay_server_stop(srv);
	registry_free(&reg);
	return rc;
}
